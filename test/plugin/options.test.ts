// The plugin's option layers (config, `models` entry, query) and the cache key: what changes it and what does not.
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import onnxProto from 'onnx-proto';
import { ModelCache } from '../../compiler/plugin/cache.ts';
import { checkPluginOptions, modelEntry, parseQuery, resolveModelOptions } from '../../compiler/plugin/options.ts';
import { tempDir } from '../helpers/cli.ts';
import { encodeModel, valueInfo } from '../helpers/onnx-builder.ts';

const { onnx } = onnxProto;

test('query options: names, CLI spellings, booleans, repeated keep, targets; unknown keys list the valid ones', (t) => {
  t.deepEqual(parseQuery('onebit&keep=lm_head&keep=*down*&quantize=false&quantize-head&fp16=0&target=wasm,webgpu', 'm'),
    { keep: ['lm_head', '*down*'], quantize: false, quantizeHead: true, fp16: false, target: ['wasm', 'webgpu'] });
  t.throws(() => parseQuery('onebit&quantise=false', 'models/x?onebit&quantise=false'), { message: /^models\/x\?onebit&quantise=false: unknown query option "quantise"\. Should be one of: onebit, quantize, keep/ });
  t.throws(() => parseQuery('onebit&quantize=maybe', 'm'), { message: /quantize=maybe must be true or false/ });
  t.throws(() => parseQuery('onebit&target=cuda', 'm'), { message: /unsupported target "cuda"/ });
  t.deepEqual(parseQuery('distill=story.txt&onebit', 'm'), { distill: 'story.txt' });
});

test('option layers: top level < models entry < query; keep lists add up; defaults filled in', (t) => {
  const resolved = resolveModelOptions({ keep: 'lm_head', fp16: true }, { quantize: false, keep: ['a'] }, { quantize: true, target: 'js' });
  t.deepEqual(resolved, { quantize: true, keep: ['a', 'lm_head'], quantizeHead: false, fp16: true, targets: [], distill: null });
  t.deepEqual(resolveModelOptions(), { quantize: true, keep: [], quantizeHead: false, fp16: null, targets: ['wasm', 'webgpu'], distill: null });
  // The query's distill=file replaces the data and keeps the training options given below it.
  t.deepEqual(resolveModelOptions({ distill: { data: 'a.txt', steps: 50, postNorm: false } }, { distill: 'b.txt' }).distill, { data: 'b.txt', steps: 50, postNorm: false });
  const models = { './models/stories260K/': { quantize: false }, classifier: { keep: 'fc' } };
  t.deepEqual(modelEntry(models, { relative: 'models/stories260K', base: 'stories260K', name: 'stories260K' }), { quantize: false });
  t.deepEqual(modelEntry(models, { relative: 'src/classifier.onnx', base: 'classifier.onnx', name: 'classifier' }), { keep: 'fc' });
  t.is(modelEntry(models, { relative: 'other', base: 'other', name: 'other' }), undefined);
});

test('cache key: the files the compiler reads (with external data) and the options, nothing else', async (t) => {
  const dir = tempDir('cache-key');
  const weights = new Float32Array(64).fill(0.5);
  writeFileSync(join(dir, 'weights.bin'), new Uint8Array(weights.buffer));
  writeFileSync(join(dir, 'model.onnx'), encodeModel({
    nodes: [{ opType: 'MatMul', input: ['x', 'w'], output: ['y'] }],
    inputs: [valueInfo('x', 1, [1, 8])],
    outputs: [valueInfo('y', 1, [1, 8])],
    initializerProtos: [onnx.TensorProto.create({ name: 'w', dims: [8, 8], dataType: 1, dataLocation: 1, externalData: [{ key: 'location', value: 'weights.bin' }] })],
  }));
  writeFileSync(join(dir, 'notes.txt'), 'not part of the model');
  const cache = new ModelCache(join(dir, 'cache'));
  const input = join(dir, 'model.onnx');
  const base = resolveModelOptions();
  const key = await cache.key(input, base);
  t.is(await cache.key(input, base), key, 'stable');
  t.deepEqual((await cache.inputFiles(input)).map((f) => f.path.slice(dir.length + 1)), ['model.onnx', 'weights.bin']);

  writeFileSync(join(dir, 'notes.txt'), 'edited');
  t.is(await cache.key(input, base), key, 'an unrelated file beside the model');
  t.is(await cache.key(input, resolveModelOptions({ keep: ['b', 'a'] })), await cache.key(input, resolveModelOptions({ keep: ['a', 'b'] })), 'keep order');
  t.not(await cache.key(input, resolveModelOptions({ quantize: false })), key, 'options');

  // Same size, new content: the external data file is hashed, not just stat'ed.
  weights[3] = 0.25;
  writeFileSync(join(dir, 'weights.bin'), new Uint8Array(weights.buffer));
  utimesSync(join(dir, 'weights.bin'), new Date(), new Date(Date.now() + 5000));
  const changed = await cache.key(input, base);
  t.not(changed, key, 'external data');
  writeFileSync(join(dir, 'tokenizer.json'), '{}');
  t.not(await cache.key(input, base), changed, 'a tokenizer beside the model');
});

test('distill options: a file, self:N, or an object of the CLI\'s training options; bad ones name the option', (t) => {
  t.notThrows(() => checkPluginOptions({ distill: 'train.txt', models: { s: { distill: { data: 'self:100000', steps: 20, ste: 'clip', postNorm: false, latentInit: 'sign' } } } }));
  t.throws(() => checkPluginOptions({ distill: { steps: 20 } as never }), { message: /distill\.data must name a text file or 'self:N'/ });
  t.throws(() => checkPluginOptions({ distill: { data: 'a.txt', steps: 'many' } as never }), { message: /distill\.steps must be a number, got "many"/ });
  t.throws(() => checkPluginOptions({ distill: { data: 'a.txt', ste: 'magic' } as never }), { message: /distill\.ste must be one of: tanh, clip/ });
  t.throws(() => checkPluginOptions({ distill: { data: 'a.txt', epochs: 3 } as never }), { message: /unknown distill option "epochs"/ });
});
