// Exact OneBit linear kernels in WASM SIMD128, specialised per layer (every size is a constant).
//
//   y = alpha · (((x ⊙ g) Sᵀ) ⊙ h) + bias          x (rows, in), S ∈ {±1}^{out×in}, y (rows, out)
//   then, with postNormEps, y ← (y − mean(y)) / √(var(y) + eps) per row (OneBit's post-LayerNorm without
//   affine parameters, biased variance over the whole output width)
//
// Signs are read in the layout of runtime/wasm/onebit-layout.ts: [ceil(in/64), out, 8] bytes (64-column
// blocks, block-major). Exact: fp32 activations and sums, only the summation order differs from the
// reference kernel (runtime/kernels/onebit.ts).
//
// Method: table lookup over groups of 8 inputs (one sign byte). For each group the 256 signed sums
// ±x'₀ ± … ± x'₇ (x' = x ⊙ g) are built once per token, then every output row adds one table entry per
// sign byte: 4 wasm instructions per 8 weights (load8_u, shl, load, add) instead of ≥ 1 SIMD instruction
// per 4 weights for sign-XOR kernels. The input dimension is cut into chunks whose tables stay in L1, and
// each chunk sweeps all output rows (its sign bytes are one contiguous stream in the layout):
//   - GEMV (one row): f32 entries (1 KiB per group), chunks of 8 groups (8 KiB); each output row sums its
//     8 lookups as a balanced add tree and adds that into y (zeroed first).
//   - GEMM (≥ 2 rows): 4 or 8 rows of x at once; an entry is one f32 per row (f32x4 lanes), so one sign
//     byte serves 4 (8) rows with one (two) v128 load + add. Chunks of 8 groups × 4 KiB (4 rows) or
//     4 groups × 8 KiB (8 rows) = 32 KiB. Partial sums live in scratch, one f32x4 (×2) per output.
//     Rows go in blocks of 8; a last block of 5–7 rows is padded to 8, of 2–4 to 4; a last single row
//     takes the GEMV. Padded rows repeat a real row and are not stored.
//   Each 256-entry table is H[hi nibble] + L[lo nibble] from two 16-entry tables; the table-filling
//   functions are shared by all layers of the module that use the same scratch address.
// ⊙ h, alpha and bias are applied in one pass at the end. The post-norm (when asked) runs on each block of
// (at most 8) finished rows while they are in cache: per row, fp32 sums of y and then of (y − mean)² (f32x4
// lanes + scalar tail), 1/√(var + eps), y ← (y − mean)·that — no approximation, only the summation order
// differs from the reference. No state is kept between calls (no init function, no data segment):
// everything in scratch is written by each call before it is read.
//
// Scratch (`onebitScratchBytes`): [tables 32 KiB][x' (in_pad) f32, or x'ᵀ (in_pad) f32×rows][partial sums (out) f32×rows],
// in_pad = in rounded up to 64 (x' is zero there, so padding bits never matter).
import binaryen from 'binaryen';
import type { Module } from './module.ts';
import { LUT_BLOCK_PAIRS, LUT_TILE_ROWS, lutLane, ONEBIT_BLOCK_COLS } from '../../../runtime/wasm/onebit-layout.ts';

export interface OneBitLinearSpec {
  in: number;
  out: number;
  /** Byte offset of the signs, in the layout of runtime/wasm/onebit-layout.ts (onebitLayoutBytes(out, in) bytes). */
  sign: number;
  /** Byte offset of g, f32[in]. */
  g: number;
  /** Byte offset of h, f32[out]. */
  h: number;
  /** Byte offset of the bias, f32[out]; omitted = no bias. */
  bias?: number;
  alpha: number;
  /** When set: LayerNorm without affine parameters over each output row, with this epsilon (≥ 0). */
  postNormEps?: number;
  /** Byte offset of a 16-aligned region of onebitScratchBytes(in, out) bytes, free for the kernel. */
  scratch: number;
}

const GEMV_CHUNK_BYTES = 8; // sign bytes (groups of 8 columns) per chunk; 1 KiB of f32 table each
const GEMV_UNROLL = 4; // output rows per loop iteration
const GEMM4_CHUNK_BYTES = 8; // 4 rows: 4 KiB of table per byte
const GEMM8_CHUNK_BYTES = 4; // 8 rows: 8 KiB of table per byte
const GEMM_UNROLL = 4;
const GEMV_GROUP_BYTES = 256 * 4;
const TABLE_BYTES = Math.max(GEMV_CHUNK_BYTES * GEMV_GROUP_BYTES, GEMM4_CHUNK_BYTES * 256 * 16, GEMM8_CHUNK_BYTES * 256 * 32);

const paddedIn = (inDim: number): number => Math.ceil(inDim / ONEBIT_BLOCK_COLS) * ONEBIT_BLOCK_COLS;

/** Scratch bytes the GEMM alone needs (what the LUT kernel's module uses of this kernel; a multiple of 16). */
export function onebitGemmScratchBytes(inDim: number, out: number): number {
  return TABLE_BYTES + paddedIn(inDim) * 32 + out * 32;
}

/** Scratch bytes a kernel for (in, out) needs (a multiple of 16): the GEMM's, then the GEMV's tables of all columns (row split). */
export function onebitScratchBytes(inDim: number, out: number): number {
  return onebitGemmScratchBytes(inDim, out) + (paddedIn(inDim) / 8) * GEMV_GROUP_BYTES;
}

/**
 * Checks a OneBit kernel's spec (offsets, sizes, alpha, post-norm epsilon, scratch within 4 GiB), naming the
 * generator (`addOneBitLinear`, `addOneBitLut`) and the kernel in each error.
 */
