// 2-D image WGSL kernels over NCHW: Conv (constant W, groups incl. depthwise, dilations, bias, any
// auto_pad), MaxPool/AveragePool and GlobalAveragePool. Kernel size, strides, dilations and channels are
// constants; the image size and the padding (which SAME_* derives from it) come per run from
// runtime/webgpu/bind/conv.ts. Flatten after GlobalAveragePool is a view (the executor's host).
import { ELEMENTWISE_WORKGROUP } from '../../../runtime/webgpu/bind/grid.ts';
import { CONV_WORKGROUP } from '../../../runtime/webgpu/bind/conv.ts';
import type { IrNode } from '../../ir/graph.ts';
import type { GpuKernelContext, GpuKernelFamily } from './kernel.ts';
import { reduceRowsShader } from './normalize.ts';
import { describe, ShaderBuilder } from './shader.ts';

const FLOAT_CONSTANT = new Set(['float32', 'float16', 'bfloat16']);
const AUTO_PADS = new Set(['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID']);

/** An int-list attribute of `length` values (default `fallback` each), or undefined when malformed. */
function ints(node: IrNode, name: string, length: number, fallback: number): number[] | undefined {
  const v = node.attrs[name] ?? new Array<number>(length).fill(fallback);
  return Array.isArray(v) && v.length === length && v.every((x) => typeof x === 'number') ? v as number[] : undefined;
}

/** x: a float32 run-time value of rank 4 (N, C, H, W); its C when known. */
function image(ctx: GpuKernelContext, name: string | undefined): { channels: number | undefined } | undefined {
  const type = ctx.type(name);
  if (type?.dtype !== 'float32' || type.shape?.length !== 4 || ctx.constant(name)) return undefined;
  const c = type.shape[1];
  return { channels: typeof c === 'number' ? c : undefined };
}

/** The window attributes shared by Conv and the poolings: strides, dilations, auto_pad, pads. */
function windowAttrs(node: IrNode): { strides: number[]; dilations: number[] } | undefined {
  const strides = ints(node, 'strides', 2, 1);
  const dilations = ints(node, 'dilations', 2, 1);
  const pads = ints(node, 'pads', 4, 0);
  const autoPad = node.attrs['auto_pad'] ?? 'NOTSET';
  if (!strides || !dilations || !pads || typeof autoPad !== 'string' || !AUTO_PADS.has(autoPad)) return undefined;
  if ([...strides, ...dilations].some((v) => v < 1) || pads.some((v) => v < 0)) return undefined;
  return { strides, dilations };
}

// ---- Conv ----

/**
 * Conv: y [N, M, OH, OW] = W [M, C/group, KH, KW] ⋆ x [N, C, H, W] (+ B [M]). One thread per output pixel
 * and block of MB output channels of one group (x read once for MB products); the weights read are the
 * same for the whole workgroup.
 */
