// The reference dequantization of a OneBit linear (docs ONEBIT.md §1): Ŵ[o,i] = h[o] · S[o,i] · g[i].
import { float16ToFloat32 } from '../../formats/dtype.ts';
import { packedRowBytes } from './pack.ts';

/** A scale vector: fp16 words (as stored) or float32 values. */
export type ScaleVector = Uint16Array | Float32Array;

/** Widens fp16 words to float32; float32 input is returned as is. */
export function widenScale(values: ScaleVector): Float32Array {
  if (values instanceof Float32Array) return values;
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float16ToFloat32(values[i]!);
  return out;
}

/**
 * Dequantizes packed signs (out, ceil(in/8)) with g (in) and h (out) to a row-major Float32Array (out, in).
 * Each element is the float32 rounding of the exact product h[o]·g[i] with S's sign.
 */
export function dequantize(sign: Uint8Array, g: ScaleVector, h: ScaleVector, out: number, inDim: number): Float32Array {
  const rowBytes = packedRowBytes(inDim);
  if (sign.length !== out * rowBytes) {
    throw new RangeError(`dequantize: sign has ${sign.length} bytes, expected out·ceil(in/8) = ${out}·${rowBytes} = ${out * rowBytes}`);
  }
  if (g.length !== inDim) throw new RangeError(`dequantize: g has ${g.length} elements, expected in = ${inDim}`);
  if (h.length !== out) throw new RangeError(`dequantize: h has ${h.length} elements, expected out = ${out}`);
  const gf = widenScale(g); // (in)
  const hf = widenScale(h); // (out)
  const w = new Float32Array(out * inDim); // (out, in)
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inDim; i++) {
      const negative = (sign[o * rowBytes + (i >> 3)]! >> (i & 7)) & 1;
      const magnitude = hf[o]! * gf[i]!;
      w[o * inDim + i] = negative ? -magnitude : magnitude;
    }
  }
  return w;
}
