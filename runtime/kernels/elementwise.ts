// Reference kernels for ONNX's element-wise ops (opsets 7..20): the living definition of each op.
// Readable over fast. Every op broadcasts numpy-style through mapElements, and sees values as the table in
// elementwise-helpers.ts says: floats as numbers, integers as exact bigints, bool as boolean.
import type { DType, Tensor } from '../../formats/tensor.ts';
import { DTYPE_BY_ONNX_CODE, DTYPES, isFloat } from '../../formats/dtype.ts';
import type { Attributes, Kernel, KernelTable } from '../kernel.ts';
import { KernelError, required } from '../kernel.ts';
import { broadcastShapes } from './broadcast.ts';
import type { Value } from './elementwise-helpers.ts';
import {
  FLOAT_DTYPES, NUMERIC_DTYPES, SIGNED_INT_DTYPES,
  checkDType, checkSameDType, formatFloat, mapElements, numeric, toBigInt, toNumber, valuesOf,
} from './elementwise-helpers.ts';

const SIGNED_DTYPES: readonly DType[] = [...FLOAT_DTYPES, ...SIGNED_INT_DTYPES];
const EQUATABLE_DTYPES: readonly DType[] = [...NUMERIC_DTYPES, 'bool', 'string'];
const BOOL: readonly DType[] = ['bool'];

// ======================================================================================================
// Unary math on floats
// ======================================================================================================

/** A one-input op on floats; `make` reads the attributes once and returns the scalar function. */
function floatUnary(make: (attrs: Attributes) => (x: number) => number, name = 'X'): Kernel {
  return (inputs, attrs) => {
    const x = required(inputs, 0);
    checkDType(x, FLOAT_DTYPES, name);
    const f = make(attrs);
    return [mapElements([x], x.dtype, (v) => f(v as number))];
  };
}

/** A one-input op on floats without attributes. */
const math = (f: (x: number) => number, name = 'X'): Kernel => floatUnary(() => f, name);

/** Rounds half to even, as ONNX Round and numpy do (2.5 → 2, 3.5 → 4, -2.5 → -2); keeps the sign of zero. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  const r = diff < 0.5 ? floor : diff > 0.5 ? floor + 1 : floor % 2 === 0 ? floor : floor + 1;
  return r === 0 ? x * 0 : r;
}

/**
 * The error function to about 1e-15: its Maclaurin series below 2.5, the continued fraction of
 * erfc(x) = e^(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))) from 2.5 to 6, and ±1 beyond.
 */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (Number.isNaN(x)) return NaN;
  if (a >= 6) return Math.sign(x);
  if (a < 2.5) {
    const a2 = a * a;
    let term = a; // (-1)^n a^(2n+1) / n!
    let sum = a;
    for (let n = 1; n < 100; n++) {
      term *= -a2 / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17) break;
    }
    return Math.sign(x) * sum * (2 / Math.sqrt(Math.PI));
  }
  let fraction = 0;
  for (let k = 80; k >= 1; k--) fraction = k / 2 / (a + fraction);
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + fraction);
  return Math.sign(x) * (1 - erfc);
}

