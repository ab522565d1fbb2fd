// The float arrays the training engine computes in: float32 for training, float64 for gradient checks.
import type { Tensor } from '../../../formats/tensor.ts';

export type Floats = Float32Array | Float64Array;
export type FloatDType = 'float32' | 'float64';

export function isFloats(data: unknown): data is Floats {
  return data instanceof Float32Array || data instanceof Float64Array;
}

/** A zeroed array of the same kind as `like`. */
export function zerosLike(like: Floats, length = like.length): Floats {
  return like instanceof Float64Array ? new Float64Array(length) : new Float32Array(length);
}

export function floatsOf(t: Tensor, what: string): Floats {
  if (!isFloats(t.data)) throw new Error(`${what}: expected float32 or float64 data, got ${t.dtype}`);
  return t.data;
}

/** Allocation of the compute dtype. */
export function allocateFloats(dtype: FloatDType, length: number): Floats {
  return dtype === 'float64' ? new Float64Array(length) : new Float32Array(length);
}

export function dtypeOf(data: Floats): FloatDType {
  return data instanceof Float64Array ? 'float64' : 'float32';
}
