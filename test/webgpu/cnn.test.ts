// Acceptance, as a user would check it: a small CNN classifier made here (Conv → Relu → MaxPool → Conv →
// Relu → GlobalAveragePool → Flatten → Gemm, random weights) compiled into one bundle for WebGPU and
// WASM, run on both and on onnxruntime-node: the three agree, and on WebGPU every value stays on the GPU
// (no node reads a value back to the host).
import { join } from 'node:path';
import test from 'ava';
import { compile } from '../../compiler/compile.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { tempDir } from '../helpers/cli.ts';
import { relativeL2 } from '../helpers/compare.ts';
import { encodeModel, randomNormal, valueInfo, writeModel } from '../helpers/onnx-builder.ts';
import type { ModelParts } from '../helpers/onnx-builder.ts';
import { runOnnxruntime } from '../helpers/onnxruntime.ts';
import { loadBundle } from '../helpers/webgpu.ts';

const FLOAT = 1;
let seed = 900;
const random = (dims: number[], std: number): Tensor => ({ dtype: 'float32', dims, data: randomNormal(dims.reduce((a, d) => a * d, 1), std, seed++) });
const ints = (name: string, values: number[]) => ({ name, type: 7, ints: values });

/** x [n, 3, 16, 16] → logits [n, 10]. He-style weight scales keep the activations O(1). */
const CNN: ModelParts = {
  nodes: [
    { name: 'conv1', opType: 'Conv', input: ['x', 'conv1.w', 'conv1.b'], output: ['c1'], attribute: [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1])] },
    { name: 'relu1', opType: 'Relu', input: ['c1'], output: ['r1'] },
    { name: 'pool1', opType: 'MaxPool', input: ['r1'], output: ['p1'], attribute: [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])] },
    { name: 'conv2', opType: 'Conv', input: ['p1', 'conv2.w', 'conv2.b'], output: ['c2'], attribute: [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1]), ints('strides', [2, 2])] },
    { name: 'relu2', opType: 'Relu', input: ['c2'], output: ['r2'] },
    { name: 'gap', opType: 'GlobalAveragePool', input: ['r2'], output: ['g'] },
    { name: 'flatten', opType: 'Flatten', input: ['g'], output: ['f'] },
    { name: 'fc', opType: 'Gemm', input: ['f', 'fc.w', 'fc.b'], output: ['logits'], attribute: [{ name: 'transB', type: 2, i: 1 }] },
  ],
  inputs: [valueInfo('x', FLOAT, ['n', 3, 16, 16])],
  outputs: [valueInfo('logits', FLOAT, ['n', 10])],
  initializers: [
    ['conv1.w', random([8, 3, 3, 3], Math.sqrt(2 / 27))], ['conv1.b', random([8], 0.1)],
    ['conv2.w', random([16, 8, 3, 3], Math.sqrt(2 / 72))], ['conv2.b', random([16], 0.1)],
    ['fc.w', random([10, 16], Math.sqrt(1 / 16))], ['fc.b', random([10], 0.1)],
  ],
  opset: 17,
};

test.serial('a small CNN + Gemm classifier: WebGPU = WASM = onnxruntime, every value kept on the GPU', async (t) => {
  const dir = tempDir('cnn');
  const path = join(dir, 'cnn.onnx');
  writeModel(path, CNN);
  const output = join(dir, 'bundle');
  await compile(path, { output, quantize: false, targets: ['wasm', 'webgpu'], log: () => {} });

  const x = random([2, 3, 16, 16], 1);
  const expected = (await runOnnxruntime(encodeModel(CNN), { x }))['logits']!;
  t.deepEqual(expected.dims, [2, 10]);

  const gpu = await loadBundle(output, 'webgpu');
  const wasm = await loadBundle(output, 'wasm');
  try {
    t.is(gpu.backend, 'webgpu');
    t.is(wasm.backend, 'wasm');
    const onGpu = (await gpu.run({ x }))['logits']!;
    const onWasm = (await wasm.run({ x }))['logits']!;
    const calls = Object.fromEntries(gpu.gpuCalls);
    t.is(gpu.gpuCalls.get('readback'), undefined, `a node read a GPU value back: ${JSON.stringify(calls)}`);
    t.like(calls, { conv: 2, unary: 2, pool: 1, 'global-average-pool': 1, gemm: 1 }, JSON.stringify(calls));
    for (const [name, got] of [['webgpu', onGpu], ['wasm', onWasm]] as const) {
      t.deepEqual(got.dims, [2, 10], name);
      const error = relativeL2(got.data as Float32Array, expected.data as Float32Array);
      t.true(error <= 1e-5, `${name} vs onnxruntime: relative L2 ${error}`);
    }
    const error = relativeL2(onGpu.data as Float32Array, onWasm.data as Float32Array);
    t.true(error <= 1e-5, `webgpu vs wasm: relative L2 ${error}`);
  } finally {
    gpu.dispose();
    wasm.dispose();
  }
});
