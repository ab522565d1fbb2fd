// Element-wise WGSL kernels, one thread per output element, grid-stride when the tensor has more elements
// than MAX_BLOCKS workgroups cover (runtime/webgpu/bind/elementwise.ts sizes each run).
//   Unary:     y = f(x), attributes and Clip's constant bounds written into the shader.
//   Binary:    y = f(a, b) with numpy broadcasting (Add, Sub, Mul, Div, Pow, Max, Min, Sum, Mean, PRelu).
//   Where:     y = cond ? x : y, broadcasting the three.
// A broadcasting shader is specialised to the output's rank and reads each operand in the cheapest mode the
// IR's shapes allow (BroadcastMode: same shape, scalar, trailing dims, leading dims, or strided); dims and
// strides the IR knows are constants, the rest come from Params. A one-element constant operand (an epsilon,
// a scale, Pow's exponent) is written into the shader as a literal and not bound.
import { halfToFloat32 } from '../../../formats/dtype.ts';
import type { Tensor } from '../../../formats/tensor.ts';
import { sizeOf } from '../../../formats/tensor.ts';
import type { GpuConstantLayout } from '../../../runtime/plan.ts';
import type { BroadcastMode as Mode, Maybe } from '../../../runtime/webgpu/bind/elementwise.ts';
import { alignDims, BroadcastMode, broadcastValues, MAX_BROADCAST_RANK, operandLetter } from '../../../runtime/webgpu/bind/elementwise.ts';
import { ELEMENTWISE_WORKGROUP } from '../../../runtime/webgpu/bind/grid.ts';
import type { Dim, IrAttr, IrNode } from '../../ir/graph.ts';
import type { GpuKernel, GpuKernelContext, GpuKernelFamily } from './kernel.ts';
import { describe, f32Literal, ShaderBuilder } from './shader.ts';

type Expr = (x: string) => string;

// ======================================================================================================
// Unary
// ======================================================================================================

/** WGSL expression of each unary op over `x` (f32), following the ONNX definitions. */
const UNARY: Readonly<Record<string, Expr>> = {
  Neg: (x) => `-${x}`,
  Abs: (x) => `abs(${x})`,
  Sqrt: (x) => `sqrt(${x})`,
  Reciprocal: (x) => `1.0 / ${x}`,
  Relu: (x) => `max(${x}, 0.0)`,
  Exp: (x) => `exp(${x})`,
  Log: (x) => `log(${x})`,
  Sigmoid: (x) => `1.0 / (1.0 + exp(-${x}))`,
  Tanh: (x) => `tanh(clamp(${x}, -15.0, 15.0))`,
  Cos: (x) => `precise_cos(${x})`,
  Sin: (x) => `precise_sin(${x})`,
  Floor: (x) => `floor(${x})`,
  Ceil: (x) => `ceil(${x})`,
  /** WGSL's round is half to even, as ONNX's. */
  Round: (x) => `round(${x})`,
  Sign: (x) => `sign(${x})`,
  Softsign: (x) => `${x} / (1.0 + abs(${x}))`,
  Erf: (x) => `precise_erf(${x})`,
  /** log(1 + eˣ) without overflow: max(x, 0) + log1p(e^-|x|). */
  Softplus: (x) => `max(${x}, 0.0) + precise_log1p(exp(-abs(${x})))`,
  HardSwish: (x) => `${x} * max(0.0, min(1.0, ${x} / 6.0 + 0.5))`,
};

