// The WGSL image kernels against the reference kernels: Conv (padding, strides, dilations, groups,
// depthwise, bias, every auto_pad), MaxPool/AveragePool (pads, strides, dilations, ceil_mode,
// count_include_pad) and GlobalAveragePool. Each test compiles one model of several nodes reading the
// same image, so one bundle covers many attribute sets.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { onnx as OnnxTypes } from 'onnx-proto';
import type { Tensor } from '../../formats/tensor.ts';
import { relativeL2 } from '../helpers/compare.ts';
import type { Dims } from '../helpers/onnx-builder.ts';
import { randomNormal, valueInfo } from '../helpers/onnx-builder.ts';
import { compileOnnx, loadBundle } from '../helpers/webgpu.ts';

const FLOAT = 1;
let seed = 300;

const random = (dims: number[], std = 1): Tensor => ({ dtype: 'float32', dims, data: randomNormal(dims.reduce((a, d) => a * d, 1), std, seed++) });
const ints = (name: string, values: number[]) => ({ name, type: 7, ints: values });
const int = (name: string, i: number) => ({ name, type: 2, i });
const text = (name: string, s: string) => ({ name, type: 3, s: new TextEncoder().encode(s) });

/**
 * One model: every node reads image `x` and writes its own output. Compiled once, run on WebGPU and on
 * the reference kernels for each x: every output matches (dims, rel. L2 ≤ 1e-5), `kind` ran once per node.
 */
async function check(t: ExecutionContext, x: Dims, nodes: OnnxTypes.INodeProto[], kind: string, xs: Tensor[], initializers: [string, Tensor][] = []): Promise<void> {
  const outputs = nodes.map((n) => n.output![0]!);
  const dir = await compileOnnx({
    nodes,
    inputs: [valueInfo('x', FLOAT, x)],
    outputs: outputs.map((o) => valueInfo(o, FLOAT, [`${o}_n`, `${o}_c`, `${o}_h`, `${o}_w`])),
    initializers,
  });
  const gpu = await loadBundle(dir, 'webgpu');
  const reference = await loadBundle(dir, 'js');
  try {
    for (const input of xs) {
      const got = await gpu.run({ x: input });
      t.is(gpu.gpuCalls.get(kind), nodes.length, `x [${input.dims}]: ${nodes.length} '${kind}' dispatches (${[...gpu.gpuCalls].join('; ')})`);
      t.is(gpu.gpuCalls.get('host'), undefined);
      const expected = await reference.run({ x: input });
      for (const o of outputs) {
        const what = `x [${input.dims}], ${o}`;
        t.deepEqual(got[o]!.dims, expected[o]!.dims, what);
        const error = relativeL2(got[o]!.data as Float32Array, expected[o]!.data as Float32Array);
        t.true(error <= 1e-5, `${what}: relative L2 ${error}`);
      }
    }
  } finally {
    gpu.dispose();
    reference.dispose();
  }
}

// ---- Conv ----

test.serial('Conv: 3×3 pads 1 with bias, strided and dilated with asymmetric pads, 1×1, 5×2 (x [n, 3, 16, 13])', async (t) => {
  const conv = (out: string, w: string, bias: boolean, attribute: OnnxTypes.IAttributeProto[]): OnnxTypes.INodeProto =>
    ({ opType: 'Conv', input: bias ? ['x', w, `${w}_b`] : ['x', w], output: [out], attribute });
  await check(t, ['n', 3, 16, 13], [
    conv('same3', 'w8', true, [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1])]),
    conv('strided', 'w6', false, [ints('strides', [2, 3]), ints('dilations', [2, 1]), ints('pads', [0, 1, 2, 1])]),
    conv('pointwise', 'w5', true, []),
    conv('tall', 'w7', true, [ints('strides', [1, 2])]),
  ], 'conv', [random([1, 3, 16, 13]), random([2, 3, 16, 13], 2)], [
    ['w8', random([8, 3, 3, 3])], ['w8_b', random([8])],
    ['w6', random([6, 3, 3, 2])],
    ['w5', random([5, 3, 1, 1])], ['w5_b', random([5])],
    ['w7', random([7, 3, 5, 2])], ['w7_b', random([7])],
  ]);
});