export const convKernel: GpuKernelFamily = (node, ctx) => {
  if (node.domain !== '' || node.op !== 'Conv') return undefined;
  const [xName, wName, bName] = node.inputs;
  const x = image(ctx, xName);
  const w = ctx.constant(wName);
  const win = windowAttrs(node);
  if (!x || !win || !w || !FLOAT_CONSTANT.has(w.dtype) || w.dims.length !== 4) return undefined;
  const [M, CG, KH, KW] = w.dims as [number, number, number, number];
  const group = (node.attrs['group'] as number | undefined) ?? 1;
  const C = CG * group;
  const bias = bName ? ctx.constant(bName) : undefined;
  if (group < 1 || M % group !== 0 || (x.channels !== undefined && x.channels !== C)) return undefined;
  if (bName && (!bias || !FLOAT_CONSTANT.has(bias.dtype) || bias.dims.reduce((a, d) => a * d, 1) !== M)) return undefined;
  const kernel = ints(node, 'kernel_shape', 2, 0);
  if (node.attrs['kernel_shape'] !== undefined && (!kernel || kernel[0] !== KH || kernel[1] !== KW)) return undefined;
  const MG = M / group;
  const MB = MG % 4 === 0 ? 4 : MG % 2 === 0 ? 2 : 1; // output channels per thread
  const perGroup = MG / MB;
  const planesPerImage = group * perGroup;
  const [SH, SW] = win.strides as [number, number];
  const [DH, DW] = win.dilations as [number, number];

  const b = new ShaderBuilder('Conv', `${describe('float32', ctx.type(xName)?.shape)} ⋆ ${describe(w.dtype, w.dims)}, group ${group}, strides ${SH}×${SW}, dilations ${DH}×${DW}`);
  const [h, wd, oh, ow, pt, pl] = ['h', 'w', 'oh', 'ow', 'pt', 'pl'].map((p) => b.param(p));
  b.storage('x', 'f32', 'read').storage('weight', 'f32', 'read');
  if (bName) b.storage('bias', 'f32', 'read');
  b.storage('y', 'f32', 'read_write');
  const KHW = KH * KW;
  const shader = b.build([CONV_WORKGROUP], `
let pix = wid.x * ${CONV_WORKGROUP}u + lid.x;
// plane = (n, group g, block of ${MB} output channels)
let n = wid.y / ${planesPerImage}u;
let g = (wid.y % ${planesPerImage}u) / ${perGroup}u;
let m0 = g * ${MG}u + (wid.y % ${perGroup}u) * ${MB}u;
let pixels = ${oh} * ${ow};
if (pix < pixels) {
  let oy = i32(pix / ${ow}) * ${SH} - i32(${pt});
  let ox = i32(pix % ${ow}) * ${SW} - i32(${pl});
  var acc: array<f32, ${MB}>;
  for (var c = 0u; c < ${CG}u; c++) {
    let plane = (n * ${C}u + g * ${CG}u + c) * ${h} * ${wd};
    let taps = (m0 * ${CG}u + c) * ${KHW}u;
    ${windowTaps({ KH, KW, DH, DW, h, wd }, `
let v = x[plane + u32(iy) * ${wd} + u32(ix)];
for (var j = 0u; j < ${MB}u; j++) {
  acc[j] = fma(v, weight[taps + j * ${CG * KHW}u + ky * ${KW}u + kx], acc[j]);
}`)}
  }
  for (var j = 0u; j < ${MB}u; j++) {
    y[(n * ${M}u + m0 + j) * pixels + pix] = acc[j]${bName ? ' + bias[m0 + j]' : ''};
  }
}`);
  return {
    kind: 'conv',
    bindings: bName ? [0, 1, 2] : [0, 1],
    constants: bName ? { 1: 'f32', 2: 'f32' } : { 1: 'f32' } as Record<number, 'f32'>,
    dispatch: [['pixels', CONV_WORKGROUP], ['planes', 1]],
    sizes: { c: C, m: M, kh: KH, kw: KW, planesPerImage },
    shader,
  };
};

/**
 * WGSL running `body` for every tap (ky, kx) of a 2-D window starting at (oy, ox) that falls inside the h × wd
 * input (dilations DH, DW), with iy, ix the tap's position; shared by Conv and the pools.
 */
function windowTaps(w: { KH: number; KW: number; DH: number; DW: number; h: string; wd: string }, body: string): string {
  return `for (var ky = 0u; ky < ${w.KH}u; ky++) {
  let iy = oy + i32(ky * ${w.DH}u);
  if (iy < 0 || iy >= i32(${w.h})) {
    continue;
  }
  for (var kx = 0u; kx < ${w.KW}u; kx++) {
    let ix = ox + i32(kx * ${w.DW}u);
    if (ix >= 0 && ix < i32(${w.wd})) {${body.replace(/\n/g, '\n      ')}
    }
  }
}`;
}

// ---- MaxPool, AveragePool ----

