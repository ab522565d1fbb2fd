// OneBitTrain: the OneBit linear of the student during distillation (ONEBIT.md §3), with a latent weight W
// whose sign is the 1-bit matrix:
//
//   z = ((x ⊙ g) · sign(W)ᵀ) ⊙ h + bias        sign(0) = +1
//   y = z, or with post_norm_eps: LayerNorm_noaffine(z) over the output width (the paper's post-LayerNorm)
//
// inputs x (..., in), W (out, in), g (in), h (out), bias (out, optional, frozen); attrs in, out, post_norm_eps?,
// ste ('tanh': dW = dS ⊙ (1.001 − tanh²(W)), the reference surrogate; 'clip': dS where |W| ≤ 1).
// Outputs y and, for the backward pass only, s = (x ⊙ g)·sign(W)ᵀ before h and the norm.
import type { Tensor } from '../../../formats/tensor.ts';
import { tensor } from '../../../formats/tensor.ts';
import type { Kernel } from '../../../runtime/kernel.ts';
import { KernelError, required } from '../../../runtime/kernel.ts';
import type { Floats } from './floats.ts';
import { allocateFloats, dtypeOf, floatsOf } from './floats.ts';
import { plain, transposed } from './matmul.ts';
import { fastMatmulInto as matmulInto, transposeInto } from './wasm-matmul.ts';
import type { SteKind } from './ste.ts';
import { applySte } from './ste.ts';
import { layerNormRowGrad, rowStats } from './vjp-nn.ts';
import type { Vjp, VjpTable } from './vjp.ts';
import { gradFor, outputGrad } from './vjp.ts';

export const ONEBIT_TRAIN_OP = 'OneBitTrain';

/** ±1 of the latent weight (sign(0) = sign(−0) = +1), as a matrix operand. */
export function signsOf(w: Floats): Float32Array {
  const s = new Float32Array(w.length);
  if (w instanceof Float64Array) {
    for (let i = 0; i < w.length; i++) s[i] = w[i]! < 0 ? -1 : 1;
    return s;
  }
  // Random signs defeat branch prediction: build ±1.0f from the sign bit instead (−0 counts as +0).
  const bits = new Int32Array(w.buffer, w.byteOffset, w.length);
  const out = new Int32Array(s.buffer);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    const nonzero = ((b & 0x7fffffff) + 0x7fffffff) >>> 31;
    out[i] = 0x3f800000 | (((b >>> 31) & nonzero) << 31);
  }
  return s;
}

interface Parts { x: Floats; w: Floats; g: Floats; h: Floats; bias: Floats | undefined; rows: number; inDim: number; out: number; eps: number | undefined }

function parts(inputs: readonly (Tensor | undefined)[], attrs: { int(n: string): number; has(n: string): boolean; float(n: string): number }): Parts {
  const x = required(inputs, 0);
  const inDim = attrs.int('in');
  const out = attrs.int('out');
  if (x.dims.at(-1) !== inDim) throw new KernelError(`x has dims [${x.dims.join(', ')}], expected [..., ${inDim}]`);
  const w = floatsOf(required(inputs, 1), 'W');
  if (w.length !== out * inDim) throw new KernelError(`W has ${w.length} elements, expected ${out}×${inDim}`);
  return {
    x: floatsOf(x, 'x'), w, g: floatsOf(required(inputs, 2), 'g'), h: floatsOf(required(inputs, 3), 'h'),
    bias: inputs[4] ? floatsOf(inputs[4], 'bias') : undefined,
    rows: x.data.length / inDim, inDim, out, eps: attrs.has('post_norm_eps') ? attrs.float('post_norm_eps') : undefined,
  };
}

function scaledInput(p: Parts): Floats {
  const xg = allocateFloats(dtypeOf(p.x), p.x.length);
  for (let r = 0; r < p.rows; r++) for (let i = 0; i < p.inDim; i++) xg[r * p.inDim + i] = p.x[r * p.inDim + i]! * p.g[i]!;
  return xg;
}

