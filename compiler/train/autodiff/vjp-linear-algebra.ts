// MatMul (numpy semantics, batched with broadcasting) and Gemm: forward kernels on the training matmul, and
// their VJPs dA = dC·Bᵀ, dB = Aᵀ·dC, summed over the batch axes an operand was broadcast along.
import type { Tensor } from '../../../formats/tensor.ts';
import { tensor } from '../../../formats/tensor.ts';
import type { Kernel } from '../../../runtime/kernel.ts';
import { KernelError, required } from '../../../runtime/kernel.ts';
import { broadcastShapes } from '../../../runtime/kernels/broadcast.ts';
import { product } from '../../../runtime/kernels/layout.ts';
import { readIndex } from './broadcast-grad.ts';
import type { Floats } from './floats.ts';
import { allocateFloats, dtypeOf, floatsOf } from './floats.ts';
import { batchedMatmul, fastMatmulInto as matmulInto } from './wasm-matmul.ts';
import type { Vjp, VjpTable } from './vjp.ts';
import { gradFor, outputGrad } from './vjp.ts';

interface BatchedShape { aDims: number[]; bDims: number[]; m: number; k: number; n: number; batch: number[]; aIndex: Int32Array; bIndex: Int32Array }

function batchedShape(a: readonly number[], b: readonly number[]): BatchedShape {
  const aDims = a.length === 1 ? [1, a[0]!] : [...a];
  const bDims = b.length === 1 ? [b[0]!, 1] : [...b];
  const [m, k] = aDims.slice(-2) as [number, number];
  const n = bDims.at(-1)!;
  if (bDims.at(-2) !== k) throw new KernelError(`cannot multiply [${a.join(', ')}] by [${b.join(', ')}]`);
  const batch = broadcastShapes(aDims.slice(0, -2), bDims.slice(0, -2));
  return { aDims, bDims, m, k, n, batch, aIndex: readIndex(aDims.slice(0, -2), batch), bIndex: readIndex(bDims.slice(0, -2), batch) };
}

function outputDims(a: readonly number[], b: readonly number[], s: BatchedShape): number[] {
  return [...s.batch, ...(a.length === 1 ? [] : [s.m]), ...(b.length === 1 ? [] : [s.n])];
}

export const MatMul: Kernel = (inputs) => {
  const a = required(inputs, 0);
  const b = required(inputs, 1);
  const s = batchedShape(a.dims, b.dims);
  const dtype = a.dtype === 'float64' || b.dtype === 'float64' ? 'float64' : 'float32';
  const c = allocateFloats(dtype, product(s.batch) * s.m * s.n);
  batchedMatmul({ a: floatsOf(a, 'MatMul A'), b: floatsOf(b, 'MatMul B'), transA: false, transB: false, ...s, out: c });
  return [tensor(dtype, outputDims(a.dims, b.dims, s), c) as Tensor];
};

const matMulVjp: Vjp = (args) => {
  const [a, b] = [args.inputs[0]!, args.inputs[1]!];
  const g = outputGrad(args);
  const s = batchedShape(a.dims, b.dims);
  const A = floatsOf(a, 'MatMul A');
  const B = floatsOf(b, 'MatMul B');
  const { m, k, n } = s;
  const da = args.needs[0] ? gradFor(args, A.length) : undefined;
  const db = args.needs[1] ? gradFor(args, B.length) : undefined;
  const each = Int32Array.from({ length: s.aIndex.length }, (_, t) => t);
  // dA[aIndex[t]] += dC[t]·B[bIndex[t]]ᵀ;  dB[bIndex[t]] += A[aIndex[t]]ᵀ·dC[t]
  if (da) batchedMatmul({ a: g, b: B, transA: false, transB: true, m, k: n, n: k, aIndex: each, bIndex: s.bIndex, out: da, outIndex: s.aIndex });
  if (db) batchedMatmul({ a: A, b: g, transA: true, transB: false, m: k, k: m, n, aIndex: s.aIndex, bIndex: each, out: db, outIndex: s.bIndex });
  return [da, db];
};

