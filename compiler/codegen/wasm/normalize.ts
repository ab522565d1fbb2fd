// WASM-SIMD f32 kernels over the last axis: Softmax, ReduceMean, RMSNorm, LayerNormalization, and the
// embedding Gather. Every pointer is a byte offset into linear memory; nothing allocates. Rows of a runtime
// width may start unaligned, so their vector accesses claim 4-byte alignment only.
import { binaryen } from './module.ts';
import type { Module } from './module.ts';
import type { Expr } from './elementwise.ts';
import { FunctionBuilder, emitExp, f32Splat, horizontalMax, horizontalSum, lane } from './elementwise.ts';

const { i32, i64, f32, v128 } = binaryen;

/** Byte offsets of one row: `end4` covers the whole vectors, `end` the row. */
interface RowBounds { end4: () => Expr; end: () => Expr }

/**
 * Statements leaving Σ term(element) over one row in the f32 local `out`: f32x4 lanes (Kahan-compensated
 * when `compensated`, for rows of any length; else `accumulators` independent vectors), then the lanes
 * combined, then the scalar tail.
 */
function sumRow(
  fb: FunctionBuilder, bounds: RowBounds, out: number,
  term4: (off: () => Expr) => Expr, term1: (off: () => Expr) => Expr,
  options: { compensated?: boolean; accumulators?: 1 | 2 | 4 } = {},
): Expr[] {
  const m = fb.mod;
  const off = fb.local(i32);
  if (options.compensated) {
    const s = fb.local(v128);
    const c = fb.local(v128);
    const y = fb.local(v128);
    const t = fb.local(v128);
    const cs = fb.local(f32);
    const ys = fb.local(f32);
    const ts = fb.local(f32);
    return [
      fb.set(s, f32Splat(m, 0)),
      fb.set(c, f32Splat(m, 0)),
      fb.forRange(off, m.i32.const(0), bounds.end4, 16, [
        fb.set(y, m.f32x4.sub(term4(() => fb.get(off)), fb.get(c))),
        fb.set(t, m.f32x4.add(fb.get(s), fb.get(y))),
        fb.set(c, m.f32x4.sub(m.f32x4.sub(fb.get(t), fb.get(s)), fb.get(y))),
        fb.set(s, fb.get(t)),
      ]),
      fb.set(out, horizontalSum(fb, s)),
      fb.set(cs, horizontalSum(fb, c)),
      fb.forRange(off, bounds.end4(), bounds.end, 4, [
        fb.set(ys, m.f32.sub(term1(() => fb.get(off)), fb.get(cs))),
        fb.set(ts, m.f32.add(fb.get(out), fb.get(ys))),
        fb.set(cs, m.f32.sub(m.f32.sub(fb.get(ts), fb.get(out)), fb.get(ys))),
        fb.set(out, fb.get(ts)),
      ]),
      fb.set(out, m.f32.sub(fb.get(out), fb.get(cs))),
    ];
  }
  const k = options.accumulators ?? 1;
  const acc = Array.from({ length: k }, () => fb.local(v128));
  const stmts: Expr[] = acc.map((a) => fb.set(a, f32Splat(m, 0)));
  if (k > 1) {
    // Blocks of k vectors into k accumulators, then the remaining whole vectors into the first.
    const endK = fb.local(i32);
    stmts.push(
      fb.set(endK, m.i32.and(bounds.end4(), m.i32.const(~(16 * k - 1)))),
      fb.forRange(off, m.i32.const(0), () => fb.get(endK), 16 * k, acc.map((a, j) =>
        fb.set(a, m.f32x4.add(fb.get(a), term4(() => m.i32.add(fb.get(off), m.i32.const(16 * j))))))),
      fb.forRange(off, fb.get(endK), bounds.end4, 16, [fb.set(acc[0]!, m.f32x4.add(fb.get(acc[0]!), term4(() => fb.get(off))))]),
    );
    for (let j = 1; j < k; j++) stmts.push(fb.set(acc[0]!, m.f32x4.add(fb.get(acc[0]!), fb.get(acc[j]!))));
  } else {
    stmts.push(fb.forRange(off, m.i32.const(0), bounds.end4, 16, [fb.set(acc[0]!, m.f32x4.add(fb.get(acc[0]!), term4(() => fb.get(off))))]));
  }
  stmts.push(
    fb.set(out, horizontalSum(fb, acc[0]!)),
    fb.forRange(off, bounds.end4(), bounds.end, 4, [fb.set(out, m.f32.add(fb.get(out), term1(() => fb.get(off))))]),
  );
  return stmts;
}

