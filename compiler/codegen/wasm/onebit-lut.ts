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
//      entries. Entries are summed in i8 while they cannot overflow (⌊127/H⌋ lookups of hi, ⌊127/L⌋ of lo),
//      then widened into i16 sums per block; at the block's end y_acc += f32(2L·Σhi + Σlo) · m/(H·2L).
//   4. y = y_acc ⊙ h · alpha + bias (then the post-norm of onebit-linear.ts, when asked).
// Error: measured ~1e-4 relative (L2 over a GEMV) on Gaussian inputs and on the stories260K layers; the
// tests bound it by 2e-3 against the exact kernel.
//
// Several rows of x (GEMM) run the GEMV per row: the tables are rebuilt per row (a few % of the time) and
// the sign stream (1 bit per weight) is read again from cache.
//
// The `relaxed` variant uses i8x16.relaxed_swizzle (indices are always < 16 here, so its result is defined:
// it skips the engine's out-of-range handling) and f32x4.relaxed_madd; it goes into model.relaxed.wasm, which
// only engines with relaxed SIMD load (runtime/wasm/backend.ts detects it).
//
// Scratch (`lutScratchBytes`): [int8 tables 1 KiB][fp32 tables 2 KiB][x' (in_pad) f32][y_acc (tiles·16) f32];
// nothing is kept between calls.
import binaryen from 'binaryen';
import type { Module } from './module.ts';
import type { OneBitLinearSpec } from './onebit-linear.ts';
import { addPostNorm, Fn, signMask, splatMask } from './onebit-linear.ts';
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
const TABLE_BYTES = LUT_BLOCK_PAIRS * PAIR_TABLE_BYTES;
const STAGING_BYTES = LUT_BLOCK_PAIRS * 2 * 64; // fp32 tables, 16 entries per group
/** Column pairs whose i8 sums cannot overflow: ⌊127 / max⌋ lookups, two per pair. */
const HI_PAIRS = Math.max(1, Math.floor(Math.floor(127 / LUT_HI_MAX) / 2));
const LO_PAIRS = Math.max(1, Math.floor(Math.floor(127 / LUT_LO_MAX) / 2));

/** Scratch bytes a LUT kernel for (in, out) needs (a multiple of 16). */
export function lutScratchBytes(inDim: number, out: number): number {
  return TABLE_BYTES + STAGING_BYTES + Math.ceil(inDim / 8) * 32 + Math.ceil(out / LUT_TILE_ROWS) * LUT_TILE_ROWS * 4;
}

interface Layout {
  pairs: number;
  tiles: number;
  table: number;
  staging: number;
  xs: number;
  acc: number;
}

function layoutOf(spec: OneBitLinearSpec): Layout {
  const table = spec.scratch;
  const staging = table + TABLE_BYTES;
  const xs = staging + STAGING_BYTES;
  const pairs = Math.ceil(spec.in / 8);
  return { pairs, tiles: Math.ceil(spec.out / LUT_TILE_ROWS), table, staging, xs, acc: xs + pairs * 32 };
}

function checkSpec(name: string, s: OneBitLutSpec): void {
  const ints: [string, number][] = [['in', s.in], ['out', s.out], ['sign', s.sign], ['g', s.g], ['h', s.h], ['scratch', s.scratch]];
  if (s.bias !== undefined) ints.push(['bias', s.bias]);
  for (const [k, v] of ints) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`addOneBitLut(${name}): ${k} must be a non-negative integer, got ${v}`);
  }
  if (s.scratch % 16 !== 0) throw new RangeError(`addOneBitLut(${name}): scratch must be 16-aligned, got ${s.scratch}`);
  if (!Number.isFinite(s.alpha)) throw new RangeError(`addOneBitLut(${name}): alpha must be finite, got ${s.alpha}`);
  if (s.postNormEps !== undefined && !(Number.isFinite(s.postNormEps) && s.postNormEps >= 0)) {
    throw new RangeError(`addOneBitLut(${name}): postNormEps must be a finite number ≥ 0, got ${s.postNormEps}`);
  }
  if (s.scratch + lutScratchBytes(s.in, s.out) > 2 ** 32) throw new RangeError(`addOneBitLut(${name}): scratch ends beyond 4 GiB`);
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
 * `name(x, y, rows)`: rows of x (in f32 each) → rows of y (out f32 each), one GEMV per row. Exports `name`.
 * `spec.sign` is the offset of the signs in the LUT layout (lutLayoutBytes(out, in) bytes).
 */
