// Row WGSL kernels: one workgroup per row of the last axis (or per image plane), its threads striding over
// the row and combining their partial results in workgroup memory (a tree reduction). Softmax (max-
// subtracted), RMSNorm (ours, domain ai.onebitc), LayerNormalization, InstanceNormalization and
// ReduceMean/ReduceSum/ReduceMax over the last axis; BatchNormalization (inference) is element-wise.
// Sizing per run: runtime/webgpu/bind/normalize.ts.
import { ELEMENTWISE_WORKGROUP } from '../../../runtime/webgpu/bind/grid.ts';
import { ROW_WORKGROUP } from '../../../runtime/webgpu/bind/normalize.ts';
import type { GpuConstantLayout } from '../../../runtime/plan.ts';
import type { Tensor } from '../../../formats/tensor.ts';
import type { IrNode } from '../../ir/graph.ts';
import { smallInts } from '../../ir/constant-values.ts';
import type { GpuKernel, GpuKernelContext, GpuKernelFamily } from './kernel.ts';
import type { GeneratedShader } from './shader.ts';
import { describe, f32Literal, ShaderBuilder } from './shader.ts';

const FLOAT_CONSTANT = new Set(['float32', 'float16', 'bfloat16']);
/** -FLT_MAX: the start of a max (WGSL has no infinity literal). */
const LOWEST = '-3.4028234663852886e38';
const ROW_DISPATCH: [string, number][] = [['gx', 1], ['gy', 1]];

// ---- building blocks ----

/** Threads of a row workgroup: a power of two, fewer for short rows known at compile time. */
function rowWorkgroup(width: number | undefined): number {
  if (width === undefined) return ROW_WORKGROUP;
  let threads = 32;
  while (threads < width && threads < ROW_WORKGROUP) threads *= 2;
  return threads;
}

/**
 * Combines every thread's `value` with `op` (a WGSL binary function: `max`, or `+` written as `add`) and
 * names the result `result`, the same in every thread. Needs `red` (array<f32, threads>); barriers are
 * in uniform control flow as long as the caller's are.
 */
function workgroupReduce(op: 'add' | 'max', value: string, result: string, threads: number): string {
  const combine = op === 'add' ? 'red[lid.x] + red[lid.x + s]' : 'max(red[lid.x], red[lid.x + s])';
  return `
red[lid.x] = ${value};
workgroupBarrier();
for (var s = ${threads / 2}u; s > 0u; s >>= 1u) {
  if (lid.x < s) {
    red[lid.x] = ${combine};
  }
  workgroupBarrier();
}
let ${result} = red[0];
workgroupBarrier();`;
}

/** A loop of the row's elements owned by this thread: `i` is the index within the row. */
function rowLoop(width: string, threads: number, body: string): string {
  return `for (var i = lid.x; i < ${width}; i += ${threads}u) {\n  ${body}\n}`;
}

/** A row shader: `body` runs for row `row` (elements x[base .. base + width)), guarded by p.rows. */
function rowShader(b: ShaderBuilder, threads: number, body: string): GeneratedShader {
  b.declare(`var<workgroup> red: array<f32, ${threads}>;`);
  const rows = b.param('rows');
  return b.build([threads], `
let row = wid.x + wid.y * nwg.x;
if (row < ${rows}) {
${body.trim().split('\n').map((l) => (l ? `  ${l}` : l)).join('\n')}
}`);
}

/** Index of the last axis, normalized, or undefined when the rank is unknown and axis is not -1. */
function isLastAxis(axis: number, rank: number | undefined): boolean {
  return axis === -1 || (rank !== undefined && axis === rank - 1);
}

/** A float constant of `count` values (or 1 when `scalarOk`), or undefined. */
function floatConstant(ctx: GpuKernelContext, name: string | undefined, count: number | undefined, scalarOk = false): Tensor | undefined {
  const t = ctx.constant(name);
  if (!t || !FLOAT_CONSTANT.has(t.dtype)) return undefined;
  const size = t.dims.reduce((a, d) => a * d, 1);
  return size === count || (scalarOk && size === 1) ? t : undefined;
}

/** Only the first output is used (optional extra outputs, e.g. LayerNormalization's mean, are not). */
const firstOutputOnly = (node: IrNode) => node.outputs.slice(1).every((o) => o === '');

