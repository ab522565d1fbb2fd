// Our ops. OneBitLinear(x [..., in], sign uint8 [out, ceil(in/8)], g [in], h [out], bias? [out]) → float32 [..., out]
// (attrs in, out; alpha; post_norm_eps ≥ 0 when present: the post-LayerNorm over the output width);
// the fused RMSNorm.
import type { Dim } from '../graph.ts';
import type { ShapeRule } from './common.ts';
import { attrFloat, attrInt, fail } from './common.ts';
import { dimEquals, formatShape } from './dims.ts';

function expectShape(what: string, shape: readonly Dim[] | undefined, want: Dim[]): void {
  if (!shape) return;
  const ok = shape.length === want.length && shape.every((d, i) => typeof d !== 'number' || typeof want[i] !== 'number' || dimEquals(d, want[i]!));
  if (!ok) fail(`${what} has shape ${formatShape(shape)}, expected ${formatShape(want)}`);
}

const oneBitLinear: ShapeRule = (ctx) => {
  const inF = attrInt(ctx.node, 'in');
  const outF = attrInt(ctx.node, 'out');
  if (inF === undefined || outF === undefined) fail("attributes 'in' and 'out' are required");
  if (ctx.node.attrs['post_norm_eps'] !== undefined) {
    const eps = attrFloat(ctx.node, 'post_norm_eps', 0);
    if (!(eps >= 0 && Number.isFinite(eps))) fail(`attribute 'post_norm_eps' must be a finite number ≥ 0, got ${eps}`);
  }
  const x = ctx.input(0);
  expectShape('sign', ctx.input(1).shape, [outF, Math.ceil(inF / 8)]);
  expectShape('g', ctx.input(2).shape, [inF]);
  expectShape('h', ctx.input(3).shape, [outF]);
  if (ctx.has(4)) expectShape('bias', ctx.input(4).shape, [outF]);
  if (!x.shape) return [{ dtype: 'float32' }];
  if (x.shape.length === 0) fail('x must have rank ≥ 1');
  const last = x.shape[x.shape.length - 1]!;
  if (typeof last === 'number' && last !== inF) fail(`x ${formatShape(x.shape)} has ${last} features, expected in = ${inF}`);
  return [{ dtype: 'float32', shape: [...x.shape.slice(0, -1), outF] }];
};

/** RMSNorm(x [..., width], weight? [width]) → float32 [..., width]. */
const rmsNorm: ShapeRule = (ctx) => {
  const x = ctx.input(0);
  const width = x.shape?.at(-1);
  if (ctx.has(1) && width !== undefined) expectShape('weight', ctx.input(1).shape, [width]);
  return [{ dtype: 'float32', ...(x.shape ? { shape: [...x.shape] } : {}) }];
};

export const oneBitRules: Record<string, ShapeRule> = {
  OneBitLinear: oneBitLinear,
  RMSNorm: rmsNorm,
};
