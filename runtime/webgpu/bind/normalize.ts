// Binders of the row shaders (compiler/codegen/wgsl/normalize.ts): one workgroup per row of `width`
// elements for Softmax, RMSNorm, LayerNormalization, InstanceNormalization and the last-axis reductions;
// and the element-wise BatchNormalization. Rows are laid over a 2-D grid (x up to MAX_GRID_X, then y),
// so the shaders index row = wid.x + wid.y · nwg.x and skip rows past `rows`.
import { sizeOf } from '../../../formats/tensor.ts';
import type { GpuBinder } from '../binder.ts';
import { gridBlocks } from './grid.ts';

/** Most threads of a row workgroup (the shader uses fewer for short rows it knows at compile time). */
export const ROW_WORKGROUP = 256;
/** Workgroups along x of a row grid. */
export const MAX_GRID_X = 65535;

/** Workgroups along x and y for one workgroup per row. */
export function rowGrid(rows: number): { gx: number; gy: number } {
  return rows <= MAX_GRID_X ? { gx: rows, gy: 1 } : { gx: MAX_GRID_X, gy: Math.ceil(rows / MAX_GRID_X) };
}

/** The run's last axis matches the width the shader was specialised to (when it was). */
function lastAxis(dims: readonly number[], sizes: Readonly<Record<string, number>>): number | undefined {
  const width = dims.length ? dims.at(-1)! : 1;
  return sizes['width'] === undefined || sizes['width'] === width ? width : undefined;
}

/** y has x's dims; each last-axis row is normalized on its own (Softmax, RMSNorm, LayerNormalization). */
const rows: GpuBinder = ([x], call) => {
  const width = lastAxis(x!.dims, call.sizes);
  if (width === undefined) return undefined;
  const count = width === 0 ? 0 : sizeOf(x!.dims) / width;
  return { outputs: [x!.dims], values: { rows: count, width, ...rowGrid(count) } };
};

/** ReduceMean/ReduceSum/ReduceMax over the last axis: keepdims (call.sizes.keepdims) keeps it as 1. */
const reduceLast: GpuBinder = ([x], call) => {
  const dims = x!.dims;
  const width = lastAxis(dims, call.sizes);
  if (width === undefined || dims.length === 0 || width === 0) return undefined; // an empty reduction: the host's identity rules
  const count = sizeOf(dims) / width;
  const out = call.sizes['keepdims'] === 0 ? dims.slice(0, -1) : [...dims.slice(0, -1), 1];
  return { outputs: [out], values: { rows: count, width, ...rowGrid(count) } };
};

/** InstanceNormalization: x [N, C, ...spatial], one row per (n, c) plane of every spatial position. */
const instanceNorm: GpuBinder = ([x], call) => {
  const dims = x!.dims;
  if (dims.length < 3 || dims[1] !== call.sizes['channels']) return undefined;
  const width = sizeOf(dims.slice(2));
  const count = dims[0]! * dims[1]!;
  return { outputs: [dims], values: { rows: count, width, ...rowGrid(count) } };
};

/** BatchNormalization (inference): x [N, C, ...spatial] element-wise; `spatial` positions per channel. */
const batchNorm: GpuBinder = ([x], call) => {
  const dims = x!.dims;
  if (dims.length < 2 || dims[1] !== call.sizes['channels']) return undefined;
  const n = sizeOf(dims);
  return { outputs: [dims], values: { n, spatial: sizeOf(dims.slice(2)), blocks: gridBlocks(n) } };
};

export const normalizeBinders = {
  softmax: rows,
  'rms-norm': rows,
  'layer-norm': rows,
  'reduce-last': reduceLast,
  'instance-norm': instanceNorm,
  'batch-norm': batchNorm,
};
