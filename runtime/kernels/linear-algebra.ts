// Reference kernels for matrix products: MatMul (numpy matmul) and Gemm.
//
// Floats accumulate in float64 and are stored once in the output dtype (float16/bfloat16 are widened on
// read and narrowed on write); int64/uint64 use exact BigInt arithmetic; other integers use numbers.
import type { Tensor } from '../../formats/tensor.ts';
import { allocate, isBigInt } from '../../formats/dtype.ts';
import { tensor } from '../../formats/tensor.ts';
import type { Attributes, KernelTable } from '../kernel.ts';
import { KernelError, required } from '../kernel.ts';
import { broadcastIndex, broadcastShapes } from './broadcast.ts';
import { broadcastsTo, fromNumbers, numberValues, product, showDims } from './layout.ts';

/** One matrix product C[m, n] = sum_k A[m, k] * B[k, n] of row-major blocks starting at aOff/bOff/cOff. */
function matmulBlock(
  a: ArrayLike<number>, aOff: number, b: ArrayLike<number>, bOff: number, c: Float64Array, cOff: number,
  m: number, k: number, n: number,
): void {
  for (let i = 0; i < m; i++) {
    const row = cOff + i * n;
    for (let p = 0; p < k; p++) {
      const av = a[aOff + i * k + p]!;
      const bRow = bOff + p * n;
      for (let j = 0; j < n; j++) c[row + j]! += av * b[bRow + j]!;
    }
  }
}

function matmulBlockBig(
  a: BigInt64Array | BigUint64Array, aOff: number, b: BigInt64Array | BigUint64Array, bOff: number,
  c: BigInt64Array | BigUint64Array, cOff: number, m: number, k: number, n: number,
): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0n;
      for (let p = 0; p < k; p++) sum += a[aOff + i * k + p]! * b[bOff + p * n + j]!;
      c[cOff + i * n + j] = sum; // typed-array store wraps to 64 bits
    }
  }
}

function checkNumeric(t: Tensor, what: string): void {
  if (t.dtype === 'string' || t.dtype === 'bool') throw new KernelError(`${what} must be numeric, got ${t.dtype}`);
}

function matmul(inputs: readonly (Tensor | undefined)[]): Tensor[] {
  const a = required(inputs, 0);
  const b = required(inputs, 1);
  checkNumeric(a, 'A');
  if (a.dtype !== b.dtype) throw new KernelError(`A and B must share a dtype, got ${a.dtype} and ${b.dtype}`);
  if (a.dims.length === 0 || b.dims.length === 0) throw new KernelError('MatMul inputs must have rank >= 1');
  // 1-D operands become a row (A) or a column (B) and lose that axis again in the result
  const aDims = a.dims.length === 1 ? [1, a.dims[0]!] : a.dims;
  const bDims = b.dims.length === 1 ? [b.dims[0]!, 1] : b.dims;
  const m = aDims[aDims.length - 2]!;
  const k = aDims[aDims.length - 1]!;
  const n = bDims[bDims.length - 1]!;
  if (bDims[bDims.length - 2] !== k) {
    throw new KernelError(`cannot multiply ${showDims(a.dims)} by ${showDims(b.dims)}: inner dimensions ${k} and ${bDims[bDims.length - 2]} differ`);
  }
  const aBatch = aDims.slice(0, -2);
  const bBatch = bDims.slice(0, -2);
  const batch = broadcastShapes(aBatch, bBatch);
  const aIndex = broadcastIndex(aBatch, batch);
  const bIndex = broadcastIndex(bBatch, batch);
  const dims = [...batch];
  if (a.dims.length > 1) dims.push(m);
  if (b.dims.length > 1) dims.push(n);
  const count = product(batch);

  if (isBigInt(a.dtype)) {
    const out = allocate(a.dtype, count * m * n) as BigInt64Array | BigUint64Array;
    const ad = a.data as BigInt64Array | BigUint64Array;
    const bd = b.data as BigInt64Array | BigUint64Array;
    for (let i = 0; i < count; i++) matmulBlockBig(ad, aIndex[i]! * m * k, bd, bIndex[i]! * k * n, out, i * m * n, m, k, n);
    return [tensor(a.dtype, dims, out)];
  }
  const av = numberValues(a);
  const bv = numberValues(b);
  const out = new Float64Array(count * m * n);
  for (let i = 0; i < count; i++) matmulBlock(av, aIndex[i]! * m * k, bv, bIndex[i]! * k * n, out, i * m * n, m, k, n);
  return [fromNumbers(a.dtype, dims, out)];
}

