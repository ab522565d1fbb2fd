// The OneBitLinear WGSL shader against the reference kernel (runtime/kernels/onebit.ts): odd sizes (in not a
// multiple of 8 or 32, one output row, hundreds of rows), one token and several, bias, post-norm.
import test from 'ava';
import { float32ToFloat16 } from '../../formats/dtype.ts';
import { relativeL2 } from '../helpers/compare.ts';
import { randomNormal, rng, valueInfo } from '../helpers/onnx-builder.ts';
import { runNodeBothWays } from '../helpers/webgpu.ts';

const FLOAT = 1;

interface Case { inDim: number; out: number; rows: number; bias?: boolean; postNorm?: number; half?: boolean }

const CASES: Case[] = [
  { inDim: 64, out: 32, rows: 1 },
  { inDim: 7, out: 1, rows: 1 },
  { inDim: 33, out: 9, rows: 3, bias: true },
  { inDim: 100, out: 300, rows: 1, half: true },
  { inDim: 257, out: 65, rows: 5, bias: true },
  { inDim: 96, out: 40, rows: 2, postNorm: 1e-5 },
  { inDim: 13, out: 517, rows: 1, postNorm: 0, bias: true },
];

for (const c of CASES) {
  const name = `in ${c.inDim}, out ${c.out}, ${c.rows} row(s)${c.bias ? ', bias' : ''}${c.postNorm !== undefined ? `, post-norm eps ${c.postNorm}` : ''}${c.half ? ', fp16 g/h' : ''}`;
  test.serial(`WGSL OneBitLinear matches the reference kernel: ${name}`, async (t) => {
    const random = rng(c.inDim * 1000 + c.out);
    const rowBytes = Math.ceil(c.inDim / 8);
    const signs = Uint8Array.from({ length: c.out * rowBytes }, () => Math.floor(random() * 256));
    const vector = (n: number, seed: number) => {
      const v = randomNormal(n, 1, seed);
      return c.half ? { dtype: 'float16' as const, dims: [n], data: Uint16Array.from(v, float32ToFloat16) } : { dtype: 'float32' as const, dims: [n], data: v };
    };
    const initializers: [string, never][] = [
      ['sign', { dtype: 'uint8', dims: [c.out, rowBytes], data: signs } as never],
      ['g', vector(c.inDim, 1) as never],
      ['h', vector(c.out, 2) as never],
      ...(c.bias ? [['bias', { dtype: 'float32', dims: [c.out], data: randomNormal(c.out, 1, 3) }] as [string, never]] : []),
    ];
    const attribute = [
      { name: 'in', type: 2, i: c.inDim },
      { name: 'out', type: 2, i: c.out },
      { name: 'alpha', type: 1, f: 0.75 },
      ...(c.postNorm !== undefined ? [{ name: 'post_norm_eps', type: 1, f: c.postNorm }] : []),
    ];
    const x = { dtype: 'float32' as const, dims: [1, c.rows, c.inDim], data: randomNormal(c.rows * c.inDim, 1, 4) };
    const { gpu, reference, gpuCalls } = await runNodeBothWays(
      { opType: 'OneBitLinear', domain: 'ai.onebitc', input: ['x', 'sign', 'g', 'h', ...(c.bias ? ['bias'] : [])], output: ['y'], attribute },
      { inputs: [valueInfo('x', FLOAT, [1, 'rows', c.inDim])], outputs: [valueInfo('y', FLOAT, [1, 'rows', c.out])], initializers },
      { x },
    );
    t.is(gpuCalls.get('onebit-linear'), 1);
    t.deepEqual(gpu['y']!.dims, [1, c.rows, c.out]);
    t.true(relativeL2(gpu['y']!.data as Float32Array, reference['y']!.data as Float32Array) < 1e-5);
  });
}
