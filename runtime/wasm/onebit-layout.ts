// The bit layout the OneBit WASM kernels read (compiler/codegen/wasm/onebit-linear.ts).
//
// weights.safetensors keeps the canonical packing (docs ONEBIT.md §1): row-major [out, ceil(in/8)] bytes,
// bit j of byte k (LSB first) is column 8k+j, bit 1 = −1. At load time the runtime re-lays every layer
// out as "column blocks": the columns are cut into blocks of 64 (8 bytes of one row), and the layout is
// [ceil(in/64), out, 8] bytes — block-major, then row, then the 8 canonical bytes of that row's block
// (bits unchanged; the last block of a row padded with zero bytes).
//
// Why: the kernels cut the input dimension into chunks whose lookup tables stay in L1 and sweep every
// output row per chunk. With this layout each chunk's sign bytes are one contiguous stream (8 bytes per row,
// rows adjacent) instead of 8 bytes out of every canonical row, so the sweep is sequential and prefetchable.
// Within a block, byte k is still the 8 signs of columns 64·b + 8k … 64·b + 8k + 7.

export const ONEBIT_LAYOUT = 'onebit-colblock64-v1';

/** Columns per block of the layout. */
export const ONEBIT_BLOCK_COLS = 64;

/** Bytes of one layer's signs in the kernel layout: ceil(in/64)·out·8. */
export function onebitLayoutBytes(out: number, inDim: number): number {
  return Math.ceil(inDim / ONEBIT_BLOCK_COLS) * out * 8;
}

/** Canonical [out, ceil(in/8)] sign bytes → the kernel layout [ceil(in/64), out, 8]. Pure. */
export function relayoutSigns(canonical: Uint8Array, out: number, inDim: number): Uint8Array {
  const rowBytes = canonicalRowBytes('relayoutSigns', canonical, out, inDim);
  const blocks = Math.ceil(inDim / ONEBIT_BLOCK_COLS);
  const dst = new Uint8Array(blocks * out * 8); // (blocks, out, 8), zero-filled: padding stays 0
  const fullBlocks = Math.floor(rowBytes / 8);
  if (rowBytes % 4 === 0 && canonical.byteOffset % 4 === 0) {
    // Rows are whole 32-bit words: copy two words per block.
    const src32 = new Uint32Array(canonical.buffer, canonical.byteOffset, canonical.length >> 2);
    const dst32 = new Uint32Array(dst.buffer);
    const rowWords = rowBytes >> 2;
    for (let o = 0; o < out; o++) {
      const s = o * rowWords;
      for (let b = 0; b < fullBlocks; b++) {
        const d = (b * out + o) * 2;
        dst32[d] = src32[s + 2 * b]!;
        dst32[d + 1] = src32[s + 2 * b + 1]!;
      }
      if (fullBlocks < blocks) dst32[(fullBlocks * out + o) * 2] = src32[s + 2 * fullBlocks]!; // rowBytes % 8 == 4
    }
    return dst;
  }
  for (let o = 0; o < out; o++) {
    const s = o * rowBytes;
    for (let b = 0; b < blocks; b++) {
      const d = (b * out + o) * 8;
      const n = Math.min(8, rowBytes - b * 8);
      for (let k = 0; k < n; k++) dst[d + k] = canonical[s + b * 8 + k]!;
    }
  }
  return dst;
}

// ---- The LUT kernels' layout (compiler/codegen/wasm/onebit-lut.ts) ----
//
// The LUT kernels look up 16 output rows at once with one i8x16.swizzle: the index vector holds one 4-bit
// index (4 signs = one group of 4 columns) per row. A canonical sign byte is two such indices already (low
// nibble: columns 8p…8p+3, high nibble: 8p+4…8p+7), so the layout only transposes bytes: byte lutLane(k) of
// (tile t, pair p) is canonical byte p of row 16t + k, i.e. 16 rows × 8 columns per 16-byte vector. The
// pairs are cut into blocks of LUT_BLOCK_PAIRS (one activation scale per block) and the layout is
// [blocks, tiles, pairs of the block, 16] bytes: block-major, so each block's signs are one contiguous
// stream swept while that block's tables sit in L1. Rows past `out` (the last tile) are zero bytes.

export const ONEBIT_LUT_LAYOUT = 'onebit-lut-tile16-block128-v2';

/** Output rows per tile (one v128 of indices). */
export const LUT_TILE_ROWS = 16;

/** Column pairs (8 columns, one sign byte) per block: 128 columns share one activation scale. */
export const LUT_BLOCK_PAIRS = 16;

/**
 * The byte lane of row r (0–15) of a tile: rows 0–7 in the even lanes, rows 8–15 in the odd ones, so that read
 * as i16x8 lanes the low bytes are rows 0–7 and the high bytes rows 8–15 in order (the kernel sums them that way).
 */
export const lutLane = (r: number): number => (r < 8 ? 2 * r : 2 * (r - 8) + 1);

/** Bytes of one layer's signs in the LUT layout: ceil(out/16)·16·ceil(in/8). */
export function lutLayoutBytes(out: number, inDim: number): number {
  return Math.ceil(out / LUT_TILE_ROWS) * LUT_TILE_ROWS * Math.ceil(inDim / 8);
}

/** Canonical [out, ceil(in/8)] sign bytes → the LUT layout [blocks, tiles, pairs of the block, 16]. Pure. */
export function relayoutSignsLut(canonical: Uint8Array, out: number, inDim: number): Uint8Array {
  const pairs = canonicalRowBytes('relayoutSignsLut', canonical, out, inDim);
  const tiles = Math.ceil(out / LUT_TILE_ROWS);
  const dst = new Uint8Array(lutLayoutBytes(out, inDim));
  for (let p0 = 0; p0 < pairs; p0 += LUT_BLOCK_PAIRS) {
    const np = Math.min(LUT_BLOCK_PAIRS, pairs - p0);
    const blockBase = p0 * tiles * LUT_TILE_ROWS;
    for (let o = 0; o < out; o++) {
      const t = (o / LUT_TILE_ROWS) | 0;
      const k = lutLane(o % LUT_TILE_ROWS);
      let d = blockBase + t * np * LUT_TILE_ROWS + k;
      let s = o * pairs + p0;
      for (let p = 0; p < np; p++, d += LUT_TILE_ROWS, s++) dst[d] = canonical[s]!;
    }
  }
  return dst;
}

/** Checks canonical sign bytes [out, ceil(in/8)] for `fn` and returns the bytes of one row, ceil(in/8). */
function canonicalRowBytes(fn: string, canonical: Uint8Array, out: number, inDim: number): number {
  if (!Number.isInteger(out) || out < 0 || !Number.isInteger(inDim) || inDim < 0) {
    throw new RangeError(`${fn}: out and in must be non-negative integers, got out=${out}, in=${inDim}`);
  }
  const rowBytes = Math.ceil(inDim / 8);
  if (canonical.length !== out * rowBytes) {
    throw new RangeError(`${fn}: got ${canonical.length} bytes, expected out·ceil(in/8) = ${out}·${rowBytes} = ${out * rowBytes}`);
  }
  return rowBytes;
}
