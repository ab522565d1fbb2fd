// Binder of the OneBitLinear shader (compiler/codegen/wgsl/onebit-linear.ts): x [..., in] → y [..., out];
// the grid is (ceil(out / rowsPerGroup), rows of x), or (rows of x) for the post-norm variant.
import { sizeOf } from '../../../formats/tensor.ts';
import type { GpuBinder } from '../binder.ts';

const onebitLinear: GpuBinder = ([x], call) => {
  const { in: inDim, out, rowsPerGroup } = call.sizes as { in: number; out: number; rowsPerGroup: number };
  if (x!.dims.at(-1) !== inDim) return undefined; // the reference kernel reports the mismatch
  const lead = x!.dims.slice(0, -1);
  return { outputs: [[...lead, out]], values: { rows: sizeOf(lead), outBlocks: rowsPerGroup ? Math.ceil(out / rowsPerGroup) : 1 } };
};

export const onebitBinders = { 'onebit-linear': onebitLinear };
