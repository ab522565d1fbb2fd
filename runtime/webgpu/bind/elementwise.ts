// Binders of the element-wise shaders (compiler/codegen/wgsl/elementwise.ts).
import { sizeOf } from '../../../formats/tensor.ts';
import type { GpuBinder } from '../binder.ts';
import { gridBlocks } from './grid.ts';

/** y = f(x), every element: n elements, grid-stride over `blocks` workgroups. */
const unary: GpuBinder = ([x]) => {
  const n = sizeOf(x!.dims);
  return { outputs: [x!.dims], values: { n, blocks: gridBlocks(n) } };
};

export const elementwiseBinders = { unary };
