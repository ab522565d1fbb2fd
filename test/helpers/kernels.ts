// Calls one reference kernel from the op table directly, as the interpreter would for a single node.
import type { Tensor } from '../../formats/tensor.ts';
import type { AttrValue } from '../../runtime/graph.ts';
import { Attributes } from '../../runtime/kernel.ts';
import type { KernelContext } from '../../runtime/kernel.ts';
import { KERNELS } from '../../runtime/kernels/index.ts';

export function kernelContext(opset = 17, outputCount = 1): KernelContext {
  return { opset, outputCount, runSubgraph: () => { throw new Error('no subgraphs in kernel tests'); } };
}

export function runKernel(op: string, inputs: readonly (Tensor | undefined)[], attrs: Record<string, AttrValue> = {}, opset = 17, outputCount = 1): Tensor[] {
  const kernel = KERNELS[op];
  if (!kernel) throw new Error(`no kernel for ${op}`);
  return kernel(inputs, new Attributes(attrs), kernelContext(opset, outputCount));
}
