// WASM-SIMD f32 element-wise kernels: broadcasting binary arithmetic and unary math (with a vectorised exp
// for Exp, Sigmoid, Tanh and Silu). Every pointer is a byte offset into linear memory; nothing allocates.
// Also the small builder the other kernel generators share (locals, loops, f32x4 helpers, exp).
import { binaryen } from './module.ts';
import type { Module } from './module.ts';

export type Expr = binaryen.ExpressionRef;

const { i32, v128 } = binaryen;

// ======================================================================================================
// Builder
// ======================================================================================================

/** One function under construction: parameters, extra locals, fresh labels, loops. */
export class FunctionBuilder {
  private readonly types: binaryen.Type[];
  private readonly vars: binaryen.Type[] = [];
  private labels = 0;

  constructor(readonly mod: Module, private readonly params: readonly binaryen.Type[]) {
    this.types = [...params];
  }

  /** A new local of `type`; returns its index. */
  local(type: binaryen.Type): number {
    this.vars.push(type);
    this.types.push(type);
    return this.types.length - 1;
  }

  get(index: number): Expr {
    return this.mod.local.get(index, this.types[index]!);
  }

  set(index: number, value: Expr): Expr {
    return this.mod.local.set(index, value);
  }

  /** local += step (an i32 constant). */
  bump(index: number, step: number): Expr {
    return this.addTo(index, this.mod.i32.const(step));
  }

  /** local += value (an i32 expression). ExpressionRefs are numbers too, hence a separate method from bump. */
  addTo(index: number, value: Expr): Expr {
    return this.set(index, this.mod.i32.add(this.get(index), value));
  }

  label(prefix: string): string {
    return `${prefix}${this.labels++}`;
  }

  /** for (i = start; i <u end(); i += step) body. `end` must build a fresh expression on every call. */
  forRange(i: number, start: Expr, end: () => Expr, step: number, body: readonly Expr[]): Expr {
    const m = this.mod;
    const brk = this.label('brk');
    const cont = this.label('cont');
    return m.block(null, [
      this.set(i, start),
      m.block(brk, [
        m.loop(cont, m.block(null, [
          m.br(brk, m.i32.ge_u(this.get(i), end())),
          ...body,
          this.bump(i, step),
          m.br(cont),
        ])),
      ]),
    ]);
  }

  /** Adds the function (body's last expression gives the result when `result` is not none) and exports it. */
  finish(name: string, result: binaryen.Type, body: readonly Expr[]): void {
    const m = this.mod;
    m.addFunction(name, binaryen.createType([...this.params]), result, this.vars, m.block(null, [...body], result));
    m.addFunctionExport(name, name);
  }
}

// ---- small expression helpers (each call builds fresh nodes) ----

export const f32Splat = (m: Module, c: number): Expr => m.f32x4.splat(m.f32.const(c));
export const i32Splat = (m: Module, c: number): Expr => m.i32x4.splat(m.i32.const(c));
export const lane = (m: Module, v: Expr, index: number): Expr => m.f32x4.extract_lane(v, index);
/** (l0 + l1) + (l2 + l3) of a v128 local. */
export const horizontalSum = (fb: FunctionBuilder, v: number): Expr => {
  const m = fb.mod;
  return m.f32.add(m.f32.add(lane(m, fb.get(v), 0), lane(m, fb.get(v), 1)), m.f32.add(lane(m, fb.get(v), 2), lane(m, fb.get(v), 3)));
};
/** max over the four lanes of a v128 local (NaN-propagating). */
export const horizontalMax = (fb: FunctionBuilder, v: number): Expr => {
  const m = fb.mod;
  return m.f32.max(m.f32.max(lane(m, fb.get(v), 0), lane(m, fb.get(v), 1)), m.f32.max(lane(m, fb.get(v), 2), lane(m, fb.get(v), 3)));
};

// ======================================================================================================
// exp and friends on f32x4
// ======================================================================================================

const LOG2E = 1.44269504088896341;
const LN2_HI = 0.693359375; // 9 significant bits: n·LN2_HI is exact for |n| < 2^15
const LN2_LO = -2.12194440e-4;
/** Cephes expf minimax coefficients for exp(r) on |r| ≤ ln2/2: exp(r) ≈ 1 + r + r²·P(r). */
const EXP_P = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
/** Cephes tanhf odd polynomial for |x| < 0.625: tanh(x) ≈ x + x·x²·Q(x²). */
const TANH_Q = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1];
const TANH_SMALL = 0.625;

