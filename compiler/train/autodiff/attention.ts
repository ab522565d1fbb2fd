// Attention, fused for training: softmax(scale · q·kᵀ + mask)·v in one op, with its VJP. The unfused chain
// (MatMul, Mul, Add, Softmax, MatMul) makes four [.., T, S] tensors and as many gradients, each a pass over
// memory; here the products run on the batched GEMM and scale, mask and softmax (and their backward) are one
// pass each, with no exp for masked entries and each row cut at its last attended column.
//
// inputs q (..., T, d), kT (..., d, S), v (..., S, d), mask (T, S) additive (0 or very negative); batch axes
// broadcast as MatMul's do (grouped-query attention shares k, v across query groups). attr scale.
// outputs: context (..., T, d), and probabilities (..., T, S) for the backward pass.
import type { Tensor } from '../../../formats/tensor.ts';
import { tensor } from '../../../formats/tensor.ts';
import type { Kernel } from '../../../runtime/kernel.ts';
import { KernelError, required } from '../../../runtime/kernel.ts';
import { broadcastShapes } from '../../../runtime/kernels/broadcast.ts';
import { readIndex } from './broadcast-grad.ts';
import { allocateFloats, dtypeOf, floatsOf } from './floats.ts';
import type { Vjp, VjpTable } from './vjp.ts';
import { gradFor, outputGrad } from './vjp.ts';
import { batchedMatmul } from './wasm-matmul.ts';

export const ATTENTION_OP = 'FusedAttention';
/** Mask values at or below this are "never attend" (the templates use float32's lowest). */
const MASKED_BELOW = -1e30;

interface Shape { T: number; S: number; d: number; batch: number[]; q: Int32Array; k: Int32Array; v: Int32Array }

function shapeOf(q: Tensor, kT: Tensor, v: Tensor, mask: Tensor): Shape {
  const [T, d] = q.dims.slice(-2) as [number, number];
  const S = kT.dims.at(-1)!;
  if (kT.dims.at(-2) !== d || v.dims.at(-1) !== d || v.dims.at(-2) !== S) {
    throw new KernelError(`q [${q.dims.join(', ')}], kᵀ [${kT.dims.join(', ')}] and v [${v.dims.join(', ')}] do not fit`);
  }
  if (mask.data.length !== T * S) throw new KernelError(`mask must hold ${T}×${S} values, got [${mask.dims.join(', ')}]`);
  const batch = broadcastShapes(q.dims.slice(0, -2), kT.dims.slice(0, -2), v.dims.slice(0, -2));
  return { T, S, d, batch, q: readIndex(q.dims.slice(0, -2), batch), k: readIndex(kT.dims.slice(0, -2), batch), v: readIndex(v.dims.slice(0, -2), batch) };
}

const identity = (n: number) => Int32Array.from({ length: n }, (_, t) => t);

/** Per mask row, one past its last attended column: the rest of the row is masked (half of a causal mask). */
function rowEnds(mask: ArrayLike<number>, T: number, S: number): Int32Array {
  const ends = new Int32Array(T);
  for (let i = 0; i < T; i++) {
    let end = S;
    while (end > 0 && mask[i * S + end - 1]! <= MASKED_BELOW) end--;
    ends[i] = end;
  }
  return ends;
}

