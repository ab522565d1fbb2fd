// onebitc's fused ops: patterns the compiler recognises in imported graphs and runs as one node.
import type { Tensor } from '../../formats/tensor.ts';
import { tensor } from '../../formats/tensor.ts';
import type { Kernel, KernelTable } from '../kernel.ts';
import { KernelError, required } from '../kernel.ts';

/**
 * RMSNorm over the last axis: y = x / sqrt(mean(x²) + epsilon) ⊙ weight — the Llama norm that PyTorch exports
 * as Pow → ReduceMean → Add → Sqrt → Div/Reciprocal → Mul → Mul. Float32, evaluated in the exported order.
 */
const RMSNorm: Kernel = (inputs, attrs) => {
  const x = required(inputs, 0);
  const weight = inputs[1];
  if (x.dtype !== 'float32') throw new KernelError(`x must be float32, got ${x.dtype}`);
  const width = x.dims.at(-1) ?? 1;
  if (weight && (weight.dtype !== 'float32' || weight.data.length !== width)) {
    throw new KernelError(`weight must be float32 [${width}], got ${weight.dtype} [${weight.dims.join(', ')}]`);
  }
  const eps = Math.fround(attrs.float('epsilon'));
  const xs = x.data as Float32Array;
  const ws = weight?.data as Float32Array | undefined;
  const y = new Float32Array(xs.length);
  const f = Math.fround;
  for (let base = 0; base < xs.length; base += width) {
    let sum = 0;
    for (let i = 0; i < width; i++) sum = f(sum + f(xs[base + i]! * xs[base + i]!));
    const inv = f(1 / f(Math.sqrt(f(f(sum / width) + eps))));
    for (let i = 0; i < width; i++) y[base + i] = ws ? f(ws[i]! * f(xs[base + i]! * inv)) : f(xs[base + i]! * inv);
  }
  return [tensor('float32', x.dims, y) as Tensor];
};

export const kernels: KernelTable = { RMSNorm };