function rowKernel(kind: string, shader: GeneratedShader, width: number | undefined, constants: number[], extra: Record<string, number> = {}): GpuKernel {
  const layouts: Record<number, GpuConstantLayout> = Object.fromEntries(constants.map((i) => [i, 'f32' as const]));
  return {
    kind,
    bindings: [0, ...constants],
    constants: layouts,
    dispatch: ROW_DISPATCH,
    sizes: { ...(width === undefined ? {} : { width }), ...extra },
    shader,
  };
}

/** The f32 input x [..., width]: its width if known, and whether the node fits at all. */
function lastAxisInput(ctx: GpuKernelContext, node: IrNode): { width: number | undefined; rank: number } | undefined {
  const x = node.inputs[0];
  const type = ctx.type(x);
  if (type?.dtype !== 'float32' || !type.shape || ctx.constant(x)) return undefined;
  const last = type.shape.at(-1);
  return { width: typeof last === 'number' ? last : undefined, rank: type.shape.length };
}

// ---- Softmax ----

/** Softmax over the last axis: opset ≥ 13 `axis` (default -1), or an older opset's axis when it is the last. */
export const softmaxKernel: GpuKernelFamily = (node, ctx) => {
  if (node.domain !== '' || node.op !== 'Softmax') return undefined;
  const input = lastAxisInput(ctx, node);
  const axis = (node.attrs['axis'] as number | undefined) ?? (ctx.opset >= 13 ? -1 : 1);
  if (!input || input.rank < 1 || !isLastAxis(axis, input.rank)) return undefined;
  const b = new ShaderBuilder('Softmax', `${describe('float32', ctx.type(node.inputs[0])?.shape)} (last axis)`);
  const threads = rowWorkgroup(input.width);
  const width = b.size('width', input.width);
  b.storage('x', 'f32', 'read').storage('y', 'f32', 'read_write');
  const shader = rowShader(b, threads, `
let base = row * ${width};
var local_max = ${LOWEST};
${rowLoop(width, threads, 'local_max = max(local_max, x[base + i]);')}
${workgroupReduce('max', 'local_max', 'row_max', threads)}
var local_sum = 0.0;
${rowLoop(width, threads, 'local_sum += exp(x[base + i] - row_max);')}
${workgroupReduce('add', 'local_sum', 'total', threads)}
${rowLoop(width, threads, 'y[base + i] = exp(x[base + i] - row_max) / total;')}`);
  return rowKernel('softmax', shader, input.width, []);
};

// ---- RMSNorm, LayerNormalization, InstanceNormalization ----

/** RMSNorm (ai.onebitc): y = x / sqrt(mean(x²) + epsilon) ⊙ weight, as runtime/kernels/fused.ts. */
export const rmsNormKernel: GpuKernelFamily = (node, ctx) => {
  if (node.domain !== 'ai.onebitc' || node.op !== 'RMSNorm') return undefined;
  const input = lastAxisInput(ctx, node);
  const axis = (node.attrs['axis'] as number | undefined) ?? -1;
  if (!input || input.rank < 1 || !isLastAxis(axis, input.rank) || typeof node.attrs['epsilon'] !== 'number') return undefined;
  const weightName = node.inputs[1];
  const weight = weightName ? floatConstant(ctx, weightName, input.width) : undefined;
  if (weightName && (!weight || input.width === undefined)) return undefined;
  const b = new ShaderBuilder('RMSNorm', `${describe('float32', ctx.type(node.inputs[0])?.shape)}${weight ? ' ⊙ weight' : ''}`);
  const threads = rowWorkgroup(input.width);
  const width = b.size('width', input.width);
  b.storage('x', 'f32', 'read');
  if (weight) b.storage('w', 'f32', 'read');
  b.storage('y', 'f32', 'read_write');
  const scaled = weight ? 'w[i] * (x[base + i] * inv)' : 'x[base + i] * inv';
  const shader = rowShader(b, threads, `
let base = row * ${width};
var local_sum = 0.0;
${rowLoop(width, threads, 'local_sum += x[base + i] * x[base + i];')}
${workgroupReduce('add', 'local_sum', 'total', threads)}
let inv = 1.0 / sqrt(total / f32(${width}) + ${f32Literal(node.attrs['epsilon'])});
${rowLoop(width, threads, `y[base + i] = ${scaled};`)}`);
  return rowKernel('rms-norm', shader, input.width, weight ? [1] : []);
};

/**
 * (x - mean) / sqrt(var + epsilon) · scale + bias over each row of `width`; scale and bias are indexed by
 * `param` (the position in the row, 0 for one value, or the row's channel).
 */
