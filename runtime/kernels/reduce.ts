// Reference kernels for ONNX's reductions, ArgMax, CumSum and Softmax (opsets 7..20): the living definition
// of each op. Values follow the table in elementwise-helpers.ts: floats as numbers (accumulated in double),
// integers as exact bigints (wrapped to the dtype's width when stored).
import type { DType, Tensor } from '../../formats/tensor.ts';
import { sizeOf, stridesOf } from '../../formats/tensor.ts';
import { isFloat } from '../../formats/dtype.ts';
import type { Attributes, Kernel, KernelContext, KernelTable } from '../kernel.ts';
import { KernelError, required } from '../kernel.ts';
import { broadcastIndex } from './broadcast.ts';
import type { Value } from './elementwise-helpers.ts';
import {
  FLOAT_DTYPES, NUMERIC_DTYPES,
  build, checkDType, intRange, intsOf, normalizeAxes, normalizeAxis, numeric, valuesOf,
} from './elementwise-helpers.ts';

// ======================================================================================================
// Grouping: which output position each input element lands on
// ======================================================================================================

/**
 * For a reduction of a tensor of `dims` over `axes`: the dims with those axes kept as 1, and for each input
 * element (row-major) the flat index of its output position in those dims.
 */
function groupIndex(dims: readonly number[], axes: readonly number[]): { keptDims: number[]; target: Int32Array } {
  const keptDims = dims.map((d, i) => (axes.includes(i) ? 1 : d));
  return { keptDims, target: broadcastIndex(keptDims, dims) };
}

/**
 * Folds the elements of `x` that reduce onto each output position; `fold` gets them in row-major order
 * (so along a single axis, in axis order) and may get none when a reduced axis has size 0.
 */
function reduce(x: Tensor, axes: readonly number[], keepdims: boolean, outDtype: DType, fold: (values: Value[]) => Value): Tensor {
  const { keptDims, target } = groupIndex(x.dims, axes);
  const groups = Array.from({ length: sizeOf(keptDims) }, (): Value[] => []);
  const values = valuesOf(x);
  for (let i = 0; i < values.length; i++) groups[target[i]!]!.push(values[i]!);
  const outDims = keepdims ? keptDims : x.dims.filter((_, i) => !axes.includes(i));
  return build(outDtype, outDims, (o) => fold(groups[o]!));
}

// ======================================================================================================
// Reduce*
// ======================================================================================================

/**
 * The axes a Reduce* node folds, or null when it passes its input through. Before opset `inputFrom`
 * (13 for ReduceSum, 18 for the others) they are the `axes` attribute; from then on optional input 1,
 * and an empty or absent list means "all axes" unless noop_with_empty_axes=1 says "none".
 */
function reductionAxes(
  inputs: readonly (Tensor | undefined)[], attrs: Attributes, ctx: KernelContext, inputFrom: number, rank: number,
): number[] | null {
  let axes: number[];
  if (ctx.opset < inputFrom) {
    if (inputs[1]) throw new KernelError(`axes is an attribute before opset ${inputFrom}, not an input`);
    axes = attrs.ints('axes', []);
  } else {
    if (attrs.has('axes')) throw new KernelError(`axes is input 1 from opset ${inputFrom}, not an attribute`);
    axes = inputs[1] ? intsOf(inputs[1], 'axes') : [];
    if (axes.length === 0 && attrs.int('noop_with_empty_axes', 0) === 1) return null;
  }
  if (axes.length === 0) return Array.from({ length: rank }, (_, i) => i);
  return normalizeAxes(axes, rank);
}

/** A Reduce* op: `make` gets the dtype and returns the fold over one output position's values. */
function reduction(make: (dtype: DType) => (values: Value[]) => Value, inputFrom = 18): Kernel {
  return (inputs, attrs, ctx) => {
    const x = required(inputs, 0);
    checkDType(x, NUMERIC_DTYPES, 'data');
    const axes = reductionAxes(inputs, attrs, ctx, inputFrom, x.dims.length);
    if (axes === null) return [x];
    return [reduce(x, axes, attrs.int('keepdims', 1) === 1, x.dtype, make(x.dtype))];
  };
}

/** Sum of numbers (floats) or bigints (integers); 0 for none. */
function sumOf(dtype: DType, values: Value[]): Value {
  return isFloat(dtype)
    ? (values as number[]).reduce((s, v) => s + v, 0)
    : (values as bigint[]).reduce((s, v) => s + v, 0n);
}

/** Product of numbers (floats) or bigints (integers); 1 for none. */
function productOf(dtype: DType, values: Value[]): Value {
  return isFloat(dtype)
    ? (values as number[]).reduce((p, v) => p * v, 1)
    : (values as bigint[]).reduce((p, v) => p * v, 1n);
}

/**
 * Largest (or smallest) value; NaN wins. Over no values: -Infinity (+Infinity) for floats and the dtype's
 * smallest (largest) value for integers, as opset 18 specifies.
 */
function extreme(dtype: DType, which: 'max' | 'min'): (values: Value[]) => Value {
  if (isFloat(dtype)) {
    const pick = which === 'max' ? Math.max : Math.min;
    return (values) => (values as number[]).reduce((m, v) => pick(m, v), which === 'max' ? -Infinity : Infinity);
  }
  const [min, max] = intRange(dtype);
  return which === 'max'
    ? (values) => (values as bigint[]).reduce((m, v) => (v > m ? v : m), min)
    : (values) => (values as bigint[]).reduce((m, v) => (v < m ? v : m), max);
}

