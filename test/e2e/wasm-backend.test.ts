// The WASM backend end to end: stories260K bundles run with model.wasm's kernels (proved by the kernel-call
// counts), agree with the reference backend and the oracles, and the bundle stays byte-reproducible.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { compile } from '../../compiler/compile.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { maxAbsDiff, relativeL2 } from '../helpers/compare.ts';
import { ROOT, onebitc, tempDir } from '../helpers/cli.ts';

const FIXTURE = join(ROOT, 'test/fixtures/stories260K');
const MODEL = join(FIXTURE, 'model.onnx');
const prompt = (JSON.parse(readFileSync(join(FIXTURE, 'reference.json'), 'utf8')) as { prompt_ids: number[] }).prompt_ids;
const referenceLogits = new Float32Array(readFileSync(join(FIXTURE, 'reference_logits.bin')).buffer.slice(0));

interface LoadedModel { backend: string; wasmCalls: ReadonlyMap<string, number>; run(f: Record<string, unknown>): Promise<Record<string, Tensor>> }

async function loadBundle(dir: string, backend: 'wasm' | 'js'): Promise<LoadedModel> {
  const { load } = await import(`${pathToFileURL(join(dir, 'model.js')).href}?${backend}`);
  return load({ backend });
}

const ids = (list: number[], batch = 1): Tensor => ({ dtype: 'int64', dims: [batch, list.length / batch], data: BigInt64Array.from(list.map(BigInt)) });

test('quantized stories260K: every OneBitLinear runs in WASM and matches the reference backend', async (t) => {
  const out = join(tempDir('wasm-q'), 'bundle');
  const result = await compile(MODEL, { output: out, log: () => {} });
  t.deepEqual(result.manifest.targets, ['webgpu', 'wasm', 'js']);
  const wasm = await loadBundle(out, 'wasm');
  const js = await loadBundle(out, 'js');
  t.is(wasm.backend, 'wasm');
  t.is(js.backend, 'js');
  const feeds = { input_ids: ids(prompt) };
  const a = (await wasm.run(feeds))['logits']!;
  const b = (await js.run(feeds))['logits']!;
  t.is(wasm.wasmCalls.get('onebit-linear'), 36);
  t.true((wasm.wasmCalls.get('rms-norm') ?? 0) === 11);
  t.falsy(wasm.wasmCalls.get('js-fallback'));
  t.log(`WASM kernel calls: ${[...wasm.wasmCalls].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  const err = relativeL2(a.data as Float32Array, b.data as Float32Array);
  t.log(`relative L2 WASM vs reference kernels ${err.toExponential(2)}`);
  t.true(err < 1e-5);
});

test('--no-quantize stories260K on WASM matches the reference logits within 1e-4, for several lengths and a batch', async (t) => {
  const out = join(tempDir('wasm-fp'), 'bundle');
  await compile(MODEL, { output: out, quantize: false, log: () => {} });
  const wasm = await loadBundle(out, 'wasm');
  const logits = (await wasm.run({ input_ids: ids(prompt) }))['logits']!;
  t.true(maxAbsDiff(logits.data as Float32Array, referenceLogits) <= 1e-4);
  t.true((wasm.wasmCalls.get('matmul-const') ?? 0) > 0);
  const js = await loadBundle(out, 'js');
  for (const feeds of [ids(prompt.slice(0, 3)), ids([...prompt, ...prompt.slice(0, 7)]), ids([...prompt.slice(0, 4), ...prompt.slice(4, 8)], 2)]) {
    const a = (await wasm.run({ input_ids: feeds }))['logits']!;
    const b = (await js.run({ input_ids: feeds }))['logits']!;
    t.deepEqual(a.dims, b.dims);
    t.true(maxAbsDiff(a.data as Float32Array, b.data as Float32Array) <= 1e-4, `dims ${feeds.dims}`);
  }
});

test('results survive later runs (they are copied out of WASM memory)', async (t) => {
  const out = join(tempDir('wasm-copy'), 'bundle');
  await compile(MODEL, { output: out, log: () => {} });
  const m = await loadBundle(out, 'wasm');
  const first = (await m.run({ input_ids: ids(prompt) }))['logits']!;
  const saved = Float32Array.from(first.data as Float32Array);
  await m.run({ input_ids: ids(prompt.slice(0, 5)) });
  t.deepEqual(first.data, saved);
});

test('--target js gives a bundle without model.wasm that runs on the reference kernels', (t) => {
  const out = join(tempDir('wasm-js'), 'bundle');
  const r = onebitc(MODEL, '-o', out, '--target', 'js');
  t.is(r.code, 0, r.stderr);
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  t.deepEqual(manifest.targets, ['js']);
  t.false(Object.keys(manifest.files).includes('model.wasm'));
  const bad = onebitc(MODEL, '-o', out, '--target', 'cuda');
  t.is(bad.code, 1);
  t.regex(bad.stderr, /unsupported target "cuda". Should be one of: wasm, webgpu, js/);
});