/** Statements writing y[off] = f(off) over one row (vector body then scalar tail). */
function mapRow(
  fb: FunctionBuilder, bounds: RowBounds, align: number,
  dst: () => Expr, value4: (off: () => Expr) => Expr, value1: (off: () => Expr) => Expr,
): Expr[] {
  const m = fb.mod;
  const off = fb.local(i32);
  return [
    fb.forRange(off, m.i32.const(0), bounds.end4, 16, [m.v128.store(0, align, m.i32.add(dst(), fb.get(off)), value4(() => fb.get(off)))]),
    fb.forRange(off, bounds.end4(), bounds.end, 4, [m.f32.store(0, 4, m.i32.add(dst(), fb.get(off)), value1(() => fb.get(off)))]),
  ];
}

const constBounds = (m: Module, width: number): RowBounds => ({
  end4: () => m.i32.const((width & ~3) * 4),
  end: () => m.i32.const(width * 4),
});

// ======================================================================================================
// Softmax and ReduceMean over the last axis (runtime rows, cols)
// ======================================================================================================

/** Exports `name(x, y, rows, cols)`: y = softmax(x) over the last axis, max-subtracted, per row. */
export function addSoftmaxLastAxis(mod: Module, name: string): void {
  const m = mod;
  const fb = new FunctionBuilder(mod, [i32, i32, i32, i32]);
  const [X, Y, ROWS, COLS] = [0, 1, 2, 3];
  const r = fb.local(i32);
  const px = fb.local(i32);
  const py = fb.local(i32);
  const end4 = fb.local(i32);
  const end = fb.local(i32);
  const off = fb.local(i32);
  const vmax = fb.local(v128);
  const mx = fb.local(f32);
  const vx = fb.local(v128);
  const ve = fb.local(v128);
  const vsum = fb.local(v128);
  const vc = fb.local(v128);
  const vt = fb.local(v128);
  const sum = fb.local(f32);
  const bounds: RowBounds = { end4: () => fb.get(end4), end: () => fb.get(end) };
  const atX = (): Expr => m.i32.add(fb.get(px), fb.get(off));
  const atY = (): Expr => m.i32.add(fb.get(py), fb.get(off));
  fb.finish(name, binaryen.none, [
    fb.set(end, m.i32.shl(fb.get(COLS), m.i32.const(2))),
    fb.set(end4, m.i32.shl(m.i32.and(fb.get(COLS), m.i32.const(~3)), m.i32.const(2))),
    fb.set(px, fb.get(X)),
    fb.set(py, fb.get(Y)),
    fb.forRange(r, m.i32.const(0), () => fb.get(ROWS), 1, [
      // max
      fb.set(vmax, f32Splat(m, -Infinity)),
      fb.forRange(off, m.i32.const(0), bounds.end4, 16, [fb.set(vmax, m.f32x4.max(fb.get(vmax), m.v128.load(0, 4, atX())))]),
      fb.set(mx, horizontalMax(fb, vmax)),
      fb.forRange(off, bounds.end4(), bounds.end, 4, [fb.set(mx, m.f32.max(fb.get(mx), m.f32.load(0, 4, atX())))]),
      // y = exp(x − max), Σ
      // (Σ Kahan-compensated: rows may be long, every term is positive.)
      fb.set(vsum, f32Splat(m, 0)),
      fb.set(vc, f32Splat(m, 0)),
      fb.forRange(off, m.i32.const(0), bounds.end4, 16, [
        fb.set(vx, m.f32x4.sub(m.v128.load(0, 4, atX()), m.f32x4.splat(fb.get(mx)))),
        ...emitExp(fb, vx, ve),
        m.v128.store(0, 4, atY(), fb.get(ve)),
        fb.set(ve, m.f32x4.sub(fb.get(ve), fb.get(vc))),
        fb.set(vt, m.f32x4.add(fb.get(vsum), fb.get(ve))),
        fb.set(vc, m.f32x4.sub(m.f32x4.sub(fb.get(vt), fb.get(vsum)), fb.get(ve))),
        fb.set(vsum, fb.get(vt)),
      ]),
      fb.set(sum, m.f32.sub(horizontalSum(fb, vsum), horizontalSum(fb, vc))),
      fb.forRange(off, bounds.end4(), bounds.end, 4, [
        fb.set(vx, m.f32x4.splat(m.f32.sub(m.f32.load(0, 4, atX()), fb.get(mx)))),
        ...emitExp(fb, vx, ve),
        m.f32.store(0, 4, atY(), lane(m, fb.get(ve), 0)),
        fb.set(sum, m.f32.add(fb.get(sum), lane(m, fb.get(ve), 0))),
      ]),
      // y /= Σ
      ...mapRow(fb, bounds, 4, () => fb.get(py),
        (o) => m.f32x4.div(m.v128.load(0, 4, m.i32.add(fb.get(py), o())), m.f32x4.splat(fb.get(sum))),
        (o) => m.f32.div(m.f32.load(0, 4, m.i32.add(fb.get(py), o())), fb.get(sum))),
      fb.addTo(px, fb.get(end)),
      fb.addTo(py, fb.get(end)),
    ]),
  ]);
}

