// Reference kernels for ONNX ops that create, reshape, reorder or select tensor elements.
//
// They move elements without looking at them, so they work for every dtype: int64 (BigInt64Array),
// bool (Uint8Array), float16/bfloat16 (raw Uint16Array words) and string (string[]).
// Shape, index and axis inputs are int64 tensors (BigInt64Array) read with `intValues`.
import type { DType, Tensor } from '../../formats/tensor.ts';
import { allocate } from '../../formats/dtype.ts';
import { tensor } from '../../formats/tensor.ts';
import type { Attributes, KernelContext, KernelTable } from '../kernel.ts';
import { KernelError, required } from '../kernel.ts';
import { broadcastIndex, broadcastShapes } from './broadcast.ts';
import { sliceRange } from './slice-range.ts';
import {
  copyElements, elementAt, filled, floatValues, fromNumbers, intValues, normalizeAxes, normalizeAxis,
  numberValues, offsetTable, product, reshaped, scalarValue, setElement, showDims, sizeOf, stridedOffsets, stridesOf,
  takeElements,
} from './layout.ts';

// ---- creating tensors ----

function constant(_inputs: readonly (Tensor | undefined)[], attrs: Attributes): Tensor[] {
  if (attrs.has('value')) return [attrs.tensor('value')];
  if (attrs.has('value_float')) return [tensor('float32', [], Float32Array.of(attrs.float('value_float')))];
  if (attrs.has('value_floats')) return [tensor('float32', [attrs.floats('value_floats').length], Float32Array.from(attrs.floats('value_floats')))];
  if (attrs.has('value_int')) return [tensor('int64', [], BigInt64Array.of(BigInt(attrs.int('value_int'))))];
  if (attrs.has('value_ints')) {
    const ints = attrs.ints('value_ints');
    return [tensor('int64', [ints.length], BigInt64Array.from(ints, (v) => BigInt(v)))];
  }
  if (attrs.has('value_string')) return [tensor('string', [], [attrs.string('value_string')])];
  if (attrs.has('value_strings')) return [tensor('string', [attrs.strings('value_strings').length], [...attrs.strings('value_strings')])];
  if (attrs.has('sparse_value')) throw new KernelError('sparse_value constants are not supported');
  throw new KernelError('Constant needs one of value, value_float(s), value_int(s), value_string(s)');
}

/** Reads a shape input: non-negative integers. */
function shapeInput(t: Tensor, what: string): number[] {
  if (t.dims.length > 1) throw new KernelError(`${what} must be a 1-D tensor, got dims ${showDims(t.dims)}`);
  return intValues(t, what);
}

function constantOfShape(inputs: readonly (Tensor | undefined)[], attrs: Attributes): Tensor[] {
  const dims = shapeInput(required(inputs, 0), 'shape');
  if (dims.some((d) => d < 0 || !Number.isInteger(d))) throw new KernelError(`shape ${showDims(dims)} has a negative dimension`);
  const value = attrs.optionalTensor('value');
  if (!value) return [filled('float32', dims, 0)];
  if (sizeOf(value.dims) !== 1) throw new KernelError(`value must hold one element, got dims ${showDims(value.dims)}`);
  return [filled(value.dtype, dims, elementAt(value, 0))];
}

function range(inputs: readonly (Tensor | undefined)[]): Tensor[] {
  const [start, limit, delta] = [required(inputs, 0), required(inputs, 1), required(inputs, 2)];
  if (start.dtype !== limit.dtype || start.dtype !== delta.dtype) {
    throw new KernelError(`start, limit and delta must share a dtype, got ${start.dtype}, ${limit.dtype}, ${delta.dtype}`);
  }
  const s = scalarValue(start, 'start');
  const d = scalarValue(delta, 'delta');
  if (d === 0) throw new KernelError('delta must not be 0');
  const count = Math.max(Math.ceil((scalarValue(limit, 'limit') - s) / d), 0);
  if (start.dtype === 'int64') {
    const s64 = (start.data as BigInt64Array)[0]!;
    const d64 = (delta.data as BigInt64Array)[0]!;
    return [tensor('int64', [count], BigInt64Array.from({ length: count }, (_, i) => s64 + BigInt(i) * d64))];
  }
  const values = Float64Array.from({ length: count }, (_, i) => s + i * d);
  return [fromNumbers(start.dtype, [count], values)];
}