/** Horner evaluation of `coefficients` (highest degree first) at the v128 local `z`, into local `out`. */
function horner(fb: FunctionBuilder, z: number, coefficients: readonly number[], out: number): Expr[] {
  const m = fb.mod;
  const stmts = [fb.set(out, f32Splat(m, coefficients[0]!))];
  for (const c of coefficients.slice(1)) stmts.push(fb.set(out, m.f32x4.add(m.f32x4.mul(fb.get(out), fb.get(z)), f32Splat(m, c))));
  return stmts;
}

/**
 * out = exp(x) on four f32 lanes (x, out: v128 locals; x is only read). Cody–Waite reduction by ln2, the
 * Cephes degree-7 polynomial, and 2^n built from exponent bits in two halves so that results in the
 * subnormal range round once and x ≥ 89 overflows to Inf. NaN stays NaN, −Inf gives 0, +Inf gives Inf.
 */
export function emitExp(fb: FunctionBuilder, x: number, out: number): Expr[] {
  const m = fb.mod;
  const t = fb.local(v128);
  const n = fb.local(v128);
  const r = fb.local(v128);
  const p = fb.local(v128);
  const ni = fb.local(v128);
  const h = fb.local(v128);
  const pow2 = (e: Expr): Expr => m.i32x4.shl(m.i32x4.add(e, i32Splat(m, 127)), m.i32.const(23));
  return [
    // pmin/pmax keep a NaN first operand: clamp to [-110, 89] (beyond: 0 and Inf, reached below).
    fb.set(t, m.f32x4.pmin(m.f32x4.pmax(fb.get(x), f32Splat(m, -110)), f32Splat(m, 89))),
    fb.set(n, m.f32x4.nearest(m.f32x4.mul(fb.get(t), f32Splat(m, LOG2E)))),
    fb.set(r, m.f32x4.sub(m.f32x4.sub(fb.get(t), m.f32x4.mul(fb.get(n), f32Splat(m, LN2_HI))), m.f32x4.mul(fb.get(n), f32Splat(m, LN2_LO)))),
    ...horner(fb, r, EXP_P, p),
    fb.set(p, m.f32x4.add(m.f32x4.add(m.f32x4.mul(fb.get(p), m.f32x4.mul(fb.get(r), fb.get(r))), fb.get(r)), f32Splat(m, 1))),
    fb.set(ni, m.i32x4.trunc_sat_f32x4_s(fb.get(n))), // n ∈ [-159, 128]; NaN → 0
    fb.set(h, m.i32x4.shr_s(fb.get(ni), m.i32.const(1))),
    fb.set(out, m.f32x4.mul(m.f32x4.mul(fb.get(p), pow2(fb.get(h))), pow2(m.i32x4.sub(fb.get(ni), fb.get(h))))),
  ];
}

/** out = 1 / (1 + exp(−x)), written as {1 or e}/(1 + e) with e = exp(−|x|) so neither side overflows. */
export function emitSigmoid(fb: FunctionBuilder, x: number, out: number): Expr[] {
  const m = fb.mod;
  const a = fb.local(v128);
  const e = fb.local(v128);
  return [
    fb.set(a, m.f32x4.neg(m.f32x4.abs(fb.get(x)))),
    ...emitExp(fb, a, e),
    fb.set(out, m.f32x4.div(
      m.v128.bitselect(fb.get(e), f32Splat(m, 1), m.f32x4.lt(fb.get(x), f32Splat(m, 0))),
      m.f32x4.add(fb.get(e), f32Splat(m, 1)),
    )),
  ];
}

/** out = tanh(x): odd polynomial for |x| < 0.625, else (1 − t)/(1 + t) with t = exp(−2|x|); sign of x. */
export function emitTanh(fb: FunctionBuilder, x: number, out: number): Expr[] {
  const m = fb.mod;
  const a = fb.local(v128);
  const z = fb.local(v128);
  const q = fb.local(v128);
  const t = fb.local(v128);
  return [
    fb.set(a, m.f32x4.abs(fb.get(x))),
    fb.set(z, m.f32x4.mul(fb.get(a), fb.get(a))),
    ...horner(fb, z, TANH_Q, q),
    fb.set(q, m.f32x4.add(m.f32x4.mul(m.f32x4.mul(fb.get(q), fb.get(z)), fb.get(a)), fb.get(a))),
    fb.set(z, m.f32x4.mul(fb.get(a), f32Splat(m, -2))),
    ...emitExp(fb, z, t),
    fb.set(t, m.f32x4.div(m.f32x4.sub(f32Splat(m, 1), fb.get(t)), m.f32x4.add(f32Splat(m, 1), fb.get(t)))),
    fb.set(out, m.v128.or(
      m.v128.bitselect(fb.get(q), fb.get(t), m.f32x4.lt(fb.get(a), f32Splat(m, TANH_SMALL))),
      m.v128.and(fb.get(x), i32Splat(m, -0x80000000)),
    )),
  ];
}

