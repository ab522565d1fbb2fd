// Binders of the matrix-product shaders (compiler/codegen/wgsl/linear-algebra.ts): MatMul with a constant
// B [k, n] ('matmul-const'), batched MatMul of two run-time values with numpy broadcasting of the batch
// axes ('matmul') and Gemm ('gemm'). Every shader has two paths, picked per run by the `gemv` param:
//   - GEMV (m ≤ GEMV_MAX_ROWS): one workgroup per (row, GEMV_COLUMNS columns), the k axis split across
//     the workgroup's threads and summed in workgroup memory;
//   - tiled: one workgroup per MATMUL_TILE × MATMUL_TILE block of the output, A and B staged through
//     workgroup memory MATMUL_TILE_K at a time, 4 × 4 outputs per thread.
// Grid: x = column blocks, y = rows (GEMV) or row blocks (tiled), z = batch (the broadcast batch axes).
import { sizeOf } from '../../../formats/tensor.ts';
import type { GpuBinder, GpuOperand } from '../binder.ts';

/** Threads per workgroup of both paths (16 × 16 on the tiled path). */
export const MATMUL_WORKGROUP = 256;
/** Output rows × columns of one tiled workgroup, and the k step staged in workgroup memory. */
export const MATMUL_TILE = 64;
export const MATMUL_TILE_K = 16;
/** Runs with at most this many rows per matrix take the GEMV path. */
export const GEMV_MAX_ROWS = 4;

/**
 * Columns per GEMV workgroup. B [k, n] (row-major): 32 adjacent columns × 8 k-slices, adjacent threads
 * read adjacent columns. Bᵀ [n, k]: 8 columns × 32 k-slices, adjacent threads read adjacent k.
 */
export function gemvColumns(transposed: boolean): number {
  return transposed ? 8 : 32;
}

/** Params and grid of one run: m × n outputs per matrix, `batch` matrices. */
function grid(m: number, n: number, batch: number, transposed: boolean): Record<string, number> {
  const gemv = m <= GEMV_MAX_ROWS;
  return gemv
    ? { gemv: 1, gx: Math.ceil(n / gemvColumns(transposed)), gy: m, gz: batch }
    : { gemv: 0, gx: Math.ceil(n / MATMUL_TILE), gy: Math.ceil(m / MATMUL_TILE), gz: batch };
}

/** The run's size `name` matches the one the shader was specialised to (when it was). */
const fits = (sizes: Readonly<Record<string, number>>, name: string, value: number) => sizes[name] === undefined || sizes[name] === value;

/** y [..., n] = A [..., k] · B [k, n], B constant: every leading axis of A is a row. */
const matmulConst: GpuBinder = ([a], call) => {
  const { k, n } = call.sizes as { k: number; n: number };
  const dims = a!.dims;
  if (dims.length < 1 || dims.at(-1) !== k) return undefined;
  const lead = dims.slice(0, -1);
  const m = sizeOf(lead);
  return { outputs: [[...lead, n]], values: { m, k, n, ...grid(m, n, 1, false) } };
};

/**
 * y [...batch, m, n] = A [...batchA, m, k] · B [...batchB, k, n], batch = broadcast(batchA, batchB) of
 * exactly `call.sizes.batchRank` axes. Params bd<i> (output batch dims) and as<i>/bs<i> (element offsets
 * of one step along batch axis i in A and B; 0 where that operand is broadcast).
 */
const matmul: GpuBinder = ([a, b], call) => {
  const rank = call.sizes['batchRank']!;
  if (a!.dims.length < 2 || b!.dims.length < 2) return undefined;
  const [m, k] = a!.dims.slice(-2) as [number, number];
  const [kb, n] = b!.dims.slice(-2) as [number, number];
  if (k !== kb || !fits(call.sizes, 'k', k) || !fits(call.sizes, 'n', n)) return undefined;
  const batchA = padFront(a!.dims.slice(0, -2), rank);
  const batchB = padFront(b!.dims.slice(0, -2), rank);
  if (!batchA || !batchB) return undefined;
  const values: Record<string, number> = { m, k, n };
  const batch: number[] = [];
  let strideA = m * k;
  let strideB = k * n;
  for (let i = rank - 1; i >= 0; i--) {
    const da = batchA[i]!;
    const db = batchB[i]!;
    if (da !== db && da !== 1 && db !== 1) return undefined; // not broadcastable: the host kernel reports it
    const d = Math.max(da, db);
    batch[i] = da === 0 || db === 0 ? 0 : d;
    values[`bd${i}`] = batch[i]!;
    values[`as${i}`] = da === 1 ? 0 : strideA;
    values[`bs${i}`] = db === 1 ? 0 : strideB;
    strideA *= da;
    strideB *= db;
  }
  return { outputs: [[...batch, m, n]], values: { ...values, ...grid(m, n, sizeOf(batch), false) } };
};

/** Leading batch dims padded with 1s to `rank` axes, or undefined when there are more. */
function padFront(dims: readonly number[], rank: number): number[] | undefined {
  return dims.length > rank ? undefined : [...new Array<number>(rank - dims.length).fill(1), ...dims];
}

/**
 * Gemm: y [m, n] = alpha · A [m, k] · B (+ beta · C), B [k, n] or (transB) [n, k]. C, when present, is
 * read as call.sizes.c says: 1 scalar, 2 one value per column, 3 per row, 4 the whole [m, n].
 */
const gemm: GpuBinder = ([a, b, c], call) => {
  const transposed = call.sizes['transB'] === 1;
  if (a!.dims.length !== 2 || b!.dims.length !== 2) return undefined;
  const [m, k] = a!.dims as [number, number];
  const [kb, n] = (transposed ? [b!.dims[1], b!.dims[0]] : b!.dims) as [number, number];
  if (k !== kb || !fits(call.sizes, 'k', k) || !fits(call.sizes, 'n', n)) return undefined;
  if (c && !biasFits(c, call.sizes['c'] ?? 0, m, n)) return undefined;
  return { outputs: [[m, n]], values: { m, k, n, ...grid(m, n, 1, transposed) } };
};

function biasFits(c: GpuOperand, mode: number, m: number, n: number): boolean {
  const size = sizeOf(c.dims);
  const [rows, cols] = c.dims.length >= 2 ? c.dims.slice(-2) as [number, number] : [1, c.dims[0] ?? 1];
  if (c.dims.length > 2) return false;
  switch (mode) {
    case 1: return size === 1;
    case 2: return size === n && cols === n;
    case 3: return c.dims.length === 2 && rows === m && cols === 1;
    case 4: return c.dims.length === 2 && rows === m && cols === n;
    default: return false;
  }
}

export const linearAlgebraBinders = { 'matmul-const': matmulConst, matmul, gemm };
