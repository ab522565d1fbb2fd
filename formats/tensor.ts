// The tensor every layer passes around: onnxruntime-style `{ dtype, dims, data }`, row-major.
import type { DType, TensorData, TensorDataByType } from './dtype.ts';
import { allocate, DTYPE_BYTES } from './dtype.ts';

export interface Tensor<T extends DType = DType> {
  readonly dtype: T;
  readonly dims: readonly number[];
  readonly data: TensorDataByType[T];
}

export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function tensor<T extends DType>(dtype: T, dims: readonly number[], data?: TensorDataByType[T]): Tensor<T> {
  const size = sizeOf(dims);
  const values = data ?? allocate(dtype, size);
  if (values.length !== size) {
    throw new RangeError(`tensor of dims [${dims.join(', ')}] needs ${size} elements, got ${values.length}`);
  }
  return { dtype, dims: [...dims], data: values };
}

/** Row-major strides of `dims`. */
export function stridesOf(dims: readonly number[]): number[] {
  const strides = new Array<number>(dims.length);
  let s = 1;
  for (let i = dims.length - 1; i >= 0; i--) { strides[i] = s; s *= dims[i]!; }
  return strides;
}

export type { DType, TensorData };

/** Bytes of a numeric tensor's data, from its dtype and dims (no need to touch lazily loaded data). */
export function byteSizeOf(t: { readonly dtype: DType; readonly dims: readonly number[] }): number {
  return t.dtype === 'string' ? 0 : sizeOf(t.dims) * DTYPE_BYTES[t.dtype];
}