// ---- shape-only ops ----

function shape(inputs: readonly (Tensor | undefined)[], attrs: Attributes): Tensor[] {
  const dims = required(inputs, 0).dims;
  const rank = dims.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const start = clamp(attrs.int('start', 0));
  const end = clamp(attrs.int('end', rank));
  const picked = dims.slice(start, Math.max(start, end));
  return [tensor('int64', [picked.length], BigInt64Array.from(picked, (v) => BigInt(v)))];
}

function reshape(inputs: readonly (Tensor | undefined)[], attrs: Attributes, ctx: KernelContext): Tensor[] {
  const x = required(inputs, 0);
  const requested = ctx.opset < 5 ? attrs.ints('shape') : shapeInput(required(inputs, 1), 'shape');
  const allowZero = attrs.int('allowzero', 0) === 1;
  const dims = requested.map((d, i) => {
    if (d === 0 && !allowZero) {
      if (i >= x.dims.length) throw new KernelError(`shape ${showDims(requested)} copies dimension ${i} (0) but the input has rank ${x.dims.length}`);
      return x.dims[i]!;
    }
    return d;
  });
  const inferred = dims.indexOf(-1);
  if (dims.some((d, i) => d < -1 || (d === -1 && i !== inferred))) {
    throw new KernelError(`shape ${showDims(requested)} may hold one -1 and no other negative value`);
  }
  if (inferred >= 0) {
    const known = product(dims.filter((_, i) => i !== inferred));
    const total = sizeOf(x.dims);
    if (known === 0 || total % known !== 0) {
      throw new KernelError(`cannot reshape ${showDims(x.dims)} to ${showDims(requested)}: -1 cannot be inferred`);
    }
    dims[inferred] = total / known;
  }
  if (sizeOf(dims) !== sizeOf(x.dims)) {
    throw new KernelError(`cannot reshape ${showDims(x.dims)} (${sizeOf(x.dims)} elements) to ${showDims(requested)}`);
  }
  return [reshaped(x, dims)];
}

function flatten(inputs: readonly (Tensor | undefined)[], attrs: Attributes): Tensor[] {
  const x = required(inputs, 0);
  const rank = x.dims.length;
  let axis = attrs.int('axis', 1);
  if (axis < -rank || axis > rank) throw new KernelError(`axis ${axis} is out of range for rank ${rank} (expected ${-rank}..${rank})`);
  if (axis < 0) axis += rank;
  return [reshaped(x, [product(x.dims, 0, axis), product(x.dims, axis)])];
}

/** Axes from the attribute (before opset 13) or the optional second input (13 on). */
function axesOf(inputs: readonly (Tensor | undefined)[], attrs: Attributes, ctx: KernelContext): number[] | undefined {
  if (ctx.opset < 13) return attrs.has('axes') ? attrs.ints('axes') : undefined;
  const t = inputs[1];
  return t ? intValues(t, 'axes') : undefined;
}

function squeeze(inputs: readonly (Tensor | undefined)[], attrs: Attributes, ctx: KernelContext): Tensor[] {
  const x = required(inputs, 0);
  const given = axesOf(inputs, attrs, ctx);
  const rank = x.dims.length;
  // no (or an empty) axes list squeezes every axis of size 1, as onnxruntime does
  const axes = given && given.length > 0 ? normalizeAxes(given, rank) : x.dims.flatMap((d, i) => (d === 1 ? [i] : []));
  for (const a of axes) {
    if (x.dims[a] !== 1) throw new KernelError(`cannot squeeze axis ${a} of ${showDims(x.dims)}: its size is not 1`);
  }
  return [reshaped(x, x.dims.filter((_, i) => !axes.includes(i)))];
}

