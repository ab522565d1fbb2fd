// `npm run bench`: speed of onebitc bundles against onnxruntime-node and onnxruntime-web (wasm), measured
// in the same run, one thread each. Reported as ratios: absolute times on a shared machine are noise.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { compile } from '../compiler/compile.ts';
import { formatBytes } from '../compiler/inspect.ts';
import { compile7bShaped } from './compile-7b.ts';
import { decodeTables } from './decode.ts';
import { decode7bTable } from './decode-7b.ts';
import { gemvTables, median } from './gemv.ts';
import { note, speedup, table, writeResults } from './report.ts';
import { trainTables } from './train.ts';

ortWeb.env.wasm.numThreads = 1;

if (process.argv.includes('--webgpu')) {
  const { webgpuTables } = await import('./webgpu.ts');
  await webgpuTables();
  process.exit(0);
}
if (process.argv.includes('--train')) {
  await trainTables();
  process.exit(0);
}

interface Runner { name: string; run: () => Promise<unknown> }

async function compileBundle(model: string, quantize: boolean): Promise<{ dir: string; bytes: number }> {
  const dir = join(mkdtempSync(join(tmpdir(), 'onebitc-bench-')), 'bundle');
  const result = await compile(model, { output: dir, quantize, log: () => {} });
  return { dir, bytes: result.sizeAfter };
}

async function onebitRunner(name: string, dir: string, feeds: Record<string, { data: unknown; dims: number[] }>, backend: 'wasm' | 'js' = 'wasm'): Promise<Runner> {
  const { load } = await import(pathToFileURL(join(dir, 'model.js')).href);
  const model = await load({ backend });
  return { name, run: () => model.run(feeds) };
}

async function ortRunners(model: Uint8Array, feeds: Record<string, { type: string; data: unknown; dims: number[] }>): Promise<Runner[]> {
  const node = await ortNode.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const web = await ortWeb.InferenceSession.create(model, { executionProviders: ['wasm'] });
  const nodeFeeds = Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, new ortNode.Tensor(f.type as 'float32', f.data as Float32Array, f.dims)]));
  const webFeeds = Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, new ortWeb.Tensor(f.type as 'float32', f.data as Float32Array, f.dims)]));
  return [
    { name: 'onnxruntime-node fp32', run: () => node.run(nodeFeeds) },
    { name: 'onnxruntime-web wasm fp32', run: () => web.run(webFeeds) },
  ];
}

async function timeTable(title: string, runners: Runner[]): Promise<void> {
  const times = new Map<string, number>();
  for (const r of runners) times.set(r.name, await median(r.run));
  const node = times.get('onnxruntime-node fp32')!;
  const web = times.get('onnxruntime-web wasm fp32')!;
  table(title, ['runner', 'median', '÷ onnxruntime-node', '÷ onnxruntime-web'],
    [...times].map(([name, ms]) => [name, `${ms.toFixed(3)} ms`, `${(ms / node).toFixed(2)}×`, `${(ms / web).toFixed(2)}×`]));
  for (const [name, ms] of times) speedup(title, 'onnxruntime-node fp32', name, node / ms);
}

// ---- stories260K, whole model, one prompt ----
const STORIES = new URL('../test/fixtures/stories260K/model.onnx', import.meta.url).pathname;
const prompt = JSON.parse(readFileSync(new URL('../test/fixtures/stories260K/reference.json', import.meta.url), 'utf8')).prompt_ids as number[];
const fp = await compileBundle(STORIES, false);
const q = await compileBundle(STORIES, true);
for (const length of [prompt.length, 64]) {
  const ids = BigInt64Array.from({ length }, (_, i) => BigInt(prompt[i % prompt.length]!));
  const feeds = { input_ids: { data: ids, dims: [1, length] } };
  await timeTable(`stories260K, 1×${length} tokens, full forward (1 thread)`, [
    ...(await ortRunners(readFileSync(STORIES), { input_ids: { type: 'int64', ...feeds.input_ids } })),
    await onebitRunner('onebitc --no-quantize, wasm', fp.dir, feeds),
    await onebitRunner('onebitc 1-bit, wasm', q.dir, feeds),
    await onebitRunner('onebitc 1-bit, js reference kernels', q.dir, feeds, 'js'),
  ]);
}
note(`\nstories260K weights: ${formatBytes(fp.bytes)} fp32 → ${formatBytes(q.bytes)} with OneBit linears`);
await decodeTables();

// ---- one Linear, one token (GEMV) and a small batch (GEMM) ----
await gemvTables();

// ---- decoding a LLaMA-7B-shaped model: the fused step against onnxruntime's projections ----
await decode7bTable();

// ---- compiling a LLaMA-7B-shaped checkpoint: time and peak memory ----
await compile7bShaped('llama');
await compile7bShaped('bitllama');

// ---- distillation: one OneBit layer's forward + backward, and a stories260K training step ----
await trainTables();

console.log(`\nwritten: ${writeResults(new URL('results/', import.meta.url).pathname).join(', ')}`);