/** Unary ops with attributes: the expression, or undefined when the attributes are outside what the shader does. */
const PARAMETRIC_UNARY: Readonly<Record<string, (node: IrNode, ctx: GpuKernelContext) => Expr | undefined>> = {
  LeakyRelu: (node) => {
    const alpha = floatAttr(node.attrs['alpha'], 0.01);
    return (x) => `select(${x}, ${alpha} * ${x}, ${x} < 0.0)`;
  },
  Elu: (node) => {
    const alpha = floatAttr(node.attrs['alpha'], 1);
    return (x) => `select(${x}, ${alpha} * precise_expm1(${x}), ${x} < 0.0)`;
  },
  HardSigmoid: (node) => {
    const alpha = floatAttr(node.attrs['alpha'], 0.2);
    const beta = floatAttr(node.attrs['beta'], 0.5);
    return (x) => `max(0.0, min(1.0, ${alpha} * ${x} + ${beta}))`;
  },
  Gelu: (node) => {
    const approximate = node.attrs['approximate'] ?? 'none';
    if (approximate === 'none') return (x) => `gelu_erf(${x})`;
    if (approximate === 'tanh') return (x) => `gelu_tanh(${x})`;
    return undefined;
  },
  /** min(max(x, lo), hi) (hi wins where lo > hi); bounds from attributes before opset 11, else constant inputs. */
  Clip: (node, ctx) => {
    let lo: number | undefined;
    let hi: number | undefined;
    if (ctx.opset < 11) {
      lo = typeof node.attrs['min'] === 'number' ? node.attrs['min'] : undefined;
      hi = typeof node.attrs['max'] === 'number' ? node.attrs['max'] : undefined;
    } else {
      for (const [k, name] of node.inputs.slice(1).entries()) {
        if (!name) continue;
        const t = ctx.constant(name);
        const v = t && t.dtype === 'float32' ? scalarOf(t) : undefined;
        if (v === undefined) return undefined; // a bound known only at run time: the host runs it
        if (k === 0) lo = v; else hi = v;
      }
    }
    // an infinite bound on its own side bounds nothing; any other bound WGSL cannot write: the host runs it
    if (lo !== undefined && Math.fround(lo) === -Infinity) lo = undefined;
    if (hi !== undefined && Math.fround(hi) === Infinity) hi = undefined;
    if ([lo, hi].some((v) => v !== undefined && literalOf(v) === undefined)) return undefined;
    return (x) => {
      let e = x;
      if (lo !== undefined) e = `max(${e}, ${f32Literal(lo)})`;
      if (hi !== undefined) e = `min(${e}, ${f32Literal(hi)})`;
      return e;
    };
  },
};

// WGSL bounds cos/sin's error only on [-π, π] and loosely (2^-11; SwiftShader is off by 2e-4), and RoPE
// angles reach thousands of radians. So: reduce by π/2 (split in two, Cody–Waite, exact for |k| up to ~2^12)
// and evaluate Taylor polynomials on |r| ≤ π/4 (error < 3e-8), the same on every GPU.
const SIN_COS = `
fn quadrant_sin_cos(x: f32) -> vec3f {
  let k = round(x * 0.6366197723675814);
  let r = (x - k * 1.5703125) - k * 0.00048382679489661923;
  let r2 = r * r;
  let s = r * (1.0 + r2 * (-0.16666666666666666 + r2 * (0.008333333333333333 + r2 * (-0.0001984126984126984 + r2 * 2.7557319223985893e-6))));
  let c = 1.0 + r2 * (-0.5 + r2 * (0.041666666666666664 + r2 * (-0.001388888888888889 + r2 * 2.48015873015873e-5)));
  return vec3f(s, c, f32(i32(k) & 3));
}
fn precise_sin(x: f32) -> f32 {
  let v = quadrant_sin_cos(x);
  let q = u32(v.z);
  return select(select(select(-v.y, -v.x, q == 2u), v.y, q == 1u), v.x, q == 0u);
}
fn precise_cos(x: f32) -> f32 {
  let v = quadrant_sin_cos(x);
  let q = u32(v.z);
  return select(select(select(v.x, -v.y, q == 2u), -v.x, q == 1u), v.y, q == 0u);
}`;

// erf, accurate in relative terms everywhere f32 needs it: below |x| = 0.5 its Maclaurin series (to x¹³,
// error < 3e-8 relative), above it 1 − erfc with erfc by Numerical Recipes' Chebyshev fit `erfcc`
// (fractional error < 1.2e-7 for every x ≥ 0), which also gives GELU's negative tail without cancellation.
const ERF = `
fn erfc_nonneg(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  return t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
}
fn erf_series(x: f32) -> f32 {
  let x2 = x * x;
  return 1.1283791670955126 * x * (1.0 + x2 * (-0.3333333333333333 + x2 * (0.1 + x2 * (-0.023809523809523808 + x2 * (0.004629629629629629 + x2 * (-0.0007575757575757576 + x2 * 0.00010683760683760684))))));
}
fn precise_erf(x: f32) -> f32 {
  if (abs(x) < 0.5) { return erf_series(x); }
  return sign(x) * (1.0 - erfc_nonneg(abs(x)));
}`;