export const FusedAttention: Kernel = (inputs, attrs) => {
  const [qt, kt, vt, mt] = [0, 1, 2, 3].map((i) => required(inputs, i)) as [Tensor, Tensor, Tensor, Tensor];
  const s = shapeOf(qt, kt, vt, mt);
  const { T, S, d } = s;
  const scale = attrs.float('scale');
  const mask = mt.data as ArrayLike<number>;
  const dtype = dtypeOf(floatsOf(qt, 'q'));
  const count = s.q.length;
  // P = softmax(scale·q·kᵀ + mask), rows in place over the raw scores; masked entries cost no exp.
  const probs = allocateFloats(dtype, count * T * S);
  batchedMatmul({ a: floatsOf(qt, 'q'), b: floatsOf(kt, 'kT'), transA: false, transB: false, m: T, k: d, n: S, aIndex: s.q, bIndex: s.k, out: probs });
  const ends = rowEnds(mask, T, S);
  for (let r = 0; r < count * T; r++) {
    const base = r * S;
    const mrow = (r % T) * S;
    const end = ends[r % T]!;
    let max = -Infinity;
    for (let j = 0; j < end; j++) {
      const m = mask[mrow + j]!;
      const x = m <= MASKED_BELOW ? -Infinity : scale * probs[base + j]! + m;
      probs[base + j] = x;
      if (x > max) max = x;
    }
    let sum = 0;
    for (let j = 0; j < end; j++) { const x = probs[base + j]!; const e = x === -Infinity ? 0 : Math.exp(x - max); probs[base + j] = e; sum += e; }
    const inv = sum > 0 ? 1 / sum : 0;
    for (let j = 0; j < end; j++) probs[base + j] *= inv;
    probs.fill(0, base + end, base + S);
  }
  const ctx = allocateFloats(dtype, count * T * d);
  batchedMatmul({ a: probs, b: floatsOf(vt, 'v'), transA: false, transB: false, m: T, k: S, n: d, aIndex: identity(count), bIndex: s.v, out: ctx });
  return [tensor(dtype, [...s.batch, T, d], ctx) as Tensor, tensor(dtype, [...s.batch, T, S], probs) as Tensor];
};

const fusedAttentionVjp: Vjp = (args) => {
  const [qt, kt, vt, mt] = args.inputs as [Tensor, Tensor, Tensor, Tensor];
  const s = shapeOf(qt, kt, vt, mt);
  const { T, S, d } = s;
  const count = s.q.length;
  const each = identity(count);
  const scale = args.attrs.float('scale');
  const [q, kT, v] = [floatsOf(qt, 'q'), floatsOf(kt, 'kT'), floatsOf(vt, 'v')];
  const probs = floatsOf(args.outputs[1]!, 'probabilities');
  const g = outputGrad(args);
  // dP = dctx·vᵀ, dv = Pᵀ·dctx
  const dS = gradFor(args, count * T * S);
  batchedMatmul({ a: g, b: v, transA: false, transB: true, m: T, k: d, n: S, aIndex: each, bIndex: s.v, out: dS });
  const dv = args.needs[2] ? gradFor(args, v.length) : undefined;
  if (dv) {
    // As dvᵀ = dctxᵀ·P: transposing dctx and the (S × d) results is cheaper than transposing P (T × S).
    const dvT = allocateFloats(dtypeOf(dv), count * d * S);
    batchedMatmul({ a: g, b: probs, transA: true, transB: false, m: d, k: T, n: S, aIndex: each, bIndex: each, out: dvT });
    for (let t = 0; t < count; t++) {
      const from = t * d * S;
      const to = s.v[t]! * S * d;
      for (let c = 0; c < d; c++) for (let j = 0; j < S; j++) dv[to + j * d + c] += dvT[from + c * S + j]!;
    }
  }
  // dS = scale·P ⊙ (dP − Σ_j P·dP), in place
  const ends = rowEnds(mt.data as ArrayLike<number>, T, S);
  for (let r = 0; r < count * T; r++) {
    const base = r * S;
    const end = ends[r % T]!;
    let weighted = 0;
    for (let j = 0; j < end; j++) weighted += probs[base + j]! * dS[base + j]!;
    for (let j = 0; j < end; j++) dS[base + j] = scale * probs[base + j]! * (dS[base + j]! - weighted);
    dS.fill(0, base + end, base + S);
  }
  // dq = dS·k (k = (kᵀ)ᵀ), dkᵀ = qᵀ·dS
  const dq = args.needs[0] ? gradFor(args, q.length) : undefined;
  if (dq) batchedMatmul({ a: dS, b: kT, transA: false, transB: true, m: T, k: S, n: d, aIndex: each, bIndex: s.k, out: dq, outIndex: s.q });
  const dkT = args.needs[1] ? gradFor(args, kT.length) : undefined;
  if (dkT) batchedMatmul({ a: q, b: dS, transA: true, transB: false, m: d, k: T, n: S, aIndex: s.q, bIndex: each, out: dkT, outIndex: s.k });
  return [dq, dkT, dv, undefined];
};

export const attentionVjps: VjpTable = { [ATTENTION_OP]: fusedAttentionVjp };