const reductions: KernelTable = {
  ReduceSum: reduction((dtype) => (values) => sumOf(dtype, values), 13),
  ReduceProd: reduction((dtype) => (values) => productOf(dtype, values)),
  ReduceMax: reduction((dtype) => extreme(dtype, 'max')),
  ReduceMin: reduction((dtype) => extreme(dtype, 'min')),
  /** Integer means truncate toward zero; the mean of no values is NaN (0 for integers). */
  ReduceMean: reduction((dtype) => (values) => {
    const total = sumOf(dtype, values);
    if (typeof total === 'number') return total / values.length;
    return values.length === 0 ? 0n : (total as bigint) / BigInt(values.length);
  }),
  /** √(Σ x²); integer results truncate toward zero. */
  ReduceL2: reduction((dtype) => {
    const square = numeric(dtype, (v) => v * v, (v) => v * v);
    return (values) => Math.sqrt(Number(sumOf(dtype, values.map((v) => square(v)))));
  }),
};

// ======================================================================================================
// ArgMax, CumSum, Softmax
// ======================================================================================================

/** Index (int64) of the largest value along `axis`: the first one, or the last with select_last_index=1. */
const ArgMax: Kernel = (inputs, attrs) => {
  const x = required(inputs, 0);
  checkDType(x, NUMERIC_DTYPES, 'data');
  const axis = normalizeAxis(attrs.int('axis', 0), x.dims.length);
  if (x.dims[axis] === 0) throw new KernelError(`ArgMax over axis ${axis} of size 0`);
  const keepdims = attrs.int('keepdims', 1) === 1;
  const last = attrs.int('select_last_index', 0) === 1;
  const better = last
    ? numeric(x.dtype, (a, b) => a >= b, (a, b) => a >= b)
    : numeric(x.dtype, (a, b) => a > b, (a, b) => a > b);
  return [reduce(x, [axis], keepdims, 'int64', (values) => {
    let best = 0;
    for (let k = 1; k < values.length; k++) if (better(values[k]!, values[best]!)) best = k;
    return BigInt(best);
  })];
};

/**
 * Running sums along the axis given by input 1 (a 0-D or one-element int32/int64 tensor). exclusive=1
 * leaves out the element itself; reverse=1 runs from the end of the axis.
 */
const CumSum: Kernel = (inputs, attrs) => {
  const x = required(inputs, 0);
  checkDType(x, [...FLOAT_DTYPES, 'int32', 'int64', 'uint32', 'uint64'], 'x');
  const axisValues = intsOf(required(inputs, 1), 'axis');
  if (axisValues.length !== 1) throw new KernelError(`CumSum 'axis' must hold one value, got ${axisValues.length}`);
  const axis = normalizeAxis(axisValues[0]!, x.dims.length);
  const exclusive = attrs.int('exclusive', 0) === 1;
  const reverse = attrs.int('reverse', 0) === 1;
  const values = valuesOf(x);
  const add = numeric(x.dtype, (a, b) => a + b, (a, b) => a + b);
  const n = x.dims[axis]!;
  const stride = stridesOf(x.dims)[axis]!;
  const out = new Array<Value>(values.length);
  for (let start = 0; start < values.length; start++) {
    if (Math.floor(start / stride) % n !== 0) continue; // not the first element of a line along `axis`
    let total: Value = isFloat(x.dtype) ? 0 : 0n;
    for (let step = 0; step < n; step++) {
      const at = start + (reverse ? n - 1 - step : step) * stride;
      if (exclusive) out[at] = total;
      total = add(total, values[at]!);
      if (!exclusive) out[at] = total;
    }
  }
  return [build(x.dtype, x.dims, (i) => out[i]!)];
};

/**
 * exp(x - max) / Σ exp(x - max) over the normalized axes. From opset 13 that is the single `axis`
 * (default -1); before, the input is seen as 2-D split at `axis` (default 1), so every axis from `axis` on.
 */
const Softmax: Kernel = (inputs, attrs, ctx) => {
  const x = required(inputs, 0);
  checkDType(x, FLOAT_DTYPES, 'input');
  const rank = x.dims.length;
  const axes = ctx.opset < 13
    ? Array.from({ length: rank }, (_, i) => i).slice(normalizeAxis(attrs.int('axis', 1), rank))
    : [normalizeAxis(attrs.int('axis', -1), rank)];
  const { keptDims, target } = groupIndex(x.dims, axes);
  const values = valuesOf(x) as ArrayLike<number>;
  const max = new Float64Array(sizeOf(keptDims)).fill(-Infinity);
  const total = new Float64Array(sizeOf(keptDims));
  for (let i = 0; i < values.length; i++) max[target[i]!] = Math.max(max[target[i]!]!, values[i]!);
  for (let i = 0; i < values.length; i++) total[target[i]!] += Math.exp(values[i]! - max[target[i]!]!);
  return [build(x.dtype, x.dims, (i) => Math.exp(values[i]! - max[target[i]!]!) / total[target[i]!]!)];
};

export const kernels: KernelTable = { ...reductions, ArgMax, CumSum, Softmax };
