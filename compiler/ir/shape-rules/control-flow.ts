// Control flow: If and Loop. Their bodies are subgraphs inferred in place; outer-scope values stay visible.
import type { Dim, ValueType } from '../graph.ts';
import type { ShapeContext, ShapeRule } from './common.ts';
import { attrGraph, fail, scalarOf } from './common.ts';
import { dimEquals, formatShape } from './dims.ts';

/** The type a value has whichever of `a`, `b` it comes from: dims that differ become fresh symbols. */
function join(ctx: ShapeContext, a: ValueType | undefined, b: ValueType | undefined, what: string): ValueType | undefined {
  if (!a || !b) return a ?? b;
  if (a.dtype !== b.dtype) fail(`${what}: dtype ${a.dtype} vs ${b.dtype}`);
  if (!a.shape || !b.shape || a.shape.length !== b.shape.length) return { dtype: a.dtype };
  const shape = a.shape.map((d, i): Dim => (dimEquals(d, b.shape![i]!) ? d : ctx.fresh()));
  return { dtype: a.dtype, shape };
}

const ifRule: ShapeRule = (ctx) => {
  const thenBranch = attrGraph(ctx.node, 'then_branch');
  const elseBranch = attrGraph(ctx.node, 'else_branch');
  const a = ctx.inferSubgraph(thenBranch, []);
  const b = ctx.inferSubgraph(elseBranch, []);
  const n = ctx.node.outputs.length;
  if (a.length !== n || b.length !== n) {
    fail(`then_branch has ${a.length} outputs and else_branch ${b.length}, but the node has ${n}`);
  }
  const cond = scalarOf(ctx.value(0));
  if (typeof cond === 'number') return cond !== 0 ? a : b;
  return a.map((t, i) => join(ctx, t, b[i], `output ${i} differs between branches`));
};

/** Loop(M?, cond?, v_initial...) with body(iter, cond, v...) → (cond, v..., scan...). */
const loop: ShapeRule = (ctx) => {
  const body = attrGraph(ctx.node, 'body');
  const n = ctx.node.inputs.length - 2;
  if (n < 0) fail('needs at least the inputs M and cond (either may be omitted with \'\')');
  if (body.inputs.length !== n + 2) fail(`body has ${body.inputs.length} inputs, expected ${n + 2} (iteration, cond and ${n} loop-carried)`);
  const k = body.outputs.length - 1 - n;
  if (k < 0) fail(`body has ${body.outputs.length} outputs, expected at least ${n + 1} (cond and ${n} loop-carried)`);
  const initial = Array.from({ length: n }, (_, i) => ctx.input(i + 2));
  const counters: ValueType[] = [{ dtype: 'int64', shape: [] }, { dtype: 'bool', shape: [] }];
  let outs = ctx.inferSubgraph(body, [...counters, ...initial]);
  let carried = initial.map((t, i) => join(ctx, t, outs[i + 1], `loop-carried value ${i} changes dtype in the body`) ?? t);
  const changed = carried.some((t, i) => formatShape(t.shape) !== formatShape(initial[i]!.shape));
  if (changed) {
    outs = ctx.inferSubgraph(body, [...counters, ...carried]);
    carried = carried.map((t, i) => join(ctx, t, outs[i + 1], `loop-carried value ${i} changes dtype in the body`) ?? t);
  }
  const m = ctx.has(1) ? undefined : scalarOf(ctx.value(0));
  const trips: Dim = typeof m === 'number' ? m : ctx.fresh();
  const scans = outs.slice(1 + n).map((t) => (t ? { dtype: t.dtype, shape: t.shape ? [trips, ...t.shape] : undefined } : undefined));
  return [...carried, ...scans];
};

export const controlFlowRules: Record<string, ShapeRule> = {
  If: ifRule,
  Loop: loop,
};
