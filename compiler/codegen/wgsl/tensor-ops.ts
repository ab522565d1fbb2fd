// Data-movement WGSL kernels (float32): Transpose, Slice, Expand and Tile as one strided copy, Concat, Split
// and Gather. One thread per output element (per input element for Split), grid-stride over `blocks`
// workgroups. The index math is unrolled for the rank; every size the IR knows (runtime/webgpu/bind/
// tensor-ops.ts computes them from the known dims and constant inputs) is a WGSL constant recorded in
// GpuCall.sizes, the others come from Params, computed by the binder from the run's dims and host inputs.
import type { Tensor } from '../../../formats/tensor.ts';
import { ELEMENTWISE_WORKGROUP } from '../../../runtime/webgpu/bind/grid.ts';
import type { Layout, Maybe, SliceArgs } from '../../../runtime/webgpu/bind/tensor-ops.ts';
import {
  concatLayout, expandLayout, gatherLayout, hostInts, MAX_PARTS, MAX_STRIDED_RANK, sliceLayout, splitLayout,
  splitSizes, tileLayout, transposeLayout,
} from '../../../runtime/webgpu/bind/tensor-ops.ts';
import type { GpuConstantLayout } from '../../../runtime/plan.ts';
import type { Dim, IrAttr, IrNode } from '../../ir/graph.ts';
import type { GpuKernel, GpuKernelContext, GpuKernelFamily } from './kernel.ts';
import { describe, ShaderBuilder } from './shader.ts';

const WG = ELEMENTWISE_WORKGROUP;

/** Sizes of one shader: constants where the layout knows them (recorded in `sizes`), Params otherwise. */
class Sizes {
  readonly sizes: Record<string, number> = {};

  constructor(readonly b: ShaderBuilder, private readonly known: Readonly<Record<string, Maybe>>) {}

  /** A u32 size. */
  u(name: string): string {
    const v = this.known[name];
    if (v === undefined) return this.b.param(name);
    this.sizes[name] = v;
    return `${v}u`;
  }

  /** An i32 offset or stride (negative for a Slice's negative steps). */
  i(name: string): string {
    const v = this.known[name];
    if (v === undefined) return this.b.param(name, 'i32');
    this.sizes[name] = v;
    return v < 0 ? `(${v}i)` : `${v}i`;
  }

  value(name: string): Maybe {
    return this.known[name];
  }
}

/** The grid-stride loop over `n` elements around `body` (which uses `i`). */
function gridLoop(n: string, body: string): string {
  return `let stride = nwg.x * ${WG}u;
for (var i = gid.x; i < ${n}; i += stride) {
${body.trim().split('\n').map((l) => `  ${l}`).join('\n')}
}`;
}

/** float32 input with a known rank: its dims as the IR knows them. */
function floatDims(ctx: GpuKernelContext, name: string | undefined): Maybe[] | undefined {
  const type = ctx.type(name);
  if (type?.dtype !== 'float32' || !type.shape) return undefined;
  return type.shape.map((d) => (typeof d === 'number' ? d : undefined));
}

const isIntType = (ctx: GpuKernelContext, name: string | undefined): boolean => {
  const dtype = ctx.type(name)?.dtype;
  return dtype === 'int64' || dtype === 'int32';
};

/** Integer values of a constant input; undefined when it is not a constant. */
const constantInts = (ctx: GpuKernelContext, name: string | undefined): number[] | undefined =>
  hostInts(ctx.constant(name) as Tensor | undefined);

const intsAttr = (a: IrAttr | undefined): number[] | undefined =>
  (Array.isArray(a) && a.every((x) => typeof x === 'number') ? a as number[] : undefined);

function resolveAxis(a: IrAttr | undefined, fallback: number, rank: number): number | undefined {
  const axis = typeof a === 'number' ? a : fallback;
  return Number.isInteger(axis) && axis >= -rank && axis < rank ? (axis + rank) % rank : undefined;
}

/** Constant float inputs among `bindings`: uploaded once at load. */
function constantsOf(node: IrNode, ctx: GpuKernelContext, bindings: readonly number[]): Record<number, GpuConstantLayout> {
  const constants: Record<number, GpuConstantLayout> = {};
  for (const i of bindings) if (ctx.constant(node.inputs[i])) constants[i] = 'f32';
  return constants;
}