function unsqueeze(inputs: readonly (Tensor | undefined)[], attrs: Attributes, ctx: KernelContext): Tensor[] {
  const x = required(inputs, 0);
  const given = axesOf(inputs, attrs, ctx);
  if (!given) throw new KernelError('Unsqueeze needs axes');
  const rank = x.dims.length + given.length;
  const axes = normalizeAxes(given, rank);
  const dims: number[] = [];
  let next = 0;
  for (let i = 0; i < rank; i++) dims.push(axes.includes(i) ? 1 : x.dims[next++]!);
  return [reshaped(x, dims)];
}

function identity(inputs: readonly (Tensor | undefined)[]): Tensor[] {
  return [required(inputs, 0)];
}

function dropout(inputs: readonly (Tensor | undefined)[], attrs: Attributes, ctx: KernelContext): Tensor[] {
  const x = required(inputs, 0);
  const ratio = ctx.opset >= 12 ? (inputs[1] ? scalarValue(inputs[1], 'ratio') : 0.5) : attrs.float('ratio', 0.5);
  const training = ctx.opset >= 12 && inputs[2] !== undefined && scalarValue(inputs[2], 'training_mode') !== 0;
  const maskDType: DType = ctx.opset >= 10 ? 'bool' : x.dtype;
  if (!training || ratio === 0) {
    return [x, fromNumbers(maskDType, x.dims, new Uint8Array(sizeOf(x.dims)).fill(1))];
  }
  if (ratio < 0 || ratio >= 1) throw new KernelError(`ratio ${ratio} must be in [0, 1)`);
  const values = floatValues(x);
  const keep = new Uint8Array(values.length);
  const out = new Float64Array(values.length);
  const scale = 1 / (1 - ratio);
  for (let i = 0; i < values.length; i++) {
    keep[i] = Math.random() >= ratio ? 1 : 0;
    out[i] = keep[i] ? values[i]! * scale : 0;
  }
  return [fromNumbers(x.dtype, x.dims, out), fromNumbers(maskDType, x.dims, keep)];
}

// ---- joining and splitting ----

function concat(inputs: readonly (Tensor | undefined)[], attrs: Attributes, ctx: KernelContext): Tensor[] {
  const parts = inputs.map((t, i) => {
    if (!t) throw new KernelError(`input ${i} is required`);
    return t;
  });
  if (parts.length === 0) throw new KernelError('Concat needs at least one input');
  const first = parts[0]!;
  const rank = first.dims.length;
  if (rank === 0) throw new KernelError('cannot concatenate scalars');
  const axis = normalizeAxis(attrs.int('axis', ctx.opset < 4 ? 1 : undefined), rank);
  let total = 0;
  for (const p of parts) {
    if (p.dtype !== first.dtype) throw new KernelError(`inputs must share a dtype, got ${first.dtype} and ${p.dtype}`);
    if (p.dims.length !== rank || p.dims.some((d, i) => i !== axis && d !== first.dims[i])) {
      throw new KernelError(`cannot concatenate ${showDims(first.dims)} and ${showDims(p.dims)} along axis ${axis}`);
    }
    total += p.dims[axis]!;
  }
  const dims = first.dims.slice();
  dims[axis] = total;
  const outer = product(dims, 0, axis);
  const inner = product(dims, axis + 1);
  const out = allocate(first.dtype, sizeOf(dims));
  let offset = 0; // start of the current part within one outer row, in elements
  for (const p of parts) {
    const block = p.dims[axis]! * inner;
    for (let o = 0; o < outer; o++) copyElements(p.data, o * block, out, o * total * inner + offset, block);
    offset += block;
  }
  return [tensor(first.dtype, dims, out)];
}

