// Softmax, RMSNorm (onebitc's fused op; its forward here also runs in float64 for gradient checks) and
// LayerNormalization: forward where needed, and their VJPs over the normalised axis.
import type { Tensor } from '../../../formats/tensor.ts';
import { tensor } from '../../../formats/tensor.ts';
import type { Kernel } from '../../../runtime/kernel.ts';
import { required } from '../../../runtime/kernel.ts';
import { normalizeAxis, product } from '../../../runtime/kernels/layout.ts';
import type { Floats } from './floats.ts';
import { allocateFloats, dtypeOf, floatsOf } from './floats.ts';
import type { Vjp, VjpTable } from './vjp.ts';
import { gradFor, outputGrad } from './vjp.ts';

const Softmax: Vjp = (args) => {
  const y = floatsOf(args.outputs[0]!, 'Softmax output');
  const g = outputGrad(args);
  const dims = args.outputs[0]!.dims;
  const axis = normalizeAxis(args.attrs.int('axis', -1), dims.length);
  const width = dims[axis]!;
  const inner = product(dims, axis + 1);
  const grad = gradFor(args, y.length);
  // dx = y ⊙ (g − Σ g⊙y) along the axis
  for (let base = 0; base < y.length; base += width * inner) {
    for (let j = 0; j < inner; j++) {
      let dot = 0;
      for (let i = 0; i < width; i++) dot += g[base + i * inner + j]! * y[base + i * inner + j]!;
      for (let i = 0; i < width; i++) { const at = base + i * inner + j; grad[at] = y[at]! * (g[at]! - dot); }
    }
  }
  return [grad];
};

/** y = x / √(mean(x²) + ε) ⊙ w over the last axis, in the input's float type. */
export const RMSNorm: Kernel = (inputs, attrs) => {
  const x = required(inputs, 0);
  const xs = floatsOf(x, 'RMSNorm x');
  const w = inputs[1] ? floatsOf(inputs[1], 'RMSNorm weight') : undefined;
  const width = x.dims.at(-1) ?? 1;
  const eps = attrs.float('epsilon');
  const y = allocateFloats(dtypeOf(xs), xs.length);
  for (let base = 0; base < xs.length; base += width) {
    let sum = 0;
    for (let i = 0; i < width; i++) sum += xs[base + i]! * xs[base + i]!;
    const r = 1 / Math.sqrt(sum / width + eps);
    for (let i = 0; i < width; i++) y[base + i] = xs[base + i]! * r * (w ? w[i]! : 1);
  }
  return [tensor(dtypeOf(xs), x.dims, y) as Tensor];
};

const rmsNormVjp: Vjp = (args) => {
  const x = floatsOf(args.inputs[0]!, 'RMSNorm x');
  const w = args.inputs[1] ? floatsOf(args.inputs[1], 'RMSNorm weight') : undefined;
  const g = outputGrad(args);
  const width = args.inputs[0]!.dims.at(-1) ?? 1;
  const eps = args.attrs.float('epsilon');
  const dx = args.needs[0] ? gradFor(args, x.length) : undefined;
  const dw = w && args.needs[1] ? gradFor(args, w.length) : undefined;
  for (let base = 0; base < x.length; base += width) {
    let sum = 0;
    for (let i = 0; i < width; i++) sum += x[base + i]! * x[base + i]!;
    const r = 1 / Math.sqrt(sum / width + eps);
    // u = g ⊙ w; dx = r·u − x·r³·(u·x)/n
    let ux = 0;
    for (let i = 0; i < width; i++) ux += g[base + i]! * (w ? w[i]! : 1) * x[base + i]!;
    const c = (r * r * r * ux) / width;
    for (let i = 0; i < width; i++) {
      if (dx) dx[base + i] = r * g[base + i]! * (w ? w[i]! : 1) - x[base + i]! * c;
      if (dw) dw[i] += g[base + i]! * x[base + i]! * r;
    }
  }
  return [dx, dw];
};

/** Row statistics of a LayerNorm over `width` elements: mean and 1/√(var + ε). */
function rowStats(x: Floats, base: number, width: number, eps: number): { mean: number; rstd: number } {
  let mean = 0;
  for (let i = 0; i < width; i++) mean += x[base + i]!;
  mean /= width;
  let variance = 0;
  for (let i = 0; i < width; i++) variance += (x[base + i]! - mean) ** 2;
  return { mean, rstd: 1 / Math.sqrt(variance / width + eps) };
}

/**
 * LayerNorm backward for rows of `width` given u = g ⊙ scale and the normalised x̂:
 * dx = rstd·(u − mean(u) − x̂·mean(u⊙x̂)).
 */
export function layerNormRowGrad(u: Floats, xhat: Floats, base: number, width: number, rstd: number, dx: Floats): void {
  let su = 0;
  let sux = 0;
  for (let i = 0; i < width; i++) { su += u[base + i]!; sux += u[base + i]! * xhat[base + i]!; }
  su /= width;
  sux /= width;
  for (let i = 0; i < width; i++) dx[base + i] = rstd * (u[base + i]! - su - xhat[base + i]! * sux);
}

const LayerNormalization: Vjp = (args) => {
  const xt = args.inputs[0]!;
  const x = floatsOf(xt, 'LayerNormalization X');
  const scale = floatsOf(args.inputs[1]!, 'LayerNormalization Scale');
  const axis = normalizeAxis(args.attrs.int('axis', -1), xt.dims.length);
  const width = product(xt.dims, axis);
  const eps = args.attrs.float('epsilon', 1e-5);
  const g = outputGrad(args);
  const u = gradFor(args, x.length);
  const xhat = gradFor(args, x.length);
  const dx = args.needs[0] ? gradFor(args, x.length) : undefined;
  const dScale = args.needs[1] ? gradFor(args, scale.length) : undefined;
  const dBias = args.needs[2] ? gradFor(args, scale.length) : undefined;
  for (let base = 0; base < x.length; base += width) {
    const { mean, rstd } = rowStats(x, base, width, eps);
    for (let i = 0; i < width; i++) {
      xhat[base + i] = (x[base + i]! - mean) * rstd;
      u[base + i] = g[base + i]! * scale[i % scale.length]!;
      if (dScale) dScale[i % scale.length] += g[base + i]! * xhat[base + i]!;
      if (dBias) dBias[i % scale.length] += g[base + i]!;
    }
    if (dx) layerNormRowGrad(u, xhat, base, width, rstd, dx);
  }
  return [dx, dScale, dBias];
};

export { rowStats };
export const nnVjps: VjpTable = { Softmax, RMSNorm: rmsNormVjp, LayerNormalization };
