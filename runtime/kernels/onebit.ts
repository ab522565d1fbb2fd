// OneBitLinear, the reference kernel of a OneBit linear layer (docs ONEBIT.md §1):
//
//   z = alpha · (((x ⊙ g) Sᵀ) ⊙ h) + bias
//   y = z, or with attribute post_norm_eps: y = LayerNorm_noaffine(z) = (z − mean(z)) / √(var(z) + eps) per row
//       of z (over the whole output width; biased variance) — OneBit's post-LayerNorm of trained students
//
// inputs:  x    float32 (..., in)
//          sign uint8 (out, ceil(in/8)): bit j of byte k (LSB first) is column 8k+j, bit = 1 means −1
//          g    float16 | float32 (in)
//          h    float16 | float32 (out)
//          bias float32 | float16 (out), optional
// attrs:   in, out (ints), alpha (float, default 1), post_norm_eps (float ≥ 0, optional: the post-norm)
// output:  y    float32 (..., out)
// Plain loops, float64 accumulation: this is the definition faster kernels are tested against.
// Padding bits (columns ≥ in in the last byte of a row) are never read.
import type { Kernel, KernelTable } from '../kernel.ts';
import { KernelError, required } from '../kernel.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { sizeOf, tensor } from '../../formats/tensor.ts';
import { float16ToFloat32 } from '../../formats/dtype.ts';

/** float16 words or float32 values of a 1-D tensor of `length`, as float64 values. */
function vector(t: Tensor, what: string, length: number, lengthName: string): Float64Array {
  if (t.dtype !== 'float16' && t.dtype !== 'float32') {
    throw new KernelError(`${what} has dtype ${t.dtype}; should be one of: float16, float32`);
  }
  if (t.dims.length !== 1 || t.dims[0] !== length) {
    throw new KernelError(`${what} has dims [${t.dims.join(', ')}], expected [${length}] (${lengthName})`);
  }
  const values = new Float64Array(length);
  if (t.dtype === 'float16') {
    const words = t.data as Uint16Array;
    for (let k = 0; k < length; k++) values[k] = float16ToFloat32(words[k]!);
  } else {
    const data = t.data as Float32Array;
    for (let k = 0; k < length; k++) values[k] = data[k]!;
  }
  return values;
}

const OneBitLinear: Kernel = (inputs, attrs) => {
  const x = required(inputs, 0);
  const sign = required(inputs, 1);
  const inDim = attrs.int('in');
  const out = attrs.int('out');
  const alpha = attrs.float('alpha', 1);
  const postNormEps = attrs.has('post_norm_eps') ? attrs.float('post_norm_eps') : undefined;
  if (postNormEps !== undefined && !(postNormEps >= 0 && Number.isFinite(postNormEps))) {
    throw new KernelError(`attribute 'post_norm_eps' must be a finite number ≥ 0, got ${postNormEps}`);
  }
  if (!Number.isInteger(inDim) || inDim < 0) throw new KernelError(`attribute 'in' must be a non-negative integer, got ${inDim}`);
  if (!Number.isInteger(out) || out < 0) throw new KernelError(`attribute 'out' must be a non-negative integer, got ${out}`);

  if (x.dtype !== 'float32') throw new KernelError(`x (input 0) has dtype ${x.dtype}; should be float32`);
  if (x.dims.length < 1 || x.dims[x.dims.length - 1] !== inDim) {
    throw new KernelError(`x (input 0) has dims [${x.dims.join(', ')}], expected [..., ${inDim}] (last axis = in)`);
  }
  const rowBytes = Math.ceil(inDim / 8);
  if (sign.dtype !== 'uint8') throw new KernelError(`sign (input 1) has dtype ${sign.dtype}; should be uint8`);
  if (sign.dims.length !== 2 || sign.dims[0] !== out || sign.dims[1] !== rowBytes) {
    throw new KernelError(`sign (input 1) has dims [${sign.dims.join(', ')}], expected [${out}, ${rowBytes}] (out, ceil(in/8))`);
  }
  const g = vector(required(inputs, 2), 'g (input 2)', inDim, 'in');
  const h = vector(required(inputs, 3), 'h (input 3)', out, 'out');
  const bias = inputs[4] ? vector(inputs[4], 'bias (input 4)', out, 'out') : undefined;

  const xs = x.data as Float32Array;
  const bits = sign.data as Uint8Array;
  const batchDims = x.dims.slice(0, -1);
  const batch = sizeOf(batchDims);
  const y = tensor('float32', [...batchDims, out]); // (..., out)
  const ys = y.data;
  const xg = new Float64Array(inDim); // (in) x ⊙ g for one row of x
  const z = new Float64Array(out); // (out) one row of y before the post-norm
  for (let n = 0; n < batch; n++) {
    for (let i = 0; i < inDim; i++) xg[i] = xs[n * inDim + i]! * g[i]!;
    for (let o = 0; o < out; o++) {
      let sum = 0;
      for (let i = 0; i < inDim; i++) {
        const negative = (bits[o * rowBytes + (i >> 3)]! >> (i & 7)) & 1;
        sum += negative ? -xg[i]! : xg[i]!;
      }
      z[o] = alpha * sum * h[o]! + (bias ? bias[o]! : 0);
    }
    if (postNormEps === undefined) {
      for (let o = 0; o < out; o++) ys[n * out + o] = z[o]!;
      continue;
    }
    let mean = 0;
    for (let o = 0; o < out; o++) mean += z[o]!;
    mean /= out;
    let variance = 0;
    for (let o = 0; o < out; o++) variance += (z[o]! - mean) ** 2;
    variance /= out;
    const inv = 1 / Math.sqrt(variance + postNormEps);
    for (let o = 0; o < out; o++) ys[n * out + o] = (z[o]! - mean) * inv;
  }
  return [y];
};

export const kernels: KernelTable = { OneBitLinear };