function split(inputs: readonly (Tensor | undefined)[], attrs: Attributes, ctx: KernelContext): Tensor[] {
  const x = required(inputs, 0);
  const axis = normalizeAxis(attrs.int('axis', 0), x.dims.length);
  const length = x.dims[axis]!;
  let sizes: number[];
  const splitInput = ctx.opset >= 13 ? inputs[1] : undefined;
  if (splitInput) sizes = intValues(splitInput, 'split');
  else if (ctx.opset < 13 && attrs.has('split')) sizes = attrs.ints('split');
  else {
    // Equal parts: num_outputs (an attribute from opset 18), else the node's number of outputs.
    const n = attrs.int('num_outputs', ctx.outputCount);
    if (n < 1) throw new KernelError(`num_outputs ${n} must be at least 1`);
    const chunk = Math.ceil(length / n);
    sizes = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(chunk, length - i * chunk)));
  }
  if (sizes.some((s) => s < 0) || sizes.reduce((a, b) => a + b, 0) !== length) {
    throw new KernelError(`split sizes [${sizes.join(', ')}] do not add up to axis ${axis} of ${showDims(x.dims)}`);
  }
  const outer = product(x.dims, 0, axis);
  const inner = product(x.dims, axis + 1);
  let start = 0;
  return sizes.map((s) => {
    const dims = x.dims.slice();
    dims[axis] = s;
    const out = allocate(x.dtype, outer * s * inner);
    for (let o = 0; o < outer; o++) copyElements(x.data, (o * length + start) * inner, out, o * s * inner, s * inner);
    start += s;
    return tensor(x.dtype, dims, out);
  });
}

// ---- reordering and selecting ----

function transpose(inputs: readonly (Tensor | undefined)[], attrs: Attributes): Tensor[] {
  const x = required(inputs, 0);
  const rank = x.dims.length;
  const perm = attrs.has('perm') ? attrs.ints('perm') : x.dims.map((_, i) => rank - 1 - i);
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new KernelError(`perm [${perm.join(', ')}] is not a permutation of the ${rank} axes`);
  }
  const inStrides = stridesOf(x.dims);
  const dims = perm.map((p) => x.dims[p]!);
  return [takeElements(x, dims, stridedOffsets(dims, perm.map((p) => inStrides[p]!)))];
}

function expand(inputs: readonly (Tensor | undefined)[]): Tensor[] {
  const x = required(inputs, 0);
  const dims = broadcastShapes(x.dims, shapeInput(required(inputs, 1), 'shape'));
  return [takeElements(x, dims, broadcastIndex(x.dims, dims))];
}

function tile(inputs: readonly (Tensor | undefined)[]): Tensor[] {
  const x = required(inputs, 0);
  const repeats = intValues(required(inputs, 1), 'repeats');
  if (repeats.length !== x.dims.length || repeats.some((r) => r < 0)) {
    throw new KernelError(`repeats [${repeats.join(', ')}] must hold one non-negative count per axis of ${showDims(x.dims)}`);
  }
  const strides = stridesOf(x.dims);
  const dims = x.dims.map((d, a) => d * repeats[a]!);
  const tables = dims.map((d, a) => Int32Array.from({ length: d }, (_, c) => (c % x.dims[a]!) * strides[a]!));
  return [takeElements(x, dims, offsetTable(dims, tables))];
}