function normalizeShader(b: ShaderBuilder, threads: number, width: string, epsilon: number, param: string | undefined, bias: boolean): GeneratedShader {
  const scaled = param === undefined ? '(x[base + i] - mean) * inv' : `(x[base + i] - mean) * inv * scale[${param}]`;
  return rowShader(b, threads, `
let base = row * ${width};
var local_sum = 0.0;
${rowLoop(width, threads, 'local_sum += x[base + i];')}
${workgroupReduce('add', 'local_sum', 'total', threads)}
let mean = total / f32(${width});
var local_var = 0.0;
${rowLoop(width, threads, 'let d = x[base + i] - mean;\n  local_var += d * d;')}
${workgroupReduce('add', 'local_var', 'total_var', threads)}
let inv = 1.0 / sqrt(total_var / f32(${width}) + ${f32Literal(epsilon)});
${rowLoop(width, threads, `y[base + i] = ${scaled}${bias ? ` + bias[${param}]` : ''};`)}`);
}

/** LayerNormalization over the last axis, scale and optional bias constants of `width` values (or one). */
export const layerNormKernel: GpuKernelFamily = (node, ctx) => {
  if (node.domain !== '' || node.op !== 'LayerNormalization' || !firstOutputOnly(node)) return undefined;
  const input = lastAxisInput(ctx, node);
  const axis = (node.attrs['axis'] as number | undefined) ?? -1;
  const stash = (node.attrs['stash_type'] as number | undefined) ?? 1;
  if (!input || input.width === undefined || input.rank < 1 || !isLastAxis(axis, input.rank) || stash !== 1) return undefined;
  const scale = floatConstant(ctx, node.inputs[1], input.width, true);
  const bias = node.inputs[2] ? floatConstant(ctx, node.inputs[2], input.width, true) : undefined;
  if (!scale || (node.inputs[2] && !bias)) return undefined;
  const sizeOne = (t: Tensor) => t.dims.reduce((a, d) => a * d, 1) === 1 && input.width !== 1;
  // scale and bias share one index: both per position, or both one value
  if (bias && sizeOne(scale) !== sizeOne(bias)) return undefined;
  const b = new ShaderBuilder('LayerNormalization', `${describe('float32', ctx.type(node.inputs[0])?.shape)} (last axis)`);
  const threads = rowWorkgroup(input.width);
  const width = b.size('width', input.width);
  b.storage('x', 'f32', 'read').storage('scale', 'f32', 'read');
  if (bias) b.storage('bias', 'f32', 'read');
  b.storage('y', 'f32', 'read_write');
  const epsilon = (node.attrs['epsilon'] as number | undefined) ?? 1e-5;
  const shader = normalizeShader(b, threads, width, epsilon, sizeOne(scale) ? '0u' : 'i', !!bias);
  return rowKernel('layer-norm', shader, input.width, bias ? [1, 2] : [1]);
};

/** InstanceNormalization: x [N, C, ...spatial], each (n, c) plane normalized, scale and B constants [C]. */
export const instanceNormKernel: GpuKernelFamily = (node, ctx) => {
  if (node.domain !== '' || node.op !== 'InstanceNormalization') return undefined;
  const type = ctx.type(node.inputs[0]);
  const channels = type?.shape?.[1];
  if (type?.dtype !== 'float32' || !type.shape || type.shape.length < 3 || typeof channels !== 'number' || ctx.constant(node.inputs[0])) return undefined;
  if (!floatConstant(ctx, node.inputs[1], channels) || !floatConstant(ctx, node.inputs[2], channels)) return undefined;
  const spatial = type.shape.slice(2);
  const known = spatial.every((d) => typeof d === 'number') ? (spatial as number[]).reduce((a, d) => a * d, 1) : undefined;
  const b = new ShaderBuilder('InstanceNormalization', `${describe('float32', type.shape)} (per plane)`);
  const threads = rowWorkgroup(known);
  const width = b.size('width', known);
  b.storage('x', 'f32', 'read').storage('scale', 'f32', 'read').storage('bias', 'f32', 'read').storage('y', 'f32', 'read_write');
  const epsilon = (node.attrs['epsilon'] as number | undefined) ?? 1e-5;
  const shader = normalizeShader(b, threads, width, epsilon, `row % ${channels}u`, true);
  // the binder checks the channels; `width` (the plane) is a size only when it is known
  return rowKernel('instance-norm', shader, known, [1, 2], { channels });
};

// ---- ReduceMean, ReduceSum, ReduceMax over the last axis ----

