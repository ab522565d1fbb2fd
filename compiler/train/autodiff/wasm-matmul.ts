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
  const src = op.data;
  for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) t[r * cols + c] = src[op.offset + c * rows + r]!;
  return { data: t, offset: 0 };
}

/** Below this many multiply-adds the copies cost more than they save. */
const MIN_WORK = 1 << 14;

/** C (m×n) [+]= op(A)·op(B), as matmulInto, on the WASM GEMM for float32. */
export function fastMatmulInto(c: Floats, cOffset: number, a: MatrixOperand, b: MatrixOperand, m: number, k: number, n: number, accumulate: boolean): void {
  if (!(c instanceof Float32Array) || m * k * n < MIN_WORK) { matmulInto(c, cOffset, a, b, m, k, n, accumulate); return; }
  const A = materialise(a, m, k);
  const B = materialise(b, k, n);
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

function copyIn(heap: Float32Array, at: number, src: ArrayLike<number>, offset: number, length: number): void {
  if (src instanceof Float32Array) heap.set(src.subarray(offset, offset + length), at);
  else for (let i = 0; i < length; i++) heap[at + i] = src[offset + i]!;
}
