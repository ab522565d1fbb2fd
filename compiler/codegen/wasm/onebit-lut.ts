// Table-lookup (LUT) OneBit linear kernels in WASM SIMD128 (T-MAC / bitnet.cpp style), specialised per layer.
//
//   y = alpha · (((x ⊙ g) Sᵀ) ⊙ h) + bias,  optionally followed by the post-LayerNorm      (as onebit-linear.ts)
//
// Approximate: the activations' signed sums are quantised to integers. Per token (one row of x):
//   1. x' = x ⊙ g (fp32, zero-padded to whole sign bytes).
//   2. For each block of 128 columns (LUT_BLOCK_PAIRS sign bytes): for each group of 4 columns the 16 signed
//      sums T[n] = Σ_j (bit j of n ? −x'_j : x'_j) in fp32; the block's scale m = max |T| (= the largest
//      Σ|x'| of a group); then two int8 tables per group, a coarse and a residual one:
//        hi = round(T · H/m) ∈ [−H, H],   lo = round((T − hi·m/H) · H·2L/m) ∈ [−L, L]
//      (H = LUT_HI_MAX, L = LUT_LO_MAX), so T ≈ (m / (H·2L)) · (2L·hi + lo) with an error ≤ m / (4·H·L)
//      per entry: ~13 bits where one int8 table gives 7 (~0.8 % relative error on a GEMV: too much).
//   3. Sweep the block's sign bytes in the layout of runtime/wasm/onebit-layout.ts (ONEBIT_LUT_LAYOUT):
//      a v128 holds the sign bytes of one column pair (8 columns) for 16 output rows; its low nibbles index
//      the first group's tables, its high nibbles the second's, one i8x16.swizzle per table gives 16 rows'
//      entries. The tables hold the entries biased to unsigned bytes (hi + H ∈ [0, 2H], lo + L ∈ [0, 2L]),
//      summed as u8 while they cannot overflow (4 hi lookups, 2 lo lookups), then added into i16x8
//      accumulators twice: A += s (the byte pairs read as i16, wrapping) and B += s >> 8 (the high bytes).
//      The layout puts rows 0–7 in the low bytes and rows 8–15 in the high bytes, so at the block's end
//      B = Σ rows 8–15 and A − (B << 8) = Σ rows 0–7, both exact; the biases (2·np lookups each) are
//      subtracted and y_acc += f32(2L·Σhi + Σlo) · m/(H·2L). That is 3 ops per widening instead of the 5
//      of sign extensions, and the per-pair inner loop stays small (engines hoist every load of a long
//      unrolled body and then spill).
//   4. y = y_acc ⊙ h · alpha + bias (then the post-norm of onebit-linear.ts, when asked).
// Error: measured ~1e-4 relative (L2 over a GEMV) on Gaussian inputs and on the stories260K layers; the
// tests bound it by 2e-3 against the exact kernel.
//
// Several rows of x (GEMM, prefill) run the exact kernel's GEMM (onebit-linear.ts: 4 or 8 rows share each
// table lookup in f32x4 lanes) reading this kernel's sign layout: exact, and 2.5× faster than the LUT GEMV
// row by row at 16 rows of 4096×4096. So only single rows (decoding) are approximate; the GEMV is exported
// as `name$lut` for tests and benchmarks.
//
// Threads: step 2 builds the tables of every block before step 3 sweeps any (per block, the tables are then
// read from L2 into L1 once), so the GEMV is also exported in two parts: `name$tables(x)` (steps 1–2, once per
// token, on the calling thread) and `name$rows(y, t0, t1)` (steps 3–4 for tiles t0 … t1−1), which threads run
// on disjoint tile ranges at once (runtime/wasm/thread-pool.ts), bit-identical to the whole GEMV; and
// `name$postnorm(y, rows)`, run after the join.
//
// The `relaxed` variant uses i8x16.relaxed_swizzle (indices are always < 16 here, so its result is defined:
// it skips the engine's out-of-range handling) and f32x4.relaxed_madd; it goes into model.relaxed.wasm, which
// only engines with relaxed SIMD load (runtime/wasm/backend.ts detects it).
//
// Scratch (`lutScratchBytes`): the GEMV's [fp32 tables of one block 2 KiB][x' (pairs·8) f32][y_acc (tiles·16) f32]
// [one f32 scale per block][int8 tables, 64 bytes per column pair], or the GEMM's (onebitGemmScratchBytes);
// nothing is kept between calls.
import binaryen from 'binaryen';
import type { Module } from './module.ts';
import type { OneBitLinearSpec } from './onebit-linear.ts';
import { addOneBitGemmLutLayout, addPostNorm, checkOneBitSpec, Fn, onebitGemmScratchBytes, signMask, splatMask } from './onebit-linear.ts';
import { LUT_BLOCK_PAIRS, LUT_TILE_ROWS } from '../../../runtime/wasm/onebit-layout.ts';

