// stories260K on WebGPU against WASM: the bundles, loading and feeds shared by the WebGPU LM tests, and the
// acceptance case (logits within 1e-3 relative L2, 64 greedy tokens identical, no read-backs).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TestFn } from 'ava';
import { compile } from '../../compiler/compile.ts';
import { tempDir } from './cli.ts';
import { relativeL2 } from './compare.ts';
import { testGpu } from './webgpu.ts';

export const FIXTURE = new URL('../fixtures/stories260K/', import.meta.url).pathname;
export const reference = JSON.parse(readFileSync(join(FIXTURE, 'reference.json'), 'utf8')) as { prompt_ids: number[] };

export async function bundle(input: string, quantize: boolean): Promise<string> {
  const out = join(tempDir('onebitc-webgpu-lm-'), 'bundle');
  await compile(input, { output: out, quantize, log: () => {} });
  return out;
}

export interface LoadedLm {
  backend: string;
  gpuCalls: ReadonlyMap<string, number>;
  inputs: readonly { name: string; dims: readonly (number | string)[] }[];
  run(feeds: object): Promise<Record<string, { data: Float32Array; dims: number[] }>>;
  generateIds(prompt: readonly number[], options: object): Promise<number[]>;
  dispose(): void;
}

export async function load(dir: string, backend: 'webgpu' | 'wasm'): Promise<LoadedLm> {
  const entry = await import(pathToFileURL(join(dir, 'model.js')).href);
  return entry.load({ backend, ...(backend === 'webgpu' ? { gpu: await testGpu(), onNote: () => {} } : {}) });
}

export function promptFeeds(model: LoadedLm): object {
  const ids = BigInt64Array.from(reference.prompt_ids, BigInt);
  const feeds: Record<string, unknown> = { input_ids: { data: ids, dims: [1, ids.length] } };
  for (const s of model.inputs) {
    if (s.name.startsWith('past_key_values.')) feeds[s.name] = { data: new Float32Array(0), dims: [1, s.dims[1], 0, s.dims[3]] };
  }
  return feeds;
}



export interface StoriesSource { name: string; input: string; cached: boolean }

export const HF_SOURCE: StoriesSource = { name: 'Hugging Face folder', input: FIXTURE, cached: true };
export const ONNX_SOURCE: StoriesSource = { name: 'ONNX export', input: join(FIXTURE, 'model.onnx'), cached: false };

/** Registers the acceptance test of one source, 1-bit and --no-quantize. */
export function storiesOnWebGpu(test: TestFn, source: StoriesSource): void {
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
        if (source.cached) {
          const sampling = { ...options, maxTokens: 24, temperature: 0.8, topK: 5, seed: 7 };
          t.deepEqual(await gpu.generateIds(reference.prompt_ids, sampling), await wasm.generateIds(reference.prompt_ids, sampling));
        }
      } finally {
        gpu.dispose();
        wasm.dispose();
      }
    });
  }
}
