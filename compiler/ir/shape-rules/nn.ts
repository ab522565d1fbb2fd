// Neural-network ops: MatMul, Gemm, convolutions, pooling, normalizations, Softmax.
import type { Dim } from '../graph.ts';
import type { Inferred, ShapeContext, ShapeRule } from './common.ts';
import {
  attrInt, attrInts, attrString, broadcastShapes, dtypeFromOnnx, fail, normAxis, sameAs, unifyDims,
} from './common.ts';
import { dimAdd, dimMul, dimSub, formatShape } from './dims.ts';

const matMul: ShapeRule = (ctx) => {
  const a = ctx.input(0);
  const b = ctx.input(1);
  const out: Inferred = { dtype: a.dtype };
  if (!a.shape || !b.shape) return [out];
  if (a.shape.length === 0 || b.shape.length === 0) fail(`inputs must have rank ≥ 1, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  const aVec = a.shape.length === 1;
  const bVec = b.shape.length === 1;
  const A = aVec ? [1, a.shape[0]!] : a.shape;
  const B = bVec ? [b.shape[0]!, 1] : b.shape;
  unifyDims(A[A.length - 1]!, B[B.length - 2]!, `inner dims of ${formatShape(a.shape)} × ${formatShape(b.shape)} differ`);
  const batch = broadcastShapes(ctx, [A.slice(0, -2), B.slice(0, -2)])!;
  out.shape = [...batch, ...(aVec ? [] : [A[A.length - 2]!]), ...(bVec ? [] : [B[B.length - 1]!])];
  return [out];
};

const gemm: ShapeRule = (ctx) => {
  const a = ctx.input(0);
  const b = ctx.input(1);
  const out: Inferred = { dtype: a.dtype };
  if (!a.shape || !b.shape) return [out];
  if (a.shape.length !== 2 || b.shape.length !== 2) fail(`A and B must be 2-D, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  const [m, ka] = attrInt(ctx.node, 'transA', 0) ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
  const [kb, n] = attrInt(ctx.node, 'transB', 0) ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  unifyDims(ka, kb, `inner dims of A ${formatShape(a.shape)} and B ${formatShape(b.shape)} differ`);
  out.shape = [m, n];
  if (ctx.has(2)) {
    const c = ctx.input(2).shape;
    const bc = broadcastShapes(ctx, [out.shape, c]);
    if (c && bc && (bc.length !== 2 || (typeof bc[0] === 'number' && typeof m === 'number' && bc[0] !== m) || (typeof bc[1] === 'number' && typeof n === 'number' && bc[1] !== n))) {
      fail(`C ${formatShape(c)} does not broadcast to [${m},${n}]`);
    }
  }
  return [out];
};

interface Window {
  kernel: Dim[];
  strides: number[];
  dilations: number[];
  pads: number[];
  autoPad: string;
}

function windowAttrs(ctx: ShapeContext, spatial: number, kernel: Dim[]): Window {
  const strides = attrInts(ctx.node, 'strides') ?? new Array<number>(spatial).fill(1);
  const dilations = attrInts(ctx.node, 'dilations') ?? new Array<number>(spatial).fill(1);
  const pads = attrInts(ctx.node, 'pads') ?? new Array<number>(2 * spatial).fill(0);
  const autoPad = attrString(ctx.node, 'auto_pad', 'NOTSET');
  if (kernel.length !== spatial) fail(`kernel_shape has ${kernel.length} dims for ${spatial} spatial dims`);
  if (strides.length !== spatial) fail(`strides has ${strides.length} elements for ${spatial} spatial dims`);
  if (dilations.length !== spatial) fail(`dilations has ${dilations.length} elements for ${spatial} spatial dims`);
  if (pads.length !== 2 * spatial) fail(`pads has ${pads.length} elements, expected ${2 * spatial}`);
  if (!['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'].includes(autoPad)) fail(`auto_pad '${autoPad}' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID`);
  return { kernel, strides, dilations, pads, autoPad };
}

/** Output length of a sliding window (Conv, pools); undefined when not knowable. */
function windowDim(d: Dim, w: Window, i: number, ceilMode: boolean): Dim | undefined {
  const k = w.kernel[i]!;
  if (typeof k !== 'number') return undefined;
  const s = w.strides[i]!;
  const ek = w.dilations[i]! * (k - 1) + 1;
  const pb = w.pads[i]!;
  const pe = w.pads[i + w.kernel.length]!;
  if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') {
    if (typeof d === 'number') return Math.ceil(d / s);
    return s === 1 ? d : undefined;
  }
  const [b, e] = w.autoPad === 'VALID' ? [0, 0] : [pb, pe];
  if (typeof d === 'number') {
    const span = d + b + e - ek;
    if (span < 0) fail(`window of ${ek} does not fit dim ${d} with pads ${b}+${e}`);
    let n = (ceilMode ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
    if (ceilMode && (n - 1) * s >= d + b) n--;
    return n;
  }
  return s === 1 ? dimAdd(d, b + e - ek + 1) : undefined;
}

function spatialOut(ctx: ShapeContext, xs: readonly Dim[], w: Window, ceilMode: boolean): Dim[] {
  return xs.map((d, i) => windowDim(d, w, i, ceilMode) ?? ctx.fresh());
}

const conv: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  const wt = ctx.input(1);
  const out: Inferred = { dtype: x.dtype };
  if (!x.shape || !wt.shape) return [out];
  if (x.shape.length < 3) fail(`X must be [N, C, ...spatial], got ${formatShape(x.shape)}`);
  if (wt.shape.length !== x.shape.length) fail(`W ${formatShape(wt.shape)} must have the rank of X ${formatShape(x.shape)}`);
  const group = attrInt(ctx.node, 'group', 1);
  const c = x.shape[1]!;
  const wc = wt.shape[1]!;
  if (typeof c === 'number' && typeof wc === 'number' && c !== wc * group) {
    fail(`X has ${c} channels but W ${formatShape(wt.shape)} with group ${group} expects ${wc * group}`);
  }
  const kernel = attrInts(ctx.node, 'kernel_shape') ?? wt.shape.slice(2);
  const w = windowAttrs(ctx, x.shape.length - 2, kernel);
  out.shape = [x.shape[0]!, wt.shape[0]!, ...spatialOut(ctx, x.shape.slice(2), w, false)];
  return [out];
};