function slice(inputs: readonly (Tensor | undefined)[], attrs: Attributes, ctx: KernelContext): Tensor[] {
  const x = required(inputs, 0);
  const rank = x.dims.length;
  let starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined;
  if (ctx.opset < 10) {
    starts = attrs.ints('starts');
    ends = attrs.ints('ends');
    axes = attrs.has('axes') ? attrs.ints('axes') : undefined;
  } else {
    starts = intValues(required(inputs, 1), 'starts');
    ends = intValues(required(inputs, 2), 'ends');
    axes = inputs[3] ? intValues(inputs[3], 'axes') : undefined;
    steps = inputs[4] ? intValues(inputs[4], 'steps') : undefined;
  }
  axes ??= starts.map((_, i) => i);
  steps ??= starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
    throw new KernelError(`starts, ends, axes and steps must have the same length (${starts.length}, ${ends.length}, ${axes.length}, ${steps.length})`);
  }
  const resolved = normalizeAxes(axes, rank);
  const first = x.dims.map(() => 0);
  const step = x.dims.map(() => 1);
  const dims = x.dims.slice();
  resolved.forEach((a, i) => {
    const d = x.dims[a]!;
    const s = steps[i]!;
    if (s === 0) throw new KernelError(`step for axis ${a} must not be 0`);
    const range = sliceRange(starts[i]!, ends[i]!, s, d);
    first[a] = range.first;
    step[a] = s;
    dims[a] = range.count;
  });
  const strides = stridesOf(x.dims);
  const tables = dims.map((d, a) => Float64Array.from({ length: d }, (_, c) => (first[a]! + c * step[a]!) * strides[a]!));
  return [takeElements(x, dims, offsetTable(dims, tables))];
}

/** Reads an index tensor, resolving negative indices against `limit`. */
function indexValues(t: Tensor, limit: number, what: string): number[] {
  return intValues(t, what).map((i) => {
    if (i < -limit || i >= limit) throw new KernelError(`${what} ${i} is out of range for a dimension of size ${limit}`);
    return i < 0 ? i + limit : i;
  });
}

function gather(inputs: readonly (Tensor | undefined)[], attrs: Attributes): Tensor[] {
  const x = required(inputs, 0);
  const indicesTensor = required(inputs, 1);
  const rank = x.dims.length;
  if (rank === 0) throw new KernelError('cannot gather from a scalar');
  const axis = normalizeAxis(attrs.int('axis', 0), rank);
  const length = x.dims[axis]!;
  const indices = indexValues(indicesTensor, length, 'index');
  const dims = [...x.dims.slice(0, axis), ...indicesTensor.dims, ...x.dims.slice(axis + 1)];
  const outer = product(x.dims, 0, axis);
  const inner = product(x.dims, axis + 1);
  const index = new Int32Array(outer * indices.length * inner);
  let n = 0;
  for (let o = 0; o < outer; o++) {
    for (const i of indices) {
      const base = (o * length + i) * inner;
      for (let k = 0; k < inner; k++) index[n++] = base + k;
    }
  }
  return [takeElements(x, dims, index)];
}

function gatherElements(inputs: readonly (Tensor | undefined)[], attrs: Attributes): Tensor[] {
  const x = required(inputs, 0);
  const indicesTensor = required(inputs, 1);
  const rank = x.dims.length;
  const axis = normalizeAxis(attrs.int('axis', 0), rank);
  if (indicesTensor.dims.length !== rank || indicesTensor.dims.some((d, a) => a !== axis && d > x.dims[a]!)) {
    throw new KernelError(`indices ${showDims(indicesTensor.dims)} do not fit data ${showDims(x.dims)} along axis ${axis}`);
  }
  const strides = stridesOf(x.dims);
  const indices = indexValues(indicesTensor, x.dims[axis]!, 'index');
  // offsets of every position with the axis coordinate set to 0, then each index moves along the axis
  const index = stridedOffsets(indicesTensor.dims, strides.map((s, a) => (a === axis ? 0 : s)));
  for (let i = 0; i < index.length; i++) index[i]! += indices[i]! * strides[axis]!;
  return [takeElements(x, indicesTensor.dims, index)];
}

// ---- padding ----

type PadMode = 'constant' | 'reflect' | 'edge' | 'wrap';

