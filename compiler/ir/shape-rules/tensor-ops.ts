// Data movement and shape ops: Reshape, Shape, Gather, Concat, Slice, Split, (Un)Squeeze, Expand, Tile,
// Transpose, Pad, Resize, Range, Constant(OfShape) … These carry most of the shape arithmetic PyTorch exports.
import type { DType } from '../../../formats/dtype.ts';
import type { Dim } from '../graph.ts';
import type { Inferred, KnownValue, ShapeContext, ShapeRule } from './common.ts';
import {
  MAX_KNOWN_ELEMENTS, attrFloat, attrInt, attrInts, attrString, attrTensor, axesArg, broadcastShapes, fail,
  freshShape, knownInts, mapKnown, normAxis, sameAs, scalarOf, tensorValue, unifyDims,
} from './common.ts';
import { dimAdd, dimDiv, dimMul, dimProduct, dimSub, formatShape } from './dims.ts';

function allNumbers(dims: readonly Dim[] | undefined): dims is number[] {
  return dims !== undefined && dims.every((d) => typeof d === 'number');
}

/** A known value re-viewed with a new shape (Reshape, (Un)Squeeze, Flatten, Identity). */
function reshapeValue(v: KnownValue | undefined, shape: Dim[] | undefined): KnownValue | undefined {
  if (!v || !allNumbers(shape)) return undefined;
  return { dims: [...shape], data: v.data };
}

/** The elements of a 1-D shape input (Reshape's shape, Expand's, ConstantOfShape's), or just its length. */
function shapeInput(ctx: ShapeContext, i: number): { dims?: Dim[]; rank?: number } {
  const v = ctx.value(i);
  if (v) return { dims: [...v.data], rank: v.data.length };
  const s = ctx.input(i).shape;
  return { rank: s && s.length === 1 && typeof s[0] === 'number' ? s[0] : undefined };
}

// ---- Reshape family ----

const reshape: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  const allowzero = attrInt(ctx.node, 'allowzero', 0) === 1;
  let target: Dim[] | undefined;
  let rank: number | undefined;
  if (ctx.opset < 5) {
    target = attrInts(ctx.node, 'shape');
    if (!target) fail("attribute 'shape' is required before opset 5");
  } else {
    ({ dims: target, rank } = shapeInput(ctx, 1));
  }
  const out: Inferred = { dtype: x.dtype };
  if (!target) {
    out.shape = freshShape(ctx, rank);
    return [out];
  }
  const dims: Dim[] = [];
  let inferAt = -1;
  target.forEach((t, i) => {
    if (t === 0 && !allowzero) {
      if (!x.shape) dims.push(ctx.fresh());
      else if (i >= x.shape.length) fail(`shape element ${i} is 0 (copy the input dim) but the input ${formatShape(x.shape)} has rank ${x.shape.length}`);
      else dims.push(x.shape[i]!);
    } else if (t === -1) {
      if (inferAt >= 0) fail(`shape ${formatShape(target)} has more than one -1`);
      inferAt = i;
      dims.push(1);
    } else if (typeof t === 'number' && t < 0) {
      fail(`shape ${formatShape(target)} has a negative dim ${t}`);
    } else {
      dims.push(t);
    }
  });
  if (inferAt >= 0) {
    if (!x.shape) dims[inferAt] = ctx.fresh();
    else {
      const total = dimProduct(x.shape);
      const known = dimProduct(dims);
      const q = typeof known === 'number' && known === 0 ? undefined : dimDiv(total, known);
      if (q === undefined && typeof total === 'number' && typeof known === 'number' && known !== 0) {
        fail(`cannot reshape ${formatShape(x.shape)} (${total} elements) into ${formatShape(target)}`);
      }
      dims[inferAt] = q ?? ctx.fresh();
    }
  } else if (x.shape) {
    const total = dimProduct(x.shape);
    const want = dimProduct(dims);
    if (typeof total === 'number' && typeof want === 'number' && total !== want) {
      fail(`cannot reshape ${formatShape(x.shape)} (${total} elements) into ${formatShape(target)} (${want} elements)`);
    }
  }
  out.shape = dims;
  const value = reshapeValue(ctx.value(0), dims);
  if (value) out.value = value;
  return [out];
};

