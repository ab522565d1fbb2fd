// Index, stride and element-moving helpers shared by the reference kernels.
//
// Tensor-moving kernels (Transpose, Slice, Tile, ...) describe their result as "output element i is
// input element index[i]" and let `takeElements` move the elements, so every dtype (int64 BigInts,
// float16 words, strings) is handled by the same few lines. Numeric kernels read their inputs with
// `floatValues`/`numberValues` and build results with `fromNumbers`.
import type { DType, Tensor, TensorData } from '../../formats/tensor.ts';
import { allocate, float32ToHalf, halfToFloat32, isBigInt } from '../../formats/dtype.ts';
import { sizeOf, stridesOf, tensor } from '../../formats/tensor.ts';
import { KernelError } from '../kernel.ts';

// ---- axes and integer inputs ----

/** Resolves a possibly negative `axis` against `rank`; fails unless -rank <= axis < rank. */
export function normalizeAxis(axis: number, rank: number, what = 'axis'): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new KernelError(`${what} ${axis} is out of range for rank ${rank} (expected ${-rank}..${rank - 1})`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Resolves a list of axes, rejecting duplicates. */
export function normalizeAxes(axes: readonly number[], rank: number, what = 'axes'): number[] {
  const out = axes.map((a) => normalizeAxis(a, rank, what === 'axes' ? 'axis' : what));
  if (new Set(out).size !== out.length) throw new KernelError(`${what} [${axes.join(', ')}] repeat an axis`);
  return out;
}

/** The values of an integer tensor (int64 shapes, indices, axes) as plain numbers. */
export function intValues(t: Tensor, what: string): number[] {
  switch (t.dtype) {
    case 'int64': case 'uint64':
      return Array.from(t.data as BigInt64Array | BigUint64Array, (v) => Number(v));
    case 'int32': case 'int16': case 'int8': case 'uint32': case 'uint16': case 'uint8':
      return Array.from(t.data as ArrayLike<number>);
    default:
      throw new KernelError(`${what} must be an integer tensor, got ${t.dtype}`);
  }
}

/** The single value of a scalar (or one-element) tensor as a number. */
export function scalarValue(t: Tensor, what: string): number {
  if (sizeOf(t.dims) !== 1) throw new KernelError(`${what} must hold one value, got dims [${t.dims.join(', ')}]`);
  return numberValues(t)[0]!;
}

/** Whether `dims` broadcasts unidirectionally to `target` (numpy rules, `target` unchanged). */
export function broadcastsTo(dims: readonly number[], target: readonly number[]): boolean {
  if (dims.length > target.length) return false;
  const lead = target.length - dims.length;
  return dims.every((d, i) => d === 1 || d === target[lead + i]);
}

// ---- numeric access ----

type HalfDType = 'float16' | 'bfloat16';
export function isHalf(dtype: DType): dtype is HalfDType {
  return dtype === 'float16' || dtype === 'bfloat16';
}

/** A float tensor's values: float16/bfloat16 widened to float32, float32/float64 as stored (no copy). */
export function floatValues(t: Tensor, what = 'input'): Float32Array | Float64Array {
  if (t.dtype === 'float32' || t.dtype === 'float64') return t.data as Float32Array | Float64Array;
  if (isHalf(t.dtype)) return halfToFloat32(t.dtype, t.data as Uint16Array);
  throw new KernelError(`${what} must be a float tensor (float32, float64, float16, bfloat16), got ${t.dtype}`);
}

/** Any numeric tensor's values as numbers: halves widened, 64-bit integers converted (exact below 2^53). */
export function numberValues(t: Tensor, what = 'input'): ArrayLike<number> {
  if (t.dtype === 'string') throw new KernelError(`${what} must be numeric, got string`);
  if (isHalf(t.dtype)) return halfToFloat32(t.dtype, t.data as Uint16Array);
  if (isBigInt(t.dtype)) return Float64Array.from(t.data as BigInt64Array, (v) => Number(v));
  return t.data as ArrayLike<number>;
}

/**
 * A tensor of `dtype` from computed numbers: halves narrowed (round to nearest even), integers rounded
 * toward zero as typed-array stores do, bools as value !== 0.
 */
export function fromNumbers<T extends DType>(dtype: T, dims: readonly number[], values: ArrayLike<number>): Tensor<T> {
  if (dtype === 'string') throw new KernelError('cannot build a string tensor from numbers');
  if (isHalf(dtype)) return tensor(dtype, dims, float32ToHalf(dtype, values) as Tensor<T>['data']);
  const out = allocate(dtype, values.length);
  if (isBigInt(dtype)) {
    const big = out as BigInt64Array;
    for (let i = 0; i < values.length; i++) big[i] = BigInt(Math.trunc(values[i]!));
  } else if (dtype === 'bool') {
    const b = out as Uint8Array;
    for (let i = 0; i < values.length; i++) b[i] = values[i] !== 0 ? 1 : 0;
  } else {
    (out as Float64Array).set(values);
  }
  return tensor(dtype, dims, out);
}

// ---- moving elements of any dtype ----

/** Index access shared by every TensorData representation (typed arrays and string[]). */
type Cells = { [index: number]: unknown };
function cells(data: TensorData): Cells {
  return data as unknown as Cells;
}

/** A new tensor of `dims` whose element i is `src` element index[i]. Works for every dtype. */
export function takeElements<T extends DType>(src: Tensor<T>, dims: readonly number[], index: ArrayLike<number>): Tensor<T> {
  const out = allocate(src.dtype, index.length);
  if (src.data instanceof Float32Array) {
    // the hot case (activations), as its own monomorphic loop
    const from = src.data;
    const to = out as Float32Array;
    for (let i = 0; i < index.length; i++) to[i] = from[index[i]!]!;
  } else {
    const from = cells(src.data);
    const to = cells(out);
    for (let i = 0; i < index.length; i++) to[i] = from[index[i]!];
  }
  return tensor(src.dtype, dims, out);
}

/** Copies `length` elements from src[srcStart..] to dst[dstStart..] (same dtype). */
export function copyElements(src: TensorData, srcStart: number, dst: TensorData, dstStart: number, length: number): void {
  if ('subarray' in src && 'set' in dst) {
    (dst as Uint8Array).set((src as Uint8Array).subarray(srcStart, srcStart + length), dstStart);
    return;
  }
  const from = cells(src);
  const to = cells(dst);
  for (let i = 0; i < length; i++) to[dstStart + i] = from[srcStart + i];
}

/** A tensor of `dtype` and `dims` with every element set to `value` (an element of that dtype's data). */
export function filled<T extends DType>(dtype: T, dims: readonly number[], value: unknown): Tensor<T> {
  const out = allocate(dtype, sizeOf(dims));
  const to = cells(out);
  for (let i = 0; i < out.length; i++) to[i] = value;
  return tensor(dtype, dims, out);
}

/** Element `i` of a tensor's data, as stored (number, bigint, raw float16 word or string). */
export function elementAt(t: Tensor, i: number): unknown {
  return cells(t.data)[i];
}

/** Writes `value` (as stored) into element `i` of `data`. */
export function setElement(data: TensorData, i: number, value: unknown): void {
  cells(data)[i] = value;
}

/** The same elements under new dims (shares the data: tensors are never mutated). */
export function reshaped<T extends DType>(t: Tensor<T>, dims: readonly number[]): Tensor<T> {
  if (sizeOf(dims) !== sizeOf(t.dims)) {
    throw new KernelError(`cannot view [${t.dims.join(', ')}] (${sizeOf(t.dims)} elements) as [${dims.join(', ')}]`);
  }
  return tensor(t.dtype, dims, t.data);
}

// ---- index tables ----

/**
 * Flat offsets of every position of `dims` (row-major order), where coordinate c on axis a contributes
 * tables[a][c]. Transpose, Slice, Tile and Pad describe themselves as one small table per axis.
 */
export function offsetTable(dims: readonly number[], tables: readonly ArrayLike<number>[]): Int32Array {
  const rank = dims.length;
  const size = sizeOf(dims);
  const out = new Int32Array(size);
  if (size === 0) return out;
  const counter = new Array<number>(rank).fill(0);
  let flat = 0;
  for (let a = 0; a < rank; a++) flat += tables[a]![0]!;
  for (let n = 0; n < size; n++) {
    out[n] = flat;
    for (let a = rank - 1; a >= 0; a--) {
      const table = tables[a]!;
      const c = counter[a]!;
      if (c + 1 < dims[a]!) {
        flat += table[c + 1]! - table[c]!;
        counter[a] = c + 1;
        break;
      }
      flat += table[0]! - table[c]!;
      counter[a] = 0;
    }
  }
  return out;
}

/** Offsets of a strided view of `dims`: base + sum over axes of coordinate * strides[a]. */
export function stridedOffsets(dims: readonly number[], strides: readonly number[], base = 0): Int32Array {
  const tables = dims.map((d, a) => {
    const t = new Float64Array(d);
    for (let c = 0; c < d; c++) t[c] = c * strides[a]!;
    return t;
  });
  const out = offsetTable(dims, tables);
  if (base !== 0) for (let i = 0; i < out.length; i++) out[i]! += base;
  return out;
}

/** Product of dims[from..to). */
export function product(dims: readonly number[], from = 0, to = dims.length): number {
  let n = 1;
  for (let i = from; i < to; i++) n *= dims[i]!;
  return n;
}

export { sizeOf, stridesOf };

/** `[a, b, c]` for messages. */
export function showDims(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}
