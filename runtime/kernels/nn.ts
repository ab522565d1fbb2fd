// Reference kernels for convolution, pooling and normalization over N-D images laid out as (N, C, D1, ..., Dk).
//
// Sliding-window ops share one geometry (`slidingWindow`: kernel, strides, dilations, pads, auto_pad,
// ceil_mode) and one index table (`windowTaps`): for every output position and kernel tap, the flat
// spatial offset of the input element it reads, or -1 where the tap falls into padding. The kernels are
// then plain loops over that table. Values are read as numbers (float16/bfloat16 widened), accumulated
// in float64 and narrowed once into the output dtype.
import type { DType, Tensor } from '../../formats/tensor.ts';
import { tensor } from '../../formats/tensor.ts';
import type { Attributes, KernelContext, KernelTable } from '../kernel.ts';
import { KernelError, required } from '../kernel.ts';
import { broadcastIndex } from './broadcast.ts';
import { broadcastsTo, floatValues, fromNumbers, normalizeAxis, numberValues, product, showDims, sizeOf, stridesOf } from './layout.ts';

// ---- sliding-window geometry ----

interface Window {
  readonly kernel: number[];     // (k1, ..., kk) taps per spatial axis
  readonly strides: number[];
  readonly dilations: number[];
  readonly padsBegin: number[];
  readonly padsEnd: number[];
  readonly outSpatial: number[]; // (o1, ..., ok)
}

/** Reads a per-spatial-axis int list attribute, checking its length. */
function spatialInts(attrs: Attributes, name: string, rank: number, fallback: number): number[] {
  const v = attrs.has(name) ? attrs.ints(name) : new Array<number>(rank).fill(fallback);
  if (v.length !== rank) throw new KernelError(`${name} has ${v.length} values, expected ${rank} (one per spatial axis)`);
  if (name !== 'pads' && name !== 'output_padding' && v.some((x) => x < 1)) throw new KernelError(`${name} [${v.join(', ')}] must be positive`);
  return v;
}

