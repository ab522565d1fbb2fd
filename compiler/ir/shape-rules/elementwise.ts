// Elementwise ops: unary math and activations, broadcasting binary and variadic ops, comparisons, Where, Cast.
import type { DType } from '../../../formats/dtype.ts';
import type { Dim } from '../graph.ts';
import type { Inferred, KnownValue, ShapeContext, ShapeRule } from './common.ts';
import {
  attrInt, broadcastShapes, castElement, dtypeFromOnnx, fail, isIntegerDtype, mapKnown, sameAs,
} from './common.ts';
import { dimAdd, dimDiv, dimEquals, dimMul, dimSub } from './dims.ts';

type Num = (x: number) => number;

/** Same dtype and shape as input 0; `f` (numbers) and `sym` (symbols) propagate known elements. */
function unary(f?: Num, sym?: (x: string) => Dim | undefined): ShapeRule {
  return (ctx) => {
    const out: Inferred = sameAs(ctx);
    if (f) {
      const value = mapKnown([ctx.value(0)], ([x]) => (typeof x === 'number' ? f(x) : sym?.(x)));
      if (value) out.value = value;
    }
    return [out];
  };
}

const roundHalfEven: Num = (x) => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};
const self = (x: string): Dim => x;

function knownBinary(ctx: ShapeContext, dtype: DType, op: (a: Dim, b: Dim) => Dim | undefined): KnownValue | undefined {
  const value = mapKnown([ctx.value(0), ctx.value(1)], ([a, b]) => op(a!, b!));
  if (!value) return undefined;
  if (isIntegerDtype(dtype) && value.data.some((x) => typeof x === 'number' && !Number.isInteger(x))) return undefined;
  return value;
}

type Binary = (a: Dim, b: Dim, ctx: ShapeContext, dtype: DType) => Dim | undefined;

/** Broadcasting binary op; output dtype is `outDtype` or input 0's. */
function binary(op?: Binary, outDtype?: DType): ShapeRule {
  return (ctx) => {
    const a = ctx.input(0);
    const b = ctx.input(1);
    const dtype = outDtype ?? a.dtype;
    const out: Inferred = { dtype, shape: broadcastShapes(ctx, [a.shape, b.shape]) };
    if (op) {
      const value = knownBinary(ctx, dtype, (x, y) => op(x, y, ctx, a.dtype));
      if (value) out.value = value;
    }
    return [out];
  };
}

const nums = (f: (a: number, b: number) => number): Binary => (a, b) =>
  typeof a === 'number' && typeof b === 'number' ? f(a, b) : undefined;

const add: Binary = (a, b) => dimAdd(a, b);
const sub: Binary = (a, b) => dimSub(a, b);
const mul: Binary = (a, b) => dimMul(a, b);
const div: Binary = (a, b, _ctx, dtype) => {
  if (typeof a === 'number' && typeof b === 'number') {
    if (b === 0) return undefined;
    return isIntegerDtype(dtype) ? Math.trunc(a / b) : a / b;
  }
  return dimDiv(a, b);
};
const mod: Binary = (a, b, ctx) => {
  if (typeof a !== 'number' || typeof b !== 'number' || b === 0) return undefined;
  if (attrInt(ctx.node, 'fmod', 0) === 1) return a % b;
  const r = a % b;
  return r !== 0 && (r < 0) !== (b < 0) ? r + b : r;
};

/** Symbolic dims are sizes: never negative. */
function compare(a: Dim, b: Dim): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (dimEquals(a, b)) return 0;
  if (typeof a === 'string' && typeof b === 'number' && b < 0) return 1;
  if (typeof b === 'string' && typeof a === 'number' && a < 0) return -1;
  return undefined;
}
function comparison(test: (c: number) => boolean): Binary {
  return (a, b) => {
    const c = compare(a, b);
    return c === undefined ? undefined : test(c) ? 1 : 0;
  };
}
const equal: Binary = (a, b) => {
  if (dimEquals(a, b)) return 1;
  const c = compare(a, b);
  return c === undefined ? undefined : c === 0 ? 1 : 0;
};

/** Broadcasting over all inputs (Max, Min, Mean, Sum). */
function variadic(op?: Binary): ShapeRule {
  return (ctx) => {
    const types = ctx.inputs.filter((t) => t !== undefined);
    if (types.length === 0) fail('needs at least one input');
    const out: Inferred = { dtype: types[0]!.dtype, shape: broadcastShapes(ctx, types.map((t) => t!.shape)) };
    if (op) {
      const values = ctx.inputs.map((_, i) => ctx.value(i));
      const value = mapKnown(values, (xs) => xs.reduce<Dim | undefined>((acc, x) => (acc === undefined ? undefined : op(acc, x, ctx, out.dtype)), xs[0]!));
      if (value) out.value = value;
    }
    return [out];
  };
}

