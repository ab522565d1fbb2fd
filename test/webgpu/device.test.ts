// Device handling of the WebGPU backend: a lost device gives a clear error, dispose() ends the model.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { randomNormal, valueInfo } from '../helpers/onnx-builder.ts';
import { compileOnnx, testGpu } from '../helpers/webgpu.ts';

const FLOAT = 1;

/** The test GPU, with the device the model creates captured. */
async function spyingGpu(): Promise<{ gpu: { requestAdapter(o?: object): Promise<GPUAdapter | null> }; device: () => GPUDevice | undefined }> {
  const real = await testGpu();
  let device: GPUDevice | undefined;
  const gpu = {
    requestAdapter: async (options?: object) => {
      const adapter = await real.requestAdapter(options);
      if (!adapter) return adapter;
      return new Proxy(adapter, {
        get(target, prop) {
          if (prop === 'requestDevice') return async (d: GPUDeviceDescriptor) => (device = await target.requestDevice(d));
          const value = Reflect.get(target, prop, target) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    },
  };
  return { gpu, device: () => device };
}

test.serial('a lost GPU device makes run() fail with a clear message; dispose() ends the model', async (t) => {
  const dir = await compileOnnx({
    nodes: [{ opType: 'Sigmoid', input: ['x'], output: ['y'] }],
    inputs: [valueInfo('x', FLOAT, [4, 5])],
    outputs: [valueInfo('y', FLOAT, [4, 5])],
  });
  const { load } = await import(pathToFileURL(join(dir, 'model.js')).href);
  const spy = await spyingGpu();
  const model = await load({ backend: 'webgpu', gpu: spy.gpu });
  const x = { data: randomNormal(20, 1, 1), dims: [4, 5] };
  const first = await model.run({ x });
  t.is(first.y.data.length, 20);
  const device = spy.device()!;
  device.destroy();
  await device.lost;
  const error = await t.throwsAsync(model.run({ x }));
  t.regex(error!.message, /GPU device was lost .*load the model again, or load it with \{ backend: 'wasm' \}/);

  const other = await load({ backend: 'webgpu', gpu: await testGpu() });
  other.dispose();
  const afterDispose = await t.throwsAsync(other.run({ x }));
  t.regex(afterDispose!.message, /run\(\) after dispose\(\)/);
});