function autoPad(attrs: Attributes): string {
  const mode = attrs.string('auto_pad', 'NOTSET');
  if (mode !== 'NOTSET' && mode !== 'SAME_UPPER' && mode !== 'SAME_LOWER' && mode !== 'VALID') {
    throw new KernelError(`auto_pad '${mode}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
  }
  return mode;
}

/** Output size and padding of a window sliding over `inSpatial` (Conv, MaxPool, AveragePool). */
function slidingWindow(inSpatial: readonly number[], kernel: number[], attrs: Attributes, ceilMode: boolean): Window {
  const rank = inSpatial.length;
  if (kernel.length !== rank) throw new KernelError(`kernel_shape [${kernel.join(', ')}] needs ${rank} values`);
  const strides = spatialInts(attrs, 'strides', rank, 1);
  const dilations = spatialInts(attrs, 'dilations', rank, 1);
  const mode = autoPad(attrs);
  const pads = mode === 'NOTSET' ? spatialInts(attrs, 'pads', 2 * rank, 0) : new Array<number>(2 * rank).fill(0);
  const padsBegin = pads.slice(0, rank);
  const padsEnd = pads.slice(rank);
  const outSpatial = inSpatial.map((size, a) => {
    const span = (kernel[a]! - 1) * dilations[a]! + 1; // input extent of one window
    const s = strides[a]!;
    let out: number;
    if (mode === 'SAME_UPPER' || mode === 'SAME_LOWER') {
      out = Math.ceil(size / s);
      const total = Math.max(0, (out - 1) * s + span - size);
      const small = Math.floor(total / 2);
      padsBegin[a] = mode === 'SAME_UPPER' ? small : total - small;
      padsEnd[a] = total - padsBegin[a]!;
    } else if (mode === 'VALID') {
      out = Math.floor((size - span) / s) + 1;
    } else {
      const room = size + padsBegin[a]! + padsEnd[a]! - span;
      out = (ceilMode ? Math.ceil(room / s) : Math.floor(room / s)) + 1;
      // a window must start inside the input or the leading padding (as onnxruntime and PyTorch)
      if (ceilMode && (out - 1) * s >= size + padsBegin[a]!) out--;
    }
    if (out < 1) throw new KernelError(`a window of ${span} (kernel ${kernel[a]}, dilation ${dilations[a]}) does not fit spatial axis ${a} of size ${size} with its padding`);
    return out;
  });
  return { kernel, strides, dilations, padsBegin, padsEnd, outSpatial };
}

/**
 * For output position p and kernel tap t, taps[p * K + t] is the flat offset (within one spatial plane
 * of `inSpatial`) of the input element the tap reads, or -1 in padding. K = product(kernel).
 */
function windowTaps(inSpatial: readonly number[], w: Window): Int32Array {
  const rank = inSpatial.length;
  const P = product(w.outSpatial);
  const K = product(w.kernel);
  const inStrides = stridesOf(inSpatial);
  const outStrides = stridesOf(w.outSpatial);
  const kStrides = stridesOf(w.kernel);
  const taps = new Int32Array(P * K);
  for (let p = 0; p < P; p++) {
    for (let t = 0; t < K; t++) {
      let offset = 0;
      for (let a = 0; a < rank; a++) {
        const o = Math.floor(p / outStrides[a]!) % w.outSpatial[a]!;
        const k = Math.floor(t / kStrides[a]!) % w.kernel[a]!;
        const i = o * w.strides[a]! - w.padsBegin[a]! + k * w.dilations[a]!;
        if (i < 0 || i >= inSpatial[a]!) { offset = -1; break; }
        offset += i * inStrides[a]!;
      }
      taps[p * K + t] = offset;
    }
  }
  return taps;
}

/** Splits (N, C, D1..Dk) into its parts, requiring rank >= 3 (or >= minRank). */
function imageDims(x: Tensor, what = 'X', minRank = 3): { n: number; c: number; spatial: number[] } {
  if (x.dims.length < minRank) throw new KernelError(`${what} must be (N, C, D1, ...), got ${showDims(x.dims)}`);
  return { n: x.dims[0]!, c: x.dims[1]!, spatial: x.dims.slice(2) };
}

function kernelShape(attrs: Attributes, fromWeights?: number[]): number[] {
  if (attrs.has('kernel_shape')) {
    const k = attrs.ints('kernel_shape');
    if (fromWeights && k.join() !== fromWeights.join()) {
      throw new KernelError(`kernel_shape [${k.join(', ')}] does not match the weights' spatial dims [${fromWeights.join(', ')}]`);
    }
    return k;
  }
  if (!fromWeights) throw new KernelError('kernel_shape is required');
  return fromWeights;
}

// ---- convolution ----

function conv(inputs: readonly (Tensor | undefined)[], attrs: Attributes): Tensor[] {
  const x = required(inputs, 0);
  const w = required(inputs, 1);
  const bias = inputs[2];
  const { n: N, c: C, spatial } = imageDims(x);
  if (w.dims.length !== x.dims.length) throw new KernelError(`W ${showDims(w.dims)} must have the rank of X ${showDims(x.dims)}`);
  const M = w.dims[0]!;
  const group = attrs.int('group', 1);
  if (group < 1 || C % group !== 0 || M % group !== 0) throw new KernelError(`group ${group} must divide the ${C} input and ${M} output channels`);
  const Cg = C / group;
  const Mg = M / group;
  if (w.dims[1] !== Cg) throw new KernelError(`W ${showDims(w.dims)} needs ${Cg} input channels per group (X ${showDims(x.dims)}, group ${group})`);
  if (bias && (bias.dims.length !== 1 || bias.dims[0] !== M)) throw new KernelError(`B ${showDims(bias.dims)} must be [${M}]`);
  const win = slidingWindow(spatial, kernelShape(attrs, w.dims.slice(2)), attrs, false);
  const taps = windowTaps(spatial, win);
  const S = product(spatial);
  const P = product(win.outSpatial);
  const K = product(win.kernel);
  const xv = floatValues(x, 'X');
  const wv = floatValues(w, 'W');
  const bv = bias ? floatValues(bias, 'B') : undefined;
  const out = new Float64Array(N * M * P);
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      const yBase = (n * M + m) * P;
      for (let p = 0; p < P; p++) {
        let sum = bv ? bv[m]! : 0;
        for (let c = 0; c < Cg; c++) {
          const xBase = (n * C + g * Cg + c) * S;
          const wBase = (m * Cg + c) * K;
          for (let t = 0; t < K; t++) {
            const offset = taps[p * K + t]!;
            if (offset >= 0) sum += wv[wBase + t]! * xv[xBase + offset]!;
          }
        }
        out[yBase + p] = sum;
      }
    }
  }
  return [fromNumbers(x.dtype, [N, M, ...win.outSpatial], out)];
}