export function addOneBitLut(mod: Module, name: string, spec: OneBitLutSpec): void {
  checkSpec(name, spec);
  const gemv = `${name}$gemv`;
  addGemv(mod, gemv, spec);
  const norm = spec.postNormEps !== undefined && spec.out > 0 ? `${name}$postnorm` : undefined;
  if (norm) addPostNorm(mod, norm, spec.out, spec.postNormEps!);
  const { i32 } = mod;
  const f = new Fn(mod, [binaryen.i32, binaryen.i32, binaryen.i32]);
  const X = 0, Y = 1, ROWS = 2;
  const loop = f.label('rows');
  const body = mod.block(null, [
    mod.if(i32.le_s(f.get(ROWS), i32.const(0)), mod.return()),
    mod.loop(loop, mod.block(null, [
      mod.call(gemv, [f.get(X), f.get(Y)], binaryen.none),
      ...(norm ? [mod.call(norm, [f.get(Y), i32.const(1)], binaryen.none)] : []),
      f.bump(X, spec.in * 4),
      f.bump(Y, spec.out * 4),
      f.bump(ROWS, -1),
      mod.br(loop, i32.gt_s(f.get(ROWS), i32.const(0))),
    ])),
  ]);
  mod.addFunction(name, binaryen.createType([binaryen.i32, binaryen.i32, binaryen.i32]), binaryen.none, f.vars, body);
  mod.addFunctionExport(name, name);
}