test.serial('Conv groups: group 2 (3 outputs per group), depthwise with SAME_UPPER stride 2, SAME_LOWER, VALID', async (t) => {
  await check(t, ['n', 4, 'h', 'w'], [
    { opType: 'Conv', input: ['x', 'g2', 'g2_b'], output: ['grouped'], attribute: [int('group', 2), ints('pads', [1, 0, 1, 2])] },
    { opType: 'Conv', input: ['x', 'dw', 'dw_b'], output: ['depthwise'], attribute: [int('group', 4), text('auto_pad', 'SAME_UPPER'), ints('strides', [2, 2])] },
    { opType: 'Conv', input: ['x', 'dm'], output: ['multiplier'], attribute: [int('group', 4), text('auto_pad', 'SAME_LOWER'), ints('kernel_shape', [2, 4])] },
    { opType: 'Conv', input: ['x', 'v'], output: ['valid'], attribute: [text('auto_pad', 'VALID'), ints('strides', [2, 1])] },
  ], 'conv', [random([1, 4, 11, 9]), random([2, 4, 8, 15], 2)], [
    ['g2', random([6, 2, 3, 3])], ['g2_b', random([6])],
    ['dw', random([4, 1, 3, 3])], ['dw_b', random([4])],
    ['dm', random([8, 1, 2, 4])],
    ['v', random([4, 4, 3, 3])],
  ]);
});

// ---- pooling ----

test.serial('MaxPool: 2×2 stride 2, 3×3 stride 2 pads 1, ceil_mode, dilations, SAME_UPPER (x [n, 3, 15, 12])', async (t) => {
  const pool = (out: string, attribute: OnnxTypes.IAttributeProto[]): OnnxTypes.INodeProto => ({ opType: 'MaxPool', input: ['x'], output: [out], attribute });
  await check(t, ['n', 3, 15, 12], [
    pool('p2', [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])]),
    pool('p3', [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 1, 1, 1])]),
    pool('ceil', [ints('kernel_shape', [3, 2]), ints('strides', [2, 2]), int('ceil_mode', 1)]),
    pool('dilated', [ints('kernel_shape', [2, 2]), ints('dilations', [2, 3])]),
    pool('same', [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), text('auto_pad', 'SAME_UPPER')]),
  ], 'pool', [random([2, 3, 15, 12])]);
});

test.serial('AveragePool: pads with count_include_pad 0 and 1, ceil_mode, SAME_LOWER (x [n, 2, 13, 10])', async (t) => {
  const pool = (out: string, attribute: OnnxTypes.IAttributeProto[]): OnnxTypes.INodeProto => ({ opType: 'AveragePool', input: ['x'], output: [out], attribute });
  await check(t, ['n', 2, 13, 10], [
    pool('excluded', [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 1, 1, 1])]),
    pool('included', [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 2, 1, 0]), int('count_include_pad', 1)]),
    pool('ceil', [ints('kernel_shape', [2, 3]), ints('strides', [2, 2]), int('ceil_mode', 1), int('count_include_pad', 1)]),
    pool('same', [ints('kernel_shape', [4, 3]), text('auto_pad', 'SAME_LOWER')]),
  ], 'pool', [random([1, 2, 13, 10]), random([3, 2, 13, 10], 2)]);
});

test.serial('GlobalAveragePool over [n, 5, 7, 9] and over a symbolic [n, 3, h, w]', async (t) => {
  const gap: OnnxTypes.INodeProto = { opType: 'GlobalAveragePool', input: ['x'], output: ['y'] };
  await check(t, ['n', 5, 7, 9], [gap], 'global-average-pool', [random([2, 5, 7, 9], 2)]);
  await check(t, ['n', 3, 'h', 'w'], [gap], 'global-average-pool', [random([1, 3, 20, 30], 2), random([2, 3, 1, 1])]);
});