/** Exports `name(x, y, rows, cols)`: y[r] = mean of x[r, :] (f32 lanes, then combined). */
export function addReduceMeanLastAxis(mod: Module, name: string): void {
  const m = mod;
  const fb = new FunctionBuilder(mod, [i32, i32, i32, i32]);
  const [X, Y, ROWS, COLS] = [0, 1, 2, 3];
  const r = fb.local(i32);
  const px = fb.local(i32);
  const end4 = fb.local(i32);
  const end = fb.local(i32);
  const sum = fb.local(f32);
  const bounds: RowBounds = { end4: () => fb.get(end4), end: () => fb.get(end) };
  fb.finish(name, binaryen.none, [
    fb.set(end, m.i32.shl(fb.get(COLS), m.i32.const(2))),
    fb.set(end4, m.i32.shl(m.i32.and(fb.get(COLS), m.i32.const(~3)), m.i32.const(2))),
    fb.set(px, fb.get(X)),
    fb.forRange(r, m.i32.const(0), () => fb.get(ROWS), 1, [
      ...sumRow(fb, bounds, sum,
        (o) => m.v128.load(0, 4, m.i32.add(fb.get(px), o())),
        (o) => m.f32.load(0, 4, m.i32.add(fb.get(px), o())),
        { compensated: true }),
      m.f32.store(0, 4, m.i32.add(fb.get(Y), m.i32.shl(fb.get(r), m.i32.const(2))),
        m.f32.div(fb.get(sum), m.f32.convert_u.i32(fb.get(COLS)))),
      fb.addTo(px, fb.get(end)),
    ]),
  ]);
}

// ======================================================================================================
// RMSNorm and LayerNormalization (compile-time width and parameters)
// ======================================================================================================

export interface RmsNormSpec {
  width: number;
  eps: number;
  /** Byte offset of f32[width] weights, if any. */
  weight?: number;
}

/** Independent vector accumulators for a row of `width` (shorter dependency chains, smaller error). */
const accumulatorsFor = (width: number): 1 | 4 => (width >= 64 ? 4 : 1);

function checkWidth(width: number, what: string): void {
  if (!Number.isInteger(width) || width < 1) throw new Error(`${what} width must be a positive integer, got ${width}`);
}

/**
 * Exports `name(x, y, rows)`: per row of `width`, y = x · (1 / sqrt(mean(x²) + eps)) ⊙ weight
 * (mean in f32, as PyTorch/HF LlamaRMSNorm: x · rsqrt(variance + eps), then the weight). y may alias x.
 */