const flatten: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  if (!x.shape) return [{ dtype: x.dtype, shape: [ctx.fresh(), ctx.fresh()] }];
  const r = x.shape.length;
  let axis = attrInt(ctx.node, 'axis', 1);
  if (axis < -r || axis > r) fail(`axis ${axis} is out of range for rank ${r}`);
  if (axis < 0) axis += r;
  const shape = [dimProduct(x.shape.slice(0, axis)), dimProduct(x.shape.slice(axis))];
  const out: Inferred = { dtype: x.dtype, shape };
  const value = reshapeValue(ctx.value(0), shape);
  if (value) out.value = value;
  return [out];
};

/** Squeeze: axes attribute before opset 13, input from then on; no axes drops every dim equal to 1. */
const squeeze: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  const { axes, known } = axesArg(ctx, 13, 1);
  const out: Inferred = { dtype: x.dtype };
  if (!x.shape) return [out];
  if (!known) {
    const k = ctx.input(1).shape;
    out.shape = k && typeof k[0] === 'number' ? freshShape(ctx, x.shape.length - k[0]) : undefined;
    return [out];
  }
  if (axes === undefined) {
    // Symbols are assumed not to be 1: exporters squeeze symbolic dims with explicit axes.
    out.shape = x.shape.filter((d) => d !== 1);
  } else {
    const drop = new Set(axes.map((a) => normAxis(a, x.shape!.length)));
    for (const a of drop) {
      const d = x.shape[a]!;
      if (typeof d === 'number' && d !== 1) fail(`cannot squeeze axis ${a} of ${formatShape(x.shape)}: its size is ${d}, not 1`);
    }
    out.shape = x.shape.filter((_, i) => !drop.has(i));
  }
  const value = reshapeValue(ctx.value(0), out.shape);
  if (value) out.value = value;
  return [out];
};

/** Unsqueeze: axes attribute before opset 13, input from then on; axes index the output. */
const unsqueeze: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  const { axes, known } = axesArg(ctx, 13, 1);
  const out: Inferred = { dtype: x.dtype };
  if (!x.shape) return [out];
  if (!known || !axes) {
    if (known) fail('axes are required');
    const k = ctx.input(1).shape;
    out.shape = k && typeof k[0] === 'number' ? freshShape(ctx, x.shape.length + k[0]) : undefined;
    return [out];
  }
  const rank = x.shape.length + axes.length;
  const ones = new Set(axes.map((a) => normAxis(a, rank)));
  if (ones.size !== axes.length) fail(`axes [${axes.join(',')}] repeat an axis`);
  const shape: Dim[] = [];
  let next = 0;
  for (let i = 0; i < rank; i++) shape.push(ones.has(i) ? 1 : x.shape[next++]!);
  out.shape = shape;
  const value = reshapeValue(ctx.value(0), shape);
  if (value) out.value = value;
  return [out];
};

const identity: ShapeRule = (ctx) => {
  const out: Inferred = sameAs(ctx);
  const value = ctx.value(0);
  if (value) out.value = value;
  return [out];
};

// ---- Shape, Constant, ConstantOfShape, Range ----

const shapeOp: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  if (!x.shape) return [{ dtype: 'int64', shape: [ctx.fresh()] }];
  const r = x.shape.length;
  const clampAxis = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
  const start = ctx.opset >= 15 ? clampAxis(attrInt(ctx.node, 'start', 0)) : 0;
  const end = ctx.opset >= 15 ? clampAxis(attrInt(ctx.node, 'end', r)) : r;
  const data = x.shape.slice(start, Math.max(start, end));
  return [{ dtype: 'int64', shape: [data.length], value: { dims: [data.length], data } }];
};