/** Each reduction's fold, and the opset from which its axes are input 1 rather than an attribute. */
const REDUCE: Readonly<Record<string, { op: 'add' | 'max'; mean: boolean; axesInputFrom: number }>> = {
  ReduceMean: { op: 'add', mean: true, axesInputFrom: 18 },
  ReduceSum: { op: 'add', mean: false, axesInputFrom: 13 },
  ReduceMax: { op: 'max', mean: false, axesInputFrom: 18 },
};

/** The last-axis reduction's shader: y[row] = fold(x[row, :]). Shared with GlobalAveragePool (conv.ts). */
export function reduceRowsShader(op: string, shapes: string, fold: 'add' | 'max', mean: boolean, knownWidth: number | undefined): GeneratedShader {
  const b = new ShaderBuilder(op, shapes);
  const threads = rowWorkgroup(knownWidth);
  const width = b.size('width', knownWidth);
  b.storage('x', 'f32', 'read').storage('y', 'f32', 'read_write');
  const start = fold === 'max' ? LOWEST : '0.0';
  const step = fold === 'max' ? 'local = max(local, x[base + i]);' : 'local += x[base + i];';
  return rowShader(b, threads, `
let base = row * ${width};
var local = ${start};
${rowLoop(width, threads, step)}
${workgroupReduce(fold, 'local', 'result', threads)}
if (lid.x == 0u) {
  y[row] = ${mean ? `result / f32(${width})` : 'result'};
}`);
}

/** ReduceMean/ReduceSum/ReduceMax with axes = [last] (attribute or constant input, by opset), any keepdims. */
export const reduceLastKernel: GpuKernelFamily = (node, ctx) => {
  const spec = node.domain === '' ? REDUCE[node.op] : undefined;
  const input = spec && lastAxisInput(ctx, node);
  if (!spec || !input || input.rank < 1) return undefined;
  const axes = ctx.opset >= spec.axesInputFrom
    ? (node.inputs[1] ? smallInts(ctx.constant(node.inputs[1])) : undefined)
    : (node.attrs['axes'] as number[] | undefined);
  if (!axes || axes.length !== 1 || !isLastAxis(axes[0]!, input.rank)) return undefined;
  const keepdims = (node.attrs['keepdims'] as number | undefined) ?? 1;
  const shader = reduceRowsShader(node.op, `${describe('float32', ctx.type(node.inputs[0])?.shape)} (last axis)`, spec.op, spec.mean, input.width);
  return { ...rowKernel('reduce-last', shader, input.width, [], { keepdims: keepdims === 0 ? 0 : 1 }), bindings: [0] };
};

// ---- BatchNormalization ----

/** BatchNormalization in inference mode: y = (x - mean[c]) / sqrt(var[c] + epsilon) · scale[c] + B[c]. */
export const batchNormKernel: GpuKernelFamily = (node, ctx) => {
  if (node.domain !== '' || node.op !== 'BatchNormalization' || !firstOutputOnly(node)) return undefined;
  if (ctx.opset >= 14 && node.attrs['training_mode'] === 1) return undefined;
  const type = ctx.type(node.inputs[0]);
  const channels = type?.shape?.[1];
  if (type?.dtype !== 'float32' || !type.shape || type.shape.length < 2 || typeof channels !== 'number' || ctx.constant(node.inputs[0])) return undefined;
  if (![1, 2, 3, 4].every((i) => floatConstant(ctx, node.inputs[i], channels))) return undefined;
  const b = new ShaderBuilder('BatchNormalization', `${describe('float32', type.shape)} (inference)`);
  const n = b.param('n');
  const spatial = b.param('spatial');
  b.storage('x', 'f32', 'read').storage('scale', 'f32', 'read').storage('bias', 'f32', 'read')
    .storage('mean', 'f32', 'read').storage('variance', 'f32', 'read').storage('y', 'f32', 'read_write');
  const epsilon = (node.attrs['epsilon'] as number | undefined) ?? 1e-5;
  const shader = b.build([ELEMENTWISE_WORKGROUP], `
let stride = nwg.x * ${ELEMENTWISE_WORKGROUP}u;
for (var i = gid.x; i < ${n}; i += stride) {
  let c = (i / ${spatial}) % ${channels}u;
  y[i] = (x[i] - mean[c]) / sqrt(variance[c] + ${f32Literal(epsilon)}) * scale[c] + bias[c];
}`);
  return {
    kind: 'batch-norm',
    bindings: [0, 1, 2, 3, 4],
    constants: { 1: 'f32', 2: 'f32', 3: 'f32', 4: 'f32' },
    dispatch: [['blocks', 1]],
    sizes: { channels },
    shader,
  };
};