// ======================================================================================================
// Unary
// ======================================================================================================

export type UnaryOp = 'Neg' | 'Abs' | 'Sqrt' | 'Reciprocal' | 'Relu' | 'Exp' | 'Sigmoid' | 'Tanh' | 'Silu' | 'Square';

export const UNARY_OPS: readonly UnaryOp[] = ['Neg', 'Abs', 'Sqrt', 'Reciprocal', 'Relu', 'Exp', 'Sigmoid', 'Tanh', 'Silu', 'Square'];

/** out = op(x) on four lanes (x, out: v128 locals; x is only read). */
export function emitUnary(fb: FunctionBuilder, op: UnaryOp, x: number, out: number): Expr[] {
  const m = fb.mod;
  const v = (): Expr => fb.get(x);
  switch (op) {
    case 'Neg': return [fb.set(out, m.f32x4.neg(v()))];
    case 'Abs': return [fb.set(out, m.f32x4.abs(v()))];
    case 'Sqrt': return [fb.set(out, m.f32x4.sqrt(v()))];
    case 'Reciprocal': return [fb.set(out, m.f32x4.div(f32Splat(m, 1), v()))];
    case 'Relu': return [fb.set(out, m.f32x4.max(v(), f32Splat(m, 0)))]; // max propagates NaN, max(-0, 0) = 0
    case 'Square': return [fb.set(out, m.f32x4.mul(v(), v()))];
    case 'Exp': return emitExp(fb, x, out);
    case 'Sigmoid': return emitSigmoid(fb, x, out);
    case 'Tanh': return emitTanh(fb, x, out);
    case 'Silu': {
      const s = fb.local(v128);
      return [...emitSigmoid(fb, x, s), fb.set(out, m.f32x4.mul(v(), fb.get(s)))];
    }
    default: throw new Error(`unknown unary op ${op as string}`);
  }
}

/** Exports `name(x, y, n)`: y[i] = op(x[i]) for i < n (y may alias x). */
export function addUnary(mod: Module, name: string, op: UnaryOp): void {
  if (!UNARY_OPS.includes(op)) throw new Error(`unknown unary op ${op as string}`);
  const fb = new FunctionBuilder(mod, [i32, i32, i32]);
  const [X, Y, N] = [0, 1, 2];
  const off = fb.local(i32);
  const end4 = fb.local(i32);
  const end = fb.local(i32);
  const vx = fb.local(v128);
  const vy = fb.local(v128);
  const m = mod;
  fb.finish(name, binaryen.none, [
    fb.set(end4, m.i32.shl(m.i32.and(fb.get(N), m.i32.const(~3)), m.i32.const(2))),
    fb.set(end, m.i32.shl(fb.get(N), m.i32.const(2))),
    fb.forRange(off, m.i32.const(0), () => fb.get(end4), 16, [
      fb.set(vx, m.v128.load(0, 16, m.i32.add(fb.get(X), fb.get(off)))),
      ...emitUnary(fb, op, vx, vy),
      m.v128.store(0, 16, m.i32.add(fb.get(Y), fb.get(off)), fb.get(vy)),
    ]),
    // Tail, one element at a time through the same vector code (lane 0).
    fb.forRange(off, fb.get(end4), () => fb.get(end), 4, [
      fb.set(vx, m.v128.load32_splat(0, 4, m.i32.add(fb.get(X), fb.get(off)))),
      ...emitUnary(fb, op, vx, vy),
      m.f32.store(0, 4, m.i32.add(fb.get(Y), fb.get(off)), lane(m, fb.get(vy), 0)),
    ]),
  ]);
}

// ======================================================================================================
// Binary with broadcasting
// ======================================================================================================

export type BinaryOp = 'Add' | 'Sub' | 'Mul' | 'Div';

export const BINARY_OPS: readonly BinaryOp[] = ['Add', 'Sub', 'Mul', 'Div'];

function binaryV(m: Module, op: BinaryOp, a: Expr, b: Expr): Expr {
  switch (op) {
    case 'Add': return m.f32x4.add(a, b);
    case 'Sub': return m.f32x4.sub(a, b);
    case 'Mul': return m.f32x4.mul(a, b);
    case 'Div': return m.f32x4.div(a, b);
  }
}

