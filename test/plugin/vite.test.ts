// The build plugin under Vite (vite 8 through its JS API): `vite build` of a tiny app importing stories260K
// with `?onebit`, the cached rebuild, the built models run in Node against independent oracles
// (onnxruntime-node, the fixture's reference continuation), bad models, and `vite dev`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { build, createServer } from 'vite';
import type { Tensor } from '../../formats/tensor.ts';
import onebit from '../../compiler/plugin/vite.ts';
import type { OnebitModule } from '../../types/model.d.ts';
import { maxAbsDiff } from '../helpers/compare.ts';
import { onebitc, tempDir } from '../helpers/cli.ts';
import { runOnnxruntime } from '../helpers/onnxruntime.ts';
import type { PluginReport } from './app.ts';
import { STORIES, STORIES_ONNX, importBuilt, listFiles, makeApp, messageLines, recorder } from './app.ts';

const reference = JSON.parse(readFileSync(join(STORIES, 'reference.json'), 'utf8')) as { prompt_ids: number[]; greedy_continuation_ids: number[] };
const promptIds: Tensor = { dtype: 'int64', dims: [1, reference.prompt_ids.length], data: BigInt64Array.from(reference.prompt_ids.map(BigInt)) };

const app = makeApp('vite-app', {
  'src/entry.js': [
    "import story from './models/stories260K?onebit';",
    "import storyFp from './models/stories260K?onebit&quantize=false';",
    `import onnxFp from ${JSON.stringify(`${STORIES_ONNX}?onebit&quantize=false&target=js`)};`,
    'globalThis.onebitcTest = { story, storyFp, onnxFp };',
    '',
  ].join('\n'),
  'src/missing.js': "import model from './models/no-such-model?onebit';\nconsole.log(model);\n",
  'src/broken.js': "import model from './models/broken.onnx?onebit';\nconsole.log(model);\n",
  'src/distill.js': "import model from './models/stories260K?onebit&distill=story.txt';\nconsole.log(model);\n",
  'src/distilled.js': "import story from './models/stories260K?onebit&distill=short-story.txt';\nglobalThis.onebitcDistilled = story;\n",
  'short-story.txt': readFileSync(new URL('../fixtures/tinystories/valid_sample.txt', import.meta.url), 'utf8').slice(0, 12000),
  'src/models/broken.onnx': 'this is not an ONNX model',
  'index.html': '<!doctype html><script type="module" src="/src/entry.js"></script>\n',
}, { 'src/models/stories260K': STORIES });

interface Built extends PluginReport { outDir: string; seconds: number }

async function viteBuild(outDir: string, entry = 'src/entry.js', base = './', more: Parameters<typeof onebit>[0] = {}): Promise<Built> {
  const rec = recorder();
  const started = performance.now();
  await build({
    root: app, configFile: false, logLevel: 'silent', base,
    plugins: [onebit({ ...rec.options, ...more })],
    build: { outDir, emptyOutDir: true, rolldownOptions: { input: join(app, entry) } },
  });
  return { events: rec.events, logs: rec.logs, outDir, seconds: (performance.now() - started) / 1000 };
}

type Models = { story: OnebitModule; storyFp: OnebitModule; onnxFp: OnebitModule };
async function builtModels(dir: string): Promise<Models> {
  const entry = [...listFiles(dir).keys()].find((f) => /^assets\/entry-.*\.js$/.test(f))!;
  await importBuilt(join(dir, entry));
  return (globalThis as unknown as { onebitcTest: Models }).onebitcTest;
}

let first: Built;

test.serial('vite build compiles each ?onebit import once and emits its files as separate hashed assets', async (t) => {
  first = await viteBuild(join(app, 'dist'));
  t.log(`cold build: ${first.seconds.toFixed(1)} s; ${first.logs.filter((l) => l.includes('compiled')).join('; ')}`);
  t.is(first.events.length, 3);
  t.true(first.events.every((e) => !e.cached && e.seconds > 0));
  t.true(first.events.every((e) => e.outDir.startsWith(join(app, 'node_modules/.cache/onebitc/'))), 'default cache folder');
  t.true(first.logs.some((l) => /^onebitc: compiled stories260K in \d+\.\d s/.test(l)), first.logs.join('\n'));

  const files = listFiles(first.outDir);
  const js = [...files.keys()].filter((f) => f.endsWith('.js'));
  for (const event of first.events) {
    for (const [file, size] of listFiles(event.outDir)) {
      if (['model.js', 'model.d.ts', 'manifest.json'].includes(file)) continue;
      // Each bundle file is its own asset, named <model>-<file>-<content hash>, byte-identical to the bundle's.
      const stem = file.replace(/\.[^.]+$/, '');
      const ext = file.slice(stem.length);
      const emitted = [...files.keys()].filter((f) => f.startsWith(`assets/${event.name}-${stem}-`) && f.endsWith(ext) && files.get(f) === size)
        .filter((f) => readFileSync(join(first.outDir, f)).equals(readFileSync(join(event.outDir, file))));
      t.is(emitted.length, 1, `${event.name} ${file}`);
      t.regex(emitted[0]!, /-[\w-]{8}\.\w+$/, 'content hash in the name');
    }
  }
  const code = js.map((f) => readFileSync(join(first.outDir, f), 'utf8')).join('\n');
  t.false(/;base64,/.test(code), 'nothing inlined as a data: URL');
  const weights = readFileSync(join(first.events[0]!.outDir, 'weights.safetensors'));
  t.false(code.includes(weights.subarray(8, 64).toString('latin1')), 'the weights are not in the JS');
  t.false(code.includes(weights.subarray(0, 48).toString('base64').slice(0, 40)), 'nor their base64');
  // model.onnx was compiled with target=js: no model.wasm in its bundle, none in its URLs.
  const { onnxFp } = await builtModels(first.outDir);
  t.deepEqual(Object.keys(onnxFp.urls).sort(), ['tokenizer.json', 'tokenizer_config.json', 'weights.safetensors']);
});