const GELU_ERF = `${ERF}
// x · Φ(x) = x/2 · (1 + erf(x/√2)) = x/2 · erfc(−x/√2)
fn gelu_erf(x: f32) -> f32 {
  let z = x * 0.7071067811865476;
  if (abs(z) < 0.5) { return 0.5 * x * (1.0 + erf_series(z)); }
  if (z < 0.0) { return 0.5 * x * erfc_nonneg(-z); }
  return 0.5 * x * (2.0 - erfc_nonneg(z));
}`;

// x/2 · (1 + tanh(u)) = x · σ(2u), u = √(2/π)(x + 0.044715x³): no cancellation for negative x.
const GELU_TANH = `
fn gelu_tanh(x: f32) -> f32 {
  let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  return x / (1.0 + exp(-2.0 * u));
}`;

// log(1 + u) and eˣ − 1 without losing the digits of small arguments: log1p by Goldberg's correction
// (w − 1 is exact), expm1 by its Taylor series below |x| = 0.5 (to x⁹, error < 2e-8 relative).
const LOG1P = `
fn precise_log1p(u: f32) -> f32 {
  let w = 1.0 + u;
  if (w == 1.0) { return u; }
  return log(w) * (u / (w - 1.0));
}`;
const EXPM1 = `
fn precise_expm1(x: f32) -> f32 {
  if (abs(x) < 0.5) {
    return x * (1.0 + x * (0.5 + x * (0.16666666666666666 + x * (0.041666666666666664 + x * (0.008333333333333333 + x * (0.001388888888888889 + x * (0.0001984126984126984 + x * (2.48015873015873e-5 + x * 2.7557319223985893e-6))))))));
  }
  return exp(x) - 1.0;
}`;

/** Helper functions each op's expression calls. */
function unaryHelpers(node: IrNode): string | undefined {
  switch (node.op) {
    case 'Cos': case 'Sin': return SIN_COS;
    case 'Erf': return ERF;
    case 'Gelu': return node.attrs['approximate'] === 'tanh' ? GELU_TANH : GELU_ERF;
    case 'Softplus': return LOG1P;
    case 'Elu': return EXPM1;
    default: return undefined;
  }
}

export const unaryKernel: GpuKernelFamily = (node, ctx) => {
  if (node.domain !== '') return undefined;
  const expr = UNARY[node.op] ?? PARAMETRIC_UNARY[node.op]?.(node, ctx);
  const type = ctx.type(node.inputs[0]);
  if (!expr || type?.dtype !== 'float32' || (node.inputs.length !== 1 && node.op !== 'Clip')) return undefined;
  const b = new ShaderBuilder(node.op, `${describe(type.dtype, type.shape)}`);
  const helpers = unaryHelpers(node);
  if (helpers) b.declare(helpers);
  const n = b.param('n');
  b.storage('x', 'f32', 'read').storage('y', 'f32', 'read_write');
  const shader = b.build([ELEMENTWISE_WORKGROUP], `
let stride = nwg.x * ${ELEMENTWISE_WORKGROUP}u;
for (var i = gid.x; i < ${n}; i += stride) {
  let v = x[i];
  y[i] = ${expr('v')};
}`);
  return { kind: 'unary', bindings: [0], dispatch: [['blocks', 1]], shader };
};

// ======================================================================================================
// Broadcasting: binary ops and Where
// ======================================================================================================

// pow as ONNX (C's pow) defines it for the cases models use: a negative base with an integer exponent
// keeps the sign of odd powers (WGSL's pow is undefined for a negative base).
const POW = `
fn onnx_pow(x: f32, e: f32) -> f32 {
  if (e == 0.0) { return 1.0; }
  let ax = abs(x);
  var m = exp2(e * log2(ax));
  if (ax == 0.0) { m = select(0.0, 1.0 / ax, e < 0.0); }
  if (x < 0.0) {
    if (fract(e) != 0.0) { return sqrt(x); } // NaN
    if (fract(e * 0.5) != 0.0) { m = -m; }
  }
  return m;
}`;

type Binary = (a: string, b: string) => string;