export interface OneBitLutSpec extends OneBitLinearSpec {
  /** Use relaxed SIMD (i8x16.relaxed_swizzle, f32x4.relaxed_madd): only for model.relaxed.wasm. */
  relaxed?: boolean;
}

/** Largest |entry| of the coarse table. */
export const LUT_HI_MAX = 31;
/** Largest |entry| of the residual table; one residual step is m / (H · 2L). */
export const LUT_LO_MAX = 63;
const LO_STEPS = 2 * LUT_LO_MAX;

const PAIR_TABLE_BYTES = 64; // per column pair: hi of group 0, hi of group 1, lo of group 0, lo of group 1
const STAGING_BYTES = LUT_BLOCK_PAIRS * 2 * 64; // fp32 tables of one block, 16 entries per group
/** Column pairs whose u8 sums of biased entries (0 … 2·max) cannot overflow: ⌊255 / (2·max)⌋ lookups, two per pair. */
const HI_PAIRS = Math.floor(Math.floor(255 / (2 * LUT_HI_MAX)) / 2);
const LO_PAIRS = Math.floor(Math.floor(255 / (2 * LUT_LO_MAX)) / 2);
if (HI_PAIRS < 1 || LO_PAIRS < 1) throw new Error('LUT table ranges too wide for u8 sums of two lookups');

/** Scratch bytes a LUT kernel for (in, out) needs (a multiple of 16). */
export function lutScratchBytes(inDim: number, out: number): number {
  return Math.max(gemvScratchBytes(inDim, out), onebitGemmScratchBytes(inDim, out));
}

const gemvScratchBytes = (inDim: number, out: number): number => {
  const L = layoutOf({ in: inDim, out, scratch: 0 });
  return L.table + L.pairs * PAIR_TABLE_BYTES;
};

interface Layout {
  pairs: number;
  tiles: number;
  staging: number;
  xs: number;
  acc: number;
  /** One f32 per block of column pairs: its step m/(H·2L). */
  scales: number;
  /** The int8 tables of every column pair (all blocks: the row sweep may run on other threads after they are built). */
  table: number;
}

function layoutOf(spec: Pick<OneBitLinearSpec, 'in' | 'out' | 'scratch'>): Layout {
  const pairs = Math.ceil(spec.in / 8);
  const tiles = Math.ceil(spec.out / LUT_TILE_ROWS);
  const staging = spec.scratch;
  const xs = staging + STAGING_BYTES;
  const acc = xs + pairs * 32;
  const scales = acc + tiles * LUT_TILE_ROWS * 4;
  const table = scales + Math.ceil(Math.ceil(pairs / LUT_BLOCK_PAIRS) / 4) * 16;
  return { pairs, tiles, staging, xs, acc, scales, table };
}

/** binaryen's low-level C API, for the relaxed SIMD ops its JS wrapper does not expose. */
interface LowLevel {
  _BinaryenBinary(mod: number, op: number, a: number, b: number): number;
  _BinaryenSIMDTernary(mod: number, op: number, a: number, b: number, c: number): number;
  RelaxedSwizzleVecI8x16: number;
  RelaxedMaddVecF32x4: number;
}
const low = binaryen as unknown as LowLevel;

/**
 * `name(x, y, rows)`: rows of x (in f32 each) → rows of y (out f32 each): one row by the LUT GEMV, more in
 * blocks of up to 8 rows by the exact GEMM on the same signs (a last block of 5–7 rows padded to 8, of 2–4 to
 * 4). Exports `name` and `name$lut(x, y, rows)`, the LUT GEMV row by row.
 * `spec.sign` is the offset of the signs in the LUT layout (lutLayoutBytes(out, in) bytes).
 */