function gemm(inputs: readonly (Tensor | undefined)[], attrs: Attributes): Tensor[] {
  const a = required(inputs, 0);
  const b = required(inputs, 1);
  const c = inputs[2];
  checkNumeric(a, 'A');
  if (a.dtype !== b.dtype || (c && c.dtype !== a.dtype)) {
    throw new KernelError(`A, B and C must share a dtype, got ${a.dtype}, ${b.dtype}${c ? `, ${c.dtype}` : ''}`);
  }
  if (a.dims.length !== 2 || b.dims.length !== 2) throw new KernelError(`A and B must be matrices, got ${showDims(a.dims)} and ${showDims(b.dims)}`);
  const transA = attrs.int('transA', 0) === 1;
  const transB = attrs.int('transB', 0) === 1;
  const alpha = attrs.float('alpha', 1);
  const beta = attrs.float('beta', 1);
  const [m, k] = transA ? [a.dims[1]!, a.dims[0]!] : [a.dims[0]!, a.dims[1]!];
  const [kb, n] = transB ? [b.dims[1]!, b.dims[0]!] : [b.dims[0]!, b.dims[1]!];
  if (k !== kb) throw new KernelError(`cannot multiply A ${showDims(a.dims)} (transA=${+transA}) by B ${showDims(b.dims)} (transB=${+transB})`);
  const dims = [m, n];
  let cIndex: Int32Array | undefined;
  if (c) {
    if (!broadcastsTo(c.dims, dims)) {
      throw new KernelError(`C ${showDims(c.dims)} does not broadcast to [${m}, ${n}]`);
    }
    cIndex = broadcastIndex(c.dims, dims);
  }

  // element (i, p) of op(A) is a[i * aRow + p * aCol]; likewise for B
  const [aRow, aCol] = transA ? [1, m] : [k, 1];
  const [bRow, bCol] = transB ? [1, k] : [n, 1];

  if (isBigInt(a.dtype)) {
    const ad = a.data as BigInt64Array | BigUint64Array;
    const bd = b.data as BigInt64Array | BigUint64Array;
    const out = allocate(a.dtype, m * n) as BigInt64Array | BigUint64Array;
    const alphaN = BigInt(Math.trunc(alpha));
    const betaN = BigInt(Math.trunc(beta));
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0n;
        for (let p = 0; p < k; p++) sum += ad[i * aRow + p * aCol]! * bd[p * bRow + j * bCol]!;
        let v = alphaN * sum;
        if (c && cIndex) v += betaN * (c.data as BigInt64Array | BigUint64Array)[cIndex[i * n + j]!]!;
        out[i * n + j] = v;
      }
    }
    return [tensor(a.dtype, dims, out)];
  }
  const ad = numberValues(a);
  const bd = numberValues(b);
  const cv = c ? numberValues(c) : undefined;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += ad[i * aRow + p * aCol]! * bd[p * bRow + j * bCol]!;
      out[i * n + j] = alpha * sum + (cv && cIndex ? beta * cv[cIndex[i * n + j]!]! : 0);
    }
  }
  return [fromNumbers(a.dtype, dims, out)];
}

export const kernels: KernelTable = {
  MatMul: matmul,
  Gemm: gemm,
};