const constant: ShapeRule = (ctx) => {
  const a = ctx.node.attrs;
  const t = attrTensor(ctx.node, 'value');
  if (t) {
    const out: Inferred = { dtype: t.dtype, shape: [...t.dims] };
    const value = tensorValue(t);
    if (value) out.value = value;
    return [out];
  }
  const scalar = (dtype: DType, x: number): Inferred => ({ dtype, shape: [], value: { dims: [], data: [x] } });
  const list = (dtype: DType, xs: number[]): Inferred => ({
    dtype, shape: [xs.length], ...(xs.length <= MAX_KNOWN_ELEMENTS ? { value: { dims: [xs.length], data: xs } } : {}),
  });
  if (a['value_int'] !== undefined) return [scalar('int64', attrInt(ctx.node, 'value_int')!)];
  if (a['value_float'] !== undefined) return [scalar('float32', attrFloat(ctx.node, 'value_float', 0))];
  if (a['value_ints'] !== undefined) return [list('int64', attrInts(ctx.node, 'value_ints')!)];
  if (Array.isArray(a['value_floats'])) return [list('float32', a['value_floats'] as number[])];
  if (a['value_string'] !== undefined) return [{ dtype: 'string', shape: [] }];
  if (Array.isArray(a['value_strings'])) return [{ dtype: 'string', shape: [a['value_strings'].length] }];
  fail("has none of the attributes 'value', 'value_float(s)', 'value_int(s)', 'value_string(s)'");
};

const constantOfShape: ShapeRule = (ctx) => {
  const t = attrTensor(ctx.node, 'value');
  const dtype = t?.dtype ?? 'float32';
  const fill = t ? tensorValue(t)?.data[0] : 0;
  const { dims, rank } = shapeInput(ctx, 0);
  if (!dims) return [{ dtype, shape: freshShape(ctx, rank) }];
  for (const d of dims) if (typeof d === 'number' && d < 0) fail(`shape ${formatShape(dims)} has a negative dim`);
  const out: Inferred = { dtype, shape: dims };
  if (allNumbers(dims) && fill !== undefined) {
    const size = dims.reduce((a, b) => a * b, 1);
    if (size <= MAX_KNOWN_ELEMENTS) out.value = { dims: [...dims], data: new Array<Dim>(size).fill(fill) };
  }
  return [out];
};

const BIG = 2 ** 31 - 1;

const range: ShapeRule = (ctx) => {
  const dtype = ctx.input(0).dtype;
  const [start, limit, delta] = [0, 1, 2].map((i) => scalarOf(ctx.value(i)));
  let n: Dim | undefined;
  if (typeof start === 'number' && typeof limit === 'number' && typeof delta === 'number') {
    if (delta === 0) fail('delta is 0');
    n = Math.max(Math.ceil((limit - start) / delta), 0);
  } else if (start !== undefined && limit !== undefined && delta === 1) {
    n = dimSub(limit, start);
  } else if (start !== undefined && limit !== undefined && delta === -1) {
    n = dimSub(start, limit);
  }
  const out: Inferred = { dtype, shape: [n ?? ctx.fresh()] };
  if (typeof n === 'number' && n <= MAX_KNOWN_ELEMENTS && typeof start === 'number' && typeof delta === 'number') {
    out.value = { dims: [n], data: Array.from({ length: n }, (_, i) => start + i * delta) };
  }
  return [out];
};

// ---- Gather, Concat, Slice, Split ----

