import test from 'ava';
import { kernelContext } from '../../helpers/kernels.ts';
import { kernels } from '../../../runtime/kernels/onebit.ts';
import { Attributes } from '../../../runtime/kernel.ts';
import type { KernelContext } from '../../../runtime/kernel.ts';
import { tensor } from '../../../formats/tensor.ts';
import type { Tensor } from '../../../formats/tensor.ts';
import { float32ToHalf } from '../../../formats/dtype.ts';
import { svid } from '../../../compiler/onebit/svid.ts';
import { dequantize, widenScale } from '../../../compiler/onebit/dequantize.ts';

const ctx: KernelContext = kernelContext(17);
const OneBitLinear = kernels.OneBitLinear!;

function random(seed: number): () => number {
  return () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

/** x · Wᵀ · alpha + bias in float64, W = dequantize(…) (out, in), x (batch, in). */
function expected(x: Float32Array, wHat: Float32Array, out: number, inDim: number, alpha: number, bias?: Float32Array): Float64Array {
  const batch = x.length / inDim;
  const y = new Float64Array(batch * out);
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < out; o++) {
      let s = 0;
      for (let i = 0; i < inDim; i++) s += x[n * inDim + i]! * wHat[o * inDim + i]!;
      y[n * out + o] = alpha * s + (bias ? bias[o]! : 0);
    }
  }
  return y;
}

function layer(seed: number, out: number, inDim: number) {
  const rand = random(seed);
  const w = Float32Array.from({ length: out * inDim }, () => rand() * (1 + rand()));
  const fit = svid(w, out, inDim);
  return { fit, wHat: dequantize(fit.sign, fit.g, fit.h, out, inDim), rand };
}

const cases: { out: number; in: number; xDims: number[]; alpha?: number; bias: boolean }[] = [
  { out: 5, in: 1, xDims: [1], bias: false },
  { out: 3, in: 7, xDims: [7], alpha: 0.5, bias: true },
  { out: 9, in: 13, xDims: [4, 13], bias: true },
  { out: 16, in: 100, xDims: [2, 3, 100], alpha: -2, bias: true },
  { out: 8, in: 16, xDims: [2, 1, 16], bias: false },
];

for (const c of cases) {
  test(`equals x·dequantize(W)ᵀ·alpha + bias for in=${c.in}, out=${c.out}, x [${c.xDims}]`, (t) => {
    const { fit, wHat, rand } = layer(c.in * 31 + c.out, c.out, c.in);
    const x = Float32Array.from({ length: c.xDims.reduce((a, b) => a * b, 1) }, rand);
    const bias = c.bias ? Float32Array.from({ length: c.out }, rand) : undefined;
    const inputs: (Tensor | undefined)[] = [
      tensor('float32', c.xDims, x),
      tensor('uint8', [c.out, Math.ceil(c.in / 8)], fit.sign),
      tensor('float16', [c.in], fit.g),
      tensor('float16', [c.out], fit.h),
      bias && tensor('float32', [c.out], bias),
    ];
    const attrs = new Attributes(c.alpha === undefined ? { in: c.in, out: c.out } : { in: c.in, out: c.out, alpha: c.alpha });
    const [y] = OneBitLinear(inputs, attrs, ctx);
    t.is(y!.dtype, 'float32');
    t.deepEqual(y!.dims, [...c.xDims.slice(0, -1), c.out]);
    const want = expected(x, wHat, c.out, c.in, c.alpha ?? 1, bias);
    const ys = y!.data as Float32Array;
    for (let k = 0; k < want.length; k++) {
      t.true(Math.abs(ys[k]! - want[k]!) <= 1e-5 * (1 + Math.abs(want[k]!)), `y[${k}] = ${ys[k]} vs ${want[k]}`);
    }
  });
}

test('accepts float32 scales and a float16 bias', (t) => {
  const out = 6, inDim = 10;
  const { fit, wHat, rand } = layer(3, out, inDim);
  const g = widenScale(fit.g);
  const h = widenScale(fit.h);
  const x = Float32Array.from({ length: 2 * inDim }, rand);
  const bias = Float32Array.from({ length: out }, rand);
  const halfBias = float32ToHalf('float16', bias);
  const [y] = OneBitLinear([
    tensor('float32', [2, inDim], x), tensor('uint8', [out, 2], fit.sign),
    tensor('float32', [inDim], g), tensor('float32', [out], h), tensor('float16', [out], halfBias),
  ], new Attributes({ in: inDim, out }), ctx);
  const want = expected(x, wHat, out, inDim, 1, widenScale(halfBias));
  const ys = y!.data as Float32Array;
  for (let k = 0; k < want.length; k++) t.true(Math.abs(ys[k]! - want[k]!) <= 1e-5 * (1 + Math.abs(want[k]!)));
});