function binaryS(m: Module, op: BinaryOp, a: Expr, b: Expr): Expr {
  switch (op) {
    case 'Add': return m.f32.add(a, b);
    case 'Sub': return m.f32.sub(a, b);
    case 'Mul': return m.f32.mul(a, b);
    case 'Div': return m.f32.div(a, b);
  }
}

/**
 * How one operand is read in the SIMD loop. FULL: a[i]; SCALAR: a[0]; PERIODIC: a[i % period] with
 * period % 4 == 0 (a vector at a time, wrapping); REPEATED: a[floor(i / repeat) % period] with
 * repeat % 4 == 0 (one splat per 4 outputs). GENERAL: anything else (scalar path).
 */
const Mode = { Full: 0, Scalar: 1, Periodic: 2, Repeated: 3, General: 4 } as const;
type Mode = (typeof Mode)[keyof typeof Mode];
const SIMD_MODES: readonly Mode[] = [Mode.Full, Mode.Scalar, Mode.Periodic, Mode.Repeated];

interface Operand {
  ptr: number; // param: base pointer
  rep: number; // param: repeat
  per: number; // param: period
  mode: number; // local: Mode
  end: number; // local: ptr + period·4
  cur: number; // local: PERIODIC/REPEATED current pointer
  count: number; // local: REPEATED elements used of the current value
  splat: number; // local v128: SCALAR value
  v: number; // local v128: this iteration's vector
}

/**
 * Exports `name(a, aRepeat, aPeriod, b, bRepeat, bPeriod, y, n)`: y[i] = A op B for i < n, with
 * A = a[floor(i / aRepeat) % aPeriod] and B likewise. y may alias a or b exactly.
 */
