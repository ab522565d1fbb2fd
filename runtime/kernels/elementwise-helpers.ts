// Plumbing shared by the element-wise and reduction reference kernels: reading a tensor's elements as plain
// JS values, building a tensor back from computed values, and checking dtypes and axes.
//
// One rule for every kernel, so each op reads as its math and nothing else:
//   float32/float64          → number (float32 results are rounded once, when stored)
//   float16/bfloat16         → number widened to float32; results are narrowed back once, when stored
//   int8…int64, uint8…uint64 → bigint, exact; results wrap to the dtype's width when stored (as C and numpy do)
//   bool                     → boolean
//   string                   → string
import type { DType, Tensor } from '../../formats/tensor.ts';
import { sizeOf } from '../../formats/tensor.ts';
import {
  allocate, float32ToBfloat16, float32ToFloat16, float32ToHalf, halfToFloat32, isFloat,
} from '../../formats/dtype.ts';
import { KernelError } from '../kernel.ts';
import { broadcastIndex, broadcastShapes } from './broadcast.ts';

/** One element as a kernel sees it (see the table at the top of this file). */
export type Value = number | bigint | boolean | string;

// ---- dtype groups ----

export const FLOAT_DTYPES: readonly DType[] = ['float32', 'float64', 'float16', 'bfloat16'];
export const SIGNED_INT_DTYPES: readonly DType[] = ['int8', 'int16', 'int32', 'int64'];
export const UNSIGNED_INT_DTYPES: readonly DType[] = ['uint8', 'uint16', 'uint32', 'uint64'];
export const INT_DTYPES: readonly DType[] = [...SIGNED_INT_DTYPES, ...UNSIGNED_INT_DTYPES];
export const NUMERIC_DTYPES: readonly DType[] = [...FLOAT_DTYPES, ...INT_DTYPES];

/** Fails unless `t` has one of the `allowed` dtypes; `name` is the ONNX input name. */
export function checkDType(t: Tensor, allowed: readonly DType[], name: string): void {
  if (!allowed.includes(t.dtype)) {
    throw new KernelError(`input '${name}' has unsupported dtype ${t.dtype}; expected one of: ${allowed.join(', ')}`);
  }
}

/** Fails unless all `tensors` share one dtype (ONNX type constraint `T` shared by several inputs). */
export function checkSameDType(tensors: readonly Tensor[], names: readonly string[]): void {
  const first = tensors[0];
  tensors.forEach((t, i) => {
    if (first && t.dtype !== first.dtype) {
      throw new KernelError(`inputs '${names[0]}' and '${names[i]}' must have the same dtype, got ${first.dtype} and ${t.dtype}`);
    }
  });
}

// ---- axes ----

