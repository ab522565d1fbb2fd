// Forward kernels the training step spends its time in, for the shapes attention produces: Add/Sub/Mul where
// one operand is a scalar or a suffix of the other's shape (masks, RoPE tables, scales), Softmax over the
// last axis, and Sigmoid (SiLU). Other cases fall back to the runtime's reference kernels.
import type { Tensor } from '../../../formats/tensor.ts';
import { tensor } from '../../../formats/tensor.ts';
import type { Kernel } from '../../../runtime/kernel.ts';
import { required } from '../../../runtime/kernel.ts';
import { KERNELS } from '../../../runtime/kernels/index.ts';
import { normalizeAxis } from '../../../runtime/kernels/layout.ts';
import { isSuffix } from './broadcast-grad.ts';
import type { Floats } from './floats.ts';
import { allocateFloats, dtypeOf, isFloats } from './floats.ts';

type BinaryOp = 'Add' | 'Sub' | 'Mul';

/** out = x ∘ y with y repeating every `period` elements (1: a scalar); one loop per op so each stays monomorphic. */
function apply(op: BinaryOp, x: Floats, y: Floats, period: number, swapped: boolean, out: Floats): void {
  const n = x.length;
  if (period === 1) {
    const c = y[0]!;
    if (op === 'Add') for (let i = 0; i < n; i++) out[i] = x[i]! + c;
    else if (op === 'Mul') for (let i = 0; i < n; i++) out[i] = x[i]! * c;
    else if (swapped) for (let i = 0; i < n; i++) out[i] = c - x[i]!;
    else for (let i = 0; i < n; i++) out[i] = x[i]! - c;
    return;
  }
  if (op === 'Add') {
    for (let base = 0; base < n; base += period) for (let j = 0; j < period; j++) out[base + j] = x[base + j]! + y[j]!;
  } else if (op === 'Mul') {
    for (let base = 0; base < n; base += period) for (let j = 0; j < period; j++) out[base + j] = x[base + j]! * y[j]!;
  } else if (swapped) {
    for (let base = 0; base < n; base += period) for (let j = 0; j < period; j++) out[base + j] = y[j]! - x[base + j]!;
  } else {
    for (let base = 0; base < n; base += period) for (let j = 0; j < period; j++) out[base + j] = x[base + j]! - y[j]!;
  }
}

function binary(op: BinaryOp): Kernel {
  const fallback = KERNELS[op]!;
  return (inputs, attrs, ctx) => {
    const a = required(inputs, 0);
    const b = required(inputs, 1);
    if (!isFloats(a.data) || !isFloats(b.data) || a.dtype !== b.dtype) return fallback(inputs, attrs, ctx);
    const [big, small, swapped] = a.data.length >= b.data.length ? [a, b, false] : [b, a, true];
    if (!isSuffix(small.dims, big.dims) || small.dims.length > big.dims.length) return fallback(inputs, attrs, ctx);
    const x = big.data as Floats;
    const out = allocateFloats(dtypeOf(x), x.length);
    apply(op, x, small.data as Floats, small.data.length, swapped, out);
    return [tensor(dtypeOf(x), big.dims, out) as Tensor];
  };
}

const softmaxFallback = KERNELS['Softmax']!;
const Softmax: Kernel = (inputs, attrs, ctx) => {
  const x = required(inputs, 0);
  const axis = normalizeAxis(attrs.int('axis', -1), x.dims.length);
  if (!isFloats(x.data) || axis !== x.dims.length - 1) return softmaxFallback(inputs, attrs, ctx);
  const xs = x.data;
  const width = x.dims[axis]!;
  const y = allocateFloats(dtypeOf(xs), xs.length);
  // exp(d) below this underflows to 0 in the output type: masked scores then cost no exp
  const cutoff = y instanceof Float32Array ? -104 : -746;
  for (let base = 0; base < xs.length; base += width) {
    let max = -Infinity;
    for (let i = 0; i < width; i++) if (xs[base + i]! > max) max = xs[base + i]!;
    let sum = 0;
    for (let i = 0; i < width; i++) {
      const d = xs[base + i]! - max;
      const e = d < cutoff ? 0 : Math.exp(d);
      y[base + i] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let i = 0; i < width; i++) y[base + i] *= inv;
  }
  return [tensor(dtypeOf(xs), x.dims, y) as Tensor];
};

/** Sigmoid as one monomorphic loop (the runtime's generic unary kernel calls a closure per element). */
const Sigmoid: Kernel = (inputs, attrs, ctx) => {
  const x = required(inputs, 0);
  if (!isFloats(x.data)) return KERNELS['Sigmoid']!(inputs, attrs, ctx);
  const xs = x.data;
  const y = allocateFloats(dtypeOf(xs), xs.length);
  for (let i = 0; i < xs.length; i++) y[i] = 1 / (1 + Math.exp(-xs[i]!));
  return [tensor(dtypeOf(xs), x.dims, y) as Tensor];
};

export const FAST_KERNELS = {
  Add: binary('Add'),
  Sub: binary('Sub'),
  Mul: binary('Mul'),
  Softmax,
  Sigmoid,
};
