// `npm run bench -- --webgpu`: the WebGPU backend in Node (Dawn, the optional `webgpu` package) against the
// WASM backend of the same bundles, in the same run: stories260K greedy decoding (KV cache on the GPU). On a
// software adapter (SwiftShader, this CI machine) only the agreement of the tokens is meaningful: the table
// says so.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compile } from '../compiler/compile.ts';
import type { GpuProvider } from '../runtime/webgpu/device.ts';
import { median } from './gemv.ts';

const FIXTURE = new URL('../test/fixtures/stories260K/', import.meta.url);
const NEW_TOKENS = 64;

interface Lm {
  backend: string;
  gpu?: string;
  generateIds(prompt: readonly number[], options: object): Promise<number[]>;
  dispose(): void;
}

async function gpuProvider(): Promise<GpuProvider> {
  process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
  const dawn = (await import('webgpu')) as unknown as { create(flags: string[]): GpuProvider; globals: object };
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create([]);
  (globalThis as { __benchGpu?: GpuProvider }).__benchGpu = gpu;
  return gpu;
}

export async function webgpuTables(): Promise<void> {
  const gpu = await gpuProvider();
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('bench --webgpu: no WebGPU adapter (set VK_ICD_FILENAMES for SwiftShader, or run on a GPU machine)');
  const software = (adapter.info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  const prompt = JSON.parse(readFileSync(new URL('reference.json', FIXTURE), 'utf8')).prompt_ids as number[];
  console.log(`\nWebGPU adapter: ${[adapter.info.vendor, adapter.info.architecture, adapter.info.description].filter(Boolean).join(' ')}${software ? ' — a software adapter: times below are not GPU speed, only the token agreement is meaningful' : ''}\n`);
  console.log(`stories260K greedy decoding, ${prompt.length}-token prompt + ${NEW_TOKENS} new tokens (median of whole generations)\n`);
  console.log('| bundle | backend | tokens/s | ÷ WASM | ids equal to WASM |');
  console.log('|---|---|---|---|---|');
  for (const quantize of [true, false]) {
    const dir = join(mkdtempSync(join(tmpdir(), 'onebitc-bench-gpu-')), 'bundle');
    await compile(new URL('.', FIXTURE).pathname, { output: dir, quantize, log: () => {} });
    const { load } = await import(pathToFileURL(join(dir, 'model.js')).href);
    const options = { maxTokens: NEW_TOKENS, maxContext: 256, eos: [] };
    const results: { backend: string; tps: number; ids: number[] }[] = [];
    for (const backend of ['wasm', 'webgpu']) {
      const model = (await load({ backend, gpu, onNote: () => {} })) as Lm;
      const ids = await model.generateIds(prompt, options);
      const ms = await median(() => model.generateIds(prompt, options), software ? 3 : 10, software ? 5000 : 2000);
      results.push({ backend, tps: NEW_TOKENS / (ms / 1000), ids });
      model.dispose();
    }
    const [wasm, webgpu] = results as [typeof results[0], typeof results[0]];
    const name = quantize ? 'onebitc 1-bit' : 'onebitc --no-quantize';
    for (const r of [wasm, webgpu]) {
      const same = r.ids.every((id, i) => id === wasm.ids[i]);
      console.log(`| ${name} | ${r.backend} | ${r.tps.toFixed(1)} | ${(r.tps / wasm.tps).toFixed(2)}× | ${same ? 'yes' : 'no'} |`);
    }
  }
}