export const OneBitTrain: Kernel = (inputs, attrs) => {
  const p = parts(inputs, attrs);
  const dtype = dtypeOf(p.x);
  const s = allocateFloats(dtype, p.rows * p.out);
  if (p.out * p.inDim > p.rows * (p.inDim + p.out)) {
    // Few rows, big W: sᵀ = S·(x⊙g)ᵀ transposes the activations instead of the sign matrix.
    const sT = allocateFloats(dtype, s.length);
    matmulInto(sT, 0, plain(signsOf(p.w)), transposed(scaledInput(p)), p.out, p.inDim, p.rows, false);
    transposeInto(sT, 0, p.out, p.rows, s, 0);
  } else {
    matmulInto(s, 0, plain(scaledInput(p)), transposed(signsOf(p.w)), p.rows, p.inDim, p.out, false);
  }
  const y = allocateFloats(dtype, s.length);
  for (let r = 0; r < p.rows; r++) {
    const base = r * p.out;
    for (let o = 0; o < p.out; o++) y[base + o] = s[base + o]! * p.h[o]! + (p.bias ? p.bias[o]! : 0);
    if (p.eps !== undefined) {
      const { mean, rstd } = rowStats(y, base, p.out, p.eps);
      for (let o = 0; o < p.out; o++) y[base + o] = (y[base + o]! - mean) * rstd;
    }
  }
  const dims = [...inputs[0]!.dims.slice(0, -1), p.out];
  return [tensor(dtype, dims, y) as Tensor, tensor(dtype, dims, s) as Tensor];
};

const oneBitTrainVjp: Vjp = (args) => {
  const p = parts(args.inputs, args.attrs);
  const g = outputGrad(args);
  const s = floatsOf(args.outputs[1]!, 'OneBitTrain s');
  let dz: Floats = g;
  if (p.eps !== undefined) {
    // Back through the post-norm: the output y is its x̂; the row's statistics come from z = s ⊙ h + bias,
    // rebuilt one row at a time from the saved s.
    const xhat = floatsOf(args.outputs[0]!, 'OneBitTrain y');
    const z = allocateFloats(dtypeOf(s), p.out);
    dz = gradFor(args, s.length);
    for (let r = 0; r < p.rows; r++) {
      const base = r * p.out;
      for (let o = 0; o < p.out; o++) z[o] = s[base + o]! * p.h[o]! + (p.bias ? p.bias[o]! : 0);
      const { rstd } = rowStats(z, 0, p.out, p.eps);
      layerNormRowGrad(g, xhat, base, p.out, rstd, dz);
    }
  }
  const dh = args.needs[3] ? gradFor(args, p.out) : undefined;
  const db = args.inputs[4] && args.needs[4] ? gradFor(args, p.out) : undefined;
  const ds = gradFor(args, s.length); // dL/ds = dz ⊙ h
  for (let r = 0; r < p.rows; r++) {
    for (let o = 0; o < p.out; o++) {
      const at = r * p.out + o;
      ds[at] = dz[at]! * p.h[o]!;
      if (dh) dh[o] += dz[at]! * s[at]!;
      if (db) db[o] += dz[at]!;
    }
  }
  const signs = signsOf(p.w);
  let dx: Floats | undefined;
  let dg: Floats | undefined;
  if (args.needs[0] || args.needs[2]) {
    const dxg = gradFor(args, p.x.length); // ds · S
    matmulInto(dxg, 0, plain(ds), plain(signs), p.rows, p.out, p.inDim, false);
    if (args.needs[0]) { dx = gradFor(args, p.x.length); for (let r = 0; r < p.rows; r++) for (let i = 0; i < p.inDim; i++) dx[r * p.inDim + i] = dxg[r * p.inDim + i]! * p.g[i]!; }
    if (args.needs[2]) { dg = gradFor(args, p.inDim); for (let r = 0; r < p.rows; r++) for (let i = 0; i < p.inDim; i++) dg[i] += dxg[r * p.inDim + i]! * p.x[r * p.inDim + i]!; }
  }
  let dw: Floats | undefined;
  if (args.needs[1]) {
    dw = gradFor(args, p.w.length); // dS = dsᵀ · (x ⊙ g), then the straight-through estimator
    matmulInto(dw, 0, transposed(ds), plain(scaledInput(p)), p.out, p.rows, p.inDim, false);
    applySte(args.attrs.string('ste', 'tanh') as SteKind, p.w, dw);
  }
  return [dx, dw, dg, dh, db];
};

export const oneBitTrainVjps: VjpTable = { [ONEBIT_TRAIN_OP]: oneBitTrainVjp };