export function checkOneBitSpec(generator: string, name: string, s: OneBitLinearSpec, scratchBytes: (inDim: number, out: number) => number): void {
  const ints: [string, number][] = [['in', s.in], ['out', s.out], ['sign', s.sign], ['g', s.g], ['h', s.h], ['scratch', s.scratch]];
  if (s.bias !== undefined) ints.push(['bias', s.bias]);
  for (const [k, v] of ints) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`${generator}(${name}): ${k} must be a non-negative integer, got ${v}`);
  }
  if (s.scratch % 16 !== 0) throw new RangeError(`${generator}(${name}): scratch must be 16-aligned, got ${s.scratch}`);
  if (!Number.isFinite(s.alpha)) throw new RangeError(`${generator}(${name}): alpha must be finite, got ${s.alpha}`);
  if (s.postNormEps !== undefined && !(Number.isFinite(s.postNormEps) && s.postNormEps >= 0)) {
    throw new RangeError(`${generator}(${name}): postNormEps must be a finite number ≥ 0, got ${s.postNormEps}`);
  }
  const end = s.scratch + scratchBytes(s.in, s.out);
  if (end > 2 ** 32) throw new RangeError(`${generator}(${name}): scratch ends beyond 4 GiB`);
}

/** v128 constant with the f32 sign bit set in the given lanes. */
export function signMask(lanes: number[]): number[] {
  const bytes = new Array<number>(16).fill(0);
  for (const l of lanes) bytes[4 * l + 3] = 0x80;
  return bytes;
}

export const splatMask = (lane: number): number[] => Array.from({ length: 16 }, (_, i) => 4 * lane + (i & 3));

/** Local-variable bookkeeping for one function; every getter builds a fresh node. */
export class Fn {
  readonly vars: number[] = [];
  private labels = 0;
  constructor(readonly mod: Module, readonly params: number[]) {}
  local(type: number): number {
    this.vars.push(type);
    return this.params.length + this.vars.length - 1;
  }
  type(index: number): number {
    return index < this.params.length ? this.params[index]! : this.vars[index - this.params.length]!;
  }
  get(index: number): number {
    return this.mod.local.get(index, this.type(index));
  }
  set(index: number, value: number): number {
    return this.mod.local.set(index, value);
  }
  label(prefix: string): string {
    return `${prefix}${this.labels++}`;
  }
  /** local += step (i32). */
  bump(index: number, step: number): number {
    return this.set(index, this.mod.i32.add(this.get(index), this.mod.i32.const(step)));
  }
  /**
   * `for (ptr = start; ptr != end; ptr += step) body` with `count` (a constant) iterations, as a do-while
   * loop (nothing when count is 0); `end` comes from setEnd(ptr). extraBumps: [local, step] advanced too.
   */
  countedLoop(ptr: number, start: number, step: number, count: number, body: () => number[], extraBumps: [number, number][] = []): number {
    const m = this.mod;
    if (count <= 0) return m.nop();
    const init = this.set(ptr, start);
    const label = this.label('L');
    const bumps = [this.bump(ptr, step), ...extraBumps.map(([l, s]) => this.bump(l, s))];
    return m.block(null, [init, m.loop(label, m.block(null, [...body(), ...bumps, m.br(label, m.i32.ne(this.get(ptr), this.endOf(ptr)))]))]);
  }
  private ends = new Map<number, () => number>();
  /** Registers how to compute the loop end of `ptr` (used by countedLoop). */
  setEnd(ptr: number, end: () => number): void {
    this.ends.set(ptr, end);
  }
  private endOf(ptr: number): number {
    const e = this.ends.get(ptr);
    if (!e) throw new Error('loop end not set');
    return e();
  }
}