const gather: ShapeRule = (ctx) => {
  const data = ctx.input(0);
  const idx = ctx.input(1);
  if (!data.shape) return [{ dtype: data.dtype }];
  const axis = normAxis(attrInt(ctx.node, 'axis', 0), data.shape.length);
  const out: Inferred = { dtype: data.dtype };
  const d = data.shape[axis]!;
  const iv = ctx.value(1);
  if (iv && typeof d === 'number') {
    for (const i of iv.data) if (typeof i === 'number' && (i < -d || i >= d)) fail(`index ${i} is out of range for axis ${axis} of size ${d}`);
  }
  if (!idx.shape) return [out];
  out.shape = [...data.shape.slice(0, axis), ...idx.shape, ...data.shape.slice(axis + 1)];
  const dv = ctx.value(0);
  if (dv && iv && dv.dims.length === 1 && axis === 0) {
    const n = dv.data.length;
    const picked = iv.data.map((i) => (typeof i === 'number' ? dv.data[i < 0 ? i + n : i] : undefined));
    if (picked.every((x) => x !== undefined)) out.value = { dims: [...iv.dims], data: picked as Dim[] };
  }
  return [out];
};

const gatherElements: ShapeRule = (ctx) => {
  const data = ctx.input(0);
  const idx = ctx.input(1);
  if (data.shape && idx.shape && data.shape.length !== idx.shape.length) {
    fail(`indices of rank ${idx.shape.length} must have the rank of data (${data.shape.length})`);
  }
  if (data.shape) normAxis(attrInt(ctx.node, 'axis', 0), data.shape.length);
  return [{ dtype: data.dtype, shape: idx.shape ? [...idx.shape] : undefined }];
};

const concat: ShapeRule = (ctx) => {
  const types = ctx.inputs.filter((t) => t !== undefined);
  if (types.length === 0) fail('needs at least one input');
  const axisAttr = attrInt(ctx.node, 'axis');
  if (axisAttr === undefined) fail("attribute 'axis' is required");
  const out: Inferred = { dtype: types[0]!.dtype };
  const ranked = types.filter((t) => t.shape !== undefined);
  if (ranked.length === 0) return [out];
  const rank = ranked[0]!.shape!.length;
  for (const t of ranked) if (t.shape!.length !== rank) fail(`inputs have different ranks: ${ranked.map((r) => formatShape(r.shape)).join(', ')}`);
  const axis = normAxis(axisAttr, rank);
  const shape = [...ranked[0]!.shape!];
  for (let i = 0; i < rank; i++) {
    if (i === axis) continue;
    for (const t of ranked.slice(1)) shape[i] = unifyDims(shape[i]!, t.shape![i]!, `inputs ${ranked.map((r) => formatShape(r.shape)).join(', ')} differ on axis ${i}`);
  }
  shape[axis] = ranked.length === types.length ? ranked.map((t) => t.shape![axis]!).reduce((a, b) => dimAdd(a, b)) : ctx.fresh();
  out.shape = shape;
  const values = ctx.inputs.map((_, i) => ctx.value(i));
  if (axis === 0 && values.every((v) => v !== undefined) && allNumbers(shape)) {
    const data = values.flatMap((v) => v!.data);
    if (data.length <= MAX_KNOWN_ELEMENTS) out.value = { dims: [...shape], data };
  }
  return [out];
};

/** Length of one sliced axis; undefined when it cannot be known at compile time. */
export function sliceDim(d: Dim, start: Dim, end: Dim, step: number): Dim | undefined {
  if (typeof d === 'number' && typeof start === 'number' && typeof end === 'number') {
    let s = start < 0 ? start + d : start;
    let e = end < 0 ? end + d : end;
    if (step > 0) {
      s = Math.min(Math.max(s, 0), d);
      e = Math.min(Math.max(e, 0), d);
      return Math.max(0, Math.ceil((e - s) / step));
    }
    s = Math.min(Math.max(s, 0), d - 1);
    e = Math.min(Math.max(e, -1), d - 1);
    return Math.max(0, Math.ceil((s - e) / -step));
  }
  // Symbolic: assume the slice lies inside the axis, as exported models rely on.
  if (step === 1) {
    const toEnd = typeof end === 'number' && end >= BIG;
    if (typeof start === 'number' && start < 0) return toEnd ? -start : typeof end === 'number' && end < 0 ? end - start : undefined;
    if (toEnd) return dimSub(d, start);
    if (typeof end === 'number' && end < 0) return dimSub(dimAdd(d, end), start);
    if (typeof end === 'string' || typeof d === 'number') return dimSub(end, start);
    return undefined;
  }
  if (step === -1 && start === -1 && typeof end === 'number' && end <= -BIG) return d;
  return undefined;
}

