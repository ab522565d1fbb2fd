// Element types shared by every layer. Names follow onnxruntime-web's tensor types.

export const DTYPES = [
  'float32', 'float64', 'float16', 'bfloat16',
  'int8', 'int16', 'int32', 'int64',
  'uint8', 'uint16', 'uint32', 'uint64',
  'bool', 'string',
] as const;
export type DType = (typeof DTYPES)[number];

/** The typed array that holds each dtype in memory. float16/bfloat16 are kept as raw 16-bit words. */
export interface TensorDataByType {
  float32: Float32Array; float64: Float64Array; float16: Uint16Array; bfloat16: Uint16Array;
  int8: Int8Array; int16: Int16Array; int32: Int32Array; int64: BigInt64Array;
  uint8: Uint8Array; uint16: Uint16Array; uint32: Uint32Array; uint64: BigUint64Array;
  bool: Uint8Array; string: string[];
}
export type TensorData = TensorDataByType[DType];

/** ONNX TensorProto.DataType codes of the dtypes onebitc holds (Cast's `to`, initializers, value infos). */
export const ONNX_DATA_TYPE: Readonly<Record<DType, number>> = Object.freeze({
  float32: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, string: 8,
  bool: 9, float16: 10, float64: 11, uint32: 12, uint64: 13, bfloat16: 16,
});

/** The dtype of each ONNX data type code onebitc holds. */
export const DTYPE_BY_ONNX_CODE: ReadonlyMap<number, DType> = new Map(
  (Object.entries(ONNX_DATA_TYPE) as [DType, number][]).map(([dtype, code]) => [code, dtype]),
);

/** Bytes per element; strings have no fixed size. */
export const DTYPE_BYTES: Record<Exclude<DType, 'string'>, number> = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2, int8: 1, int16: 2, int32: 4, int64: 8,
  uint8: 1, uint16: 2, uint32: 4, uint64: 8, bool: 1,
};

type NumericDType = Exclude<DType, 'string'>;
const ARRAY_TYPES = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, bfloat16: Uint16Array,
  int8: Int8Array, int16: Int16Array, int32: Int32Array, int64: BigInt64Array,
  uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, uint64: BigUint64Array, bool: Uint8Array,
} as const;

export function allocate<T extends DType>(dtype: T, length: number): TensorDataByType[T] {
  if (dtype === 'string') return new Array<string>(length).fill('') as TensorDataByType[T];
  return new ARRAY_TYPES[dtype as NumericDType](length) as unknown as TensorDataByType[T];
}

/** Views little-endian bytes as a typed array of `dtype` (copies when unaligned). */
export function fromBytes<T extends NumericDType>(dtype: T, bytes: Uint8Array): TensorDataByType[T] {
  const size = DTYPE_BYTES[dtype];
  if (bytes.byteLength % size !== 0) throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  const Ctor = ARRAY_TYPES[dtype];
  const aligned = bytes.byteOffset % size === 0 ? bytes : new Uint8Array(bytes); // a copy (Buffer.slice would be a view)
  return new Ctor(aligned.buffer as ArrayBuffer, aligned.byteOffset, aligned.byteLength / size) as unknown as TensorDataByType[T];
}

/** The little-endian bytes of a numeric typed array (a view, no copy). */
export function toBytes(data: Exclude<TensorData, string[]>): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16';
}
export function isBigInt(dtype: DType): boolean {
  return dtype === 'int64' || dtype === 'uint64';
}

// ---- fp16 / bf16 <-> fp32 (round to nearest even, as IEEE and numpy do) ----

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

export function float32ToFloat16(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && (r & 1))) r++;
    return sign | r;
  }
  let r = mant >> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) {
    r++;
    if (r === 0x400) { r = 0; e++; if (e >= 31) return sign | 0x7c00; }
  }
  return sign | (e << 10) | r;
}

export function bfloat16ToFloat32(b: number): number {
  u32[0] = b << 16;
  return f32[0]!;
}

export function float32ToBfloat16(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff)) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Widens a float16/bfloat16 word array to float32. */
export function halfToFloat32(dtype: 'float16' | 'bfloat16', words: Uint16Array): Float32Array {
  const out = new Float32Array(words.length);
  const convert = dtype === 'float16' ? float16ToFloat32 : bfloat16ToFloat32;
  for (let i = 0; i < words.length; i++) out[i] = convert(words[i]!);
  return out;
}

/** Narrows float32 values to float16/bfloat16 words (round to nearest even). */
export function float32ToHalf(dtype: 'float16' | 'bfloat16', values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  const convert = dtype === 'float16' ? float32ToFloat16 : float32ToBfloat16;
  for (let i = 0; i < values.length; i++) out[i] = convert(values[i]!);
  return out;
}