function addGemv(m: Module, fname: string, spec: OneBitLutSpec): void {
  const { i32, f32, f32x4, i8x16, i16x8, i32x4, v128 } = m;
  const relaxed = spec.relaxed === true;
  const swizzle = (table: number, idx: number): number => (relaxed ? low._BinaryenBinary(m.ptr, low.RelaxedSwizzleVecI8x16, table, idx) : i8x16.swizzle(table, idx));
  const madd = (a: number, b: number, c: number): number => (relaxed ? low._BinaryenSIMDTernary(m.ptr, low.RelaxedMaddVecF32x4, a, b, c) : f32x4.add(f32x4.mul(a, b), c));
  const L = layoutOf(spec);
  const inDim = spec.in, out = spec.out;
  const type = binaryen.createType([binaryen.i32, binaryen.i32]);
  if (out === 0) {
    m.addFunction(fname, type, binaryen.none, [], m.nop());
    return;
  }
  const f = new Fn(m, [binaryen.i32, binaryen.i32]);
  const X = 0, Y = 1;
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

  // 2. y_acc = 0.
  const ap = f.local(binaryen.i32);
  f.setEnd(ap, () => i32.const(L.acc + L.tiles * 64));
  code.push(f.countedLoop(ap, i32.const(L.acc), 16, L.tiles * 4, () => [v128.store(0, 16, f.get(ap), zero())]));

  // 3. Blocks of column pairs: tables, then the sweep of all tiles.
  const wp = f.local(binaryen.i32); // sign pointer (the layout is one stream: blocks, tiles, pairs)
  const xq = f.local(binaryen.i32); // x' of the block's first column
  const vinvHi = f.local(binaryen.v128), vinvLo = f.local(binaryen.v128), vsHi = f.local(binaryen.v128), vsLo = f.local(binaryen.v128);
  const mx = f.local(binaryen.f32);

  const buildTables = (np: number): number[] => {
    const gp = f.local(binaryen.i32);
    const stp = f.local(binaryen.i32);
    const V = f.local(binaryen.v128), P = f.local(binaryen.v128), Q = f.local(binaryen.v128), VMAX = f.local(binaryen.v128), T = f.local(binaryen.v128);
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
      f.set(vsLo, f32x4.splat(f32.div(f.get(mx), f32.const(H * LO_STEPS)))),
    ];
    // Quantise, one column pair (two groups) per iteration.
    const tp = f.local(binaryen.i32);
    const Hq = [0, 1, 2, 3].map(() => f.local(binaryen.v128));
    const Lq = [0, 1, 2, 3].map(() => f.local(binaryen.v128));
    const HQ = f.local(binaryen.v128);
    f.setEnd(tp, () => i32.const(np * PAIR_TABLE_BYTES));
    const narrow = (v: number[]): number => i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(f.get(v[0]!), f.get(v[1]!)), i16x8.narrow_i32x4_s(f.get(v[2]!), f.get(v[3]!)));
    code.push(f.set(stp, i32.const(0)));
    code.push(f.countedLoop(tp, i32.const(0), PAIR_TABLE_BYTES, np, () => {
      const body: number[] = [];
      for (let j = 0; j < 2; j++) {
        for (let k = 0; k < 4; k++) {
          body.push(f.set(T, v128.load(L.staging + 64 * j + 16 * k, 16, f.get(stp))));
          body.push(f.set(HQ, f32x4.nearest(f32x4.mul(f.get(T), f.get(vinvHi)))));
          body.push(f.set(Hq[k]!, i32x4.trunc_sat_f32x4_s(f.get(HQ))));
          const r = f32x4.sub(f.get(T), f32x4.mul(f.get(HQ), f.get(vsHi)));
          body.push(f.set(Lq[k]!, i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(r, f.get(vinvLo))))));
        }
        body.push(v128.store(L.table + 16 * j, 16, f.get(tp), narrow(Hq)));
        body.push(v128.store(L.table + 32 + 16 * j, 16, f.get(tp), narrow(Lq)));
      }
      return body;
    }, [[stp, 128]]));
    return code;
  };

  const W = f.local(binaryen.v128), I0 = f.local(binaryen.v128), I1 = f.local(binaryen.v128);
  const SH = f.local(binaryen.v128), SL = f.local(binaryen.v128);
  const AH = [f.local(binaryen.v128), f.local(binaryen.v128)];
  const AL = [f.local(binaryen.v128), f.local(binaryen.v128)];
  const yp = f.local(binaryen.i32);
  f.setEnd(yp, () => i32.const(L.acc + L.tiles * 64));

  const sweep = (np: number): number => f.countedLoop(yp, i32.const(L.acc), 64, L.tiles, () => {
    const body: number[] = [];
    const started = { hi: false, lo: false };
    const widen = (S: number, A: number[], which: 'hi' | 'lo'): void => {
      const first = !started[which];
      started[which] = true;
      body.push(f.set(A[0]!, first ? i16x8.extend_low_i8x16_s(f.get(S)) : i16x8.add(f.get(A[0]!), i16x8.extend_low_i8x16_s(f.get(S)))));
      body.push(f.set(A[1]!, first ? i16x8.extend_high_i8x16_s(f.get(S)) : i16x8.add(f.get(A[1]!), i16x8.extend_high_i8x16_s(f.get(S)))));
    };
    for (let p = 0; p < np; p++) {
      const t = L.table + p * PAIR_TABLE_BYTES;
      body.push(
        f.set(W, v128.load(16 * p, 16, f.get(wp))),
        f.set(I0, v128.and(f.get(W), v128.const(new Array(16).fill(0x0f)))),
        f.set(I1, i8x16.shr_u(f.get(W), i32.const(4))),
      );
      const lookup = (off: number): number => i8x16.add(swizzle(v128.load(t + off, 16, i32.const(0)), f.get(I0)), swizzle(v128.load(t + off + 16, 16, i32.const(0)), f.get(I1)));
      body.push(f.set(SH, p % HI_PAIRS === 0 ? lookup(0) : i8x16.add(f.get(SH), lookup(0))));
      if (p % HI_PAIRS === HI_PAIRS - 1 || p === np - 1) widen(SH, AH, 'hi');
      body.push(f.set(SL, p % LO_PAIRS === 0 ? lookup(32) : i8x16.add(f.get(SL), lookup(32))));
      if (p % LO_PAIRS === LO_PAIRS - 1 || p === np - 1) widen(SL, AL, 'lo');
    }
    // y_acc[rows] += f32(2L·Σhi + Σlo) · m/(H·2L)
    for (let h = 0; h < 2; h++) {
      for (let k = 0; k < 2; k++) {
        const ext = (v: number): number => (k === 0 ? i32x4.extend_low_i16x8_s(f.get(v)) : i32x4.extend_high_i16x8_s(f.get(v)));
        const c = i32x4.add(i32x4.mul(ext(AH[h]!), i32x4.splat(i32.const(LO_STEPS))), ext(AL[h]!));
        const off = 16 * (2 * h + k);
        body.push(v128.store(off, 16, f.get(yp), madd(f32x4.convert_i32x4_s(c), f.get(vsLo), v128.load(off, 16, f.get(yp)))));
      }
    }
    return body;
  }, [[wp, np * 16]]);

  const block = (np: number): number[] => [...buildTables(np), sweep(np), f.bump(xq, np * 32)];
  code.push(f.set(wp, i32.const(spec.sign)), f.set(xq, i32.const(L.xs)));
  const full = Math.floor(L.pairs / LUT_BLOCK_PAIRS);
  const tail = L.pairs % LUT_BLOCK_PAIRS;
  const bc = f.local(binaryen.i32);
  f.setEnd(bc, () => i32.const(full));
  if (full > 0) code.push(f.countedLoop(bc, i32.const(0), 1, full, () => block(LUT_BLOCK_PAIRS)));
  if (tail > 0) code.push(...block(tail));

  // 4. y = y_acc ⊙ h · alpha + bias.
  const alpha = Math.fround(spec.alpha);
  const o = f.local(binaryen.i32);
  const o4 = Math.floor(out / 4);
  f.setEnd(o, () => i32.const(o4 * 16));
  code.push(f.countedLoop(o, i32.const(0), 16, o4, () => {
    let v = f32x4.mul(v128.load(L.acc, 16, f.get(o)), v128.load(spec.h, 4, f.get(o)));
    if (alpha !== 1) v = f32x4.mul(v, f32x4.splat(f32.const(alpha)));
    if (spec.bias !== undefined) v = f32x4.add(v, v128.load(spec.bias, 4, f.get(o)));
    return [v128.store(0, 4, i32.add(f.get(Y), f.get(o)), v)];
  }));
  for (let k = o4 * 4; k < out; k++) {
    let v = f32.mul(f32.load(L.acc + 4 * k, 4, i32.const(0)), f32.load(spec.h + 4 * k, 4, i32.const(0)));
    if (alpha !== 1) v = f32.mul(v, f32.const(alpha));
    if (spec.bias !== undefined) v = f32.add(v, f32.load(spec.bias + 4 * k, 4, i32.const(0)));
    code.push(f32.store(4 * k, 4, f.get(Y), v));
  }
  m.addFunction(fname, type, binaryen.none, f.vars, m.block(null, code));
}
