// Every WGSL kernel family, in the order emit-webgpu.ts tries them (the first that takes a node wins).
import { convKernel, globalAveragePoolKernel, poolKernel } from './conv.ts';
import { binaryKernel, unaryKernel, whereKernel } from './elementwise.ts';
import type { GpuKernelFamily } from './kernel.ts';
import { gemmKernel, matmulKernel } from './linear-algebra.ts';
import { batchNormKernel, instanceNormKernel, layerNormKernel, reduceLastKernel, rmsNormKernel, softmaxKernel } from './normalize.ts';
import { onebitLinearKernel } from './onebit-linear.ts';
import { tensorOpsKernel } from './tensor-ops.ts';

export const GPU_KERNEL_FAMILIES: readonly GpuKernelFamily[] = [
  onebitLinearKernel,
  unaryKernel,
  binaryKernel,
  whereKernel,
  tensorOpsKernel,
  matmulKernel, gemmKernel, softmaxKernel, rmsNormKernel, layerNormKernel, instanceNormKernel, reduceLastKernel, batchNormKernel, convKernel, poolKernel, globalAveragePoolKernel,
];