/** Balanced add tree of `terms` (fresh nodes), so independent additions can run in parallel. */
export function addTree(add: (a: number, b: number) => number, terms: number[]): number {
  let level = terms;
  while (level.length > 1) {
    const next: number[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(add(level[i]!, level[i + 1]!));
    if (level.length % 2) next.push(level[level.length - 1]!);
    level = next;
  }
  return level[0]!;
}

export function addOneBitLinear(mod: Module, name: string, spec: OneBitLinearSpec): void {
  checkOneBitSpec('addOneBitLinear', name, spec, onebitScratchBytes);
  const gemv = `${name}$gemv`;
  const gemm4 = `${name}$gemm4`;
  const gemm8 = `${name}$gemm8`;
  addGemv(mod, gemv, spec);
  addGemm(mod, gemm4, spec, 4, GEMM4_CHUNK_BYTES, GEMM_UNROLL);
  addGemm(mod, gemm8, spec, 8, GEMM8_CHUNK_BYTES, GEMM_UNROLL);
  const norm = spec.postNormEps !== undefined && spec.out > 0 ? `${name}$postnorm` : undefined;
  if (norm) {
    addPostNorm(mod, norm, spec.out, spec.postNormEps!);
    mod.addFunctionExport(norm, norm); // after a GEMV split between threads (onebit-linear-rows.ts)
  }

  // name(x, y, rows): blocks of 8 rows; a last block of 5–7 rows is padded to 8, of 2–4 rows to 4, and a
  // last single row goes to the GEMV.
  const { i32 } = mod;
  const f = new Fn(mod, [binaryen.i32, binaryen.i32, binaryen.i32]);
  const X = 0, Y = 1, ROWS = 2;
  const loop = f.label('rows');
  const call = (fn: string, rows: number): number => mod.call(fn, [f.get(X), f.get(Y), rows], binaryen.none);
  const body = mod.block(null, [
    mod.if(i32.le_s(f.get(ROWS), i32.const(0)), mod.return()),
    mod.loop(loop, mod.block(null, [
      mod.if(i32.gt_s(f.get(ROWS), i32.const(4)),
        call(gemm8, mod.select(i32.gt_s(f.get(ROWS), i32.const(8)), i32.const(8), f.get(ROWS))),
        mod.if(i32.gt_s(f.get(ROWS), i32.const(1)),
          call(gemm4, f.get(ROWS)),
          mod.call(gemv, [f.get(X), f.get(Y)], binaryen.none))),
      ...(norm ? [mod.call(norm, [f.get(Y), mod.select(i32.gt_s(f.get(ROWS), i32.const(8)), i32.const(8), f.get(ROWS))], binaryen.none)] : []),
      f.bump(X, 8 * spec.in * 4),
      f.bump(Y, 8 * spec.out * 4),
      f.bump(ROWS, -8),
      mod.br(loop, i32.gt_s(f.get(ROWS), i32.const(0))),
    ])),
  ]);
  mod.addFunction(name, binaryen.createType([binaryen.i32, binaryen.i32, binaryen.i32]), binaryen.none, f.vars, body);
  mod.addFunctionExport(name, name);
}

export interface Layout {
  blocks: number;
  inPad: number;
  table: number;
  xs: number;
  acc: number;
  /** The GEMV's tables of every group of 8 columns (1 KiB each), for the row split (onebit-linear-rows.ts). */
  all: number;
}

export function layoutOf(spec: OneBitLinearSpec): Layout {
  const inPad = paddedIn(spec.in);
  const table = spec.scratch;
  const xs = table + TABLE_BYTES;
  const acc = xs + inPad * 32;
  return { blocks: inPad / ONEBIT_BLOCK_COLS, inPad, table, xs, acc, all: acc + spec.out * 32 };
}

/** GEMV step 1: x' = x ⊙ g into scratch (L.xs), zero-padded to in_pad; x at the pointer local `X`. */
export function scaleInput(f: Fn, spec: OneBitLinearSpec, L: Layout, X: number): number[] {
  const m = f.mod;
  const { i32 } = m;
  const inDim = spec.in;
  const code: number[] = [];
  const q = f.local(binaryen.i32);
  const n4 = Math.floor(inDim / 4);
  f.setEnd(q, () => i32.const(n4 * 16));
  code.push(f.countedLoop(q, i32.const(0), 16, n4, () => [
    m.v128.store(L.xs, 16, f.get(q), m.f32x4.mul(m.v128.load(0, 4, i32.add(f.get(X), f.get(q))), m.v128.load(spec.g, 4, f.get(q)))),
  ]));
  for (let i = n4 * 4; i < inDim; i++) {
    code.push(m.f32.store(L.xs + 4 * i, 4, i32.const(0), m.f32.mul(m.f32.load(4 * i, 4, f.get(X)), m.f32.load(spec.g + 4 * i, 4, i32.const(0)))));
  }
  let i0 = inDim;
  for (; i0 < L.inPad && i0 % 4 !== 0; i0++) code.push(m.f32.store(L.xs + 4 * i0, 4, i32.const(0), m.f32.const(0)));
  for (; i0 < L.inPad; i0 += 4) code.push(m.v128.store(L.xs + 4 * i0, 16, i32.const(0), m.v128.const(new Array(16).fill(0))));
  return code;
}

/** y[o] = y[o]·h[o]·alpha + bias[o] for o < out, y at the pointer local `yPtr` (a vector loop + scalar tail). */
function finishRow(f: Fn, spec: OneBitLinearSpec, yPtr: number): number[] {
  const m = f.mod;
  const alpha = Math.fround(spec.alpha);
  const out = spec.out;
  const o = f.local(binaryen.i32);
  const vec = (off: number, ptr: () => number): number => {
    let v = m.f32x4.mul(m.v128.load(off, 4, m.i32.add(f.get(yPtr), ptr())), m.v128.load(spec.h + off, 4, ptr()));
    if (alpha !== 1) v = m.f32x4.mul(v, m.f32x4.splat(m.f32.const(alpha)));
    if (spec.bias !== undefined) v = m.f32x4.add(v, m.v128.load(spec.bias + off, 4, ptr()));
    return m.v128.store(off, 4, m.i32.add(f.get(yPtr), ptr()), v);
  };
  const scalar = (off: number): number => {
    let v = m.f32.mul(m.f32.load(off, 4, f.get(yPtr)), m.f32.load(spec.h + off, 4, m.i32.const(0)));
    if (alpha !== 1) v = m.f32.mul(v, m.f32.const(alpha));
    if (spec.bias !== undefined) v = m.f32.add(v, m.f32.load(spec.bias + off, 4, m.i32.const(0)));
    return m.f32.store(off, 4, f.get(yPtr), v);
  };
  const n4 = Math.floor(out / 4);
  f.setEnd(o, () => m.i32.const(n4 * 16));
  const code = [f.countedLoop(o, m.i32.const(0), 16, n4, () => [vec(0, () => f.get(o))])];
  for (let k = n4 * 4; k < out; k++) code.push(scalar(4 * k));
  return code;
}

/**
 * `fname(y, rows)`: rows ≥ 1 rows of `out` (> 0) f32 at y, each replaced by (y − mean) / √(var + eps), mean and
 * biased variance over the row, in fp32 (two passes: Σy, then Σ(y − mean)²; f32x4 lanes, then the scalar tail).
 */
export function addPostNorm(m: Module, fname: string, out: number, eps: number): void {
  const { i32, f32, f32x4 } = m;
  const f = new Fn(m, [binaryen.i32, binaryen.i32]);
  const Y = 0, ROWS = 1;
  const o = f.local(binaryen.i32);
  const acc = f.local(binaryen.v128);
  const sum = f.local(binaryen.f32);
  const mean = f.local(binaryen.f32);
  const inv = f.local(binaryen.f32);
  const vmean = f.local(binaryen.v128);
  const vinv = f.local(binaryen.v128);
  const n4 = Math.floor(out / 4);
  f.setEnd(o, () => i32.const(n4 * 16));
  const at = (): number => i32.add(f.get(Y), f.get(o));
  const load4 = (): number => m.v128.load(0, 4, at());
  const load1 = (k: number): number => f32.load(4 * k, 4, f.get(Y));
  const lanes = (v: number): number => f32.add(
    f32.add(f32x4.extract_lane(f.get(v), 0), f32x4.extract_lane(f.get(v), 1)),
    f32.add(f32x4.extract_lane(f.get(v), 2), f32x4.extract_lane(f.get(v), 3)));
  /** sum = Σ term over the row. */
  const rowSum = (term4: () => number, term1: (k: number) => number): number[] => {
    const code = [
      f.set(acc, m.v128.const(new Array(16).fill(0))),
      f.countedLoop(o, i32.const(0), 16, n4, () => [f.set(acc, f32x4.add(f.get(acc), term4()))]),
      f.set(sum, lanes(acc)),
    ];
    for (let k = n4 * 4; k < out; k++) code.push(f.set(sum, f32.add(f.get(sum), term1(k))));
    return code;
  };
  const square4 = (): number => { const d = (): number => f32x4.sub(load4(), f.get(vmean)); return f32x4.mul(d(), d()); };
  const square1 = (k: number): number => { const d = (): number => f32.sub(load1(k), f.get(mean)); return f32.mul(d(), d()); };
  const apply = [f.countedLoop(o, i32.const(0), 16, n4, () => [m.v128.store(0, 4, at(), f32x4.mul(f32x4.sub(load4(), f.get(vmean)), f.get(vinv)))])];
  for (let k = n4 * 4; k < out; k++) apply.push(f32.store(4 * k, 4, f.get(Y), f32.mul(f32.sub(load1(k), f.get(mean)), f.get(inv))));
  const label = f.label('row');
  const body = m.block(null, [
    m.if(i32.le_s(f.get(ROWS), i32.const(0)), m.return()),
    m.loop(label, m.block(null, [
      ...rowSum(load4, load1),
      f.set(mean, f32.div(f.get(sum), f32.const(out))),
      f.set(vmean, f32x4.splat(f.get(mean))),
      ...rowSum(square4, square1),
      f.set(inv, f32.div(f32.const(1), f32.sqrt(f32.add(f32.div(f.get(sum), f32.const(out)), f32.const(Math.fround(eps)))))),
      f.set(vinv, f32x4.splat(f.get(inv))),
      ...apply,
      f.bump(Y, out * 4),
      f.bump(ROWS, -1),
      m.br(label, i32.gt_s(f.get(ROWS), i32.const(0))),
    ])),
  ]);
  m.addFunction(fname, binaryen.createType([binaryen.i32, binaryen.i32]), binaryen.none, f.vars, body);
}

/**
 * The chunk loop over the input dimension: chunks of `chunkBytes` sign bytes (groups of 8 columns). With
 * chunkBytes ≥ 8, a chunk is chunkBytes/8 whole blocks (a loop, then a shorter last chunk); below 8
 * (a divisor of 8), a loop over blocks runs an inner loop over the block's 8/chunkBytes parts.
 * `chunk(blocks, nbytes, signPtr, xPtr)` emits one chunk: bytes 0 … nbytes−1 of `blocks` blocks from the
 * sign pointer local `signPtr` and the x' pointer local `xPtr` (`xColBytes` bytes of x' per column).
 */
function chunks(f: Fn, spec: OneBitLinearSpec, L: Layout, chunkBytes: number, xColBytes: number,
  chunk: (blocks: number, nbytes: number, signPtr: number, xPtr: number) => number): number[] {
  const { i32 } = f.mod;
  const cp = f.local(binaryen.i32);
  const xc = f.local(binaryen.i32);
  const blockSign = spec.out * 8;
  const blockX = ONEBIT_BLOCK_COLS * xColBytes;
  if (chunkBytes < 8) {
    if (8 % chunkBytes !== 0) throw new Error(`chunk bytes ${chunkBytes} must divide 8`);
    const sc = f.local(binaryen.i32);
    const xs = f.local(binaryen.i32);
    f.setEnd(cp, () => i32.const(spec.sign + L.blocks * blockSign));
    f.setEnd(sc, () => i32.add(f.get(cp), i32.const(8)));
    return [
      f.set(xc, i32.const(L.xs)),
      f.countedLoop(cp, i32.const(spec.sign), blockSign, L.blocks, () => [
        f.set(xs, f.get(xc)),
        f.countedLoop(sc, f.get(cp), chunkBytes, 8 / chunkBytes, () => [chunk(1, chunkBytes, sc, xs)], [[xs, chunkBytes * 8 * xColBytes]]),
      ], [[xc, blockX]]),
    ];
  }
  const per = Math.floor(chunkBytes / 8); // blocks per chunk
  const full = Math.floor(L.blocks / per);
  const rest = L.blocks % per;
  f.setEnd(cp, () => i32.const(spec.sign + full * per * blockSign));
  const code = [
    f.set(xc, i32.const(L.xs)),
    f.countedLoop(cp, i32.const(spec.sign), per * blockSign, full, () => [chunk(per, 8, cp, xc)], [[xc, per * blockX]]),
  ];
  if (rest > 0) {
    code.push(f.set(cp, i32.const(spec.sign + full * per * blockSign)));
    code.push(f.set(xc, i32.const(L.xs + full * per * blockX)));
    code.push(chunk(rest, 8, cp, xc));
  }
  return code;
}

/**
 * The function that fills the lookup tables of one chunk: `onebit$tables<lanes>@<table>`, shared by every
 * layer of the module with the same table address. Parameters (xq, end): x' of the chunk's first column
 * (f32 per column for lanes = 1, f32×lanes column-interleaved otherwise) and the chunk's table bytes
 * (groups · 256 · 4 · lanes). Group g's entry b (b = the sign byte) is Σ_j (bit j of b ? −x'[8g+j] : x'[8g+j]),
 * built as H[b >> 4] + L[b & 15] from two 16-entry tables.
 */
export function tableBuilder(m: Module, table: number, lanes: number): string {
  const name = `onebit$tables${lanes}@${table}`;
  if (m.getFunction(name)) return name;
  const { i32 } = m;
  const f = new Fn(m, [binaryen.i32, binaryen.i32]);
  const XQ = 0, END = 1;
  const tp = f.local(binaryen.i32);
  f.setEnd(tp, () => f.get(END));
  const body: number[] = [];
  const doWhile = (step: number, xStep: number, build: number[]): number => {
    const label = f.label('tables');
    return m.block(null, [f.set(tp, i32.const(0)), m.loop(label, m.block(null, [
      ...build, f.bump(tp, step), f.bump(XQ, xStep), m.br(label, i32.ne(f.get(tp), f.get(END)))]))]);
  };
  if (lanes === 1) {
    // Scalar entries: L[4q + l] = P[l] + Q[q] with P, Q the signed pairs of columns (0, 1) and (2, 3).
    const V0 = f.local(binaryen.v128), V1 = f.local(binaryen.v128);
    const P = f.local(binaryen.v128), Q = f.local(binaryen.v128);
    const Lq = [0, 1, 2, 3].map(() => f.local(binaryen.v128));
    const Hq = [0, 1, 2, 3].map(() => f.local(binaryen.v128));
    const M01 = (): number => m.v128.const(signMask([1, 3]));
    const M0011 = (): number => m.v128.const(signMask([2, 3]));
    const splat = (v: number, lane: number): number => m.i8x16.shuffle(f.get(v), f.get(v), splatMask(lane));
    // lanes n = 0..3: (bit0(n) ? −a : a) + (bit1(n) ? −b : b), a = lane j0 of V, b = lane j1 of V
    const pattern = (V: number, j0: number, j1: number): number =>
      m.f32x4.add(m.v128.xor(splat(V, j0), M01()), m.v128.xor(splat(V, j1), M0011()));
    const build: number[] = [
      f.set(V0, m.v128.load(0, 16, f.get(XQ))),
      f.set(V1, m.v128.load(16, 16, f.get(XQ))),
      f.set(P, pattern(V0, 0, 1)),
      f.set(Q, pattern(V0, 2, 3)),
      ...Lq.map((l, q) => f.set(l, m.f32x4.add(f.get(P), splat(Q, q)))),
      f.set(P, pattern(V1, 0, 1)),
      f.set(Q, pattern(V1, 2, 3)),
      ...Hq.map((h, q) => f.set(h, m.f32x4.add(f.get(P), splat(Q, q)))),
    ];
    for (let hi = 0; hi < 16; hi++) {
      for (let q = 0; q < 4; q++) {
        // T[16·hi + 4·q + l] = H[hi] + L[4·q + l]
        build.push(m.v128.store(table + hi * 64 + q * 16, 16, f.get(tp), m.f32x4.add(splat(Hq[hi >> 2]!, hi & 3), f.get(Lq[q]!))));
      }
    }
    body.push(doWhile(GEMV_GROUP_BYTES, 32, build));
  } else {
    // f32x4 parts (one lane per row of x): L[lo] from columns 0–3, H[hi] from columns 4–7, one part at a time.
    const W = lanes / 4;
    const entry = 16 * W;
    const Xj = Array.from({ length: 8 }, () => f.local(binaryen.v128));
    const Pl = [0, 1, 2, 3].map(() => f.local(binaryen.v128));
    const Ql = [0, 1, 2, 3].map(() => f.local(binaryen.v128));
    const Ln = Array.from({ length: 16 }, () => f.local(binaryen.v128));
    const Hm = f.local(binaryen.v128);
    // P[l] = (bit0(l) ? −A : A) + (bit1(l) ? −B : B)
    const pairs = (A: number, B: number, dst: number[]): number[] => [
      f.set(dst[0]!, m.f32x4.add(f.get(A), f.get(B))),
      f.set(dst[1]!, m.f32x4.sub(f.get(B), f.get(A))),
      f.set(dst[2]!, m.f32x4.sub(f.get(A), f.get(B))),
      f.set(dst[3]!, m.f32x4.neg(f.get(dst[0]!))),
    ];
    const build: number[] = [];
    for (let w = 0; w < W; w++) {
      build.push(
        ...Xj.map((x, j) => f.set(x, m.v128.load(j * entry + 16 * w, 16, f.get(XQ)))),
        ...pairs(Xj[0]!, Xj[1]!, Pl),
        ...pairs(Xj[2]!, Xj[3]!, Ql),
        ...Ln.map((l, n) => f.set(l, m.f32x4.add(f.get(Pl[n & 3]!), f.get(Ql[n >> 2]!)))),
        ...pairs(Xj[4]!, Xj[5]!, Pl),
        ...pairs(Xj[6]!, Xj[7]!, Ql),
      );
      for (let hi = 0; hi < 16; hi++) {
        build.push(f.set(Hm, m.f32x4.add(f.get(Pl[hi & 3]!), f.get(Ql[hi >> 2]!))));
        for (let n = 0; n < 16; n++) {
          build.push(m.v128.store(table + (hi * 16 + n) * entry + 16 * w, 16, f.get(tp), m.f32x4.add(f.get(Hm), f.get(Ln[n]!))));
        }
      }
    }
    body.push(doWhile(256 * entry, 8 * entry, build));
  }
  m.addFunction(name, binaryen.createType([binaryen.i32, binaryen.i32]), binaryen.none, f.vars, m.block(null, body));
  return name;
}

function addGemv(mod: Module, fname: string, spec: OneBitLinearSpec): void {
  const m = mod;
  const { i32 } = m;
  const L = layoutOf(spec);
  const f = new Fn(m, [binaryen.i32, binaryen.i32]);
  const X = 0, Y = 1;
  const out = spec.out;
  const code: number[] = [];
  if (out === 0) {
    m.addFunction(fname, binaryen.createType([binaryen.i32, binaryen.i32]), binaryen.none, [], m.nop());
    return;
  }

  // 1. x' = x ⊙ g into scratch, zero-padded to in_pad.
  code.push(...scaleInput(f, spec, L, X));

  // 2. y = 0.
  const yo = f.local(binaryen.i32);
  const o4 = Math.floor(out / 4);
  f.setEnd(yo, () => i32.const(o4 * 16));
  code.push(f.countedLoop(yo, i32.const(0), 16, o4, () => [m.v128.store(0, 4, i32.add(f.get(Y), f.get(yo)), m.v128.const(new Array(16).fill(0)))]));
  for (let k = o4 * 4; k < out; k++) code.push(m.f32.store(4 * k, 4, f.get(Y), m.f32.const(0)));

  // 3. Chunks.
  const sp = f.local(binaryen.i32); // sign pointer of the current output row
  const yp = f.local(binaryen.i32); // y pointer of the current output row
  const builder = tableBuilder(m, L.table, 1);
  const chunk = (blocks: number, nbytes: number, cp: number, xc: number): number => {
    const groups = blocks * nbytes;
    const code: number[] = [m.call(builder, [f.get(xc), i32.const(groups * GEMV_GROUP_BYTES)], binaryen.none)];
    // Output rows: y[o] += Σ_groups T_g[sign byte].
    const rowSum = (u: number): number => {
      const terms: number[] = [];
      for (let b = 0; b < blocks; b++) {
        for (let k = 0; k < nbytes; k++) {
          const byte = m.i32.load8_u(b * out * 8 + u * 8 + k, 1, f.get(sp));
          terms.push(m.f32.load(L.table + (b * nbytes + k) * GEMV_GROUP_BYTES, 4, i32.shl(byte, i32.const(2))));
        }
      }
      return m.f32.store(u * 4, 4, f.get(yp), m.f32.add(m.f32.load(u * 4, 4, f.get(yp)), addTree((a, c) => m.f32.add(a, c), terms)));
    };
    const full = Math.floor(out / GEMV_UNROLL);
    f.setEnd(sp, () => i32.add(f.get(cp), i32.const(full * GEMV_UNROLL * 8)));
    code.push(f.set(yp, f.get(Y)));
    code.push(f.countedLoop(sp, f.get(cp), GEMV_UNROLL * 8, full, () => Array.from({ length: GEMV_UNROLL }, (_, u) => rowSum(u)), [[yp, GEMV_UNROLL * 4]]));
    if (full === 0) code.push(f.set(sp, f.get(cp)));
    for (let u = 0; u < out % GEMV_UNROLL; u++) code.push(rowSum(u));
    return m.block(null, code);
  };

  code.push(...chunks(f, spec, L, GEMV_CHUNK_BYTES, 4, chunk));

  // 4. ⊙ h, alpha, bias.
  code.push(...finishRow(f, spec, Y));
  m.addFunction(fname, binaryen.createType([binaryen.i32, binaryen.i32]), binaryen.none, f.vars, m.block(null, code));
}

/**
 * `lanes` (4 or 8) rows of x at once, rows ≥ nvalid (the third parameter) computed but not stored. Every
 * table entry, x'ᵀ column and partial sum is `lanes` f32 = W = lanes/4 v128, W-th vector at +16·w.
 */
/**
 * The GEMM of this kernel as its own function `fname(x, y, nvalid)` (lanes = 4 or 8 rows of x), for signs in
 * the layout of the LUT kernel (runtime/wasm/onebit-layout.ts, ONEBIT_LUT_LAYOUT): the LUT kernel's module
 * runs several rows with it, exactly. `spec.scratch` needs onebitScratchBytes(in, out) bytes.
 */
export function addOneBitGemmLutLayout(mod: Module, fname: string, spec: OneBitLinearSpec, lanes: 4 | 8): void {
  checkOneBitSpec('addOneBitLinear', fname, spec, onebitGemmScratchBytes);
  addGemm(mod, fname, spec, lanes, lanes === 4 ? GEMM4_CHUNK_BYTES : GEMM8_CHUNK_BYTES, GEMM_UNROLL, 'lut');
}

function addGemm(mod: Module, fname: string, spec: OneBitLinearSpec, lanes: number, chunkBytes: number, unroll: number, signLayout: 'colblock64' | 'lut' = 'colblock64'): void {
  const m = mod;
  const { i32 } = m;
  const L = layoutOf(spec);
  const f = new Fn(m, [binaryen.i32, binaryen.i32, binaryen.i32]);
  const X = 0, Y = 1, NV = 2;
  const inDim = spec.in, out = spec.out;
  const W = lanes / 4;
  const entry = 16 * W; // bytes of one table entry / x'ᵀ column / partial sum
  const groupBytes = 256 * entry;
  const shift = Math.log2(entry);
  if (out === 0) {
    m.addFunction(fname, binaryen.createType([binaryen.i32, binaryen.i32, binaryen.i32]), binaryen.none, [], m.nop());
    return;
  }
  const code: number[] = [];
  const zero = (): number => m.v128.const(new Array(16).fill(0));

  // 1. x'ᵀ: xT[i] = (x'₀[i], …, x'_{lanes−1}[i]); rows ≥ nvalid repeat the last valid row.
  const pr = Array.from({ length: lanes }, () => f.local(binaryen.i32));
  for (let r = 0; r < lanes; r++) {
    code.push(f.set(pr[r]!, r === 0 ? f.get(X)
      : i32.add(f.get(X), i32.mul(i32.const(inDim * 4),
        m.select(i32.gt_s(f.get(NV), i32.const(r)), i32.const(r), i32.sub(f.get(NV), i32.const(1)))))));
  }
  const q = f.local(binaryen.i32);
  const t = f.local(binaryen.i32);
  const G = f.local(binaryen.v128);
  f.setEnd(q, () => i32.const(inDim * 4));
  code.push(f.set(t, i32.const(L.xs)));
  code.push(f.countedLoop(q, i32.const(0), 4, inDim, () => {
    const body = [f.set(G, m.f32x4.splat(m.f32.load(spec.g, 4, f.get(q))))];
    for (let w = 0; w < W; w++) {
      let v = m.f32x4.splat(m.f32.load(0, 4, i32.add(f.get(pr[4 * w]!), f.get(q))));
      for (let l = 1; l < 4; l++) v = m.f32x4.replace_lane(v, l, m.f32.load(0, 4, i32.add(f.get(pr[4 * w + l]!), f.get(q))));
      body.push(m.v128.store(16 * w, 16, f.get(t), m.f32x4.mul(v, f.get(G))));
    }
    return body;
  }, [[t, entry]]));
  for (let i = inDim * W; i < L.inPad * W; i++) code.push(m.v128.store(L.xs + 16 * i, 16, i32.const(0), zero()));

  // 2. acc = 0.
  const ap = f.local(binaryen.i32);
  f.setEnd(ap, () => i32.const(L.acc + out * entry));
  code.push(f.countedLoop(ap, i32.const(L.acc), entry, out, () => Array.from({ length: W }, (_, w) => m.v128.store(16 * w, 16, f.get(ap), zero()))));

  // 3. Chunks.
  const sp = f.local(binaryen.i32);
  const idx = Array.from({ length: 8 }, () => f.local(binaryen.i32));
  const builder = tableBuilder(m, L.table, lanes);
  /** acc (at ap + accOff) += Σ_{n < count} T_n[sign byte at signPtr + signOff(n)]. */
  const rowSumAt = (count: number, signOff: (n: number) => number, signPtr: number, accOff: number): number[] => {
    const body: number[] = [];
    const lookups: [number, number][] = []; // [table offset, index expression] (expression built per use)
    for (let n = 0; n < count; n++) {
      const byte = i32.shl(m.i32.load8_u(signOff(n), 1, f.get(signPtr)), i32.const(shift));
      if (W > 1) body.push(f.set(idx[n % 8]!, byte));
      lookups.push([L.table + n * groupBytes, W > 1 ? idx[n % 8]! : byte]);
      if (W > 1 && n % 8 === 7) flush();
    }
    function flush(): void {
      // consumes `lookups` (at most 8, their indices already in idx locals when W > 1)
      for (let w = 0; w < W; w++) {
        const terms = [m.v128.load(accOff + 16 * w, 16, f.get(ap)),
          ...lookups.map(([off, e]) => m.v128.load(off + 16 * w, 16, W > 1 ? f.get(e) : e))];
        body.push(m.v128.store(accOff + 16 * w, 16, f.get(ap), addTree((a, c) => m.f32x4.add(a, c), terms)));
      }
      lookups.length = 0;
    }
    if (lookups.length) flush();
    return body;
  };
  const chunk = (blocks: number, nbytes: number, cp: number, xc: number): number => {
    const groups = blocks * nbytes;
    const code: number[] = [m.call(builder, [f.get(xc), i32.const(groups * groupBytes)], binaryen.none)];
    const rowSum = (u: number): number[] => rowSumAt(groups, (n) => Math.floor(n / nbytes) * out * 8 + u * 8 + n % nbytes, sp, u * entry);
    const full = Math.floor(out / unroll);
    f.setEnd(sp, () => i32.add(f.get(cp), i32.const(full * unroll * 8)));
    code.push(f.set(ap, i32.const(L.acc)));
    code.push(f.countedLoop(sp, f.get(cp), unroll * 8, full, () => Array.from({ length: unroll }, (_, u) => rowSum(u)).flat(), [[ap, unroll * entry]]));
    if (full === 0) code.push(f.set(sp, f.get(cp)));
    for (let u = 0; u < out % unroll; u++) code.push(...rowSum(u));
    return m.block(null, code);
  };
  if (signLayout === 'colblock64') code.push(...chunks(f, spec, L, chunkBytes, entry, chunk));
  else code.push(...lutLayoutChunks());

  /**
   * The LUT layout: [blocks of LUT_BLOCK_PAIRS sign bytes, tiles of 16 rows, bytes of the block, 16 lanes]
   * (row r of a tile in lane lutLane(r)). Chunks of `chunkBytes` sign bytes within a block; rows go by
   * quarter tiles (4 rows: lanes q0, q0 + 2, q0 + 4, q0 + 6 with q0 = 0, 8, 1, 9 for quarters 0–3), then the
   * rows of a last partial tile one by one.
   */
  function lutLayoutChunks(): number[] {
    const pairs = Math.ceil(inDim / 8);
    const tiles = Math.ceil(out / LUT_TILE_ROWS);
    const fullTiles = Math.floor(out / LUT_TILE_ROWS);
    const bp = f.local(binaryen.i32); // sign bytes of the block
    const xb = f.local(binaryen.i32); // x'ᵀ of the block
    const qi = f.local(binaryen.i32);
    const chunkOf = (np: number, c0: number, n: number): number[] => {
      const code: number[] = [m.call(builder, [i32.add(f.get(xb), i32.const(c0 * 8 * entry)), i32.const(n * groupBytes)], binaryen.none)];
      f.setEnd(qi, () => i32.const(4 * fullTiles));
      code.push(f.countedLoop(qi, i32.const(0), 1, 4 * fullTiles, () => [
        // sp = bp + tile·np·16 + q0, ap = acc + 4·qi rows
        f.set(sp, i32.add(f.get(bp), i32.add(i32.mul(i32.shr_u(f.get(qi), i32.const(2)), i32.const(np * 16)),
          i32.or(i32.shl(i32.and(f.get(qi), i32.const(1)), i32.const(3)), i32.and(i32.shr_u(f.get(qi), i32.const(1)), i32.const(1)))))),
        f.set(ap, i32.add(i32.const(L.acc), i32.mul(f.get(qi), i32.const(4 * entry)))),
        ...[0, 1, 2, 3].flatMap((u) => rowSumAt(n, (k) => 16 * (c0 + k) + 2 * u, sp, u * entry)),
      ]));
      if (fullTiles < tiles) {
        code.push(f.set(sp, i32.add(f.get(bp), i32.const(fullTiles * np * 16))), f.set(ap, i32.const(L.acc + fullTiles * LUT_TILE_ROWS * entry)));
        for (let j = 0; j < out - fullTiles * LUT_TILE_ROWS; j++) code.push(...rowSumAt(n, (k) => 16 * (c0 + k) + lutLane(j), sp, j * entry));
      }
      return code;
    };
    const blockCode = (np: number): number[] => {
      const code: number[] = [];
      for (let c0 = 0; c0 < np; c0 += chunkBytes) code.push(...chunkOf(np, c0, Math.min(chunkBytes, np - c0)));
      return code;
    };
    const full = Math.floor(pairs / LUT_BLOCK_PAIRS);
    const tail = pairs % LUT_BLOCK_PAIRS;
    const blockBytes = LUT_BLOCK_PAIRS * tiles * LUT_TILE_ROWS;
    f.setEnd(bp, () => i32.const(spec.sign + full * blockBytes));
    const code = [f.set(xb, i32.const(L.xs)), f.countedLoop(bp, i32.const(spec.sign), blockBytes, full, () => blockCode(LUT_BLOCK_PAIRS), [[xb, LUT_BLOCK_PAIRS * 8 * entry]])];
    if (tail > 0) code.push(f.set(bp, i32.const(spec.sign + full * blockBytes)), f.set(xb, i32.const(L.xs + full * LUT_BLOCK_PAIRS * 8 * entry)), ...blockCode(tail));
    return code;
  }

  // 4. y[r, o] = acc[o][r]·h[o]·alpha + bias[o] for rows r < nvalid.
  const alpha = Math.fround(spec.alpha);
  const o = f.local(binaryen.i32);
  const V = f.local(binaryen.v128);
  const HS = f.local(binaryen.v128);
  const BS = f.local(binaryen.v128);
  f.setEnd(o, () => i32.const(out * 4));
  code.push(f.countedLoop(o, i32.const(0), 4, out, () => {
    let hs = m.f32.load(spec.h, 4, f.get(o));
    if (alpha !== 1) hs = m.f32.mul(hs, m.f32.const(alpha));
    const body = [f.set(HS, m.f32x4.splat(hs))];
    if (spec.bias !== undefined) body.push(f.set(BS, m.f32x4.splat(m.f32.load(spec.bias, 4, f.get(o)))));
    const store = (r: number): number => m.f32.store(r * out * 4, 4, i32.add(f.get(Y), f.get(o)), m.f32x4.extract_lane(f.get(V), r % 4));
    // rows 0 and 1 always exist (one row goes to the GEMV); row r ≥ 2 only when nvalid > r
    let tail: number | undefined;
    for (let r = lanes - 1; r >= 2; r--) {
      const here = tail === undefined ? store(r) : m.block(null, [store(r), tail]);
      tail = m.if(i32.gt_s(f.get(NV), i32.const(r)), r % 4 === 0 ? m.block(null, [loadPart(r / 4), here]) : here);
    }
    function loadPart(w: number): number {
      let v = m.f32x4.mul(m.v128.load(L.acc + 16 * w, 16, i32.shl(f.get(o), i32.const(shift - 2))), f.get(HS));
      if (spec.bias !== undefined) v = m.f32x4.add(v, f.get(BS));
      return f.set(V, v);
    }
    body.push(loadPart(0), store(0), store(1), tail!);
    return body;
  }));
  m.addFunction(fname, binaryen.createType([binaryen.i32, binaryen.i32, binaryen.i32]), binaryen.none, f.vars, m.block(null, code));
}