interface GemmShape { transA: boolean; transB: boolean; alpha: number; beta: number; m: number; k: number; n: number }

function gemmShape(a: Tensor, b: Tensor, attrs: { int(name: string, fallback?: number): number; float(name: string, fallback?: number): number }): GemmShape {
  const transA = attrs.int('transA', 0) === 1;
  const transB = attrs.int('transB', 0) === 1;
  const [m, k] = (transA ? [a.dims[1], a.dims[0]] : a.dims) as [number, number];
  const n = (transB ? b.dims[0] : b.dims[1])!;
  if ((transB ? b.dims[1] : b.dims[0]) !== k) throw new KernelError(`Gemm: A [${a.dims.join(', ')}] and B [${b.dims.join(', ')}] do not match`);
  return { transA, transB, alpha: attrs.float('alpha', 1), beta: attrs.float('beta', 1), m, k, n };
}

export const Gemm: Kernel = (inputs, attrs) => {
  const a = required(inputs, 0);
  const b = required(inputs, 1);
  const s = gemmShape(a, b, attrs);
  const dtype = a.dtype === 'float64' ? 'float64' : 'float32';
  const y = allocateFloats(dtype, s.m * s.n);
  matmulInto(y, 0, { data: floatsOf(a, 'Gemm A'), offset: 0, transposed: s.transA }, { data: floatsOf(b, 'Gemm B'), offset: 0, transposed: s.transB }, s.m, s.k, s.n, false);
  if (s.alpha !== 1) for (let i = 0; i < y.length; i++) y[i] *= s.alpha;
  const c = inputs[2];
  if (c && s.beta !== 0) {
    const cv = floatsOf(c, 'Gemm C');
    const index = readIndex(c.dims, [s.m, s.n]);
    for (let i = 0; i < y.length; i++) y[i] += s.beta * cv[index[i]!]!;
  }
  return [tensor(dtype, [s.m, s.n], y) as Tensor];
};

const gemmVjp: Vjp = (args) => {
  const [a, b, c] = [args.inputs[0]!, args.inputs[1]!, args.inputs[2]];
  const s = gemmShape(a, b, args.attrs);
  let g: Floats = outputGrad(args);
  if (s.alpha !== 1) g = g.map((v) => v * s.alpha) as Floats;
  const A = floatsOf(a, 'Gemm A');
  const B = floatsOf(b, 'Gemm B');
  const { m, k, n } = s;
  let da: Floats | undefined;
  let db: Floats | undefined;
  if (args.needs[0]) {
    // dA' = g·op(B)ᵀ (m×k); stored A is A' or its transpose
    da = gradFor(args, A.length);
    if (!s.transA) matmulInto(da, 0, { data: g, offset: 0, transposed: false }, { data: B, offset: 0, transposed: !s.transB }, m, n, k, false);
    else matmulInto(da, 0, { data: B, offset: 0, transposed: s.transB }, { data: g, offset: 0, transposed: true }, k, n, m, false);
  }
  if (args.needs[1]) {
    // dB' = op(A)ᵀ·g (k×n)
    db = gradFor(args, B.length);
    if (!s.transB) matmulInto(db, 0, { data: A, offset: 0, transposed: !s.transA }, { data: g, offset: 0, transposed: false }, k, m, n, false);
    else matmulInto(db, 0, { data: g, offset: 0, transposed: true }, { data: A, offset: 0, transposed: s.transA }, n, m, k, false);
  }
  let dc: Floats | undefined;
  if (c && args.needs[2]) {
    const scaled = outputGrad(args).map((v) => v * s.beta) as Floats;
    dc = gradFor(args, c.data.length);
    const index = readIndex(c.dims, [m, n]);
    for (let i = 0; i < scaled.length; i++) dc[index[i]!] += scaled[i]!;
  }
  return [da, db, dc];
};

export const linearAlgebraVjps: VjpTable = { MatMul: matMulVjp, Gemm: gemmVjp };
export { dtypeOf };