function convTranspose(inputs: readonly (Tensor | undefined)[], attrs: Attributes): Tensor[] {
  const x = required(inputs, 0);
  const w = required(inputs, 1);
  const bias = inputs[2];
  const { n: N, c: C, spatial } = imageDims(x);
  const rank = spatial.length;
  if (w.dims.length !== x.dims.length) throw new KernelError(`W ${showDims(w.dims)} must have the rank of X ${showDims(x.dims)}`);
  const group = attrs.int('group', 1);
  if (w.dims[0] !== C) throw new KernelError(`W ${showDims(w.dims)} must start with the ${C} input channels of X`);
  if (group < 1 || C % group !== 0) throw new KernelError(`group ${group} must divide the ${C} input channels`);
  const Cg = C / group;
  const Mg = w.dims[1]!;
  const M = Mg * group;
  if (bias && (bias.dims.length !== 1 || bias.dims[0] !== M)) throw new KernelError(`B ${showDims(bias.dims)} must be [${M}]`);
  const kernel = kernelShape(attrs, w.dims.slice(2));
  const strides = spatialInts(attrs, 'strides', rank, 1);
  const dilations = spatialInts(attrs, 'dilations', rank, 1);
  const outputPadding = spatialInts(attrs, 'output_padding', rank, 0);
  const mode = autoPad(attrs);
  const pads = mode === 'NOTSET' ? spatialInts(attrs, 'pads', 2 * rank, 0) : new Array<number>(2 * rank).fill(0);
  const padsBegin = pads.slice(0, rank);
  const padsEnd = pads.slice(rank);
  // the size each axis would have without padding
  const full = spatial.map((size, a) => strides[a]! * (size - 1) + outputPadding[a]! + (kernel[a]! - 1) * dilations[a]! + 1);
  let outSpatial: number[];
  const requested = attrs.has('output_shape') ? attrs.ints('output_shape') : undefined;
  if (requested || mode === 'SAME_UPPER' || mode === 'SAME_LOWER') {
    outSpatial = requested ? requested.slice(-rank) : spatial.map((size, a) => size * strides[a]!);
    if (outSpatial.length !== rank) throw new KernelError(`output_shape [${requested!.join(', ')}] needs ${rank} spatial values`);
    outSpatial.forEach((size, a) => {
      // a larger output_shape than the input reaches leaves the extra positions at the bias (as output_padding)
      const total = Math.max(0, full[a]! - size);
      const small = Math.floor(total / 2);
      // SAME_UPPER puts the extra padding at the end, like Conv
      padsBegin[a] = mode === 'SAME_UPPER' ? small : total - small;
      padsEnd[a] = total - padsBegin[a]!;
    });
  } else {
    outSpatial = full.map((size, a) => size - padsBegin[a]! - padsEnd[a]!);
    if (outSpatial.some((s) => s < 1)) throw new KernelError(`pads [${pads.join(', ')}] leave no output`);
  }
  // scatter table: input position q, tap t -> flat output offset or -1 (cropped by padding)
  const Q = product(spatial);
  const K = product(kernel);
  const P = product(outSpatial);
  const inStrides = stridesOf(spatial);
  const outStrides = stridesOf(outSpatial);
  const kStrides = stridesOf(kernel);
  const taps = new Int32Array(Q * K);
  for (let q = 0; q < Q; q++) {
    for (let t = 0; t < K; t++) {
      let offset = 0;
      for (let a = 0; a < rank; a++) {
        const i = Math.floor(q / inStrides[a]!) % spatial[a]!;
        const k = Math.floor(t / kStrides[a]!) % kernel[a]!;
        const o = i * strides[a]! - padsBegin[a]! + k * dilations[a]!;
        if (o < 0 || o >= outSpatial[a]!) { offset = -1; break; }
        offset += o * outStrides[a]!;
      }
      taps[q * K + t] = offset;
    }
  }
  const xv = floatValues(x, 'X');
  const wv = floatValues(w, 'W');
  const bv = bias ? floatValues(bias, 'B') : undefined;
  const out = new Float64Array(N * M * P);
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      const yBase = (n * M + m) * P;
      if (bv) out.fill(bv[m]!, yBase, yBase + P);
      for (let c = 0; c < Cg; c++) {
        const ci = g * Cg + c;
        const xBase = (n * C + ci) * Q;
        const wBase = (ci * Mg + (m - g * Mg)) * K;
        for (let q = 0; q < Q; q++) {
          const v = xv[xBase + q]!;
          for (let t = 0; t < K; t++) {
            const offset = taps[q * K + t]!;
            if (offset >= 0) out[yBase + offset]! += v * wv[wBase + t]!;
          }
        }
      }
    }
  }
  return [fromNumbers(x.dtype, [N, M, ...outSpatial], out)];
}