test.serial('a second build with unchanged inputs compiles nothing and emits the same files', async (t) => {
  const second = await viteBuild(join(app, 'dist-again'));
  t.log(`cached build: ${second.seconds.toFixed(2)} s (cold ${first.seconds.toFixed(1)} s); ${second.logs.join('; ')}`);
  t.is(second.events.length, 3);
  t.true(second.events.every((e) => e.cached && e.seconds === 0 && e.result === undefined));
  t.deepEqual(second.logs.filter((l) => l.includes('stories260K')).sort(), ['onebitc: stories260K (cached)', 'onebitc: stories260K (cached)', 'onebitc: stories260K (cached)']);
  t.false(second.logs.some((l) => l.includes('compiled')));
  t.deepEqual([...listFiles(second.outDir).keys()].sort(), [...listFiles(first.outDir).keys()].sort());
});

test.serial('the built quantize=false model generates the fixture\'s reference continuation in Node', async (t) => {
  const { storyFp } = await builtModels(first.outDir);
  const model = await storyFp.load({ backend: 'wasm' });
  const ids = await model.generateIds(reference.prompt_ids, { maxTokens: 24 });
  t.deepEqual(ids, reference.greedy_continuation_ids.slice(0, 24));
  let text = '';
  for await (const piece of model.generate('Once upon a time, there was a little', { maxTokens: 8 })) text += piece;
  t.true(text.startsWith(' girl named Lily.'), text);
  model.dispose();
});

test.serial('the built ONNX model (quantize=false, target=js) gives onnxruntime-node\'s logits', async (t) => {
  const { onnxFp } = await builtModels(first.outDir);
  const model = await onnxFp.load({ backend: 'js' });
  const ours = (await model.run({ input_ids: promptIds }))['logits']!;
  const ort = (await runOnnxruntime(readFileSync(STORIES_ONNX), { input_ids: promptIds }))['logits']!;
  t.deepEqual([...ours.dims], [...ort.dims]);
  const diff = maxAbsDiff(ours.data as Float32Array, ort.data as Float32Array);
  t.log(`max |Δ| vs onnxruntime-node ${diff.toExponential(2)}`);
  t.true(diff <= 1e-4);
});

test.serial('the built 1-bit model generates the same greedy tokens as the CLI bundle', async (t) => {
  const { story } = await builtModels(first.outDir);
  const out = join(tempDir('cli-story'), 'bundle');
  const r = onebitc(STORIES, '-o', out);
  t.is(r.code, 0, r.stderr);
  const cli = await importBuilt<{ load(o: object): Promise<{ generateIds(p: number[], o: object): Promise<number[]> }> }>(join(out, 'model.js'));
  const expected = await (await cli.load({ backend: 'wasm' })).generateIds(reference.prompt_ids, { maxTokens: 24 });
  const model = await story.load({ backend: 'wasm' });
  t.deepEqual(await model.generateIds(reference.prompt_ids, { maxTokens: 24 }), expected);
  t.is(story.manifest.size.after, JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).size.after);
});

