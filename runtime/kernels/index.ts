// The op table: every op the runtime can execute, one kernel each. The compiler accepts exactly these ops.
import type { KernelTable } from '../kernel.ts';
import { kernels as controlFlow } from './control-flow.ts';
import { kernels as elementwise } from './elementwise.ts';
import { kernels as fused } from './fused.ts';
import { kernels as linearAlgebra } from './linear-algebra.ts';
import { kernels as nn } from './nn.ts';
import { kernels as onebit } from './onebit.ts';
import { kernels as reduce } from './reduce.ts';
import { kernels as resize } from './resize.ts';
import { kernels as tensorOps } from './tensor-ops.ts';

export const KERNELS: KernelTable = Object.freeze({
  ...elementwise, ...reduce, ...tensorOps, ...linearAlgebra, ...nn, ...resize, ...controlFlow, ...onebit, ...fused,
});

/** Ops of onebitc's own domain (everything else is default-domain ONNX). */
export const ONEBITC_DOMAIN = 'ai.onebitc';
export const ONEBITC_OPS: readonly string[] = [...Object.keys(onebit), ...Object.keys(fused)];

export const SUPPORTED_OPS: readonly string[] = Object.keys(KERNELS).sort();
