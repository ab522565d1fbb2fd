// stories260K end to end on WebGPU (SwiftShader) against the WASM backend of the same bundle: the ONNX export
// and the Hugging Face folder, 1-bit and --no-quantize. Logits within 1e-3 relative L2; 64 greedy tokens
// identical; on the folder's bundle the KV cache stays on the GPU between steps.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { compile } from '../../compiler/compile.ts';
import { tempDir } from '../helpers/cli.ts';
import { relativeL2 } from '../helpers/compare.ts';
import { testGpu } from '../helpers/webgpu.ts';

const FIXTURE = new URL('../fixtures/stories260K/', import.meta.url).pathname;
const reference = JSON.parse(readFileSync(join(FIXTURE, 'reference.json'), 'utf8')) as { prompt_ids: number[] };

async function bundle(input: string, quantize: boolean): Promise<string> {
  const out = join(tempDir('onebitc-webgpu-lm-'), 'bundle');
  await compile(input, { output: out, quantize, log: () => {} });
  return out;
}

interface LoadedLm {
  backend: string;
  gpuCalls: ReadonlyMap<string, number>;
  inputs: readonly { name: string; dims: readonly (number | string)[] }[];
  run(feeds: object): Promise<Record<string, { data: Float32Array; dims: number[] }>>;
  generateIds(prompt: readonly number[], options: object): Promise<number[]>;
  dispose(): void;
}

async function load(dir: string, backend: 'webgpu' | 'wasm'): Promise<LoadedLm> {
  const entry = await import(pathToFileURL(join(dir, 'model.js')).href);
  return entry.load({ backend, ...(backend === 'webgpu' ? { gpu: await testGpu(), onNote: () => {} } : {}) });
}

function promptFeeds(model: LoadedLm): object {
  const ids = BigInt64Array.from(reference.prompt_ids, BigInt);
  const feeds: Record<string, unknown> = { input_ids: { data: ids, dims: [1, ids.length] } };
  for (const s of model.inputs) {
    if (s.name.startsWith('past_key_values.')) feeds[s.name] = { data: new Float32Array(0), dims: [1, s.dims[1], 0, s.dims[3]] };
  }
  return feeds;
}

const SOURCES = [
  { name: 'Hugging Face folder', input: FIXTURE, cached: true },
  { name: 'ONNX export', input: join(FIXTURE, 'model.onnx'), cached: false },
];

for (const source of SOURCES) {
  for (const quantize of [true, false]) {
    test.serial(`stories260K (${source.name}, ${quantize ? '1-bit' : '--no-quantize'}): WebGPU logits match WASM and 64 greedy tokens are identical`, async (t) => {
      const dir = await bundle(source.input, quantize);
      const wasm = await load(dir, 'wasm');
      const gpu = await load(dir, 'webgpu');
      try {
        t.is(gpu.backend, 'webgpu');
        const expected = (await wasm.run(promptFeeds(wasm)))['logits']!;
        const actual = (await gpu.run(promptFeeds(gpu)))['logits']!;
        t.deepEqual(actual.dims, expected.dims);
        const error = relativeL2(actual.data, expected.data);
        t.true(error < 1e-3, `relative L2 ${error}`);
        t.is(gpu.gpuCalls.get('readback'), undefined, `nodes that read GPU values back: ${gpu.gpuCalls.get('readback')}`);
        const options = { maxTokens: 64, maxContext: 256, eos: [] };
        const fromWasm = await wasm.generateIds(reference.prompt_ids, options);
        const fromGpu = await gpu.generateIds(reference.prompt_ids, options);
        t.is(fromGpu.length, 64);
        t.deepEqual(fromGpu, fromWasm);
        if (source.cached) t.is(gpu.gpuCalls.get('readback'), undefined);
        t.is(gpu.gpuCalls.get('top-k'), 1, 'greedy decoding reads back the top-1 picked on the GPU');
        const sampling = { ...options, maxTokens: 24, temperature: 0.8, topK: 5, seed: 7 };
        t.deepEqual(await gpu.generateIds(reference.prompt_ids, sampling), await wasm.generateIds(reference.prompt_ids, sampling));
      } finally {
        gpu.dispose();
        wasm.dispose();
      }
    });
  }
}

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
