// Element-wise WGSL kernels. Unary: y = f(x) over every element, one thread per element, grid-stride when
// the tensor has more elements than MAX_BLOCKS workgroups cover (runtime/webgpu/bind/elementwise.ts).
import { ELEMENTWISE_WORKGROUP } from '../../../runtime/webgpu/bind/grid.ts';
import type { GpuKernelFamily } from './kernel.ts';
import { describe, ShaderBuilder } from './shader.ts';

/** WGSL expression of each unary op over `x` (f32), following the ONNX definitions. */
const UNARY: Readonly<Record<string, (x: string) => string>> = {
  Neg: (x) => `-${x}`,
  Abs: (x) => `abs(${x})`,
  Sqrt: (x) => `sqrt(${x})`,
  Reciprocal: (x) => `1.0 / ${x}`,
  Relu: (x) => `max(${x}, 0.0)`,
  Exp: (x) => `exp(${x})`,
  Log: (x) => `log(${x})`,
  Sigmoid: (x) => `1.0 / (1.0 + exp(-${x}))`,
  Tanh: (x) => `tanh(clamp(${x}, -15.0, 15.0))`,
  Cos: (x) => `precise_cos(${x})`,
  Sin: (x) => `precise_sin(${x})`,
  Floor: (x) => `floor(${x})`,
  Ceil: (x) => `ceil(${x})`,
  Softsign: (x) => `${x} / (1.0 + abs(${x}))`,
};

// WGSL bounds cos/sin's error only on [-π, π] and loosely (2^-11; SwiftShader is off by 2e-4), and RoPE
// angles reach thousands of radians. So: reduce by π/2 (split in two, Cody–Waite, exact for |k| up to ~2^12)
// and evaluate Taylor polynomials on |r| ≤ π/4 (error < 3e-8), the same on every GPU.
const SIN_COS = `
fn quadrant_sin_cos(x: f32) -> vec3f {
  let k = round(x * 0.6366197723675814);
  let r = (x - k * 1.5703125) - k * 0.00048382679489661923;
  let r2 = r * r;
  let s = r * (1.0 + r2 * (-0.16666666666666666 + r2 * (0.008333333333333333 + r2 * (-0.0001984126984126984 + r2 * 2.7557319223985893e-6))));
  let c = 1.0 + r2 * (-0.5 + r2 * (0.041666666666666664 + r2 * (-0.001388888888888889 + r2 * 2.48015873015873e-5)));
  return vec3f(s, c, f32(i32(k) & 3));
}
fn precise_sin(x: f32) -> f32 {
  let v = quadrant_sin_cos(x);
  let q = u32(v.z);
  return select(select(select(-v.y, -v.x, q == 2u), v.y, q == 1u), v.x, q == 0u);
}
fn precise_cos(x: f32) -> f32 {
  let v = quadrant_sin_cos(x);
  let q = u32(v.z);
  return select(select(select(v.x, -v.y, q == 2u), -v.x, q == 1u), v.y, q == 0u);
}`;

export const unaryKernel: GpuKernelFamily = (node, ctx) => {
  const expr = node.domain === '' ? UNARY[node.op] : undefined;
  const type = ctx.type(node.inputs[0]);
  if (!expr || type?.dtype !== 'float32' || node.inputs.length !== 1) return undefined;
  const b = new ShaderBuilder(node.op, `${describe(type.dtype, type.shape)}`);
  if (node.op === 'Cos' || node.op === 'Sin') b.declare(SIN_COS);
  const n = b.param('n');
  b.storage('x', 'f32', 'read').storage('y', 'f32', 'read_write');
  const shader = b.build([ELEMENTWISE_WORKGROUP], `
let stride = nwg.x * ${ELEMENTWISE_WORKGROUP}u;
for (var i = gid.x; i < ${n}; i += stride) {
  y[i] = ${expr('x[i]')};
}`);
  return { kind: 'unary', bindings: [0], dispatch: [['blocks', 1]], shader };
};