const floatMath: KernelTable = {
  Ceil: math(Math.ceil),
  Floor: math(Math.floor),
  Round: math(roundHalfEven),
  Cos: math(Math.cos, 'input'),
  Sin: math(Math.sin, 'input'),
  Exp: math(Math.exp, 'input'),
  Log: math(Math.log, 'input'),
  Sqrt: math(Math.sqrt),
  Reciprocal: math((x) => 1 / x),
  Tanh: math(Math.tanh, 'input'),
  Sigmoid: math((x) => 1 / (1 + Math.exp(-x))),
  /** log(1 + e^x), written so that large |x| neither overflows nor loses digits. */
  Softplus: math((x) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)))),
  Elu: floatUnary((attrs) => {
    const alpha = attrs.float('alpha', 1);
    return (x) => (x >= 0 ? x : alpha * Math.expm1(x));
  }),
  LeakyRelu: floatUnary((attrs) => {
    const alpha = attrs.float('alpha', 0.01);
    return (x) => (x >= 0 ? x : alpha * x);
  }),
  HardSigmoid: floatUnary((attrs) => {
    const alpha = attrs.float('alpha', 0.2);
    const beta = attrs.float('beta', 0.5);
    return (x) => Math.max(0, Math.min(1, alpha * x + beta));
  }),
  HardSwish: math((x) => x * Math.max(0, Math.min(1, x / 6 + 0.5))),
  Gelu: floatUnary((attrs) => {
    const approximate = attrs.string('approximate', 'none');
    if (approximate === 'none') return (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
    if (approximate === 'tanh') {
      return (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    }
    throw new KernelError(`unsupported Gelu approximate '${approximate}'. Should be one of: none, tanh`);
  }),
};

// ======================================================================================================
// Unary ops defined on integers too
// ======================================================================================================

/** A one-input op on `allowed` dtypes, given on numbers (floats) and on bigints (integers). */
function numericUnary(allowed: readonly DType[], name: string, num: (x: number) => number, big: (x: bigint) => bigint): Kernel {
  return (inputs) => {
    const x = required(inputs, 0);
    checkDType(x, allowed, name);
    return [mapElements([x], x.dtype, numeric(x.dtype, num, big))];
  };
}

const integerUnary: KernelTable = {
  Abs: numericUnary(NUMERIC_DTYPES, 'X', Math.abs, (x) => (x < 0n ? -x : x)),
  Neg: numericUnary(SIGNED_DTYPES, 'X', (x) => -x, (x) => -x),
  Sign: numericUnary(NUMERIC_DTYPES, 'input', Math.sign, (x) => (x > 0n ? 1n : x < 0n ? -1n : 0n)),
  Relu: numericUnary(SIGNED_DTYPES, 'X', (x) => Math.max(x, 0), (x) => (x > 0n ? x : 0n)),
  /** Erf allows integer inputs: computed on the number, stored truncated (so only 0 and ±1 come out). */
  Erf: (inputs) => {
    const x = required(inputs, 0);
    checkDType(x, NUMERIC_DTYPES, 'input');
    return [mapElements([x], x.dtype, (v) => erf(toNumber(v)))];
  },
};

// ======================================================================================================
// Binary arithmetic
// ======================================================================================================

/**
 * A two-input op whose inputs share one dtype from `allowed`. `make` gets that dtype and the attributes
 * once and returns the scalar function; the result has the inputs' dtype unless `outDtype` says otherwise.
 */
function binary(
  allowed: readonly DType[],
  names: [string, string],
  make: (dtype: DType, attrs: Attributes) => (a: Value, b: Value) => Value,
  outDtype?: DType,
): Kernel {
  return (inputs, attrs) => {
    const a = required(inputs, 0);
    const b = required(inputs, 1);
    checkDType(a, allowed, names[0]);
    checkSameDType([a, b], names);
    return [mapElements([a, b], outDtype ?? a.dtype, make(a.dtype, attrs))];
  };
}

function checkDivisor(b: bigint): bigint {
  if (b === 0n) throw new KernelError('integer division by zero');
  return b;
}

/**
 * Integer power, exact and wrapped to 64 bits like C. A negative exponent gives trunc(base^exponent):
 * ±1 for bases ±1, else 0. A fractional exponent is computed on floats and truncated when stored.
 */
export function intPow(base: bigint, exponent: Value): Value {
  if (typeof exponent === 'number' && !Number.isInteger(exponent)) return Math.pow(Number(base), exponent);
  const e = toBigInt(exponent);
  if (e < 0n) return base === 1n ? 1n : base === -1n ? (e % 2n === 0n ? 1n : -1n) : 0n;
  let result = 1n;
  let square = base;
  for (let k = e; k > 0n; k >>= 1n) {
    if (k & 1n) result = BigInt.asIntN(64, result * square);
    square = BigInt.asIntN(64, square * square);
  }
  return result;
}

const AB: [string, string] = ['A', 'B'];

const arithmetic: KernelTable = {
  Add: binary(NUMERIC_DTYPES, AB, (dtype) => numeric(dtype, (a, b) => a + b, (a, b) => a + b)),
  Sub: binary(NUMERIC_DTYPES, AB, (dtype) => numeric(dtype, (a, b) => a - b, (a, b) => a - b)),
  Mul: binary(NUMERIC_DTYPES, AB, (dtype) => numeric(dtype, (a, b) => a * b, (a, b) => a * b)),
  /** Integer division truncates toward zero, as C does. */
  Div: binary(NUMERIC_DTYPES, AB, (dtype) => numeric(dtype, (a, b) => a / b, (a, b) => a / checkDivisor(b))),
  /**
   * fmod=0 (integers only): the remainder takes the divisor's sign, like Python's %.
   * fmod=1: the remainder takes the dividend's sign, like C's fmod (and JavaScript's %).
   */
  Mod: binary(NUMERIC_DTYPES, AB, (dtype, attrs) => {
    const fmod = attrs.int('fmod', 0);
    if (fmod !== 0 && fmod !== 1) throw new KernelError(`Mod attribute 'fmod' must be 0 or 1, got ${fmod}`);
    if (fmod === 0 && isFloat(dtype)) throw new KernelError(`Mod on ${dtype} inputs needs fmod=1`);
    const floorMod = (a: bigint, b: bigint): bigint => {
      const r = a % checkDivisor(b);
      return r !== 0n && (r < 0n) !== (b < 0n) ? r + b : r;
    };
    return numeric(dtype, (a, b) => a % b, fmod === 1 ? (a, b) => a % checkDivisor(b) : floorMod);
  }),
  /** The exponent may have any numeric dtype; the result has the base's. */
  Pow: (inputs) => {
    const x = required(inputs, 0);
    const y = required(inputs, 1);
    checkDType(x, [...FLOAT_DTYPES, 'int32', 'int64'], 'X');
    checkDType(y, NUMERIC_DTYPES, 'Y');
    const f = isFloat(x.dtype)
      ? (a: Value, b: Value) => Math.pow(a as number, toNumber(b))
      : (a: Value, b: Value) => intPow(a as bigint, b);
    return [mapElements([x, y], x.dtype, f)];
  },
  /**
   * x < 0 ? slope·x : x, where `slope` broadcasts to X's shape (one direction only). Before opset 7 a 1-D
   * slope holding one value per channel applies along axis 1 (what old PyTorch exports rely on).
   */
  PRelu: (inputs, _attrs, ctx) => {
    const x = required(inputs, 0);
    let slope = required(inputs, 1);
    checkDType(x, [...FLOAT_DTYPES, 'int32', 'int64', 'uint32', 'uint64'], 'X');
    checkSameDType([x, slope], ['X', 'slope']);
    if (ctx.opset < 7 && slope.dims.length === 1 && x.dims.length >= 2 && slope.dims[0] === x.dims[1]) {
      slope = { ...slope, dims: [x.dims[1]!, ...new Array<number>(x.dims.length - 2).fill(1)] };
    }
    const dims = broadcastShapes(x.dims, slope.dims);
    if (dims.join() !== x.dims.join()) {
      throw new KernelError(`slope of dims [${slope.dims.join(', ')}] does not broadcast to X's dims [${x.dims.join(', ')}]`);
    }
    return [mapElements([x, slope], x.dtype, numeric(x.dtype, (v, s) => (v < 0 ? s * v : v), (v, s) => (v < 0n ? s * v : v)))];
  },
};

// ======================================================================================================
// Variadic ops: any number of inputs, broadcast together
// ======================================================================================================

function variadic(allowed: readonly DType[], make: (dtype: DType) => (...values: Value[]) => Value): Kernel {
  return (inputs) => {
    if (inputs.length === 0) throw new KernelError('needs at least one input');
    const xs = inputs.map((_, i) => required(inputs, i));
    const names = xs.map((_, i) => `data_${i}`);
    checkDType(xs[0]!, allowed, names[0]!);
    checkSameDType(xs, names);
    return [mapElements(xs, xs[0]!.dtype, make(xs[0]!.dtype))];
  };
}

const sum = (values: number[]): number => values.reduce((s, v) => s + v, 0);
const bigMax = (...values: bigint[]): bigint => values.reduce((m, v) => (v > m ? v : m));
const bigMin = (...values: bigint[]): bigint => values.reduce((m, v) => (v < m ? v : m));

const variadicOps: KernelTable = {
  /** NaN wins, as in numpy.maximum. */
  Max: variadic(NUMERIC_DTYPES, (dtype) => numeric(dtype, Math.max, bigMax)),
  Min: variadic(NUMERIC_DTYPES, (dtype) => numeric(dtype, Math.min, bigMin)),
  Sum: variadic(FLOAT_DTYPES, () => (...values) => sum(values as number[])),
  Mean: variadic(FLOAT_DTYPES, () => (...values) => sum(values as number[]) / values.length),
};

// ======================================================================================================
// Comparison and logic: results are bool
// ======================================================================================================

const comparisons: KernelTable = {
  Equal: binary(EQUATABLE_DTYPES, AB, () => (a, b) => a === b, 'bool'),
  Greater: binary(NUMERIC_DTYPES, AB, (dtype) => numeric(dtype, (a, b) => a > b, (a, b) => a > b), 'bool'),
  GreaterOrEqual: binary(NUMERIC_DTYPES, AB, (dtype) => numeric(dtype, (a, b) => a >= b, (a, b) => a >= b), 'bool'),
  Less: binary(NUMERIC_DTYPES, AB, (dtype) => numeric(dtype, (a, b) => a < b, (a, b) => a < b), 'bool'),
  LessOrEqual: binary(NUMERIC_DTYPES, AB, (dtype) => numeric(dtype, (a, b) => a <= b, (a, b) => a <= b), 'bool'),
  And: binary(BOOL, AB, () => (a, b) => (a as boolean) && (b as boolean)),
  Or: binary(BOOL, AB, () => (a, b) => (a as boolean) || (b as boolean)),
  Xor: binary(BOOL, AB, () => (a, b) => a !== b),
  Not: (inputs) => {
    const x = required(inputs, 0);
    checkDType(x, BOOL, 'X');
    return [mapElements([x], 'bool', (v) => !v)];
  },
};

// ======================================================================================================
// Selection: Where, Clip
// ======================================================================================================

/** Clip's optional `min`/`max` input: a one-element tensor of the input's dtype. */
function clipBound(t: Tensor | undefined, x: Tensor, name: string): Value | undefined {
  if (!t) return undefined;
  checkSameDType([x, t], ['input', name]);
  if (t.data.length !== 1) throw new KernelError(`Clip '${name}' must be a scalar, got dims [${t.dims.join(', ')}]`);
  return valuesOf(t)[0];
}

/** float32's largest finite value: Clip's default bounds before opset 11. */
const FLT_MAX = 3.4028234663852886e38;

const selection: KernelTable = {
  Where: (inputs) => {
    const condition = required(inputs, 0);
    const x = required(inputs, 1);
    const y = required(inputs, 2);
    checkDType(condition, BOOL, 'condition');
    checkSameDType([x, y], ['X', 'Y']);
    return [mapElements([condition, x, y], x.dtype, (c, a, b) => (c ? a : b))];
  },
  /**
   * min(max(x, min), max): where min > max every value becomes max. Before opset 11 the bounds are
   * float attributes; from 11 they are optional scalar inputs, and from 12 integers are allowed.
   */
  Clip: (inputs, attrs, ctx) => {
    const x = required(inputs, 0);
    let lo: Value | undefined;
    let hi: Value | undefined;
    if (ctx.opset < 11) {
      checkDType(x, FLOAT_DTYPES, 'input');
      lo = attrs.float('min', -FLT_MAX);
      hi = attrs.float('max', FLT_MAX);
    } else {
      checkDType(x, NUMERIC_DTYPES, 'input');
      lo = clipBound(inputs[1], x, 'min');
      hi = clipBound(inputs[2], x, 'max');
    }
    const f = numeric(
      x.dtype,
      (v) => Math.min(Math.max(v, (lo as number | undefined) ?? -Infinity), (hi as number | undefined) ?? Infinity),
      (v) => {
        let r = v;
        if (lo !== undefined && r < (lo as bigint)) r = lo as bigint;
        if (hi !== undefined && r > (hi as bigint)) r = hi as bigint;
        return r;
      },
    );
    return [mapElements([x], x.dtype, f)];
  },
};

// ======================================================================================================
// Cast
// ======================================================================================================

/**
 * Converts every element to dtype `to`: floats to integers truncate toward zero (out-of-range values wrap,
 * as they do in numpy), anything to bool is `x != 0`, floats to string use the shortest text that reads
 * back as the same value, strings parse as numbers (with NaN, INF, -INF). `saturate` (opset 19) only
 * concerns float8 targets, which onebitc does not hold, so it is ignored.
 */
const Cast: Kernel = (inputs, attrs) => {
  const x = required(inputs, 0);
  // ONNX gives `to` as a TensorProto.DataType code; a dtype name is accepted too, as the shape rules do.
  const code = attrs.values['to'];
  const to = typeof code === 'string'
    ? (DTYPES as readonly string[]).includes(code) ? (code as DType) : undefined
    : DTYPE_BY_ONNX_CODE.get(attrs.int('to'));
  if (!to) {
    const valid = [...DTYPE_BY_ONNX_CODE].map(([c, d]) => `${c} (${d})`).join(', ');
    throw new KernelError(`unsupported Cast target 'to' = ${String(code)}. Should be one of: ${valid}`);
  }
  const from = x.dtype;
  const f = to === 'string' && isFloat(from) ? (v: Value) => formatFloat(v as number, from) : (v: Value) => v;
  return [mapElements([x], to, f)];
};

// ======================================================================================================

export const kernels: KernelTable = {
  ...floatMath,
  ...integerUnary,
  ...arithmetic,
  ...variadicOps,
  ...comparisons,
  ...selection,
  Cast,
};