export function addBinary(mod: Module, name: string, op: BinaryOp): void {
  if (!BINARY_OPS.includes(op)) throw new Error(`unknown binary op ${op as string}`);
  const m = mod;
  const fb = new FunctionBuilder(mod, [i32, i32, i32, i32, i32, i32, i32, i32]);
  const Y = 6;
  const N = 7;
  const operand = (ptr: number): Operand => ({
    ptr, rep: ptr + 1, per: ptr + 2,
    mode: fb.local(i32), end: fb.local(i32), cur: fb.local(i32), count: fb.local(i32), splat: fb.local(v128), v: fb.local(v128),
  });
  const A = operand(0);
  const B = operand(3);
  const off = fb.local(i32);
  const end4 = fb.local(i32);
  const i = fb.local(i32);

  const modeOf = (o: Operand): Expr => {
    const c = (k: number): Expr => m.i32.const(k);
    const rep = (): Expr => fb.get(o.rep);
    const per = (): Expr => fb.get(o.per);
    const n = (): Expr => fb.get(N);
    return m.select(m.i32.and(m.i32.eq(rep(), c(1)), m.i32.ge_u(per(), n())), c(Mode.Full),
      m.select(m.i32.or(m.i32.eq(per(), c(1)), m.i32.ge_u(rep(), n())), c(Mode.Scalar),
        m.select(m.i32.and(m.i32.eq(rep(), c(1)), m.i32.eqz(m.i32.and(per(), c(3)))), c(Mode.Periodic),
          m.select(m.i32.eqz(m.i32.and(rep(), c(3))), c(Mode.Repeated), c(Mode.General)))));
  };

  /** Before the SIMD loop (starting at element 0). */
  const setup = (o: Operand, mode: Mode): Expr[] => {
    switch (mode) {
      case Mode.Scalar: return [fb.set(o.splat, m.v128.load32_splat(0, 4, fb.get(o.ptr)))];
      case Mode.Periodic: case Mode.Repeated: return [fb.set(o.cur, fb.get(o.ptr)), fb.set(o.count, m.i32.const(0))];
      default: return [];
    }
  };
  /** The operand's vector for outputs off/4 .. off/4+3 into o.v, then advance. */
  const fetch = (o: Operand, mode: Mode): Expr[] => {
    switch (mode) {
      case Mode.Full: return [fb.set(o.v, m.v128.load(0, 16, m.i32.add(fb.get(o.ptr), fb.get(off))))];
      case Mode.Scalar: return [];
      case Mode.Periodic: return [
        fb.set(o.v, m.v128.load(0, 16, fb.get(o.cur))),
        fb.bump(o.cur, 16),
        m.if(m.i32.eq(fb.get(o.cur), fb.get(o.end)), fb.set(o.cur, fb.get(o.ptr))),
      ];
      case Mode.Repeated: return [
        fb.set(o.v, m.v128.load32_splat(0, 4, fb.get(o.cur))),
        fb.bump(o.count, 4),
        m.if(m.i32.eq(fb.get(o.count), fb.get(o.rep)), m.block(null, [
          fb.set(o.count, m.i32.const(0)),
          fb.bump(o.cur, 4),
          m.if(m.i32.eq(fb.get(o.cur), fb.get(o.end)), fb.set(o.cur, fb.get(o.ptr))),
        ])),
      ];
      default: throw new Error('no SIMD fetch for the general mode');
    }
  };
  const value = (o: Operand, mode: Mode): Expr => (mode === Mode.Scalar ? fb.get(o.splat) : fb.get(o.v));

  const simdLoop = (ma: Mode, mb: Mode): Expr => m.block(null, [
    ...setup(A, ma),
    ...setup(B, mb),
    fb.forRange(off, m.i32.const(0), () => fb.get(end4), 16, [
      ...fetch(A, ma),
      ...fetch(B, mb),
      m.v128.store(0, 16, m.i32.add(fb.get(Y), fb.get(off)), binaryV(m, op, value(A, ma), value(B, mb))),
    ]),
  ]);

  // Dispatch on (mode A, mode B): one SIMD loop per pair of SIMD-able modes.
  let dispatch: Expr = m.nop();
  for (const ma of SIMD_MODES) {
    let inner: Expr = m.nop();
    for (const mb of SIMD_MODES) inner = m.if(m.i32.eq(fb.get(B.mode), m.i32.const(mb)), simdLoop(ma, mb), inner);
    dispatch = m.if(m.i32.eq(fb.get(A.mode), m.i32.const(ma)), inner, dispatch);
  }

  // General scalar path from element i (the SIMD loops' tail, or everything): incremental indices.
  const kA = A.cur; // element index into a (reused local)
  const kB = B.cur;
  const general = (): Expr[] => {
    const startIdx = (o: Operand, k: number): Expr[] => [
      fb.set(k, m.i32.rem_u(m.i32.div_u(fb.get(i), fb.get(o.rep)), fb.get(o.per))),
      fb.set(o.count, m.i32.rem_u(fb.get(i), fb.get(o.rep))),
    ];
    const advance = (o: Operand, k: number): Expr[] => [
      fb.bump(o.count, 1),
      m.if(m.i32.eq(fb.get(o.count), fb.get(o.rep)), m.block(null, [
        fb.set(o.count, m.i32.const(0)),
        fb.bump(k, 1),
        m.if(m.i32.eq(fb.get(k), fb.get(o.per)), fb.set(k, m.i32.const(0))),
      ])),
    ];
    const load = (o: Operand, k: number): Expr => m.f32.load(0, 4, m.i32.add(fb.get(o.ptr), m.i32.shl(fb.get(k), m.i32.const(2))));
    return [
      ...startIdx(A, kA),
      ...startIdx(B, kB),
      fb.forRange(i, fb.get(i), () => fb.get(N), 1, [
        m.f32.store(0, 4, m.i32.add(fb.get(Y), m.i32.shl(fb.get(i), m.i32.const(2))), binaryS(m, op, load(A, kA), load(B, kB))),
        ...advance(A, kA),
        ...advance(B, kB),
      ]),
    ];
  };

  fb.finish(name, binaryen.none, [
    m.if(m.i32.eqz(fb.get(N)), m.return()),
    fb.set(A.mode, modeOf(A)),
    fb.set(B.mode, modeOf(B)),
    fb.set(A.end, m.i32.add(fb.get(A.ptr), m.i32.shl(fb.get(A.per), m.i32.const(2)))),
    fb.set(B.end, m.i32.add(fb.get(B.ptr), m.i32.shl(fb.get(B.per), m.i32.const(2)))),
    m.if(m.i32.or(m.i32.eq(fb.get(A.mode), m.i32.const(Mode.General)), m.i32.eq(fb.get(B.mode), m.i32.const(Mode.General))),
      fb.set(i, m.i32.const(0)),
      m.block(null, [
        fb.set(end4, m.i32.shl(m.i32.and(fb.get(N), m.i32.const(~3)), m.i32.const(2))),
        dispatch,
        fb.set(i, m.i32.shr_u(fb.get(end4), m.i32.const(2))),
      ])),
    ...general(),
  ]);
}