/** MaxPool (output Indices unused) and AveragePool (count_include_pad) over 2-D windows, ceil_mode included. */
export const poolKernel: GpuKernelFamily = (node, ctx) => {
  if (node.domain !== '' || (node.op !== 'MaxPool' && node.op !== 'AveragePool')) return undefined;
  const max = node.op === 'MaxPool';
  const x = image(ctx, node.inputs[0]);
  const win = windowAttrs(node);
  const kernel = ints(node, 'kernel_shape', 2, 0);
  if (!x || !win || !kernel || kernel.some((k) => k < 1) || node.outputs.slice(1).some((o) => o !== '')) return undefined;
  if (max && (node.attrs['storage_order'] ?? 0) !== 0) return undefined;
  const [KH, KW] = kernel as [number, number];
  const [SH, SW] = win.strides as [number, number];
  const [DH, DW] = win.dilations as [number, number];
  const includePad = !max && node.attrs['count_include_pad'] === 1;

  const b = new ShaderBuilder(node.op, `${describe('float32', ctx.type(node.inputs[0])?.shape)}, kernel ${KH}×${KW}, strides ${SH}×${SW}, dilations ${DH}×${DW}${includePad ? ', count_include_pad' : ''}`);
  const total = b.param('total');
  const [h, wd, oh, ow, pt, pl] = ['h', 'w', 'oh', 'ow', 'pt', 'pl'].map((p) => b.param(p));
  b.storage('x', 'f32', 'read').storage('y', 'f32', 'read_write');
  const tap = max ? 'best = max(best, v);' : 'sum += v;\ncount += 1u;';
  // count_include_pad: the divisor counts taps inside the input and its explicit padding (not beyond)
  const divisor = includePad
    ? `f32(inside(oy, ${KH}u, ${DH}u, ${h}, ${pt}, ${b.param('pb')}) * inside(ox, ${KW}u, ${DW}u, ${wd}, ${pl}, ${b.param('pr')}))`
    : 'f32(count)';
  if (includePad) {
    b.declare(`
// taps of a window starting at \`start\` that fall inside [-pad_begin, size + pad_end)
fn inside(start: i32, taps: u32, dilation: u32, size: u32, pad_begin: u32, pad_end: u32) -> u32 {
  var count = 0u;
  for (var k = 0u; k < taps; k++) {
    let i = start + i32(k * dilation);
    if (i >= -i32(pad_begin) && i < i32(size + pad_end)) {
      count += 1u;
    }
  }
  return count;
}`);
  }
  const shader = b.build([ELEMENTWISE_WORKGROUP], `
let stride = nwg.x * ${ELEMENTWISE_WORKGROUP}u;
for (var o = gid.x; o < ${total}; o += stride) {
  let plane = o / (${oh} * ${ow});
  let oy = i32((o / ${ow}) % ${oh}) * ${SH} - i32(${pt});
  let ox = i32(o % ${ow}) * ${SW} - i32(${pl});
  let base = plane * ${h} * ${wd};
  ${max ? 'var best = -3.4028234663852886e38;' : 'var sum = 0.0;\n  var count = 0u;'}
  ${windowTaps({ KH, KW, DH, DW, h, wd }, `
let v = x[base + u32(iy) * ${wd} + u32(ix)];
${tap}`)}
  y[o] = ${max ? 'best' : `sum / ${divisor}`};
}`);
  return { kind: 'pool', bindings: [0], dispatch: [['blocks', 1]], sizes: { kh: KH, kw: KW }, shader };
};

// ---- GlobalAveragePool ----

/** GlobalAveragePool: the mean of every (n, c) plane, one workgroup each (the last-axis ReduceMean's shader). */
export const globalAveragePoolKernel: GpuKernelFamily = (node, ctx) => {
  if (node.domain !== '' || node.op !== 'GlobalAveragePool') return undefined;
  const type = ctx.type(node.inputs[0]);
  if (type?.dtype !== 'float32' || !type.shape || type.shape.length < 3 || ctx.constant(node.inputs[0])) return undefined;
  const spatial = type.shape.slice(2);
  const known = spatial.every((d) => typeof d === 'number') ? (spatial as number[]).reduce((a, d) => a * d, 1) : undefined;
  const shader = reduceRowsShader('GlobalAveragePool', `${describe('float32', type.shape)} (per plane)`, 'add', true, known);
  return { kind: 'global-average-pool', bindings: [0], dispatch: [['gx', 1], ['gy', 1]], sizes: known === undefined ? {} : { width: known } as Record<string, number>, shader };
};
