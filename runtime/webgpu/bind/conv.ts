// Binders of the 2-D image shaders (compiler/codegen/wgsl/conv.ts): Conv, MaxPool/AveragePool and
// GlobalAveragePool over NCHW. The window geometry (output size, padding from auto_pad) is worked out
// here per run, as the reference kernels do (runtime/kernels/nn.ts); kernel size, strides, dilations and
// channels are the shader's constants.
import { sizeOf } from '../../../formats/tensor.ts';
import type { Attributes } from '../../kernel.ts';
import type { GpuBinder } from '../binder.ts';
import { gridBlocks } from './grid.ts';
import { rowGrid } from './normalize.ts';

/** Output pixels per Conv workgroup (one thread each). */
export const CONV_WORKGROUP = 64;

interface Window2d {
  out: [number, number];
  /** Padding before and after, per axis (top, left, bottom, right). */
  pads: [number, number, number, number];
}

/** Output size and padding of a kh × kw window over h × w (NOTSET, SAME_UPPER, SAME_LOWER, VALID; ceil_mode). */
export function window2d(h: number, w: number, kernel: readonly number[], attrs: Attributes, ceilMode: boolean): Window2d | undefined {
  const strides = attrs.ints('strides', [1, 1]);
  const dilations = attrs.ints('dilations', [1, 1]);
  const mode = attrs.string('auto_pad', 'NOTSET');
  const pads = mode === 'NOTSET' ? [...attrs.ints('pads', [0, 0, 0, 0])] : [0, 0, 0, 0];
  const out = [h, w].map((size, a) => {
    const span = (kernel[a]! - 1) * dilations[a]! + 1;
    const s = strides[a]!;
    if (mode === 'SAME_UPPER' || mode === 'SAME_LOWER') {
      const o = Math.ceil(size / s);
      const total = Math.max(0, (o - 1) * s + span - size);
      const small = Math.floor(total / 2);
      pads[a] = mode === 'SAME_UPPER' ? small : total - small;
      pads[a + 2] = total - pads[a]!;
      return o;
    }
    if (mode === 'VALID') return Math.floor((size - span) / s) + 1;
    const room = size + pads[a]! + pads[a + 2]! - span;
    let o = (ceilMode ? Math.ceil(room / s) : Math.floor(room / s)) + 1;
    if (ceilMode && (o - 1) * s >= size + pads[a]!) o--;
    return o;
  });
  if (out.some((o) => !(o >= 1))) return undefined; // the host kernel reports the bad geometry
  return { out: out as [number, number], pads: pads as Window2d['pads'] };
}

/**
 * Conv: x [N, C, H, W] → y [N, M, OH, OW]. One thread per output pixel and block of output channels:
 * grid x = pixel blocks, y = N · planesPerImage (channel blocks of every group).
 */
const conv: GpuBinder = ([x], call, attrs) => {
  const { c, m, kh, kw, planesPerImage } = call.sizes as Record<string, number>;
  const dims = x!.dims;
  if (dims.length !== 4 || dims[1] !== c) return undefined;
  const [n, , h, w] = dims as [number, number, number, number];
  const win = window2d(h, w, [kh!, kw!], attrs, false);
  if (!win) return undefined;
  const [oh, ow] = win.out;
  return {
    outputs: [[n, m!, oh, ow]],
    values: { h, w, oh, ow, pt: win.pads[0], pl: win.pads[1], pixels: oh * ow, planes: n * planesPerImage! },
  };
};

/** MaxPool/AveragePool: x [N, C, H, W] → y [N, C, OH, OW], one thread per output element (grid-stride). */
const pool: GpuBinder = ([x], call, attrs) => {
  const dims = x!.dims;
  if (dims.length !== 4) return undefined;
  const [n, c, h, w] = dims as [number, number, number, number];
  const win = window2d(h, w, [call.sizes['kh']!, call.sizes['kw']!], attrs, attrs.int('ceil_mode', 0) === 1);
  if (!win) return undefined;
  const [oh, ow] = win.out;
  const total = n * c * oh * ow;
  return {
    outputs: [[n, c, oh, ow]],
    values: { h, w, oh, ow, pt: win.pads[0], pl: win.pads[1], pb: win.pads[2], pr: win.pads[3], total, blocks: gridBlocks(total) },
  };
};

/** GlobalAveragePool: x [N, C, ...spatial] → [N, C, 1, ...], one row (workgroup) per plane. */
const globalAveragePool: GpuBinder = ([x], call) => {
  const dims = x!.dims;
  if (dims.length < 3) return undefined;
  const width = sizeOf(dims.slice(2));
  const rows = dims[0]! * dims[1]!;
  if (width === 0 || (call.sizes['width'] !== undefined && call.sizes['width'] !== width)) return undefined;
  return { outputs: [[dims[0]!, dims[1]!, ...dims.slice(2).map(() => 1)]], values: { rows, width, ...rowGrid(rows) } };
};

export const convBinders = { conv, pool, 'global-average-pool': globalAveragePool };