/** WGSL expression of each binary op over `a`, `b` (f32). */
const BINARY: Readonly<Record<string, Binary>> = {
  Add: (a, b) => `${a} + ${b}`,
  Sub: (a, b) => `${a} - ${b}`,
  Mul: (a, b) => `${a} * ${b}`,
  Div: (a, b) => `${a} / ${b}`,
  Pow: (a, b) => `onnx_pow(${a}, ${b})`,
  Max: (a, b) => `max(${a}, ${b})`,
  Min: (a, b) => `min(${a}, ${b})`,
  Sum: (a, b) => `${a} + ${b}`,
  Mean: (a, b) => `(${a} + ${b}) * 0.5`,
  PRelu: (a, b) => `select(${a}, ${b} * ${a}, ${a} < 0.0)`,
};

/** Pow with a constant exponent: the exponents worth a cheaper, exact-er expression. */
const POW_BY: ReadonlyMap<number, Expr> = new Map<number, Expr>([
  [0, () => '1.0'],
  [1, (a) => a],
  [2, (a) => `${a} * ${a}`],
  [3, (a) => `${a} * ${a} * ${a}`],
  [0.5, (a) => `sqrt(${a})`],
  [-0.5, (a) => `1.0 / sqrt(${a})`],
  [-1, (a) => `1.0 / ${a}`],
  [-2, (a) => `1.0 / (${a} * ${a})`],
]);

/** The single value of a one-element numeric tensor. */
function scalarOf(t: Tensor): number | undefined {
  if (sizeOf(t.dims) !== 1) return undefined;
  switch (t.dtype) {
    case 'float32': case 'float64': return (t.data as Float32Array | Float64Array)[0];
    case 'float16': case 'bfloat16': return halfToFloat32(t.dtype, t.data as Uint16Array)[0];
    case 'bool': case 'string': return undefined;
    default: return Number((t.data as ArrayLike<number | bigint>)[0]);
  }
}

function floatAttr(value: IrAttr | undefined, fallback: number): string {
  return f32Literal(typeof value === 'number' ? value : fallback);
}

const FLOATS: readonly string[] = ['float32', 'float16', 'bfloat16'];

/** One input of a broadcasting shader, as the shader reads it. */
interface Operand {
  readonly index: number;
  readonly letter: string;
  /** Static dims aligned to the output's rank. */
  readonly dims: readonly Dim[];
  /** A one-element constant written into the shader. */
  readonly literal?: number;
  /** Where's condition: bool, one u32 per element (run-time values) or packed bytes (constants). */
  readonly bool?: 'u32' | 'bytes';
  readonly constant: boolean;
}

/** The output dims the IR's shapes imply (undefined where two symbols meet). */
function staticBroadcast(shapes: readonly (readonly Dim[])[], rank: number, declared: readonly Dim[] | undefined): (Dim | undefined)[] {
  return Array.from({ length: rank }, (_, k) => {
    const here = shapes.map((s) => alignDims(s, rank, 1 as Dim)[k]!).filter((d) => d !== 1);
    const known = declared?.[k];
    const number = here.find((d) => typeof d === 'number') ?? (typeof known === 'number' ? known : undefined);
    if (number !== undefined) return number;
    if (here.length === 0) return 1;
    return here.every((d) => d === here[0]) ? here[0] : undefined;
  });
}

/**
 * The cheapest mode the IR's shapes guarantee for an operand of (aligned) dims `op`, and for the suffix and
 * row modes the first axis of the trailing part (the operand's own dims from it on, or its 1s).
 */
function modeOf(op: readonly Dim[], out: readonly (Dim | undefined)[]): { mode: Mode; from: number } {
  const same = (k: number) => out[k] !== undefined && op[k] === out[k];
  const ones = (from: number, to: number) => op.slice(from, to).every((d) => d === 1);
  if (ones(0, op.length)) return { mode: BroadcastMode.scalar, from: 0 };
  if (op.every((_, k) => same(k))) return { mode: BroadcastMode.same, from: 0 };
  let k = op.length - 1;
  while (k >= 0 && same(k)) k--;
  if (ones(0, k + 1)) return { mode: BroadcastMode.suffix, from: k + 1 };
  k = 0;
  while (k < op.length && same(k)) k++;
  if (ones(k, op.length)) return { mode: BroadcastMode.row, from: k };
  return { mode: BroadcastMode.strided, from: 0 };
}

