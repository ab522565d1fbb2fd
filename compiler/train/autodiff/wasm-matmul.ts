// The training engine's float32 matrix products on the WASM SIMD GEMM the bundles use (addBatchedMatMul):
// operands are copied into one linear memory, products run there, and the result is copied out. Transposed
// operands are transposed in JS first (O(size), against O(size·k) for the product). Float64 (gradient checks)
// stays on the plain loops.
import { addBatchedMatMul } from '../../codegen/wasm/matmul.ts';
import { createKernelModule, finishModule } from '../../codegen/wasm/module.ts';
import type { Floats } from './floats.ts';
import type { MatrixOperand } from './matmul.ts';
import { matmulInto } from './matmul.ts';

interface GemmModule { memory: WebAssembly.Memory; gemm: (a: number, b: number, y: number, batch: number, m: number, k: number, n: number, aStride: number, bStride: number) => void }

let instance: GemmModule | undefined;

function gemmModule(): GemmModule {
  if (instance) return instance;
  const mod = createKernelModule();
  addBatchedMatMul(mod, 'gemm');
  const { binary } = finishModule(mod);
  mod.dispose();
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536 });
  const wasm = new WebAssembly.Instance(new WebAssembly.Module(binary), { env: { memory } });
  instance = { memory, gemm: wasm.exports['gemm'] as GemmModule['gemm'] };
  return instance;
}

function reserve(bytes: number): GemmModule {
  const m = gemmModule();
  const missing = bytes - m.memory.buffer.byteLength;
  if (missing > 0) m.memory.grow(Math.ceil(missing / 65536));
  return m;
}

/** The operand as a row-major (rows × cols) float32 matrix, transposing a transposed one. */
function materialise(op: MatrixOperand, rows: number, cols: number): { data: ArrayLike<number>; offset: number } {
  if (!op.transposed) return { data: op.data, offset: op.offset };
  const t = new Float32Array(rows * cols);
  transposeInto(op.data, op.offset, cols, rows, t, 0);
  return { data: t, offset: 0 };
}

/** Tile side of the cache-blocked transpose. */
const TILE = 32;

/** dst (cols × rows) = src (rows × cols)ᵀ, in TILE × TILE tiles so both sides stay in cache. */
export function transposeInto(src: ArrayLike<number>, srcOffset: number, rows: number, cols: number, dst: Floats, dstOffset: number): void {
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(rows, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) {
        const from = srcOffset + r * cols;
        for (let c = c0; c < c1; c++) dst[dstOffset + c * rows + r] = src[from + c]!;
      }
    }
  }
}

/** Below this many multiply-adds the copies cost more than they save. */
const MIN_WORK = 1 << 14;

/** C (m×n) [+]= op(A)·op(B), as matmulInto, on the WASM GEMM for float32. */
export function fastMatmulInto(c: Floats, cOffset: number, a: MatrixOperand, b: MatrixOperand, m: number, k: number, n: number, accumulate: boolean): void {
  if (!(c instanceof Float32Array) || m * k * n < MIN_WORK) { matmulInto(c, cOffset, a, b, m, k, n, accumulate); return; }
  const A = materialise(a, m, k);
  const B = materialise(b, k, n);
  if (k * n > BLOCK * BLOCK) { blockedProduct(c, cOffset, A, B, m, k, n, accumulate); return; }
  const aBytes = m * k * 4;
  const bBytes = k * n * 4;
  const mod = reserve(aBytes + bBytes + m * n * 4);
  const heap = new Float32Array(mod.memory.buffer);
  copyIn(heap, 0, A.data, A.offset, m * k);
  copyIn(heap, aBytes / 4, B.data, B.offset, k * n);
  const y = aBytes + bBytes;
  mod.gemm(0, aBytes, y, 1, m, k, n, 0, 0);
  const out = new Float32Array(mod.memory.buffer, y, m * n);
  if (accumulate) for (let i = 0; i < out.length; i++) c[cOffset + i] += out[i]!;
  else c.set(out, cOffset);
}

/** Side of the square blocks of B a large product is cut into (256² floats = 256 KiB, an L2's worth). */
const BLOCK = 256;

/**
 * C (m×n) [+]= A·B for a B too large to stay in cache: per block of BLOCK rows of k, the A columns and then each
 * BLOCK×BLOCK block of B are packed contiguously, multiplied on the WASM GEMM, and the partial product added.
 */