const shapeText = (ctx: GpuKernelContext, names: readonly string[]): string =>
  names.map((n) => describe(ctx.type(n)?.dtype ?? '?', ctx.type(n)?.shape)).join(', ');

const header = (node: IrNode, ctx: GpuKernelContext, inputs: readonly string[]): string =>
  `${shapeText(ctx, inputs)} → ${shapeText(ctx, node.outputs)}`;

// ---- strided copy: Transpose, Slice, Expand, Tile ----

/**
 * y[i] = x[base + Σₖ cₖ · sₖ] where cₖ are i's coordinates in y (d₀ … d_{r-1}); with `modulo` (Tile),
 * cₖ mod eₖ instead. Output dims the layout does not know are taken from the IR where it knows them.
 */
function stridedKernel(node: IrNode, ctx: GpuKernelContext, kind: string, layout: Layout | undefined, options: { base?: boolean; modulo?: boolean } = {}): GpuKernel | undefined {
  if (!layout) return undefined;
  const outShape: readonly Dim[] | undefined = ctx.type(node.outputs[0])?.shape;
  const rank = layout.outputs[0]!.length;
  if (rank > MAX_STRIDED_RANK || (outShape && outShape.length !== rank)) return undefined;
  const known: Record<string, Maybe> = { ...layout.values };
  for (let k = 0; k < rank; k++) {
    const d = outShape?.[k];
    if (known[`d${k}`] === undefined && typeof d === 'number') known[`d${k}`] = d;
  }
  const b = new ShaderBuilder(node.op, header(node, ctx, [node.inputs[0]!]));
  const s = new Sizes(b, known);
  const n = s.u('n');
  b.storage('x', 'f32', 'read').storage('y', 'f32', 'read_write');
  const lines: string[] = [`var src = ${options.base ? s.i('base') : '0i'};`];
  if (rank > 0) lines.unshift('var rem = i;');
  for (let k = rank - 1; k >= 0; k--) {
    if (s.value(`d${k}`) === 1) continue; // coordinate always 0
    const c = k === 0 ? 'rem' : `rem % ${s.u(`d${k}`)}`;
    const coord = options.modulo ? `(${c}) % ${s.u(`e${k}`)}` : c;
    const known = s.value(`s${k}`);
    const term = known === 0 ? undefined : known === 1 ? `i32(${coord})` : `i32(${coord}) * ${s.i(`s${k}`)}`;
    if (term) lines.push(`src += ${term}; // axis ${k}`);
    if (k > 0) lines.push(`rem /= ${s.u(`d${k}`)};`);
  }
  lines.push('y[i] = x[u32(src)];');
  const shader = b.build([WG], gridLoop(n, lines.join('\n')));
  return { kind, bindings: [0], constants: constantsOf(node, ctx, [0]), dispatch: [['blocks', 1]], sizes: { ...s.sizes, rank }, shader };
}

function transposeKernel(node: IrNode, ctx: GpuKernelContext): GpuKernel | undefined {
  const dims = floatDims(ctx, node.inputs[0]);
  if (!dims || node.inputs.length !== 1) return undefined;
  const perm = intsAttr(node.attrs['perm']) ?? dims.map((_, k) => dims.length - 1 - k);
  if (perm.length !== dims.length || [...perm].sort((a, b) => a - b).some((p, k) => p !== k)) return undefined;
  return stridedKernel(node, ctx, 'transpose', transposeLayout(dims, perm));
}

function sliceKernel(node: IrNode, ctx: GpuKernelContext): GpuKernel | undefined {
  const dims = floatDims(ctx, node.inputs[0]);
  if (!dims) return undefined;
  let args: SliceArgs | undefined;
  if (ctx.opset < 10) {
    const starts = intsAttr(node.attrs['starts']);
    const ends = intsAttr(node.attrs['ends']);
    if (!starts || !ends) return undefined;
    args = { starts, ends, axes: intsAttr(node.attrs['axes']) };
  } else {
    const given = node.inputs.slice(1, 5);
    if (given.length < 2 || !given[0] || !given[1] || given.some((name) => name && !isIntType(ctx, name))) return undefined;
    const [starts, ends, axes, steps] = [0, 1, 2, 3].map((i) => constantInts(ctx, given[i]));
    const constant = starts && ends && (!given[2] || axes) && (!given[3] || steps);
    args = constant ? { starts, ends, axes, steps } : undefined;
  }
  return stridedKernel(node, ctx, 'slice', sliceLayout(dims, args), { base: true });
}