/** Resolves a possibly negative `axis` against `rank`. */
export function normalizeAxis(axis: number, rank: number, what = 'axis'): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new KernelError(`${what} ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Resolves `axes` against `rank`, rejecting repeats. */
export function normalizeAxes(axes: readonly number[], rank: number): number[] {
  const out = axes.map((a) => normalizeAxis(a, rank, 'axis'));
  if (new Set(out).size !== out.length) throw new KernelError(`axes [${axes.join(', ')}] repeat an axis`);
  return out;
}

/** The integers held by a 0-D or 1-D int32/int64 tensor (axes, shapes). */
export function intsOf(t: Tensor, name: string): number[] {
  checkDType(t, ['int32', 'int64'], name);
  if (t.dims.length > 1) throw new KernelError(`input '${name}' must be 0-D or 1-D, got dims [${t.dims.join(', ')}]`);
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

// ---- reading ----

/** The elements of `t` as plain JS values (see the table at the top of this file). */
export function valuesOf(t: Tensor): ArrayLike<Value> {
  switch (t.dtype) {
    case 'float32': case 'float64': return t.data as Float32Array | Float64Array;
    case 'float16': case 'bfloat16': return halfToFloat32(t.dtype, t.data as Uint16Array);
    case 'bool': return Array.from(t.data as Uint8Array, (b) => b !== 0);
    case 'string': return t.data as string[];
    default: return Array.from(t.data as ArrayLike<number | bigint>, (v) => BigInt(v));
  }
}

// ---- conversions between value kinds ----

/** Parses ONNX's string spellings of numbers: decimal and exponent forms, NaN, INF, +INF, -INF (any case). */
export function parseNumber(s: string): number {
  const text = s.trim();
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(text);
  if (special) return special[2]!.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
  const n = text === '' ? NaN : Number(text);
  if (Number.isNaN(n)) throw new KernelError(`cannot parse '${s}' as a number`);
  return n;
}

export function toNumber(v: Value): number {
  switch (typeof v) {
    case 'number': return v;
    case 'bigint': return Number(v);
    case 'boolean': return v ? 1 : 0;
    default: return parseNumber(v);
  }
}

/** Converts to an integer, truncating toward zero; NaN and ±Infinity (undefined in ONNX) become 0. */
export function toBigInt(v: Value): bigint {
  switch (typeof v) {
    case 'bigint': return v;
    case 'boolean': return v ? 1n : 0n;
    case 'string': return /^\s*[+-]?\d+\s*$/.test(v) ? BigInt(v.trim()) : toBigInt(parseNumber(v));
    default: return Number.isFinite(v) ? BigInt(Math.trunc(v)) : 0n;
  }
}

export function toBoolean(v: Value): boolean {
  switch (typeof v) {
    case 'boolean': return v;
    case 'bigint': return v !== 0n;
    case 'number': return v !== 0; // NaN is true, as in C and numpy
    default: return /^\s*true\s*$/i.test(v) || (!/^\s*false\s*$/i.test(v) && parseNumber(v) !== 0);
  }
}

const INT_BITS: Partial<Record<DType, [bits: number, signed: boolean]>> = {
  int8: [8, true], int16: [16, true], int32: [32, true], int64: [64, true],
  uint8: [8, false], uint16: [16, false], uint32: [32, false], uint64: [64, false],
};

/** Wraps an exact integer to the width of integer `dtype` (two's complement, as C casts do). */
export function wrapInt(dtype: DType, v: bigint): bigint {
  const [bits, signed] = INT_BITS[dtype] ?? [64, true];
  return signed ? BigInt.asIntN(bits, v) : BigInt.asUintN(bits, v);
}

/** The smallest and largest value of integer `dtype`. */
export function intRange(dtype: DType): [min: bigint, max: bigint] {
  const [bits, signed] = INT_BITS[dtype] ?? [64, true];
  return signed ? [-(1n << BigInt(bits - 1)), (1n << BigInt(bits - 1)) - 1n] : [0n, (1n << BigInt(bits)) - 1n];
}

/**
 * Shortest decimal text that reads back as the same `dtype` value, with ONNX's NaN/INF spellings
 * (float32 0.1 is "0.1", not "0.10000000149011612").
 */
export function formatFloat(v: number, dtype: DType): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? 'INF' : '-INF';
  const narrow: (x: number) => number =
    dtype === 'float32' ? Math.fround
      : dtype === 'float16' ? float32ToFloat16
        : dtype === 'bfloat16' ? float32ToBfloat16
          : (x) => x;
  for (let digits = 1; digits < 17; digits++) {
    const text = String(Number(v.toPrecision(digits)));
    if (narrow(Number(text)) === narrow(v)) return text;
  }
  return String(v);
}

/** How a computed value is stored into an element of `dtype`. */
function storeAs(dtype: DType): (v: Value) => number | bigint | string {
  switch (dtype) {
    case 'bool': return (v) => (toBoolean(v) ? 1 : 0);
    case 'string': return (v) => (typeof v === 'number' ? formatFloat(v, 'float64') : typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
    case 'int64': case 'uint64': return (v) => wrapInt(dtype, toBigInt(v));
    default:
      if (isFloat(dtype)) return toNumber;
      return (v) => Number(wrapInt(dtype, toBigInt(v)));
  }
}

// ---- building ----

/** Builds a `dtype` tensor of `dims` whose element i is `at(i)`, converted as the table at the top says. */
export function build(dtype: DType, dims: readonly number[], at: (i: number) => Value): Tensor {
  const size = sizeOf(dims);
  const half = dtype === 'float16' || dtype === 'bfloat16';
  const store = storeAs(dtype);
  const out = (half ? new Float32Array(size) : allocate(dtype, size)) as unknown as (number | bigint | string)[];
  for (let i = 0; i < size; i++) out[i] = store(at(i));
  const data = half ? float32ToHalf(dtype, out as unknown as Float32Array) : out;
  return { dtype, dims: [...dims], data } as Tensor;
}

/**
 * Applies `fn` element by element over `inputs` broadcast together (numpy rules) and stores the results
 * as `outDtype`. The one loop behind every element-wise kernel.
 */
export function mapElements(inputs: readonly Tensor[], outDtype: DType, fn: (...values: Value[]) => Value): Tensor {
  const dims = broadcastShapes(...inputs.map((t) => t.dims));
  const values = inputs.map(valuesOf);
  const index = inputs.map((t) => broadcastIndex(t.dims, dims));
  if (inputs.length === 1) {
    const x = values[0]!;
    return build(outDtype, dims, (i) => fn(x[i]!));
  }
  if (inputs.length === 2) {
    const [a, b] = [values[0]!, values[1]!];
    const [ia, ib] = [index[0]!, index[1]!];
    return build(outDtype, dims, (i) => fn(a[ia[i]!]!, b[ib[i]!]!));
  }
  return build(outDtype, dims, (i) => fn(...values.map((v, k) => v[index[k]![i]!]!)));
}

/**
 * Picks the number form of a function (float dtypes) or its bigint form (integer dtypes) for
 * arguments of `dtype`, so kernels state both and never test value kinds themselves.
 */
export function numeric(
  dtype: DType,
  num: (...args: number[]) => Value,
  big: (...args: bigint[]) => Value,
): (...args: Value[]) => Value {
  return isFloat(dtype) ? (...args) => num(...(args as number[])) : (...args) => big(...(args as bigint[]));
}
