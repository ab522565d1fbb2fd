// stories260K end to end on WebGPU (SwiftShader) against the WASM backend of the same bundle. The Hugging
// Face folder (KV cache on the GPU) here; the ONNX export (full recompute) in stories260k-onnx.test.ts, so
// ava runs the two in parallel. Plus the top-k shader and backend 'auto'.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { bundle, FIXTURE, HF_SOURCE, load, promptFeeds, storiesOnWebGpu } from '../helpers/webgpu-lm.ts';
import { testGpu } from '../helpers/webgpu.ts';

storiesOnWebGpu(test, HF_SOURCE);

test.serial('the top-k shader picks the k largest logits of the last row, in the host\'s order', async (t) => {
  const dir = await bundle(FIXTURE, false);
  const wasm = await load(dir, 'wasm');
  const gpu = await load(dir, 'webgpu');
  const full = (await wasm.run(promptFeeds(wasm)))['logits']!;
  const vocab = full.dims[2]!;
  const last = full.data.subarray(full.data.length - vocab);
  const order = Array.from(last.keys()).sort((a, b) => last[b]! - last[a]! || a - b);
  for (const k of [1, 10, 128]) {
    const row = (await (gpu as unknown as { run(f: object, o: object): Promise<Record<string, { data: Float32Array; dims: number[] }>> }).run(promptFeeds(gpu), { lastRow: { output: 'logits', topK: k } }))['logits']!;
    t.deepEqual(row.dims, [1, 1, vocab]);
    const picked = Array.from(row.data.keys()).filter((i) => row.data[i] !== -Infinity).sort((a, b) => row.data[b]! - row.data[a]! || a - b);
    t.deepEqual(picked, order.slice(0, k), `k = ${k}`);
    for (const i of picked) t.true(Math.abs(row.data[i]! - last[i]!) < 1e-3);
  }
  gpu.dispose();
  wasm.dispose();
});

test.serial("backend 'auto' picks WebGPU when an adapter is there, and WASM when it is hidden", async (t) => {
  const dir = await bundle(FIXTURE, true);
  const entry = await import(pathToFileURL(join(dir, 'model.js')).href);
  const withGpu = await entry.load({ backend: 'auto', gpu: await testGpu(), onNote: () => {} });
  t.is(withGpu.backend, 'webgpu');
  t.regex(withGpu.gpu, /swiftshader/i);
  withGpu.dispose();
  const hidden = await entry.load({ backend: 'auto', gpu: { requestAdapter: async () => null } });
  t.is(hidden.backend, 'wasm');
  const error = await t.throwsAsync(entry.load({ backend: 'webgpu', gpu: { requestAdapter: async () => null } }));
  t.regex(error!.message, /backend 'webgpu': no GPU adapter was found/);
});