const convTranspose: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  const wt = ctx.input(1);
  const out: Inferred = { dtype: x.dtype };
  if (!x.shape || !wt.shape) return [out];
  if (x.shape.length < 3) fail(`X must be [N, C, ...spatial], got ${formatShape(x.shape)}`);
  const spatial = x.shape.length - 2;
  const group = attrInt(ctx.node, 'group', 1);
  const kernel = attrInts(ctx.node, 'kernel_shape') ?? wt.shape.slice(2);
  const w = windowAttrs(ctx, spatial, kernel);
  const outputPadding = attrInts(ctx.node, 'output_padding') ?? new Array<number>(spatial).fill(0);
  const outputShape = attrInts(ctx.node, 'output_shape');
  const dims = x.shape.slice(2).map((d, i): Dim => {
    if (outputShape) return outputShape[outputShape.length - spatial + i]!;
    const k = w.kernel[i]!;
    const s = w.strides[i]!;
    if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') return dimMul(d, s);
    if (typeof k !== 'number') return ctx.fresh();
    const ek = w.dilations[i]! * (k - 1) + 1;
    const pads = w.autoPad === 'VALID' ? 0 : w.pads[i]! + w.pads[i + spatial]!;
    return dimAdd(dimMul(s, dimSub(d, 1)), outputPadding[i]! + ek - pads);
  });
  out.shape = [x.shape[0]!, dimMul(wt.shape[1]!, group), ...dims];
  return [out];
};

function pool(withIndices: boolean): ShapeRule {
  return (ctx) => {
    const x = ctx.input(0);
    if (!x.shape) return withIndices ? [{ dtype: x.dtype }, { dtype: 'int64' }] : [{ dtype: x.dtype }];
    if (x.shape.length < 3) fail(`X must be [N, C, ...spatial], got ${formatShape(x.shape)}`);
    const kernel = attrInts(ctx.node, 'kernel_shape');
    if (!kernel) fail("attribute 'kernel_shape' is required");
    const w = windowAttrs(ctx, x.shape.length - 2, kernel);
    const shape = [x.shape[0]!, x.shape[1]!, ...spatialOut(ctx, x.shape.slice(2), w, attrInt(ctx.node, 'ceil_mode', 0) === 1)];
    return withIndices ? [{ dtype: x.dtype, shape }, { dtype: 'int64', shape: [...shape] }] : [{ dtype: x.dtype, shape }];
  };
}

const globalAveragePool: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  if (!x.shape) return [{ dtype: x.dtype }];
  if (x.shape.length < 3) fail(`X must be [N, C, ...spatial], got ${formatShape(x.shape)}`);
  return [{ dtype: x.dtype, shape: [x.shape[0]!, x.shape[1]!, ...x.shape.slice(2).map(() => 1)] }];
};

/** BatchNormalization: Y like X; the optional statistics outputs are [C]. */
const batchNormalization: ShapeRule = (ctx) => {
  const y = sameAs(ctx);
  const c = y.shape && y.shape.length >= 2 ? y.shape[1]! : ctx.fresh();
  const statDtype = ctx.has(3) ? ctx.input(3).dtype : y.dtype;
  return ctx.node.outputs.map((_, i) => (i === 0 ? y : { dtype: statDtype, shape: [c] }));
};

/** LayerNormalization: Y like X; Mean and InvStdDev keep X's leading dims, 1 for the normalized ones. */
const layerNormalization: ShapeRule = (ctx) => {
  const y = sameAs(ctx);
  const stash = dtypeFromOnnx(attrInt(ctx.node, 'stash_type', 1)) ?? 'float32';
  let stat: Dim[] | undefined;
  if (y.shape) {
    const axis = normAxis(attrInt(ctx.node, 'axis', -1), y.shape.length);
    stat = y.shape.map((d, i) => (i < axis ? d : 1));
  }
  return [y, { dtype: stash, shape: stat }, { dtype: stash, shape: stat ? [...stat] : undefined }];
};

const softmax: ShapeRule = (ctx) => {
  const y = sameAs(ctx);
  const defaultAxis = ctx.opset >= 13 ? -1 : 1;
  if (y.shape && y.shape.length > 0) normAxis(attrInt(ctx.node, 'axis', defaultAxis), y.shape.length);
  return [y];
};

export const nnRules: Record<string, ShapeRule> = {
  MatMul: matMul,
  Gemm: gemm,
  Conv: conv,
  ConvTranspose: convTranspose,
  AveragePool: pool(false),
  MaxPool: pool(true),
  GlobalAveragePool: globalAveragePool,
  BatchNormalization: batchNormalization,
  InstanceNormalization: (ctx) => [sameAs(ctx)],
  LayerNormalization: layerNormalization,
  Softmax: softmax,
};
