// How a OneBit GEMV (one token) is split between threads: by output rows, in whole units of 16 rows (the LUT
// kernel's tiles), in chunks the threads claim as they come (runtime/wasm/thread-pool.ts). Only layers with enough weights are split: waking the
// workers and joining them costs ~5–20 µs, about what the LUT kernel spends on 2^20 weights (1024×1024) on
// one thread, so smaller layers run faster unsplit.

/**
 * Rows per unit of the split, for both OneBit kernels: the LUT kernel's tile (LUT_TILE_ROWS), and the exact
 * kernel's name$rows unit (compiler/codegen/wasm/onebit-linear-rows.ts). `name$rows(y, t0, t1)` takes units.
 */
export const SPLIT_UNIT_ROWS = 16;

/** Fewest weights (out · in) of a layer whose GEMV is split between threads. */
export const MIN_SPLIT_WEIGHTS = 1 << 20;

/**
 * Chunks per thread a split GEMV is cut into: more even out a late or descheduled thread, fewer cost less (each
 * chunk re-reads the token's tables per block). Measured at 4096×4096, LUT, 2 threads on an idle machine (two
 * runs): 1, 2, 4, 8 chunks per thread → 1.72×, 1.64–1.68×, 1.57–1.65×, 1.50–1.62× the one-thread speed.
 */
export const CHUNKS_PER_THREAD = 2;

/** Units per chunk for a layer of `units` units on `threads` threads (≥ 1). */
export function chunkUnits(units: number, threads: number): number {
  if (!Number.isInteger(units) || units < 0 || !Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`chunkUnits: units must be an integer ≥ 0 and threads ≥ 1, got ${units}, ${threads}`);
  }
  return Math.max(1, Math.ceil(units / (CHUNKS_PER_THREAD * threads)));
}

/** Units of a OneBit layer's GEMV when it is split between threads, or undefined when it runs whole. */
export function splitUnits(out: number, inDim: number, minWeights: number = MIN_SPLIT_WEIGHTS): number | undefined {
  return out * inDim >= minWeights && out > SPLIT_UNIT_ROWS ? Math.ceil(out / SPLIT_UNIT_ROWS) : undefined;
}