function blockedProduct(c: Floats, cOffset: number, A: { data: ArrayLike<number>; offset: number }, B: { data: ArrayLike<number>; offset: number }, m: number, k: number, n: number, accumulate: boolean): void {
  if (!accumulate) c.fill(0, cOffset, cOffset + m * n);
  const mod = reserve((m * BLOCK + BLOCK * BLOCK + m * BLOCK) * 4);
  const heap = new Float32Array(mod.memory.buffer);
  const bAt = m * BLOCK;
  const yAt = bAt + BLOCK * BLOCK;
  for (let k0 = 0; k0 < k; k0 += BLOCK) {
    const kc = Math.min(BLOCK, k - k0);
    for (let r = 0; r < m; r++) copyIn(heap, r * kc, A.data, A.offset + r * k + k0, kc);
    for (let n0 = 0; n0 < n; n0 += BLOCK) {
      const nc = Math.min(BLOCK, n - n0);
      for (let p = 0; p < kc; p++) copyIn(heap, bAt + p * nc, B.data, B.offset + (k0 + p) * n + n0, nc);
      mod.gemm(0, bAt * 4, yAt * 4, 1, m, kc, nc, 0, 0);
      for (let r = 0; r < m; r++) {
        const from = yAt + r * nc;
        const to = cOffset + r * n + n0;
        for (let j = 0; j < nc; j++) c[to + j] += heap[from + j]!;
      }
    }
  }
}

function copyIn(heap: Float32Array, at: number, src: ArrayLike<number>, offset: number, length: number): void {
  if (src instanceof Float32Array) heap.set(src.subarray(offset, offset + length), at);
  else for (let i = 0; i < length; i++) heap[at + i] = src[offset + i]!;
}

export interface BatchedProduct {
  a: Floats;
  b: Floats;
  /** Read each A (B) matrix as its transpose. */
  transA: boolean;
  transB: boolean;
  m: number;
  k: number;
  n: number;
  /** For each product t, which A and B matrix it multiplies (broadcast batches repeat indices). */
  aIndex: ArrayLike<number>;
  bIndex: ArrayLike<number>;
  /** Where product t is added: out matrix outIndex[t] (default t). `out` must start zeroed. */
  out: Floats;
  outIndex?: ArrayLike<number>;
}

/**
 * out[outIndex[t]] += op(A[aIndex[t]])·op(B[bIndex[t]]) for every t: the batched products of MatMul and its
 * VJP. Float32 runs on the WASM GEMM with every operand copied in once and the results copied out once.
 */
export function batchedMatmul(p: BatchedProduct): void {
  const { m, k, n } = p;
  const count = p.aIndex.length;
  const outIndex = p.outIndex && !isIdentity(p.outIndex) ? p.outIndex : undefined;
  const outAt = (t: number) => (outIndex ? outIndex[t]! : t) * m * n;
  if (!(p.out instanceof Float32Array) || m * k * n * count < MIN_WORK) {
    for (let t = 0; t < count; t++) {
      matmulInto(p.out, outAt(t), { data: p.a, offset: p.aIndex[t]! * m * k, transposed: p.transA }, { data: p.b, offset: p.bIndex[t]! * k * n, transposed: p.transB }, m, k, n, true);
    }
    return;
  }
  const a = p.transA ? transposeEach(p.a, k, m) : p.a;
  const b = p.transB ? transposeEach(p.b, n, k) : p.b;
  const aBytes = a.length * 4;
  const bBytes = b.length * 4;
  const mod = reserve(aBytes + bBytes + count * m * n * 4);
  const heap = new Float32Array(mod.memory.buffer);
  copyIn(heap, 0, a, 0, a.length);
  copyIn(heap, aBytes / 4, b, 0, b.length);
  const y = aBytes + bBytes;
  for (let t = 0; t < count; t++) mod.gemm(p.aIndex[t]! * m * k * 4, aBytes + p.bIndex[t]! * k * n * 4, y + t * m * n * 4, 1, m, k, n, 0, 0);
  const results = new Float32Array(mod.memory.buffer, y, count * m * n);
  if (!outIndex && p.out.length === results.length) { p.out.set(results); return; }
  for (let t = 0; t < count; t++) {
    const o = outAt(t);
    const r = t * m * n;
    for (let i = 0; i < m * n; i++) p.out[o + i] += results[r + i]!;
  }
}

/** Each (rows × cols) matrix of a batch, transposed to (cols × rows). */
function transposeEach(x: Floats, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let base = 0; base < x.length; base += rows * cols) transposeInto(x, base, rows, cols, out, base);
  return out;
}

function isIdentity(index: ArrayLike<number>): boolean {
  for (let t = 0; t < index.length; t++) if (index[t] !== t) return false;
  return true;
}
