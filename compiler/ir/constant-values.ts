// Reading small constants (scalars, axes lists) without touching the data of large, lazily loaded tensors.
import type { Tensor } from '../../formats/tensor.ts';
import { sizeOf } from '../../formats/tensor.ts';

/** The value of a one-element float tensor, else undefined. */
export function floatScalar(t: Tensor | undefined): number | undefined {
  if (!t || sizeOf(t.dims) !== 1 || (t.dtype !== 'float32' && t.dtype !== 'float64')) return undefined;
  return Number(t.data[0]);
}

/** The values of a small integer tensor (axes, shapes), else undefined. */
export function smallInts(t: Tensor | undefined, limit = 64): number[] | undefined {
  if (!t || sizeOf(t.dims) > limit || !/int/.test(t.dtype)) return undefined;
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}