/** Slice: starts/ends/axes attributes before opset 10; inputs (data, starts, ends, axes?, steps?) from then on. */
const slice: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  const out: Inferred = { dtype: x.dtype };
  if (!x.shape) return [out];
  const r = x.shape.length;
  let starts: Dim[] | undefined, ends: Dim[] | undefined, axes: number[] | undefined, steps: Dim[] | undefined;
  let axesKnown = true;
  if (ctx.opset < 10) {
    starts = attrInts(ctx.node, 'starts');
    ends = attrInts(ctx.node, 'ends');
    axes = attrInts(ctx.node, 'axes');
  } else {
    starts = ctx.value(1)?.data;
    ends = ctx.value(2)?.data;
    if (ctx.has(3)) {
      axes = knownInts(ctx, 3);
      axesKnown = axes !== undefined;
    }
    steps = ctx.has(4) ? ctx.value(4)?.data : undefined;
  }
  const stepsKnown = !(ctx.opset >= 10 && ctx.has(4) && !steps);
  const shape = [...x.shape];
  if (!starts || !ends || !axesKnown || !stepsKnown) {
    // Which axes change is known only from `axes` (or from how many starts there are).
    const n = ctx.opset >= 10 ? ctx.input(1).shape?.[0] : undefined;
    const touched = axes ? axes.map((a) => normAxis(a, r)) : typeof n === 'number' && axesKnown ? [...Array(n).keys()] : [...Array(r).keys()];
    for (const a of touched) shape[a] = ctx.fresh();
    out.shape = shape;
    return [out];
  }
  if (starts.length !== ends.length) fail(`starts (${starts.length}) and ends (${ends.length}) differ in length`);
  const axisList = (axes ?? [...starts.keys()]).map((a) => normAxis(a, r));
  if (axisList.length !== starts.length) fail(`axes (${axisList.length}) and starts (${starts.length}) differ in length`);
  const stepList = steps ?? starts.map(() => 1);
  axisList.forEach((a, i) => {
    const step = stepList[i]!;
    if (step === 0) fail('a step is 0');
    shape[a] = (typeof step === 'number' ? sliceDim(shape[a]!, starts![i]!, ends![i]!, step) : undefined) ?? ctx.fresh();
  });
  out.shape = shape;
  const v = ctx.value(0);
  if (v && v.dims.length === 1 && axisList.length === 1 && [starts[0], ends[0], stepList[0]].every((n) => typeof n === 'number')) {
    const n = v.data.length;
    let s = starts[0] as number, e = ends[0] as number;
    const step = stepList[0] as number;
    s = s < 0 ? s + n : s;
    e = e < 0 ? e + n : e;
    const data: Dim[] = [];
    if (step > 0) for (let i = Math.max(s, 0); i < Math.min(e, n); i += step) data.push(v.data[i]!);
    else for (let i = Math.min(s, n - 1); i > Math.max(e, -1); i += step) data.push(v.data[i]!);
    out.value = { dims: [data.length], data };
  }
  return [out];
};