// ---- pooling ----

/** What both poolings need: the windows over X's spatial axes and, per output position, its taps. */
function poolWindows(inputs: readonly (Tensor | undefined)[], attrs: Attributes) {
  const x = required(inputs, 0);
  const { n: N, c: C, spatial } = imageDims(x);
  const win = slidingWindow(spatial, kernelShape(attrs), attrs, attrs.int('ceil_mode', 0) === 1);
  const taps = windowTaps(spatial, win);
  // S input positions per plane, P output positions, K taps per window
  return { x, N, C, spatial, win, taps, S: product(spatial), P: product(win.outSpatial), K: product(win.kernel) };
}

function maxPool(inputs: readonly (Tensor | undefined)[], attrs: Attributes): Tensor[] {
  const { x, N, C, spatial, win, taps, S, P, K } = poolWindows(inputs, attrs);
  const columnMajor = attrs.int('storage_order', 0) === 1;
  const xv = numberValues(x, 'X');
  const out = new Float64Array(N * C * P);
  const indices = new BigInt64Array(N * C * P);
  const inStrides = stridesOf(spatial);
  // Indices with storage_order=1 count the spatial axes column-major (first axis fastest)
  const colStrides = spatial.map((_, a) => product(spatial, 0, a));
  for (let plane = 0; plane < N * C; plane++) {
    const xBase = plane * S;
    for (let p = 0; p < P; p++) {
      let best = -Infinity;
      let at = -1;
      for (let t = 0; t < K; t++) {
        const offset = taps[p * K + t]!;
        if (offset >= 0 && (at < 0 || xv[xBase + offset]! > best)) {
          best = xv[xBase + offset]!;
          at = offset;
        }
      }
      out[plane * P + p] = best;
      let index = Math.max(at, 0);
      if (columnMajor) {
        index = spatial.reduce((s, d, a) => s + (Math.floor(at / inStrides[a]!) % d) * colStrides[a]!, 0);
      }
      indices[plane * P + p] = BigInt(xBase + index);
    }
  }
  const dims = [N, C, ...win.outSpatial];
  return [fromNumbers(x.dtype, dims, out), tensor('int64', dims, indices)];
}

function averagePool(inputs: readonly (Tensor | undefined)[], attrs: Attributes): Tensor[] {
  const { x, N, C, spatial, win, taps, S, P, K } = poolWindows(inputs, attrs);
  const includePad = attrs.int('count_include_pad', 0) === 1;
  // with count_include_pad the divisor counts taps inside input + explicit padding (not beyond it)
  const padded = new Int32Array(P);
  if (includePad) {
    const outStrides = stridesOf(win.outSpatial);
    for (let p = 0; p < P; p++) {
      let count = 1;
      spatial.forEach((size, a) => {
        const start = (Math.floor(p / outStrides[a]!) % win.outSpatial[a]!) * win.strides[a]! - win.padsBegin[a]!;
        let inside = 0;
        for (let k = 0; k < win.kernel[a]!; k++) {
          const i = start + k * win.dilations[a]!;
          if (i >= -win.padsBegin[a]! && i < size + win.padsEnd[a]!) inside++;
        }
        count *= inside;
      });
      padded[p] = count;
    }
  }
  const xv = floatValues(x, 'X');
  const out = new Float64Array(N * C * P);
  for (let plane = 0; plane < N * C; plane++) {
    const xBase = plane * S;
    for (let p = 0; p < P; p++) {
      let sum = 0;
      let count = 0;
      for (let t = 0; t < K; t++) {
        const offset = taps[p * K + t]!;
        if (offset >= 0) { sum += xv[xBase + offset]!; count++; }
      }
      out[plane * P + p] = sum / (includePad ? padded[p]! : count);
    }
  }
  return [fromNumbers(x.dtype, [N, C, ...win.outSpatial], out)];
}