export function addOneBitLut(mod: Module, name: string, spec: OneBitLutSpec): void {
  checkOneBitSpec('addOneBitLut', name, spec, lutScratchBytes);
  const gemv = `${name}$gemv`;
  const gemm4 = `${name}$gemm4`;
  const gemm8 = `${name}$gemm8`;
  addGemv(mod, gemv, spec);
  const { relaxed: _, ...exactSpec } = spec;
  addOneBitGemmLutLayout(mod, gemm4, exactSpec, 4);
  addOneBitGemmLutLayout(mod, gemm8, exactSpec, 8);
  const norm = spec.postNormEps !== undefined && spec.out > 0 ? `${name}$postnorm` : undefined;
  if (norm) addPostNorm(mod, norm, spec.out, spec.postNormEps!);
  const { i32 } = mod;
  const type = binaryen.createType([binaryen.i32, binaryen.i32, binaryen.i32]);
  const X = 0, Y = 1, ROWS = 2;

  // name$lut: the GEMV row by row
  {
    const f = new Fn(mod, [binaryen.i32, binaryen.i32, binaryen.i32]);
    const loop = f.label('rows');
    mod.addFunction(`${name}$lut`, type, binaryen.none, f.vars, mod.block(null, [
      mod.if(i32.le_s(f.get(ROWS), i32.const(0)), mod.return()),
      mod.loop(loop, mod.block(null, [
        mod.call(gemv, [f.get(X), f.get(Y)], binaryen.none),
        ...(norm ? [mod.call(norm, [f.get(Y), i32.const(1)], binaryen.none)] : []),
        f.bump(X, spec.in * 4),
        f.bump(Y, spec.out * 4),
        f.bump(ROWS, -1),
        mod.br(loop, i32.gt_s(f.get(ROWS), i32.const(0))),
      ])),
    ]));
    mod.addFunctionExport(`${name}$lut`, `${name}$lut`);
  }
  // the GEMV's parts, for threads: name$tables(x), name$rows(y, t0, t1), name$postnorm(y, rows)
  mod.addFunctionExport(`${gemv}$tables`, `${name}$tables`);
  mod.addFunctionExport(`${gemv}$rows`, `${name}$rows`);
  if (norm) mod.addFunctionExport(norm, norm);

  // name: blocks of 8 rows by the GEMM; a call with one row by the GEMV; a last single row of a longer call
  // by the GEMM again over the last two rows (the row before is recomputed, exactly), so that only one-row
  // calls are approximate
  const f = new Fn(mod, [binaryen.i32, binaryen.i32, binaryen.i32]);
  const FIRST = f.local(binaryen.i32);
  const loop = f.label('rows');
  const call = (fn: string, rows: number): number => mod.call(fn, [f.get(X), f.get(Y), rows], binaryen.none);
  const normRows = (y: number, rows: number): number[] => (norm ? [mod.call(norm, [y, rows], binaryen.none)] : []);
  const back = (ptr: number, bytes: number): number => i32.sub(f.get(ptr), i32.const(bytes));
  mod.addFunction(name, type, binaryen.none, f.vars, mod.block(null, [
    mod.if(i32.le_s(f.get(ROWS), i32.const(0)), mod.return()),
    f.set(FIRST, i32.const(1)),
    mod.loop(loop, mod.block(null, [
      mod.if(i32.gt_s(f.get(ROWS), i32.const(4)),
        mod.block(null, [
          call(gemm8, mod.select(i32.gt_s(f.get(ROWS), i32.const(8)), i32.const(8), f.get(ROWS))),
          ...normRows(f.get(Y), mod.select(i32.gt_s(f.get(ROWS), i32.const(8)), i32.const(8), f.get(ROWS))),
        ]),
        mod.if(i32.gt_s(f.get(ROWS), i32.const(1)),
          mod.block(null, [call(gemm4, f.get(ROWS)), ...normRows(f.get(Y), f.get(ROWS))]),
          mod.if(f.get(FIRST),
            mod.block(null, [mod.call(gemv, [f.get(X), f.get(Y)], binaryen.none), ...normRows(f.get(Y), i32.const(1))]),
            mod.block(null, [
              mod.call(gemm4, [back(X, spec.in * 4), back(Y, spec.out * 4), i32.const(2)], binaryen.none),
              ...normRows(back(Y, spec.out * 4), i32.const(2)),
            ])))),
      f.set(FIRST, i32.const(0)),
      f.bump(X, 8 * spec.in * 4),
      f.bump(Y, 8 * spec.out * 4),
      f.bump(ROWS, -8),
      mod.br(loop, i32.gt_s(f.get(ROWS), i32.const(0))),
    ])),
  ]));
  mod.addFunctionExport(name, name);
}