/** Split: sizes are an attribute before opset 13, input 1 from then on; or equal parts (num_outputs from 18). */
const split: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  const n = ctx.node.outputs.length;
  if (!x.shape) return ctx.node.outputs.map(() => ({ dtype: x.dtype }));
  const axis = normAxis(attrInt(ctx.node, 'axis', 0), x.shape.length);
  const d = x.shape[axis]!;
  let sizes: Dim[] | undefined;
  let known = true;
  if (ctx.opset < 13) sizes = attrInts(ctx.node, 'split');
  else if (ctx.has(1)) {
    sizes = ctx.value(1)?.data;
    known = sizes !== undefined;
  }
  if (sizes && sizes.length !== n) fail(`split has ${sizes.length} sizes for ${n} outputs`);
  if (sizes && allNumbers(sizes) && typeof d === 'number') {
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total !== d) fail(`split sizes [${sizes.join(',')}] add up to ${total}, not the axis size ${d}`);
  }
  if (!sizes && known) {
    if (typeof d === 'number') {
      const part = Math.ceil(d / n);
      if (d % n !== 0 && ctx.opset < 18) fail(`axis ${axis} of size ${d} does not split into ${n} equal parts`);
      sizes = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(part, d - part * i)));
    } else {
      const part = dimDiv(d, n);
      if (part !== undefined) sizes = new Array<Dim>(n).fill(part);
    }
  }
  return ctx.node.outputs.map((_, i) => {
    const shape = [...x.shape!];
    shape[axis] = sizes?.[i] ?? ctx.fresh();
    return { dtype: x.dtype, shape };
  });
};

// ---- Expand, Tile, Transpose, Pad, Resize ----

const expand: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  const { dims: target, rank } = shapeInput(ctx, 1);
  const out: Inferred = { dtype: x.dtype };
  if (!x.shape) return [out];
  if (target) out.shape = broadcastShapes(ctx, [x.shape, target]);
  else if (rank !== undefined) {
    const r = Math.max(rank, x.shape.length);
    out.shape = Array.from({ length: r }, (_, i) => {
      const xd = x.shape![x.shape!.length - r + i] ?? 1;
      const inTarget = i >= r - rank;
      return !inTarget || (typeof xd === 'number' && xd !== 1) ? xd : ctx.fresh();
    });
  }
  const v = ctx.value(0);
  if (v && allNumbers(out.shape)) {
    const size = out.shape.reduce((a, b) => a * b, 1);
    if (size <= MAX_KNOWN_ELEMENTS) {
      const value = mapKnown([v, { dims: out.shape, data: new Array<Dim>(size).fill(0) }], ([a]) => a);
      if (value) out.value = value;
    }
  }
  return [out];
};

const tile: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  if (!x.shape) return [{ dtype: x.dtype }];
  const repeats = ctx.value(1)?.data;
  if (!repeats) return [{ dtype: x.dtype, shape: freshShape(ctx, x.shape.length) }];
  if (repeats.length !== x.shape.length) fail(`repeats has ${repeats.length} elements for an input of rank ${x.shape.length}`);
  const shape = x.shape.map((d, i) => dimMul(d, repeats[i]!));
  const out: Inferred = { dtype: x.dtype, shape };
  const v = ctx.value(0);
  if (v && v.dims.length === 1 && typeof repeats[0] === 'number' && v.data.length * repeats[0] <= MAX_KNOWN_ELEMENTS) {
    out.value = { dims: [v.data.length * repeats[0]], data: Array.from({ length: repeats[0] }, () => v.data).flat() };
  }
  return [out];
};

const transpose: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  if (!x.shape) return [{ dtype: x.dtype }];
  const r = x.shape.length;
  const perm = attrInts(ctx.node, 'perm') ?? [...Array(r).keys()].reverse();
  const sorted = [...perm].sort((a, b) => a - b);
  if (perm.length !== r || sorted.some((p, i) => p !== i)) fail(`perm [${perm.join(',')}] is not a permutation of ${r} axes`);
  const out: Inferred = { dtype: x.dtype, shape: perm.map((p) => x.shape![p]!) };
  const v = ctx.value(0);
  if (v && r <= 1) out.value = v;
  return [out];
};

