// The plugin's other adapters (Rollup, Rolldown, esbuild) through their JS APIs: an app importing
// stories260K's model.onnx with `?onebit&quantize=false`, built, then run in Node: logits against
// onnxruntime-node and greedy ids against the fixture's reference continuation.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { build as esbuild } from 'esbuild';
import { rolldown } from 'rolldown';
import { rollup } from 'rollup';
import onebitEsbuild from '../../compiler/plugin/esbuild.ts';
import onebitRolldown from '../../compiler/plugin/rolldown.ts';
import onebitRollup from '../../compiler/plugin/rollup.ts';
import type { Tensor } from '../../formats/tensor.ts';
import type { OnebitModule } from '../../types/model.d.ts';
import { maxAbsDiff } from '../helpers/compare.ts';
import { runOnnxruntime } from '../helpers/onnxruntime.ts';
import { STORIES, STORIES_ONNX, importBuilt, listFiles, makeApp, recorder } from './app.ts';

const reference = JSON.parse(readFileSync(join(STORIES, 'reference.json'), 'utf8')) as { prompt_ids: number[]; greedy_continuation_ids: number[] };
const promptIds: Tensor = { dtype: 'int64', dims: [1, reference.prompt_ids.length], data: BigInt64Array.from(reference.prompt_ids.map(BigInt)) };

const app = makeApp('bundlers-app', {
  'src/entry.js': `import model from ${JSON.stringify(`${STORIES_ONNX}?onebit&quantize=false`)};\nexport default model;\n`,
});
const cacheDir = join(app, 'cache');
const ortLogits = runOnnxruntime(readFileSync(STORIES_ONNX), { input_ids: promptIds }).then((r) => r['logits']!);

/** The built model against the oracles, and its bundle files emitted as hashed assets beside the code. */
async function check(t: import('ava').ExecutionContext, outDir: string, entryFile: string): Promise<void> {
  const files = [...listFiles(outDir).keys()];
  for (const file of ['model.wasm', 'weights.safetensors', 'tokenizer.json']) {
    const stem = file.replace(/\.[^.]+$/, '');
    t.true(files.some((f) => f.startsWith(`assets/stories260K-${stem}-`)), `${file} emitted: ${files.join(', ')}`);
  }
  const { default: module } = await importBuilt<{ default: OnebitModule }>(join(outDir, entryFile));
  const model = await module.load({ backend: 'wasm' });
  const logits = (await model.run({ input_ids: promptIds }))['logits']!;
  const diff = maxAbsDiff(logits.data as Float32Array, (await ortLogits).data as Float32Array);
  t.log(`max |Δ| vs onnxruntime-node ${diff.toExponential(2)}`);
  t.true(diff <= 1e-4);
  t.deepEqual(await model.generateIds(reference.prompt_ids, { maxTokens: 16 }), reference.greedy_continuation_ids.slice(0, 16));
  model.dispose();
}

test.serial('rollup', async (t) => {
  const rec = recorder();
  const bundle = await rollup({ input: join(app, 'src/entry.js'), plugins: [onebitRollup({ cacheDir, ...rec.options })] });
  const outDir = join(app, 'dist-rollup');
  await bundle.write({ dir: outDir, format: 'es' });
  await bundle.close();
  t.is(rec.events.length, 1);
  await check(t, outDir, 'entry.js');
});

test.serial('rolldown', async (t) => {
  const rec = recorder();
  const bundle = await rolldown({ input: join(app, 'src/entry.js'), plugins: [onebitRolldown({ cacheDir, ...rec.options })] });
  const outDir = join(app, 'dist-rolldown');
  await bundle.write({ dir: outDir, format: 'es' });
  await bundle.close();
  t.true(rec.events.length === 1 && rec.events[0]!.cached, 'cached: rollup compiled it');
  await check(t, outDir, 'entry.js');
});

test.serial('esbuild', async (t) => {
  const rec = recorder();
  const outDir = join(app, 'dist-esbuild');
  await esbuild({
    entryPoints: [join(app, 'src/entry.js')], outdir: outDir, bundle: true, format: 'esm', platform: 'browser', logLevel: 'silent',
    plugins: [onebitEsbuild({ cacheDir, ...rec.options })],
  });
  t.true(rec.events.length === 1 && rec.events[0]!.cached);
  await check(t, outDir, 'entry.js');
});
