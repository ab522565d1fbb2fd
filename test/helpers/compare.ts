// Tensor comparisons shared by the tests: ONNX's tolerance rule for floats, exact for everything else.
import type { Tensor } from '../../formats/tensor.ts';
import { halfToFloat32, isFloat } from '../../formats/dtype.ts';

export function floatValues(t: Tensor): Float64Array {
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') return Float64Array.from(halfToFloat32(t.dtype, t.data as Uint16Array));
  return Float64Array.from(t.data as ArrayLike<number>);
}

/** Why `actual` differs from `expected`, or undefined when it matches (|a − e| ≤ atol + rtol·|e|, NaN = NaN). */
export function mismatch(actual: Tensor, expected: Tensor, rtol = 1e-3, atol = 1e-7): string | undefined {
  if (actual.dtype !== expected.dtype) return `dtype ${actual.dtype}, expected ${expected.dtype}`;
  if (actual.dims.join(',') !== expected.dims.join(',')) return `dims [${actual.dims}], expected [${expected.dims}]`;
  if (isFloat(expected.dtype)) {
    const a = floatValues(actual);
    const e = floatValues(expected);
    for (let i = 0; i < e.length; i++) {
      const x = a[i]!;
      const y = e[i]!;
      if (Number.isNaN(y) ? !Number.isNaN(x) : !(Math.abs(x - y) <= atol + rtol * Math.abs(y)) && x !== y) {
        return `element ${i} is ${x}, expected ${y}`;
      }
    }
    return undefined;
  }
  for (let i = 0; i < expected.data.length; i++) {
    if (actual.data[i] !== expected.data[i]) return `element ${i} is ${actual.data[i]}, expected ${expected.data[i]}`;
  }
  return undefined;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function relativeL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) { num += (actual[i]! - expected[i]!) ** 2; den += expected[i]! ** 2; }
  return Math.sqrt(num / den);
}

/** First index where `actual` and `expected` differ beyond |a − e| ≤ atol + rtol·|e| (NaN = NaN, Inf = Inf). */
export function firstMismatch(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number): string | undefined {
  if (actual.length !== expected.length) return `length ${actual.length}, expected ${expected.length}`;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) ? Number.isNaN(a) : a === e || Math.abs(a - e) <= atol + rtol * Math.abs(e)) continue;
    return `element ${i}: ${a}, expected ${e}`;
  }
  return undefined;
}