test('rejects mismatched shapes and dtypes with clear messages', (t) => {
  const fit = svid(new Float32Array(4 * 9).fill(1), 4, 9);
  const good = (): (Tensor | undefined)[] => [
    tensor('float32', [2, 9]), tensor('uint8', [4, 2], fit.sign), tensor('float16', [9], fit.g), tensor('float16', [4], fit.h),
  ];
  const attrs = new Attributes({ in: 9, out: 4 });
  t.notThrows(() => OneBitLinear(good(), attrs, ctx));
  const run = (patch: (inputs: (Tensor | undefined)[]) => void, a = attrs): (() => unknown) => () => {
    const inputs = good();
    patch(inputs);
    return OneBitLinear(inputs, a, ctx);
  };
  t.throws(run((i) => { i[0] = tensor('float32', [2, 8]); }), { name: 'KernelError', message: /x \(input 0\) has dims \[2, 8\], expected \[\.\.\., 9\]/ });
  t.throws(run((i) => { i[0] = tensor('float64', [9]); }), { name: 'KernelError', message: /should be float32/ });
  t.throws(run((i) => { i[1] = tensor('uint8', [4, 1]); }), { name: 'KernelError', message: /expected \[4, 2\] \(out, ceil\(in\/8\)\)/ });
  t.throws(run((i) => { i[2] = tensor('float16', [8]); }), { name: 'KernelError', message: /g \(input 2\).*expected \[9\]/ });
  t.throws(run((i) => { i[3] = tensor('int32', [4]); }), { name: 'KernelError', message: /should be one of: float16, float32/ });
  t.throws(run((i) => { i[4] = tensor('float32', [5]); }), { name: 'KernelError', message: /bias \(input 4\)/ });
  t.throws(run((i) => { i[2] = undefined; }), { name: 'KernelError', message: /input 2 is required/ });
  t.throws(run(() => {}, new Attributes({ in: 9 })), { name: 'KernelError', message: /'out'/ });
});

/** Row-wise LayerNorm without affine parameters (biased variance), float64. */
function layerNormRows(z: Float64Array, out: number, eps: number): Float64Array {
  const y = new Float64Array(z.length);
  for (let r = 0; r < z.length / out; r++) {
    const row = z.subarray(r * out, (r + 1) * out);
    const mean = row.reduce((a, v) => a + v, 0) / out;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / out;
    for (let o = 0; o < out; o++) y[r * out + o] = (row[o]! - mean) / Math.sqrt(variance + eps);
  }
  return y;
}

for (const c of [
  { out: 1, in: 8, xDims: [3, 8], eps: 1e-5, bias: false },
  { out: 7, in: 9, xDims: [9], eps: 1e-5, bias: true, alpha: -0.5 },
  { out: 176, in: 64, xDims: [2, 5, 64], eps: 1e-5, bias: false },
  { out: 33, in: 100, xDims: [4, 100], eps: 0.25, bias: true },
  { out: 16, in: 13, xDims: [6, 13], eps: 0, bias: false },
]) {
  test(`post_norm_eps ${c.eps}: LayerNorm(x·dequantize(W)ᵀ·alpha + bias) over out=${c.out}, x [${c.xDims}]`, (t) => {
    const { fit, wHat, rand } = layer(c.in * 17 + c.out, c.out, c.in);
    const x = Float32Array.from({ length: c.xDims.reduce((a, b) => a * b, 1) }, rand);
    const bias = c.bias ? Float32Array.from({ length: c.out }, rand) : undefined;
    const [y] = OneBitLinear([
      tensor('float32', c.xDims, x), tensor('uint8', [c.out, Math.ceil(c.in / 8)], fit.sign),
      tensor('float32', [c.in], widenScale(fit.g)), tensor('float32', [c.out], widenScale(fit.h)),
      bias && tensor('float32', [c.out], bias),
    ], new Attributes({ in: c.in, out: c.out, alpha: c.alpha ?? 1, post_norm_eps: c.eps }), ctx);
    t.deepEqual(y!.dims, [...c.xDims.slice(0, -1), c.out]);
    const want = layerNormRows(expected(x, wHat, c.out, c.in, c.alpha ?? 1, bias), c.out, c.eps);
    const ys = y!.data as Float32Array;
    for (let k = 0; k < want.length; k++) t.true(Math.abs(ys[k]! - want[k]!) <= 1e-5 * (1 + Math.abs(want[k]!)), `y[${k}] = ${ys[k]} vs ${want[k]}`);
    if (c.out === 1) t.true(ys.every((v) => v === 0));
  });
}

test('post_norm_eps must be a finite number ≥ 0; absent means no post-norm', (t) => {
  const fit = svid(new Float32Array(4 * 9).map((_, i) => Math.sin(i + 1)), 4, 9);
  const inputs = (): (Tensor | undefined)[] => [
    tensor('float32', [2, 9], Float32Array.from({ length: 18 }, (_, i) => Math.cos(i))), tensor('uint8', [4, 2], fit.sign),
    tensor('float16', [9], fit.g), tensor('float16', [4], fit.h),
  ];
  for (const eps of [-1e-5, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => OneBitLinear(inputs(), new Attributes({ in: 9, out: 4, post_norm_eps: eps }), ctx), { name: 'KernelError', message: /post_norm_eps/ });
  }
  const [plain] = OneBitLinear(inputs(), new Attributes({ in: 9, out: 4 }), ctx);
  const [normed] = OneBitLinear(inputs(), new Attributes({ in: 9, out: 4, post_norm_eps: 1e-5 }), ctx);
  const want = layerNormRows(Float64Array.from(plain!.data as Float32Array), 4, 1e-5);
  (normed!.data as Float32Array).forEach((v, k) => t.true(Math.abs(v - want[k]!) < 1e-5));
});