/** Maps an out-of-range coordinate back into [0, n) for the non-constant modes. */
function padSource(c: number, n: number, mode: Exclude<PadMode, 'constant'>): number {
  if (mode === 'edge') return Math.min(Math.max(c, 0), n - 1);
  if (mode === 'wrap') return ((c % n) + n) % n;
  if (n === 1) return 0;
  const period = 2 * (n - 1); // reflect without repeating the edge, as numpy's 'reflect'
  const m = ((c % period) + period) % period;
  return m < n ? m : period - m;
}

function pad(inputs: readonly (Tensor | undefined)[], attrs: Attributes, ctx: KernelContext): Tensor[] {
  const x = required(inputs, 0);
  const rank = x.dims.length;
  const mode = attrs.string('mode', 'constant');
  if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge' && mode !== 'wrap') {
    throw new KernelError(`mode '${mode}' is not one of constant, reflect, edge, wrap`);
  }
  let pads: number[];
  let value: unknown;
  let axes = x.dims.map((_, i) => i);
  if (ctx.opset < 11) {
    pads = attrs.ints(ctx.opset < 2 ? 'paddings' : 'pads');
    value = constantElement(x.dtype, attrs.float('value', 0));
  } else {
    pads = intValues(required(inputs, 1), 'pads');
    const c = inputs[2];
    if (c && sizeOf(c.dims) > 0) {
      if (c.dtype !== x.dtype) throw new KernelError(`constant_value is ${c.dtype} but data is ${x.dtype}`);
      value = elementAt(c, 0);
    } else {
      value = elementAt(tensor(x.dtype, [1]), 0);
    }
    if (inputs[3]) axes = normalizeAxes(intValues(inputs[3], 'axes'), rank);
  }
  if (pads.length !== 2 * axes.length) {
    throw new KernelError(`pads has ${pads.length} values, expected ${2 * axes.length} for ${axes.length} axes`);
  }
  const before = x.dims.map(() => 0);
  const after = x.dims.map(() => 0);
  axes.forEach((a, i) => {
    before[a] = pads[i]!;
    after[a] = pads[i + axes.length]!;
  });
  const dims = x.dims.map((d, a) => d + before[a]! + after[a]!);
  if (dims.some((d) => d < 0)) throw new KernelError(`pads [${pads.join(', ')}] remove more than ${showDims(x.dims)} holds`);
  const strides = stridesOf(x.dims);

  if (mode === 'constant') {
    // fill, then copy the part of the input that survives (negative pads crop)
    const out = filled(x.dtype, dims, value);
    const kept = x.dims.map((d, a) => Math.max(0, d + Math.min(before[a]!, 0) + Math.min(after[a]!, 0)));
    const outStrides = stridesOf(dims);
    const from = stridedOffsets(kept, strides, x.dims.reduce((s, _, a) => s + Math.max(-before[a]!, 0) * strides[a]!, 0));
    const to = stridedOffsets(kept, outStrides, x.dims.reduce((s, _, a) => s + Math.max(before[a]!, 0) * outStrides[a]!, 0));
    for (let i = 0; i < from.length; i++) setElement(out.data, to[i]!, elementAt(x, from[i]!));
    return [out];
  }
  const tables = dims.map((d, a) => {
    if (d > 0 && x.dims[a] === 0) throw new KernelError(`cannot ${mode}-pad axis ${a} of size 0`);
    return Int32Array.from({ length: d }, (_, c) => padSource(c - before[a]!, x.dims[a]!, mode) * strides[a]!);
  });
  return [takeElements(x, dims, offsetTable(dims, tables))];
}

/** A number as stored in a tensor of `dtype` (the Pad `value` attribute of opsets before 11). */
function constantElement(dtype: DType, value: number): unknown {
  if (dtype === 'string') return '';
  return elementAt(fromNumbers(dtype, [1], [value]), 0);
}

// ---- element selection by value ----