export function addRmsNorm(mod: Module, name: string, spec: RmsNormSpec): void {
  checkWidth(spec.width, 'RMSNorm');
  const m = mod;
  const W = spec.width;
  const align = W % 4 === 0 ? 16 : 4;
  const fb = new FunctionBuilder(mod, [i32, i32, i32]);
  const [X, Y, ROWS] = [0, 1, 2];
  const r = fb.local(i32);
  const px = fb.local(i32);
  const py = fb.local(i32);
  const sum = fb.local(f32);
  const inv = fb.local(f32);
  const vinv = fb.local(v128);
  const bounds = constBounds(m, W);
  const weight4 = (o: () => Expr, v: Expr): Expr => (spec.weight === undefined ? v
    : m.f32x4.mul(v, m.v128.load(0, 16, m.i32.add(m.i32.const(spec.weight), o()))));
  const weight1 = (o: () => Expr, v: Expr): Expr => (spec.weight === undefined ? v
    : m.f32.mul(v, m.f32.load(0, 4, m.i32.add(m.i32.const(spec.weight), o()))));
  fb.finish(name, binaryen.none, [
    fb.set(px, fb.get(X)),
    fb.set(py, fb.get(Y)),
    fb.forRange(r, m.i32.const(0), () => fb.get(ROWS), 1, [
      ...sumRow(fb, bounds, sum,
        (o) => { const v = (): Expr => m.v128.load(0, align, m.i32.add(fb.get(px), o())); return m.f32x4.mul(v(), v()); },
        (o) => { const v = (): Expr => m.f32.load(0, 4, m.i32.add(fb.get(px), o())); return m.f32.mul(v(), v()); },
        { accumulators: accumulatorsFor(W) }),
      fb.set(inv, m.f32.div(m.f32.const(1),
        m.f32.sqrt(m.f32.add(m.f32.div(fb.get(sum), m.f32.const(W)), m.f32.const(spec.eps))))),
      fb.set(vinv, m.f32x4.splat(fb.get(inv))),
      ...mapRow(fb, bounds, align, () => fb.get(py),
        (o) => weight4(o, m.f32x4.mul(m.v128.load(0, align, m.i32.add(fb.get(px), o())), fb.get(vinv))),
        (o) => weight1(o, m.f32.mul(m.f32.load(0, 4, m.i32.add(fb.get(px), o())), fb.get(inv)))),
      fb.bump(px, W * 4),
      fb.bump(py, W * 4),
    ]),
  ]);
}

export interface LayerNormSpec {
  width: number;
  eps: number;
  /** Byte offset of f32[width] scale (γ), if any (else 1). */
  scale?: number;
  /** Byte offset of f32[width] bias (β), if any (else 0). */
  bias?: number;
}

/**
 * Exports `name(x, y, rows)`: ONNX LayerNormalization over the last axis (width): mean, biased variance
 * (two passes in f32), y = (x − mean) · 1/sqrt(var + eps) · scale + bias. y may alias x.
 */
export function addLayerNorm(mod: Module, name: string, spec: LayerNormSpec): void {
  checkWidth(spec.width, 'LayerNorm');
  const m = mod;
  const W = spec.width;
  const align = W % 4 === 0 ? 16 : 4;
  const fb = new FunctionBuilder(mod, [i32, i32, i32]);
  const [X, Y, ROWS] = [0, 1, 2];
  const r = fb.local(i32);
  const px = fb.local(i32);
  const py = fb.local(i32);
  const sum = fb.local(f32);
  const mean = fb.local(f32);
  const inv = fb.local(f32);
  const vmean = fb.local(v128);
  const vinv = fb.local(v128);
  const bounds = constBounds(m, W);
  const x4 = (o: () => Expr): Expr => m.v128.load(0, align, m.i32.add(fb.get(px), o()));
  const x1 = (o: () => Expr): Expr => m.f32.load(0, 4, m.i32.add(fb.get(px), o()));
  const param4 = (ptr: number | undefined, o: () => Expr, v: Expr, f: (a: Expr, b: Expr) => Expr): Expr => (ptr === undefined ? v
    : f(v, m.v128.load(0, 16, m.i32.add(m.i32.const(ptr), o()))));
  const param1 = (ptr: number | undefined, o: () => Expr, v: Expr, f: (a: Expr, b: Expr) => Expr): Expr => (ptr === undefined ? v
    : f(v, m.f32.load(0, 4, m.i32.add(m.i32.const(ptr), o()))));
  fb.finish(name, binaryen.none, [
    fb.set(px, fb.get(X)),
    fb.set(py, fb.get(Y)),
    fb.forRange(r, m.i32.const(0), () => fb.get(ROWS), 1, [
      ...sumRow(fb, bounds, sum, x4, x1, { accumulators: accumulatorsFor(W) }),
      fb.set(mean, m.f32.div(fb.get(sum), m.f32.const(W))),
      fb.set(vmean, m.f32x4.splat(fb.get(mean))),
      ...sumRow(fb, bounds, sum,
        (o) => { const d = (): Expr => m.f32x4.sub(x4(o), fb.get(vmean)); return m.f32x4.mul(d(), d()); },
        (o) => { const d = (): Expr => m.f32.sub(x1(o), fb.get(mean)); return m.f32.mul(d(), d()); },
        { accumulators: accumulatorsFor(W) }),
      fb.set(inv, m.f32.div(m.f32.const(1),
        m.f32.sqrt(m.f32.add(m.f32.div(fb.get(sum), m.f32.const(W)), m.f32.const(spec.eps))))),
      fb.set(vinv, m.f32x4.splat(fb.get(inv))),
      ...mapRow(fb, bounds, align, () => fb.get(py),
        (o) => param4(spec.bias, o,
          param4(spec.scale, o, m.f32x4.mul(m.f32x4.sub(x4(o), fb.get(vmean)), fb.get(vinv)), (a, b) => m.f32x4.mul(a, b)),
          (a, b) => m.f32x4.add(a, b)),
        (o) => param1(spec.bias, o,
          param1(spec.scale, o, m.f32.mul(m.f32.sub(x1(o), fb.get(mean)), fb.get(inv)), (a, b) => m.f32.mul(a, b)),
          (a, b) => m.f32.add(a, b))),
      fb.bump(px, W * 4),
      fb.bump(py, W * 4),
    ]),
  ]);
}