test.serial('default base: asset URLs are root paths to the hashed files', async (t) => {
  const built = await viteBuild(join(app, 'dist-root'), 'src/entry.js', '/');
  const entry = [...listFiles(built.outDir).keys()].find((f) => /^assets\/entry-.*\.js$/.test(f))!;
  const code = readFileSync(join(built.outDir, entry), 'utf8');
  const urls = [...code.matchAll(/["'`](\/assets\/stories260K-weights-[\w-]+\.safetensors)["'`]/g)].map((m) => m[1]!);
  t.true(urls.length >= 1, 'weights URL in the code');
  for (const url of urls) t.true(listFiles(built.outDir).has(url.slice(1)), url);
});

for (const [name, entry, expected] of [
  ['a missing model', 'src/missing.js', /^onebitc: src\/models\/no-such-model: no such file or folder$/],
  ['a broken model', 'src/broken.js', /^onebitc: src\/models\/broken\.onnx: .*not a valid ONNX model/],
  ['distill with a missing training text', 'src/distill.js', /^onebitc: stories260K: distill: training text .*vite-app.*story\.txt not found$/],
] as const) {
  test.serial(`${name} fails vite build with one line naming the file`, async (t) => {
    const error = await t.throwsAsync(viteBuild(join(app, 'dist-bad'), entry));
    const lines = messageLines(error).filter((l) => l.includes('onebitc:'));
    t.log(lines.join('\n'));
    t.is(lines.length, 1, messageLines(error).join('\n'));
    t.regex(lines[0]!.replace(/^\w*Error: /, ''), expected);
    t.false(messageLines(error).some((l) => /^\s+at /.test(l)), 'no stack trace');
  });
}

test.serial('distill: the build trains the 1-bit student once, logs its progress and held-out perplexity, then serves it from the cache', async (t) => {
  const options = { models: { stories260K: { distill: { data: 'ignored: the query names the file', steps: 3, batch: 2, seq: 16 } } } };
  const built = await viteBuild(join(app, 'dist-distill'), 'src/distilled.js', './', options);
  const event = built.events.find((e) => e.name === 'stories260K')!;
  t.false(event.cached);
  t.is(event.result!.distill!.steps, 3);
  t.is(event.result!.trainedOneBitLayers, 35);
  t.true(event.result!.distill!.heldOut!.final < event.result!.distill!.heldOut!.initial);
  t.true(built.logs.some((l) => /stories260K: step 3\/3 +loss/.test(l)), built.logs.join('\n'));
  t.true(built.logs.some((l) => /compiled stories260K .*35 OneBit layers trained by distillation, held-out perplexity [\d.]+/.test(l)), built.logs.join('\n'));
  t.false(built.logs.some((l) => /SVID alone/.test(l)));
  const again = await viteBuild(join(app, 'dist-distill-2'), 'src/distilled.js', './', options);
  t.true(again.events.every((e) => e.cached));
  const changed = await viteBuild(join(app, 'dist-distill-3'), 'src/distilled.js', './', { models: { stories260K: { distill: { ...options.models.stories260K.distill, steps: 2 } } } });
  t.false(changed.events[0]!.cached, 'other training options are another bundle');
});

test('bad plugin options are refused when the plugin is created, listing the valid ones', (t) => {
  t.throws(() => onebit({ quantise: false } as never), { message: /unknown option "quantise"\. Should be one of: quantize, keep, quantizeHead, fp16, target, distill, models, cacheDir, onCompile, log/ });
  t.throws(() => onebit({ models: { stories260K: { distill: { data: 'x.txt', steps: 'many' } as never } } }), { message: /models\['stories260K'\]: distill\.steps must be a number/ });
  t.throws(() => onebit({ target: 'cuda' as never }), { message: /unsupported target "cuda"\. Should be one of: wasm, webgpu, js/ });
});

test.serial('vite dev serves the module and the bundle files; a broken model is a clean error (the overlay)', async (t) => {
  writeFileSync(join(app, 'src/dev.js'), "import story from './models/stories260K?onebit';\nimport broken from './models/broken.onnx?onebit';\nconsole.log(story, broken);\n");
  const rec = recorder();
  const server = await createServer({ root: app, configFile: false, logLevel: 'silent', server: { port: 0, host: '127.0.0.1' }, plugins: [onebit(rec.options)] });
  await server.listen();
  try {
    const base = server.resolvedUrls!.local[0]!;
    const main = await (await fetch(new URL('src/dev.js', base))).text();
    const [storyUrl, brokenUrl] = [...main.matchAll(/from ["']([^"']*onebitc-model[^"']*)["']/g)].map((m) => m[1]!);
    const response = await fetch(new URL(storyUrl!, base));
    t.is(response.status, 200);
    const code = await response.text();
    const event = rec.events.find((e) => e.name === 'stories260K')!;
    const served = [...code.matchAll(/"([^"]*\/@onebitc\/[^"]+)"/g)].map((m) => m[1]!);
    t.true(served.length >= 4, code.slice(0, 600));
    for (const url of served) {
      const file = url.split('/').at(-1)!;
      const bytes = Buffer.from(await (await fetch(new URL(url, base))).arrayBuffer());
      t.true(bytes.equals(readFileSync(join(event.outDir, file))), file);
    }
    const key = event.outDir.split('/').at(-1)!;
    for (const bad of [`/@onebitc/${key}/..%2Fmanifest.json`, `/@onebitc/${key}/manifest.json`, `/@onebitc/${key}/model.js`, `/@onebitc/${key}/..%2F..%2F..%2Fetc%2Fpasswd`, '/@onebitc/0123/weights.safetensors']) {
      t.is((await fetch(new URL(bad, base))).status, 404, bad);
    }

    const broken = await fetch(new URL(brokenUrl!, base));
    t.is(broken.status, 500);
    // What the overlay shows: the error of transforming that module.
    const error = await t.throwsAsync(server.transformRequest(decodeURIComponent(brokenUrl!).replace('/@id/__x00__', '\0')));
    t.regex(messageLines(error)[0]!, /^onebitc: src\/models\/broken\.onnx: .*not a valid ONNX model/);
  } finally {
    await server.close();
  }
});