function globalAveragePool(inputs: readonly (Tensor | undefined)[]): Tensor[] {
  const x = required(inputs, 0);
  const { n: N, c: C, spatial } = imageDims(x, 'X', 2);
  const S = product(spatial);
  const xv = floatValues(x, 'X');
  const out = new Float64Array(N * C);
  for (let plane = 0; plane < N * C; plane++) {
    let sum = 0;
    for (let i = 0; i < S; i++) sum += xv[plane * S + i]!;
    out[plane] = sum / S;
  }
  return [fromNumbers(x.dtype, [N, C, ...spatial.map(() => 1)], out)];
}

// ---- normalization ----

/** Checks a per-channel parameter and returns its values. */
function channelParam(t: Tensor, count: number, what: string): Float32Array | Float64Array {
  if (sizeOf(t.dims) !== count) throw new KernelError(`${what} ${showDims(t.dims)} must hold ${count} values`);
  return floatValues(t, what);
}

function batchNormalization(inputs: readonly (Tensor | undefined)[], attrs: Attributes, ctx: KernelContext): Tensor[] {
  const x = required(inputs, 0);
  const { n: N, c: C, spatial } = imageDims(x, 'X', 2);
  const S = product(spatial);
  const epsilon = attrs.float('epsilon', 1e-5);
  // per channel, or (spatial=0 in old opsets) per channel and position
  const perPosition = sizeOf(required(inputs, 1).dims) === C * S && S !== 1;
  const count = perPosition ? C * S : C;
  const scale = channelParam(required(inputs, 1), count, 'scale');
  const shift = channelParam(required(inputs, 2), count, 'B');
  const runMean = channelParam(required(inputs, 3), count, 'input_mean');
  const runVar = channelParam(required(inputs, 4), count, 'input_var');
  const training = ctx.opset >= 14 && attrs.int('training_mode', 0) === 1;
  const xv = floatValues(x, 'X');
  let mean: ArrayLike<number> = runMean;
  let variance: ArrayLike<number> = runVar;
  const outputs: Tensor[] = [];
  if (training) {
    // statistics of this batch over every axis but the channel (population variance)
    const batchMean = new Float64Array(count);
    const batchVar = new Float64Array(count);
    const perStat = (N * C * S) / count;
    for (let i = 0; i < N * C * S; i++) {
      const k = perPosition ? i % (C * S) : Math.floor(i / S) % C;
      batchMean[k]! += xv[i]!;
    }
    for (let k = 0; k < count; k++) batchMean[k]! /= perStat;
    for (let i = 0; i < N * C * S; i++) {
      const k = perPosition ? i % (C * S) : Math.floor(i / S) % C;
      const d = xv[i]! - batchMean[k]!;
      batchVar[k]! += d * d;
    }
    for (let k = 0; k < count; k++) batchVar[k]! /= perStat;
    mean = batchMean;
    variance = batchVar;
    const momentum = attrs.float('momentum', 0.9);
    const blend = (running: ArrayLike<number>, current: Float64Array) => current.map((v, k) => running[k]! * momentum + v * (1 - momentum));
    const meanT = required(inputs, 3);
    const varT = required(inputs, 4);
    outputs.push(fromNumbers(meanT.dtype, meanT.dims, blend(runMean, batchMean)), fromNumbers(varT.dtype, varT.dims, blend(runVar, batchVar)));
  }
  const out = new Float64Array(xv.length);
  for (let i = 0; i < xv.length; i++) {
    const k = perPosition ? i % (C * S) : Math.floor(i / S) % C;
    out[i] = ((xv[i]! - mean[k]!) / Math.sqrt(variance[k]! + epsilon)) * scale[k]! + shift[k]!;
  }
  return [fromNumbers(x.dtype, x.dims, out), ...outputs];
}