/**
 * The LUT GEMV as three functions, so that its rows can be split between threads (runtime/wasm/thread-pool.ts):
 *   `fname$tables(x)`: x' = x ⊙ g and the int8 tables (and scale) of every block into scratch — per token, once;
 *   `fname$rows(y, t0, t1)`: tiles t0 … t1−1 (rows 16·t0 … min(16·t1, out) − 1) of y, reading only the tables;
 *     calls on disjoint tile ranges write disjoint bytes (their y_acc tiles and y rows), so they may run at once;
 *   `fname(x, y)`: both, over all tiles.
 * Every row's sum is the same sequence of operations whatever the split, so threaded output is bit-identical.
 */
function addGemv(m: Module, fname: string, spec: OneBitLutSpec): void {
  const L = layoutOf(spec);
  const type2 = binaryen.createType([binaryen.i32, binaryen.i32]);
  if (spec.out === 0) {
    m.addFunction(fname, type2, binaryen.none, [], m.nop());
    m.addFunction(`${fname}$tables`, binaryen.createType([binaryen.i32]), binaryen.none, [], m.nop());
    m.addFunction(`${fname}$rows`, binaryen.createType([binaryen.i32, binaryen.i32, binaryen.i32]), binaryen.none, [], m.nop());
    return;
  }
  addTables(m, `${fname}$tables`, spec, L);
  addRows(m, `${fname}$rows`, spec, L);
  const f = new Fn(m, [binaryen.i32, binaryen.i32]);
  m.addFunction(fname, type2, binaryen.none, f.vars, m.block(null, [
    m.call(`${fname}$tables`, [f.get(0)], binaryen.none),
    m.call(`${fname}$rows`, [f.get(1), m.i32.const(0), m.i32.const(L.tiles)], binaryen.none),
  ]));
}