function expandKernel(node: IrNode, ctx: GpuKernelContext): GpuKernel | undefined {
  const dims = floatDims(ctx, node.inputs[0]);
  const rank = ctx.type(node.outputs[0])?.shape?.length;
  if (!dims || rank === undefined || !isIntType(ctx, node.inputs[1])) return undefined;
  return stridedKernel(node, ctx, 'expand', expandLayout(dims, rank, constantInts(ctx, node.inputs[1])));
}

function tileKernel(node: IrNode, ctx: GpuKernelContext): GpuKernel | undefined {
  const dims = floatDims(ctx, node.inputs[0]);
  if (!dims || !isIntType(ctx, node.inputs[1])) return undefined;
  return stridedKernel(node, ctx, 'tile', tileLayout(dims, constantInts(ctx, node.inputs[1])), { modulo: true });
}

// ---- Concat and Split: outer × (rows along the axis) × inner ----

/** The part j of a row `c` along the axis belongs to, as an if/else chain over the parts' offsets. */
function partChain(s: Sizes, count: number, statement: (j: number) => string): string {
  if (count === 1) return statement(0);
  const lines: string[] = [];
  for (let j = 0; j < count; j++) {
    const test = j === count - 1 ? '' : `if (c < ${s.u(`off${j + 1}`)}) `;
    lines.push(`${j === 0 ? '' : '} else '}${test}{`, `  ${statement(j)}`);
  }
  lines.push('}');
  return lines.join('\n');
}

const rowsOf = (s: Sizes) => `let q = i % ${s.u('inner')};
let t = i / ${s.u('inner')};
let c = t % ${s.u('total')};
let o = t / ${s.u('total')};`;

/** Row c of input j, within its own rows: c − off_j (the first part starts at 0). */
const local = (s: Sizes, j: number) => (j === 0 ? 'c' : `c - ${s.u(`off${j}`)}`);

function concatKernel(node: IrNode, ctx: GpuKernelContext): GpuKernel | undefined {
  const parts = node.inputs.map((name) => (name ? floatDims(ctx, name) : undefined));
  if (parts.length < 1 || parts.length > MAX_PARTS || parts.some((p) => !p)) return undefined;
  const rank = parts[0]!.length;
  const axis = resolveAxis(node.attrs['axis'], ctx.opset < 4 ? 1 : NaN, rank);
  if (axis === undefined) return undefined;
  const layout = concatLayout(parts as Maybe[][], axis);
  if (!layout) return undefined;
  const b = new ShaderBuilder('Concat', `${header(node, ctx, node.inputs)}, axis ${axis}`);
  const s = new Sizes(b, layout.values);
  const n = s.u('n');
  parts.forEach((_, j) => b.storage(`x${j}`, 'f32', 'read'));
  b.storage('y', 'f32', 'read_write');
  const body = `${rowsOf(s)}
${partChain(s, parts.length, (j) => `y[i] = x${j}[(o * ${s.u(`len${j}`)} + ${local(s, j)}) * ${s.u('inner')} + q];`)}`;
  const bindings = parts.map((_, j) => j);
  return { kind: 'concat', bindings, constants: constantsOf(node, ctx, bindings), dispatch: [['blocks', 1]], sizes: { ...s.sizes, axis }, shader: b.build([WG], gridLoop(n, body)) };
}