function topK(inputs: readonly (Tensor | undefined)[], attrs: Attributes, ctx: KernelContext): Tensor[] {
  const x = required(inputs, 0);
  const rank = x.dims.length;
  const axis = normalizeAxis(attrs.int('axis', -1), rank);
  const k = ctx.opset < 10 ? attrs.int('k') : scalarValue(required(inputs, 1), 'k');
  const length = x.dims[axis]!;
  if (!Number.isInteger(k) || k < 0 || k > length) throw new KernelError(`k ${k} must be in 0..${length} (axis ${axis} of ${showDims(x.dims)})`);
  const largest = attrs.int('largest', 1) === 1;
  // comparable keys: numbers (halves widened) or bigints
  const keys: ArrayLike<number | bigint> = x.dtype === 'int64' || x.dtype === 'uint64'
    ? (x.data as BigInt64Array)
    : numberValues(x);
  const outer = product(x.dims, 0, axis);
  const inner = product(x.dims, axis + 1);
  const dims = x.dims.slice();
  dims[axis] = k;
  const picked = new Int32Array(outer * k * inner);
  const positions = new Array<number>(length);
  // order: larger (or smaller) first, NaN counted as the largest, ties by lower index
  const rankOf = (v: number | bigint) => (typeof v === 'number' && Number.isNaN(v) ? Infinity : v);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * length * inner + i;
      for (let j = 0; j < length; j++) positions[j] = j;
      positions.sort((a, b) => {
        const va = rankOf(keys[base + a * inner]!);
        const vb = rankOf(keys[base + b * inner]!);
        if (va === vb) return a - b;
        return (va < vb) === largest ? 1 : -1;
      });
      for (let j = 0; j < k; j++) picked[(o * k + j) * inner + i] = positions[j]!;
    }
  }
  const index = new Int32Array(picked.length);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      for (let i = 0; i < inner; i++) {
        const n = (o * k + j) * inner + i;
        index[n] = (o * length + picked[n]!) * inner + i;
      }
    }
  }
  return [takeElements(x, dims, index), tensor('int64', dims, BigInt64Array.from(picked, (v) => BigInt(v)))];
}

function trilu(inputs: readonly (Tensor | undefined)[], attrs: Attributes): Tensor[] {
  const x = required(inputs, 0);
  const rank = x.dims.length;
  if (rank < 2) throw new KernelError(`input must have rank >= 2, got ${showDims(x.dims)}`);
  const k = inputs[1] ? scalarValue(inputs[1], 'k') : 0;
  const upper = attrs.int('upper', 1) === 1;
  const rows = x.dims[rank - 2]!;
  const cols = x.dims[rank - 1]!;
  const out = allocate(x.dtype, sizeOf(x.dims)); // zeros
  const matrices = product(x.dims, 0, rank - 2);
  for (let m = 0; m < matrices; m++) {
    for (let i = 0; i < rows; i++) {
      // keep columns j with j - i >= k (upper) or j - i <= k (lower)
      const from = upper ? Math.min(Math.max(i + k, 0), cols) : 0;
      const to = upper ? cols : Math.min(Math.max(i + k + 1, 0), cols);
      const row = (m * rows + i) * cols;
      if (to > from) copyElements(x.data, row + from, out, row + from, to - from);
    }
  }
  return [tensor(x.dtype, x.dims, out)];
}

export const kernels: KernelTable = {
  Concat: concat,
  Constant: constant,
  ConstantOfShape: constantOfShape,
  Dropout: dropout,
  Expand: expand,
  Flatten: flatten,
  Gather: gather,
  GatherElements: gatherElements,
  Identity: identity,
  Pad: pad,
  Range: range,
  Reshape: reshape,
  Shape: shape,
  Slice: slice,
  Split: split,
  Squeeze: squeeze,
  Tile: tile,
  TopK: topK,
  Transpose: transpose,
  Trilu: trilu,
  Unsqueeze: unsqueeze,
};