// ======================================================================================================
// Gather (embedding lookup)
// ======================================================================================================

export interface GatherSpec {
  /** Byte offset of the f32 [rows, width] table. */
  data: number;
  rows: number;
  width: number;
}

/**
 * Exports `name(indices, y, count) → i32`: y[j, :] = data[indices[j], :] for j < count, indices being
 * int64 values (negative ones count from the end). Returns 0, or j + 1 for the first index out of
 * range (y is then unspecified).
 */
export function addGather(mod: Module, name: string, spec: GatherSpec): void {
  checkWidth(spec.width, 'Gather');
  if (!Number.isInteger(spec.rows) || spec.rows < 0 || spec.rows >= 2 ** 31) throw new Error(`Gather rows must be a non-negative integer, got ${spec.rows}`);
  const m = mod;
  const fb = new FunctionBuilder(mod, [i32, i32, i32]);
  const [IDX, Y, COUNT] = [0, 1, 2];
  const j = fb.local(i32);
  const k = fb.local(i64);
  const src = fb.local(i32);
  const dst = fb.local(i32);
  const rowBytes = spec.width * 4;
  const align = spec.width % 4 === 0 ? 16 : 4;
  const rows64 = (): Expr => m.i64.const(BigInt(spec.rows));
  fb.finish(name, i32, [
    fb.set(dst, fb.get(Y)),
    fb.forRange(j, m.i32.const(0), () => fb.get(COUNT), 1, [
      fb.set(k, m.i64.load(0, 8, m.i32.add(fb.get(IDX), m.i32.shl(fb.get(j), m.i32.const(3))))),
      // k < 0 → k + rows; then one unsigned test rejects both k < −rows and k ≥ rows.
      fb.set(k, m.select(m.i64.lt_s(fb.get(k), m.i64.const(0n)), m.i64.add(fb.get(k), rows64()), fb.get(k))),
      m.if(m.i64.ge_u(fb.get(k), rows64()), m.return(m.i32.add(fb.get(j), m.i32.const(1)))),
      fb.set(src, m.i32.add(m.i32.const(spec.data), m.i32.mul(m.i32.wrap(fb.get(k)), m.i32.const(rowBytes)))),
      ...mapRow(fb, constBounds(m, spec.width), align, () => fb.get(dst),
        (o) => m.v128.load(0, align, m.i32.add(fb.get(src), o())),
        (o) => m.f32.load(0, 4, m.i32.add(fb.get(src), o()))),
      fb.bump(dst, rowBytes),
    ]),
    m.i32.const(0),
  ]);
}