/** A WGSL f32 literal, or undefined for values WGSL cannot write (±∞, NaN). */
function literalOf(value: number): string | undefined {
  return Number.isFinite(Math.fround(value)) ? f32Literal(value) : undefined;
}

/**
 * The shader of y = expr(operands) broadcasting every input of `node` (float32; with `where`, input 0 is a
 * bool condition). `expr` gets each operand's WGSL value and, for one-element constants written into the
 * shader, the number; `helpers` are the functions it calls.
 */
function broadcastKernel(node: IrNode, ctx: GpuKernelContext, kind: string, expr: (values: string[], literals: (number | undefined)[]) => string | undefined, helpers: string, where = false): GpuKernel | undefined {
  const shapes = node.inputs.map((name) => ctx.type(name)?.shape ?? ctx.constant(name)?.dims);
  if (node.inputs.some((name) => !name) || shapes.some((s) => s === undefined)) return undefined;
  const declared = ctx.type(node.outputs[0])?.shape;
  const rank = Math.max(declared?.length ?? 0, ...shapes.map((s) => s!.length));
  if (rank > MAX_BROADCAST_RANK || (declared && declared.length !== rank)) return undefined;
  const out = staticBroadcast(shapes as Dim[][], rank, declared);

  const operands: Operand[] = [];
  for (const [index, name] of node.inputs.entries()) {
    const t = ctx.constant(name);
    const dtype = t?.dtype ?? ctx.type(name)?.dtype;
    const dims = alignDims(shapes[index]!, rank, 1 as Dim);
    const isCondition = where && index === 0;
    if (isCondition) {
      if (dtype !== 'bool') return undefined;
      operands.push({ index, letter: operandLetter(index), dims, bool: t ? 'bytes' : 'u32', constant: !!t });
      continue;
    }
    const value = t ? scalarOf(t) : undefined;
    // Pow's exponent may be any numeric dtype when it is written into the shader
    const powExponent = node.op === 'Pow' && index === 1 && value !== undefined && literalOf(value) !== undefined;
    if (!powExponent && !(t ? FLOATS.includes(t.dtype) : dtype === 'float32')) return undefined;
    const literal = value !== undefined && literalOf(value) !== undefined ? value : undefined;
    operands.push({ index, letter: operandLetter(index), dims, ...(literal !== undefined ? { literal } : {}), constant: !!t });
  }

  const bound = operands.filter((o) => o.literal === undefined);
  const outMaybe = out.map((d): Maybe => (typeof d === 'number' ? d : undefined));
  const known = broadcastValues(outMaybe, bound.map((o) => [o.letter, o.dims.map((d): Maybe => (typeof d === 'number' ? d : undefined))] as const));
  const modes = new Map<Operand, Mode>();
  const sizes: Record<string, number> = { rank };
  for (const o of bound) {
    const { mode, from } = modeOf(o.dims, out);
    modes.set(o, mode);
    sizes[`mode_${o.letter}`] = mode;
    // the trailing output dims an operand in these modes spans may be known where its own dims are symbols
    // that equal the output's (a [b, s, 1] factor of [b, s, 64]: q = 64)
    const trailing = outMaybe.slice(from).reduce<Maybe>((p, d) => (p === undefined || d === undefined ? undefined : p * d), 1);
    if (mode === BroadcastMode.suffix) known[`n${o.letter}`] ??= trailing;
    if (mode === BroadcastMode.row) known[`q${o.letter}`] ??= trailing;
  }

  const shapesText = node.inputs.map((_, i) => (operands[i]!.literal !== undefined ? f32Literal(operands[i]!.literal!) : describe(operands[i]!.bool ? 'bool' : 'float32', shapes[i]))).join(', ');
  const b = new ShaderBuilder(node.op, `${shapesText} → ${describe('float32', out.map((d) => d ?? '?'))}`);
  if (helpers) b.declare(helpers);
  /** A value the shader reads: a constant when the IR knows it (recorded for the binder to check), else a param. */
  const use = (name: string): string => {
    const v = known[name];
    if (v === undefined) return b.param(name);
    sizes[name] = v;
    return `${v}u`;
  };
  const n = use('n');
  for (const o of bound) b.storage(o.letter, o.bool ? 'u32' : 'f32', 'read');
  b.storage('y', 'f32', 'read_write');

  // the coordinates of output element i, for strided operands: c<k> along axis k, lowest axes last
  const strided = bound.filter((o) => modes.get(o) === BroadcastMode.strided);
  const body: string[] = [];
  const moving = (k: number, o: Operand) => out[k] !== 1 && known[`s${o.letter}${k}`] !== 0;
  const needed = Array.from({ length: rank }, (_, k) => k).filter((k) => strided.some((o) => moving(k, o)));
  if (needed.length) {
    body.push('var rest = i;');
    for (const o of strided) body.push(`var j${o.letter} = 0u;`);
    const lowest = needed[0]!;
    for (let k = rank - 1; k >= lowest; k--) {
      if (out[k] === 1) continue;
      const outer = out.slice(0, k).every((d) => d === 1);
      const users = strided.filter((o) => moving(k, o));
      const last = k === lowest || outer;
      if (users.length) body.push(`let c${k} = ${outer ? 'rest' : `rest % ${use(`d${k}`)}`};`);
      if (!last) body.push(`rest = rest / ${use(`d${k}`)};`);
      for (const o of users) body.push(`j${o.letter} += c${k} * ${use(`s${o.letter}${k}`)};`);
      if (last) break;
    }
  }
  const reads = operands.map((o) => {
    if (o.literal !== undefined) return f32Literal(o.literal);
    const at = (() => {
      switch (modes.get(o)!) {
        case BroadcastMode.same: return 'i';
        case BroadcastMode.scalar: return '0u';
        case BroadcastMode.suffix: return `i % ${use(`n${o.letter}`)}`;
        case BroadcastMode.row: return `i / ${use(`q${o.letter}`)}`;
        default: return `j${o.letter}`;
      }
    })();
    if (o.bool === 'bytes') {
      body.push(`let k${o.letter} = ${at};`);
      return `((${o.letter}[k${o.letter} >> 2u] >> ((k${o.letter} & 3u) * 8u)) & 0xffu) != 0u`;
    }
    if (o.bool === 'u32') return `${o.letter}[${at}] != 0u`;
    return `${o.letter}[${at}]`;
  });
  reads.forEach((r, k) => { if (operands[k]!.literal === undefined) body.push(`let v${operands[k]!.letter} = ${r};`); });
  const value = expr(operands.map((o, k) => (o.literal === undefined ? `v${o.letter}` : reads[k]!)), operands.map((o) => o.literal));
  if (value === undefined) return undefined;
  body.push(`y[i] = ${value};`);

  const shader = b.build([ELEMENTWISE_WORKGROUP], `
let stride = nwg.x * ${ELEMENTWISE_WORKGROUP}u;
for (var i = gid.x; i < ${n}; i += stride) {
${body.map((l) => `  ${l}`).join('\n')}
}`);
  const constants: Record<number, GpuConstantLayout> = {};
  for (const o of bound) if (o.constant) constants[o.index] = o.bool ? 'u32-bytes' : 'f32';
  return { kind, bindings: bound.map((o) => o.index), constants, dispatch: [['blocks', 1]], sizes, shader };
}

export const binaryKernel: GpuKernelFamily = (node, ctx) => {
  const op = node.domain === '' ? BINARY[node.op] : undefined;
  if (!op || node.inputs.length !== 2) return undefined;
  if (node.op === 'PRelu' && ctx.opset < 7) return undefined; // per-channel slopes of old exports: the host does it
  const pow = node.op === 'Pow';
  return broadcastKernel(node, ctx, 'binary', ([a, b], [, e]) => {
    if (pow && e !== undefined) return POW_BY.get(e)?.(a!) ?? `onnx_pow(${a}, ${b})`;
    return op(a!, b!);
  }, pow && !POW_BY.has(scalarExponent(node, ctx) ?? NaN) ? POW : '');
};

function scalarExponent(node: IrNode, ctx: GpuKernelContext): number | undefined {
  const t = ctx.constant(node.inputs[1]);
  return t ? scalarOf(t) : undefined;
}

export const whereKernel: GpuKernelFamily = (node, ctx) => {
  if (node.domain !== '' || node.op !== 'Where' || node.inputs.length !== 3) return undefined;
  return broadcastKernel(node, ctx, 'where', ([c, x, y]) => `select(${y}, ${x}, ${c})`, '', true);
};
