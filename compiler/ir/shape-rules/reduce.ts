// Reductions: Reduce* (axes as attribute or input, by opset), ArgMax, TopK.
import type { Dim } from '../graph.ts';
import type { Inferred, ShapeRule } from './common.ts';
import { attrInt, axesArg, fail, freshShape, knownInts, normAxis, scalarOf } from './common.ts';
import { dimAdd, dimMul } from './dims.ts';

/** Output shape of a reduction over `axes` (undefined axes = all, unless noop_with_empty_axes). */
export function reducedShape(shape: readonly Dim[], axes: number[] | undefined, keepdims: boolean, noopWithEmptyAxes: boolean): Dim[] {
  if ((axes === undefined || axes.length === 0) && noopWithEmptyAxes) return [...shape];
  const reduce = new Set((axes === undefined || axes.length === 0) ? shape.map((_, i) => i) : axes.map((a) => normAxis(a, shape.length)));
  const out: Dim[] = [];
  shape.forEach((d, i) => {
    if (!reduce.has(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

type Fold = (a: Dim, b: Dim) => Dim | undefined;

/** ReduceX: axes are an attribute before `axesInputSince`, the optional input 1 from then on. */
function reduce(axesInputSince: number, fold?: Fold): ShapeRule {
  return (ctx) => {
    const x = ctx.input(0);
    const keepdims = attrInt(ctx.node, 'keepdims', 1) === 1;
    const noop = attrInt(ctx.node, 'noop_with_empty_axes', 0) === 1;
    const { axes, known } = axesArg(ctx, axesInputSince, 1);
    const out: Inferred = { dtype: x.dtype };
    if (!x.shape) return [out];
    if (known) {
      out.shape = reducedShape(x.shape, axes, keepdims, noop);
      const v = ctx.value(0);
      const all = axes === undefined || axes.length === 0 ? !noop : axes.length === x.shape.length;
      if (fold && v && all && v.data.length > 0) {
        let acc: Dim | undefined = v.data[0]!;
        for (const e of v.data.slice(1)) acc = acc === undefined ? undefined : fold(acc, e);
        if (acc !== undefined) out.value = { dims: out.shape.map(() => 1), data: [acc] };
      }
      return [out];
    }
    // Axes only known at run time.
    const axesShape = ctx.input(1).shape;
    if (keepdims) out.shape = freshShape(ctx, x.shape.length);
    else if (axesShape && typeof axesShape[0] === 'number') out.shape = freshShape(ctx, x.shape.length - axesShape[0]);
    return [out];
  };
}

const numFold = (f: (a: number, b: number) => number): Fold => (a, b) =>
  typeof a === 'number' && typeof b === 'number' ? f(a, b) : undefined;

const argMax: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  const keepdims = attrInt(ctx.node, 'keepdims', 1) === 1;
  if (!x.shape) return [{ dtype: 'int64' }];
  const axis = normAxis(attrInt(ctx.node, 'axis', 0), x.shape.length);
  return [{ dtype: 'int64', shape: reducedShape(x.shape, [axis], keepdims, false) }];
};

/** TopK: k is an attribute before opset 10, input 1 (a 1-element int64 tensor) from then on. */
const topK: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  let k: Dim | undefined;
  if (ctx.opset < 10) {
    k = attrInt(ctx.node, 'k');
    if (k === undefined) fail("attribute 'k' is required before opset 10");
  } else {
    k = scalarOf(ctx.value(1)) ?? knownInts(ctx, 1)?.[0];
  }
  if (typeof k === 'number' && k < 0) fail(`k must be non-negative, got ${k}`);
  if (!x.shape) return [{ dtype: x.dtype }, { dtype: 'int64' }];
  const axis = normAxis(attrInt(ctx.node, 'axis', -1), x.shape.length);
  const d = x.shape[axis]!;
  if (typeof k === 'number' && typeof d === 'number' && k > d) fail(`k = ${k} is larger than dim ${axis} (${d})`);
  const shape = [...x.shape];
  shape[axis] = k ?? ctx.fresh();
  return [{ dtype: x.dtype, shape }, { dtype: 'int64', shape: [...shape] }];
};

export const reduceRules: Record<string, ShapeRule> = {
  ReduceSum: reduce(13, dimAdd),
  ReduceProd: reduce(18, dimMul),
  ReduceMax: reduce(18, numFold(Math.max)),
  ReduceMin: reduce(18, numFold(Math.min)),
  ReduceMean: reduce(18),
  ReduceL2: reduce(18),
  ArgMax: argMax,
  TopK: topK,
};