const max: Binary = (a, b) => {
  const c = compare(a, b);
  if (c !== undefined) return c >= 0 ? a : b;
  if (typeof b === 'number' && b <= 0) return a;
  if (typeof a === 'number' && a <= 0) return b;
  return undefined;
};
const min: Binary = (a, b) => {
  const c = compare(a, b);
  return c === undefined ? undefined : c <= 0 ? a : b;
};

const where: ShapeRule = (ctx) => {
  const [c, x, y] = [ctx.input(0), ctx.input(1), ctx.input(2)];
  const out: Inferred = { dtype: x.dtype, shape: broadcastShapes(ctx, [c.shape, x.shape, y.shape]) };
  const value = mapKnown([ctx.value(0), ctx.value(1), ctx.value(2)], ([k, a, b]) =>
    typeof k === 'number' ? (k !== 0 ? a : b) : undefined);
  if (value) out.value = value;
  return [out];
};

const cast: ShapeRule = (ctx) => {
  const to = ctx.node.attrs['to'];
  if (typeof to !== 'number' && typeof to !== 'string') fail(`attribute 'to' must be a dtype code, got ${String(to)}`);
  const dtype = dtypeFromOnnx(to);
  if (!dtype) fail(`attribute 'to' = ${to} is not a known dtype`);
  const out: Inferred = { dtype, shape: ctx.input(0).shape };
  const value = mapKnown([ctx.value(0)], ([x]) => castElement(x!, dtype));
  if (value) out.value = value;
  return [out];
};

/** Clip: min/max are attributes before opset 11, optional scalar inputs from then on. */
const clip: ShapeRule = (ctx) => {
  const out: Inferred = sameAs(ctx);
  if (ctx.opset >= 11) {
    const value = mapKnown([ctx.value(0), ctx.has(1) ? ctx.value(1) : { dims: [], data: [-Infinity] }, ctx.has(2) ? ctx.value(2) : { dims: [], data: [Infinity] }],
      ([x, lo, hi]) => (typeof x === 'number' && typeof lo === 'number' && typeof hi === 'number' ? Math.min(Math.max(x, lo), hi) : undefined));
    if (value) out.value = value;
  }
  return [out];
};

/**
 * PRelu: the slope broadcasts to X (unidirectionally); the output is X's shape. Before opset 7 a 1-D slope
 * may instead hold one value per channel (axis 1), as the kernel accepts.
 */
const prelu: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  const slope = ctx.input(1);
  const perChannel = ctx.opset < 7 && slope.shape?.length === 1 && (x.shape?.length ?? 0) >= 2 && dimEquals(slope.shape[0]!, x.shape![1]!);
  if (x.shape && slope.shape && !perChannel) {
    const b = broadcastShapes(ctx, [x.shape, slope.shape]);
    if (b && b.length !== x.shape.length) fail(`slope of rank ${slope.shape.length} does not broadcast to X of rank ${x.shape.length}`);
  }
  return [sameAs(ctx)];
};

const dropout: ShapeRule = (ctx) => {
  const out = sameAs(ctx);
  const value = ctx.value(0);
  return [value ? { ...out, value } : out, { dtype: 'bool', shape: out.shape }];
};

export const elementwiseRules: Record<string, ShapeRule> = {
  Abs: unary(Math.abs, self),
  Ceil: unary(Math.ceil, self),
  Floor: unary(Math.floor, self),
  Round: unary(roundHalfEven, self),
  Neg: unary((x) => -x, (x) => dimMul(-1, x)),
  Sign: unary(Math.sign),
  Sqrt: unary(Math.sqrt),
  Reciprocal: unary((x) => 1 / x),
  Relu: unary((x) => Math.max(x, 0), self),
  Not: unary((x) => (x ? 0 : 1)),
  Cos: unary(), Sin: unary(), Erf: unary(), Exp: unary(), Log: unary(), Sigmoid: unary(), Tanh: unary(),
  Elu: unary(), Gelu: unary(), HardSigmoid: unary(), HardSwish: unary(), LeakyRelu: unary(), Softplus: unary(),
  Clip: clip,
  PRelu: prelu,
  Dropout: dropout,

  Add: binary(add),
  Sub: binary(sub),
  Mul: binary(mul),
  Div: binary(div),
  Mod: binary(mod),
  Pow: binary(nums((a, b) => a ** b)),
  And: binary(nums((a, b) => (a && b ? 1 : 0)), 'bool'),
  Or: binary(nums((a, b) => (a || b ? 1 : 0)), 'bool'),
  Xor: binary(nums((a, b) => (!a !== !b ? 1 : 0)), 'bool'),
  Equal: binary(equal, 'bool'),
  Greater: binary(comparison((c) => c > 0), 'bool'),
  GreaterOrEqual: binary(comparison((c) => c >= 0), 'bool'),
  Less: binary(comparison((c) => c < 0), 'bool'),
  LessOrEqual: binary(comparison((c) => c <= 0), 'bool'),

  Max: variadic(max),
  Min: variadic(min),
  Sum: variadic(add),
  Mean: variadic(),
  Where: where,
  Cast: cast,
};
