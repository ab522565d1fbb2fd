// The binder of every WebGPU call kind (see ../binder.ts), by GpuCall.kind.
import type { GpuBinder } from '../binder.ts';
import { convBinders } from './conv.ts';
import { elementwiseBinders } from './elementwise.ts';
import { linearAlgebraBinders } from './linear-algebra.ts';
import { normalizeBinders } from './normalize.ts';
import { onebitBinders } from './onebit.ts';
import { tensorOpsBinders } from './tensor-ops.ts';

export const GPU_BINDERS: Readonly<Record<string, GpuBinder>> = Object.freeze({
  ...elementwiseBinders,
  ...onebitBinders,
  ...tensorOpsBinders,
  ...linearAlgebraBinders, ...normalizeBinders, ...convBinders,
});