/** Pad: pads is an attribute before opset 11 (`paddings` in opset 1), input 1 from then on (axes input from 18). */
const pad: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  if (!x.shape) return [{ dtype: x.dtype }];
  const r = x.shape.length;
  let pads: Dim[] | undefined;
  let axes: number[] | undefined = [...Array(r).keys()];
  if (ctx.opset < 11) pads = attrInts(ctx.node, 'pads') ?? attrInts(ctx.node, 'paddings');
  else {
    pads = ctx.value(1)?.data;
    if (ctx.has(3)) axes = knownInts(ctx, 3)?.map((a) => normAxis(a, r));
  }
  if (!pads || !axes) return [{ dtype: x.dtype, shape: freshShape(ctx, r) }];
  if (pads.length !== 2 * axes.length) fail(`pads has ${pads.length} elements, expected ${2 * axes.length}`);
  const shape = [...x.shape];
  axes.forEach((a, i) => {
    shape[a] = dimAdd(dimAdd(shape[a]!, pads![i]!), pads![i + axes!.length]!);
    if (typeof shape[a] === 'number' && (shape[a] as number) < 0) fail(`padding makes axis ${a} negative`);
  });
  return [{ dtype: x.dtype, shape }];
};

/** Resize: (X, scales) in opset 10; (X, roi, scales, sizes) from 11; `axes` attribute from 18. */
const resize: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  if (!x.shape) return [{ dtype: x.dtype }];
  const r = x.shape.length;
  const scalesAt = ctx.opset < 11 ? 1 : 2;
  const scales = ctx.value(scalesAt)?.data;
  const sizes = ctx.opset >= 11 ? ctx.value(3)?.data : undefined;
  const axes = (attrInts(ctx.node, 'axes') ?? [...Array(r).keys()]).map((a) => normAxis(a, r));
  const shape = [...x.shape];
  const policy = attrString(ctx.node, 'keep_aspect_ratio_policy', 'stretch');
  if (sizes && sizes.length > 0) {
    if (sizes.length !== axes.length) fail(`sizes has ${sizes.length} elements for ${axes.length} axes`);
    if (policy === 'stretch') axes.forEach((a, i) => { shape[a] = sizes[i]!; });
    else {
      const ratios = axes.map((a, i) => (typeof sizes[i] === 'number' && typeof x.shape![a] === 'number' ? (sizes[i] as number) / (x.shape![a] as number) : undefined));
      if (ratios.every((q) => q !== undefined)) {
        const scale = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
        axes.forEach((a) => { shape[a] = Math.round(scale * (x.shape![a] as number)); });
      } else axes.forEach((a) => { shape[a] = ctx.fresh(); });
    }
  } else if (scales && scales.length > 0) {
    if (scales.length !== axes.length) fail(`scales has ${scales.length} elements for ${axes.length} axes`);
    axes.forEach((a, i) => {
      const s = scales[i]!;
      const d = shape[a]!;
      if (typeof s !== 'number') shape[a] = ctx.fresh();
      else if (typeof d === 'number') shape[a] = Math.floor(d * s);
      else shape[a] = Number.isInteger(s) ? dimMul(d, s) : ctx.fresh();
    });
  } else {
    for (const a of axes) shape[a] = ctx.fresh();
  }
  return [{ dtype: x.dtype, shape }];
};

export const tensorOpRules: Record<string, ShapeRule> = {
  Reshape: reshape,
  Flatten: flatten,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Identity: identity,
  Shape: shapeOp,
  Constant: constant,
  ConstantOfShape: constantOfShape,
  Range: range,
  Gather: gather,
  GatherElements: gatherElements,
  Concat: concat,
  Slice: slice,
  Split: split,
  Expand: expand,
  Tile: tile,
  Transpose: transpose,
  Pad: pad,
  Resize: resize,
  Trilu: (ctx) => [sameAs(ctx)],
  CumSum: (ctx) => [sameAs(ctx)],
};
