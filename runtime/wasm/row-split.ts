// How a OneBit GEMV (one token) is split between threads: by output rows, in whole units of 16 rows (the LUT
// kernel's tiles), as evenly as units allow. Only layers with enough weights are split: waking the
// workers and joining them costs ~5–20 µs, about what the LUT kernel spends on 2^20 weights (1024×1024) on
// one thread, so smaller layers run faster unsplit.

/**
 * Rows per unit of the split, for both OneBit kernels: the LUT kernel's tile (LUT_TILE_ROWS), and the exact
 * kernel's name$rows unit (compiler/codegen/wasm/onebit-linear-rows.ts). `name$rows(y, t0, t1)` takes units.
 */
export const SPLIT_UNIT_ROWS = 16;

/** Fewest weights (out · in) of a layer whose GEMV is split between threads. */
export const MIN_SPLIT_WEIGHTS = 1 << 20;

/** `units` cut into at most `parts` consecutive non-empty ranges [start, end), sizes differing by ≤ 1. */
export function splitRanges(units: number, parts: number): [number, number][] {
  if (!Number.isInteger(units) || units < 0 || !Number.isInteger(parts) || parts < 1) {
    throw new RangeError(`splitRanges: units must be an integer ≥ 0 and parts ≥ 1, got ${units}, ${parts}`);
  }
  const n = Math.min(units, parts);
  const ranges: [number, number][] = [];
  for (let k = 0; k < n; k++) ranges.push([Math.floor((k * units) / n), Math.floor(((k + 1) * units) / n)]);
  return ranges;
}