function splitKernel(node: IrNode, ctx: GpuKernelContext): GpuKernel | undefined {
  const dims = floatDims(ctx, node.inputs[0]);
  const count = node.outputs.length;
  if (!dims || count < 1 || count > MAX_PARTS || node.outputs.some((o) => !o)) return undefined;
  const axis = resolveAxis(node.attrs['axis'], 0, dims.length);
  if (axis === undefined) return undefined;
  const splitInput = ctx.opset >= 13 ? node.inputs[1] || undefined : undefined;
  if (splitInput && !isIntType(ctx, splitInput)) return undefined;
  let sizes: number[] | undefined;
  const given = splitInput ? constantInts(ctx, splitInput) : undefined;
  const total = dims[axis];
  const attrs = {
    has: (name: string) => node.attrs[name] !== undefined,
    ints: (name: string) => intsAttr(node.attrs[name]) ?? [],
    int: (name: string, fallback?: number) => (typeof node.attrs[name] === 'number' ? node.attrs[name] as number : fallback!),
  };
  // Known now: a constant split input, the split attribute, or equal parts of a known axis.
  if (given || (!splitInput && (attrs.has('split') || total !== undefined))) sizes = splitSizes(total ?? 0, count, given, attrs);
  const layout = splitLayout(dims, axis, count, sizes);
  if (!layout) return undefined;
  const b = new ShaderBuilder('Split', `${header(node, ctx, [node.inputs[0]!])}, axis ${axis}`);
  const s = new Sizes(b, layout.values);
  const n = s.u('n');
  b.storage('x', 'f32', 'read');
  node.outputs.forEach((_, j) => b.storage(`y${j}`, 'f32', 'read_write'));
  const body = `${rowsOf(s)}
${partChain(s, count, (j) => `y${j}[(o * ${s.u(`len${j}`)} + ${local(s, j)}) * ${s.u('inner')} + q] = x[i];`)}`;
  return { kind: 'split', bindings: [0], constants: constantsOf(node, ctx, [0]), outputs: count, dispatch: [['blocks', 1]], sizes: { ...s.sizes, axis }, shader: b.build([WG], gridLoop(n, body)) };
}

// ---- Gather ----

/**
 * y = x gathered along `axis` at host int indices (uploaded as i32; negative ones count from the end, the
 * binder rejects out-of-range ones): y is outer × count × inner. With axis 0 of a constant [rows, width]
 * table, an embedding lookup.
 */
function gatherKernel(node: IrNode, ctx: GpuKernelContext): GpuKernel | undefined {
  const dims = floatDims(ctx, node.inputs[0]);
  const indexShape = ctx.type(node.inputs[1])?.shape;
  if (!dims || !indexShape || !isIntType(ctx, node.inputs[1]) || dims.length === 0) return undefined;
  const axis = resolveAxis(node.attrs['axis'], 0, dims.length);
  if (axis === undefined) return undefined;
  const layout = gatherLayout(dims, axis, indexShape.map((d) => (typeof d === 'number' ? d : undefined)));
  const b = new ShaderBuilder('Gather', `${header(node, ctx, node.inputs)}, axis ${axis}`);
  const s = new Sizes(b, layout.values);
  const n = s.u('n');
  b.storage('x', 'f32', 'read').storage('indices', 'i32', 'read').storage('y', 'f32', 'read_write');
  const body = `let q = i % ${s.u('inner')};
let t = i / ${s.u('inner')};
let k = t % ${s.u('count')};
let o = t / ${s.u('count')};
let index = indices[k];
let row = u32(select(index, index + i32(${s.u('len')}), index < 0i));
y[i] = x[(o * ${s.u('len')} + row) * ${s.u('inner')} + q];`;
  return { kind: 'gather', bindings: [0, 1], constants: constantsOf(node, ctx, [0]), dispatch: [['blocks', 1]], sizes: { ...s.sizes, axis }, shader: b.build([WG], gridLoop(n, body)) };
}

const KERNELS: Readonly<Record<string, (node: IrNode, ctx: GpuKernelContext) => GpuKernel | undefined>> = {
  Transpose: transposeKernel,
  Slice: sliceKernel,
  Expand: expandKernel,
  Tile: tileKernel,
  Concat: concatKernel,
  Split: splitKernel,
  Gather: gatherKernel,
};

export const tensorOpsKernel: GpuKernelFamily = (node, ctx) => (node.domain === '' ? KERNELS[node.op]?.(node, ctx) : undefined);