/** `fname(x)`: x' = x ⊙ g, then per block of column pairs its int8 tables (L.table) and its scale m/(H·2L) (L.scales). */
function addTables(m: Module, fname: string, spec: OneBitLutSpec, L: Layout): void {
  const { i32, f32, f32x4, i8x16, i16x8, i32x4, v128 } = m;
  const inDim = spec.in;
  const f = new Fn(m, [binaryen.i32]);
  const X = 0;
  const zero = (): number => v128.const(new Array(16).fill(0));
  const code: number[] = [];

  // 1. x' = x ⊙ g, zero-padded to whole column pairs.
  const q = f.local(binaryen.i32);
  const n4 = Math.floor(inDim / 4);
  f.setEnd(q, () => i32.const(n4 * 16));
  code.push(f.countedLoop(q, i32.const(0), 16, n4, () => [
    v128.store(L.xs, 16, f.get(q), f32x4.mul(v128.load(0, 4, i32.add(f.get(X), f.get(q))), v128.load(spec.g, 4, f.get(q)))),
  ]));
  for (let i = n4 * 4; i < inDim; i++) {
    code.push(f32.store(L.xs + 4 * i, 4, i32.const(0), f32.mul(f32.load(4 * i, 4, f.get(X)), f32.load(spec.g + 4 * i, 4, i32.const(0)))));
  }
  let i0 = inDim;
  for (; i0 < L.pairs * 8 && i0 % 4 !== 0; i0++) code.push(f32.store(L.xs + 4 * i0, 4, i32.const(0), f32.const(0)));
  for (; i0 < L.pairs * 8; i0 += 4) code.push(v128.store(L.xs + 4 * i0, 16, i32.const(0), zero()));

  // 2. Per block: fp32 sums into staging, the scale, then the two int8 tables per group.
  const xq = f.local(binaryen.i32); // x' of the block's first column
  const tb = f.local(binaryen.i32); // the block's tables
  const sc = f.local(binaryen.i32); // the block's scale
  const vinvHi = f.local(binaryen.v128), vinvLo = f.local(binaryen.v128), vsHi = f.local(binaryen.v128);
  const mx = f.local(binaryen.f32);
  const gp = f.local(binaryen.i32);
  const stp = f.local(binaryen.i32);
  const V = f.local(binaryen.v128), P = f.local(binaryen.v128), Q = f.local(binaryen.v128), VMAX = f.local(binaryen.v128), T = f.local(binaryen.v128);
  const tp = f.local(binaryen.i32);
  const Hq = [0, 1, 2, 3].map(() => f.local(binaryen.v128));
  const Lq = [0, 1, 2, 3].map(() => f.local(binaryen.v128));
  const HQ = f.local(binaryen.v128);
  const buildTables = (np: number): number[] => {
    const splat = (v: number, lane: number): number => i8x16.shuffle(f.get(v), f.get(v), splatMask(lane));
    // lanes n = 0..3: (bit0(n) ? −a : a) + (bit1(n) ? −b : b), a = lane j0 of V, b = lane j1 of V
    const pattern = (j0: number, j1: number): number =>
      f32x4.add(v128.xor(splat(V, j0), v128.const(signMask([1, 3]))), v128.xor(splat(V, j1), v128.const(signMask([2, 3]))));
    const groups = 2 * np;
    f.setEnd(gp, () => i32.const(groups * 16));
    const fill = f.countedLoop(gp, i32.const(0), 16, groups, () => {
      const body = [
        f.set(V, v128.load(0, 16, i32.add(f.get(xq), f.get(gp)))),
        f.set(P, pattern(0, 1)),
        f.set(Q, pattern(2, 3)),
      ];
      for (let k = 0; k < 4; k++) {
        // T[4k + l] = P[l] + Q[k]: bits 0–1 of the index are columns 0–1, bits 2–3 columns 2–3
        body.push(f.set(T, f32x4.add(f.get(P), splat(Q, k))));
        body.push(v128.store(L.staging + 16 * k, 16, f.get(stp), f.get(T)));
        body.push(f.set(VMAX, f32x4.max(f.get(VMAX), f32x4.abs(f.get(T)))));
      }
      return body;
    }, [[stp, 64]]);
    const lane = (k: number): number => f32x4.extract_lane(f.get(VMAX), k);
    const ok = (): number => f32.gt(f.get(mx), f32.const(1e-30));
    const H = LUT_HI_MAX;
    const code: number[] = [
      f.set(VMAX, zero()),
      f.set(stp, i32.const(0)),
      fill,
      f.set(mx, f32.max(f32.max(lane(0), lane(1)), f32.max(lane(2), lane(3)))),
      f.set(vinvHi, f32x4.splat(m.select(ok(), f32.div(f32.const(H), f.get(mx)), f32.const(0)))),
      f.set(vinvLo, f32x4.splat(m.select(ok(), f32.div(f32.const(H * LO_STEPS), f.get(mx)), f32.const(0)))),
      f.set(vsHi, f32x4.splat(f32.div(f.get(mx), f32.const(H)))),
      f32.store(0, 4, f.get(sc), f32.div(f.get(mx), f32.const(H * LO_STEPS))),
    ];
    // Quantise, one column pair (two groups) per iteration.
    f.setEnd(tp, () => i32.add(f.get(tb), i32.const(np * PAIR_TABLE_BYTES)));
    const narrow = (v: number[]): number => i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(f.get(v[0]!), f.get(v[1]!)), i16x8.narrow_i32x4_s(f.get(v[2]!), f.get(v[3]!)));
    code.push(f.set(stp, i32.const(0)));
    code.push(f.countedLoop(tp, f.get(tb), PAIR_TABLE_BYTES, np, () => {
      const body: number[] = [];
      for (let j = 0; j < 2; j++) {
        for (let k = 0; k < 4; k++) {
          body.push(f.set(T, v128.load(L.staging + 64 * j + 16 * k, 16, f.get(stp))));
          body.push(f.set(HQ, f32x4.nearest(f32x4.mul(f.get(T), f.get(vinvHi)))));
          body.push(f.set(Hq[k]!, i32x4.add(i32x4.trunc_sat_f32x4_s(f.get(HQ)), i32x4.splat(i32.const(LUT_HI_MAX)))));
          const r = f32x4.sub(f.get(T), f32x4.mul(f.get(HQ), f.get(vsHi)));
          body.push(f.set(Lq[k]!, i32x4.add(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(r, f.get(vinvLo)))), i32x4.splat(i32.const(LUT_LO_MAX)))));
        }
        body.push(v128.store(16 * j, 16, f.get(tp), narrow(Hq)));
        body.push(v128.store(32 + 16 * j, 16, f.get(tp), narrow(Lq)));
      }
      return body;
    }, [[stp, 128]]));
    return code;
  };
  const block = (np: number): number[] => [...buildTables(np), f.bump(xq, np * 32), f.bump(tb, np * PAIR_TABLE_BYTES), f.bump(sc, 4)];
  code.push(f.set(xq, i32.const(L.xs)), f.set(tb, i32.const(L.table)), f.set(sc, i32.const(L.scales)));
  code.push(...forEachBlock(f, L.pairs, block));
  m.addFunction(fname, binaryen.createType([binaryen.i32]), binaryen.none, f.vars, m.block(null, code));
}