function instanceNormalization(inputs: readonly (Tensor | undefined)[], attrs: Attributes): Tensor[] {
  const x = required(inputs, 0);
  const { n: N, c: C, spatial } = imageDims(x);
  const S = product(spatial);
  const epsilon = attrs.float('epsilon', 1e-5);
  const scale = channelParam(required(inputs, 1), C, 'scale');
  const shift = channelParam(required(inputs, 2), C, 'B');
  const xv = floatValues(x, 'X');
  const out = new Float64Array(xv.length);
  for (let plane = 0; plane < N * C; plane++) {
    const c = plane % C;
    const base = plane * S;
    let mean = 0;
    for (let i = 0; i < S; i++) mean += xv[base + i]!;
    mean /= S;
    let variance = 0;
    for (let i = 0; i < S; i++) variance += (xv[base + i]! - mean) ** 2;
    variance /= S;
    const inv = 1 / Math.sqrt(variance + epsilon);
    for (let i = 0; i < S; i++) out[base + i] = (xv[base + i]! - mean) * inv * scale[c]! + shift[c]!;
  }
  return [fromNumbers(x.dtype, x.dims, out)];
}

const STASH_TYPES: Record<number, DType> = { 1: 'float32', 10: 'float16', 11: 'float64', 16: 'bfloat16' };

function layerNormalization(inputs: readonly (Tensor | undefined)[], attrs: Attributes): Tensor[] {
  const x = required(inputs, 0);
  const rank = x.dims.length;
  const axis = normalizeAxis(attrs.int('axis', -1), rank);
  const epsilon = attrs.float('epsilon', 1e-5);
  const stash = STASH_TYPES[attrs.int('stash_type', 1)];
  if (!stash) throw new KernelError(`stash_type ${attrs.int('stash_type')} is not a float type (1, 10, 11, 16)`);
  const normDims = x.dims.slice(axis);
  const rows = product(x.dims, 0, axis);
  const width = product(normDims);
  /** A parameter unidirectionally broadcast to the normalized shape. */
  const param = (t: Tensor, what: string) => {
    if (!broadcastsTo(t.dims, normDims)) throw new KernelError(`${what} ${showDims(t.dims)} does not broadcast to ${showDims(normDims)}`);
    return { values: floatValues(t, what), index: broadcastIndex(t.dims, normDims) };
  };
  const scale = param(required(inputs, 1), 'Scale');
  const shift = inputs[2] ? param(inputs[2], 'B') : undefined;
  const xv = floatValues(x, 'X');
  const out = new Float64Array(xv.length);
  const means = new Float64Array(rows);
  const invStd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const base = r * width;
    let mean = 0;
    for (let i = 0; i < width; i++) mean += xv[base + i]!;
    mean /= width;
    let variance = 0;
    for (let i = 0; i < width; i++) variance += (xv[base + i]! - mean) ** 2;
    variance /= width;
    const inv = 1 / Math.sqrt(variance + epsilon);
    means[r] = mean;
    invStd[r] = inv;
    for (let i = 0; i < width; i++) {
      const y = (xv[base + i]! - mean) * inv * scale.values[scale.index[i]!]!;
      out[base + i] = shift ? y + shift.values[shift.index[i]!]! : y;
    }
  }
  const statDims = x.dims.map((d, a) => (a < axis ? d : 1));
  return [fromNumbers(x.dtype, x.dims, out), fromNumbers(stash, statDims, means), fromNumbers(stash, statDims, invStd)];
}

export const kernels: KernelTable = {
  AveragePool: averagePool,
  BatchNormalization: batchNormalization,
  Conv: conv,
  ConvTranspose: convTranspose,
  GlobalAveragePool: globalAveragePool,
  InstanceNormalization: instanceNormalization,
  LayerNormalization: layerNormalization,
  MaxPool: maxPool,
};