/** `fname(y, t0, t1)`: the sweep of tiles t0 … t1−1 over every block's tables, then those rows of y (⊙ h · alpha + bias). */
function addRows(m: Module, fname: string, spec: OneBitLutSpec, L: Layout): void {
  const { i32, f32, f32x4, i8x16, i16x8, i32x4, v128 } = m;
  const relaxed = spec.relaxed === true;
  const swizzle = (table: number, idx: number): number => (relaxed ? low._BinaryenBinary(m.ptr, low.RelaxedSwizzleVecI8x16, table, idx) : i8x16.swizzle(table, idx));
  const madd = (a: number, b: number, c: number): number => (relaxed ? low._BinaryenSIMDTernary(m.ptr, low.RelaxedMaddVecF32x4, a, b, c) : f32x4.add(f32x4.mul(a, b), c));
  const out = spec.out;
  const f = new Fn(m, [binaryen.i32, binaryen.i32, binaryen.i32]);
  const Y = 0, T0 = 1, T1 = 2;
  const zero = (): number => v128.const(new Array(16).fill(0));
  const code: number[] = [m.if(i32.ge_s(f.get(T0), f.get(T1)), m.return())];
  const tileAddr = (t: number): number => i32.add(i32.const(L.acc), i32.shl(f.get(t), i32.const(6)));

  // 1. y_acc = 0 over the range.
  const ap = f.local(binaryen.i32);
  f.setEnd(ap, () => tileAddr(T1));
  code.push(f.countedLoop(ap, tileAddr(T0), 64, 1, () => [0, 16, 32, 48].map((off) => v128.store(off, 16, f.get(ap), zero()))));

  // 2. Per block: the sweep of the range's tiles.
  const wp = f.local(binaryen.i32); // sign pointer (the layout is one stream per block: tiles, pairs)
  const bs = f.local(binaryen.i32); // the block's signs
  const tb = f.local(binaryen.i32); // the block's tables
  const sc = f.local(binaryen.i32); // the block's scale
  const vsLo = f.local(binaryen.v128);
  const W = f.local(binaryen.v128), I0 = f.local(binaryen.v128), I1 = f.local(binaryen.v128);
  const SH = f.local(binaryen.v128), SL = f.local(binaryen.v128);
  const AH = [f.local(binaryen.v128), f.local(binaryen.v128)];
  const AL = [f.local(binaryen.v128), f.local(binaryen.v128)];
  const yp = f.local(binaryen.i32);
  const tq = f.local(binaryen.i32); // tables of the current pairs
  const wq = f.local(binaryen.i32); // their signs
  const CHUNK = Math.max(HI_PAIRS, LO_PAIRS); // pairs per inner iteration: a small body keeps the engine from hoisting every load
  const sweep = (np: number): number => {
    f.setEnd(yp, () => tileAddr(T1));
    return f.countedLoop(yp, tileAddr(T0), 64, 1, () => {
      const body: number[] = [];
      const started = { hi: false, lo: false };
      // S holds u8 sums (biased entries); A[0] += S as i16 lanes (wrapping), A[1] += its high bytes: see the decode below
      const widen = (into: number[], S: number, A: number[], which: 'hi' | 'lo', fresh: boolean): void => {
        const first = fresh && !started[which];
        if (fresh) started[which] = true;
        into.push(f.set(A[0]!, first ? f.get(S) : i16x8.add(f.get(A[0]!), f.get(S))));
        into.push(f.set(A[1]!, first ? i16x8.shr_u(f.get(S), i32.const(8)) : i16x8.add(f.get(A[1]!), i16x8.shr_u(f.get(S), i32.const(8)))));
      };
      /** `n` pairs starting at tables tq / signs wq (local pointers) into the accumulators. */
      const pairs = (into: number[], n: number, fresh: boolean): void => {
        for (let p = 0; p < n; p++) {
          into.push(
            f.set(W, v128.load(16 * p, 16, f.get(wq))),
            f.set(I0, v128.and(f.get(W), v128.const(new Array(16).fill(0x0f)))),
            // (engines emulate i8x16.shr_u with a 16-bit shift and a mask they rebuild each time: do it once here)
            f.set(I1, v128.and(i16x8.shr_u(f.get(W), i32.const(4)), v128.const(new Array(16).fill(0x0f)))),
          );
          const t = p * PAIR_TABLE_BYTES;
          const lookup = (off: number): number => i8x16.add(swizzle(v128.load(t + off, 16, f.get(tq)), f.get(I0)), swizzle(v128.load(t + off + 16, 16, f.get(tq)), f.get(I1)));
          into.push(f.set(SH, p % HI_PAIRS === 0 ? lookup(0) : i8x16.add(f.get(SH), lookup(0))));
          if (p % HI_PAIRS === HI_PAIRS - 1 || p === n - 1) widen(into, SH, AH, 'hi', fresh);
          into.push(f.set(SL, p % LO_PAIRS === 0 ? lookup(32) : i8x16.add(f.get(SL), lookup(32))));
          if (p % LO_PAIRS === LO_PAIRS - 1 || p === n - 1) widen(into, SL, AL, 'lo', fresh);
        }
      };
      // the first chunk sets the accumulators, a loop adds the other whole chunks, then the rest
      const first = Math.min(CHUNK, np);
      body.push(f.set(tq, f.get(tb)), f.set(wq, f.get(wp)));
      pairs(body, first, true);
      const loops = Math.floor((np - first) / CHUNK);
      const rest = np - first - loops * CHUNK;
      body.push(f.bump(tq, first * PAIR_TABLE_BYTES), f.bump(wq, first * 16));
      if (loops > 0) {
        const label = f.label('pairs');
        const inner: number[] = [];
        pairs(inner, CHUNK, false);
        body.push(m.loop(label, m.block(null, [...inner, f.bump(tq, CHUNK * PAIR_TABLE_BYTES), f.bump(wq, CHUNK * 16),
          m.br(label, i32.ne(f.get(tq), i32.add(f.get(tb), i32.const((first + loops * CHUNK) * PAIR_TABLE_BYTES))))])));
      }
      if (rest > 0) pairs(body, rest, false);
      // Decode: A[1] is Σ of the high bytes (rows 8–15), A[0] − (A[1] << 8) Σ of the low bytes (rows 0–7), both
      // exact (< 2^15). Each of the 2·np lookups per row added the biases H and L: remove them in the combine.
      // y_acc[rows] += f32(2L·Σhi + Σlo − bias) · m/(H·2L)
      const bias = 2 * np * (LO_STEPS * LUT_HI_MAX + LUT_LO_MAX);
      body.push(f.set(AH[0]!, i16x8.sub(f.get(AH[0]!), i16x8.shl(f.get(AH[1]!), i32.const(8)))));
      body.push(f.set(AL[0]!, i16x8.sub(f.get(AL[0]!), i16x8.shl(f.get(AL[1]!), i32.const(8)))));
      for (let h = 0; h < 2; h++) {
        for (let k = 0; k < 2; k++) {
          const ext = (v: number): number => (k === 0 ? i32x4.extend_low_i16x8_s(f.get(v)) : i32x4.extend_high_i16x8_s(f.get(v)));
          const c = i32x4.add(i32x4.mul(ext(AH[h]!), i32x4.splat(i32.const(LO_STEPS))), i32x4.sub(ext(AL[h]!), i32x4.splat(i32.const(bias))));
          const off = 16 * (2 * h + k);
          body.push(v128.store(off, 16, f.get(yp), madd(f32x4.convert_i32x4_s(c), f.get(vsLo), v128.load(off, 16, f.get(yp)))));
        }
      }
      return body;
    }, [[wp, np * 16]]);
  };
  // the range's first sign byte in a block of np pairs: block start + t0·np·16
  const block = (np: number): number[] => [
    f.set(vsLo, f32x4.splat(f32.load(0, 4, f.get(sc)))),
    f.set(wp, i32.add(f.get(bs), i32.mul(f.get(T0), i32.const(np * 16)))),
    sweep(np),
    f.bump(bs, np * L.tiles * 16), f.bump(tb, np * PAIR_TABLE_BYTES), f.bump(sc, 4),
  ];
  code.push(f.set(bs, i32.const(spec.sign)), f.set(tb, i32.const(L.table)), f.set(sc, i32.const(L.scales)));
  code.push(...forEachBlock(f, L.pairs, block));

  // 3. y = y_acc ⊙ h · alpha + bias for rows 16·t0 … min(16·t1, out) − 1: whole f32x4 groups, then (in the
  // last tile) the scalar tail.
  const alpha = Math.fround(spec.alpha);
  const o = f.local(binaryen.i32);
  const o4 = Math.floor(out / 4);
  const end = f.local(binaryen.i32);
  code.push(f.set(end, m.select(i32.ge_s(f.get(T1), i32.const(L.tiles)), i32.const(o4 * 16), i32.shl(f.get(T1), i32.const(6)))));
  f.setEnd(o, () => f.get(end));
  const finish = f.countedLoop(o, i32.shl(f.get(T0), i32.const(6)), 16, 1, () => {
    let v = f32x4.mul(v128.load(L.acc, 16, f.get(o)), v128.load(spec.h, 4, f.get(o)));
    if (alpha !== 1) v = f32x4.mul(v, f32x4.splat(f32.const(alpha)));
    if (spec.bias !== undefined) v = f32x4.add(v, v128.load(spec.bias, 4, f.get(o)));
    return [v128.store(0, 4, i32.add(f.get(Y), f.get(o)), v)];
  });
  code.push(m.if(i32.lt_s(i32.shl(f.get(T0), i32.const(6)), f.get(end)), finish));
  const tailCode: number[] = [];
  for (let k = o4 * 4; k < out; k++) {
    let v = f32.mul(f32.load(L.acc + 4 * k, 4, i32.const(0)), f32.load(spec.h + 4 * k, 4, i32.const(0)));
    if (alpha !== 1) v = f32.mul(v, f32.const(alpha));
    if (spec.bias !== undefined) v = f32.add(v, f32.load(spec.bias + 4 * k, 4, i32.const(0)));
    tailCode.push(f32.store(4 * k, 4, f.get(Y), v));
  }
  if (tailCode.length) code.push(m.if(i32.ge_s(f.get(T1), i32.const(L.tiles)), m.block(null, tailCode)));
  m.addFunction(fname, binaryen.createType([binaryen.i32, binaryen.i32, binaryen.i32]), binaryen.none, f.vars, m.block(null, code));
}

/** `block(np)` for every whole block of LUT_BLOCK_PAIRS column pairs (a loop), then for the shorter last one. */
function forEachBlock(f: Fn, pairs: number, block: (np: number) => number[]): number[] {
  const i32 = f.mod.i32;
  const full = Math.floor(pairs / LUT_BLOCK_PAIRS);
  const tail = pairs % LUT_BLOCK_PAIRS;
  const bc = f.local(binaryen.i32);
  f.setEnd(bc, () => i32.const(full));
  return [
    ...(full > 0 ? [f.countedLoop(bc, i32.const(0), 1, full, () => block(LUT_BLOCK_PAIRS))] : []),
    ...(tail > 0 ? block(tail) : []),
  ];
}
