#!/usr/bin/env node
// A non-language ONNX model through onebitc in Node: make a small trained classifier (make-model.js),
// compile it into a 1-bit bundle and a full-precision reference bundle with the programmatic API, and
// classify a held-out test set with both.
//
//   node examples/onnx-classifier/run.js [--dir <work folder>] [--keep <glob>]...
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { compile } from 'onebitc';
import { CLASSES, makeClassifier } from './make-model.js';

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string', default: join('node_modules', '.cache', 'onebitc', 'onnx-classifier') },
    keep: { type: 'string', multiple: true, default: [] },
  },
});
const dir = resolve(args.dir);
mkdirSync(dir, { recursive: true });
if (!existsSync(join(dir, 'classifier.onnx'))) makeClassifier(dir);
const model = join(dir, 'classifier.onnx');
const testSet = JSON.parse(readFileSync(join(dir, 'test-set.json'), 'utf8'));
const pixels = { data: Float32Array.from(testSet.pixels), dims: [testSet.labels.length, testSet.pixels.length / testSet.labels.length] };

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const argmax = (row) => row.reduce((best, v, i) => (v > row[best] ? i : best), 0);

/** Compiles (unless done), loads and classifies the test set; returns accuracy and predictions. */
async function evaluate(name, options) {
  const bundle = join(dir, name);
  const started = performance.now();
  const result = await compile(model, { output: bundle, log: () => {}, ...options });
  const compileSeconds = (performance.now() - started) / 1000;
  const { load } = await import(pathToFileURL(join(bundle, 'model.js')).href);
  const m = await load();
  const t0 = performance.now();
  const { probabilities } = await m.run({ pixels });
  const runMs = performance.now() - t0;
  const predictions = testSet.labels.map((_, s) => argmax(Array.from(probabilities.data.subarray(s * CLASSES, (s + 1) * CLASSES))));
  const accuracy = predictions.filter((p, s) => p === testSet.labels[s]).length / predictions.length;
  process.stdout.write(`${name.padEnd(9)} accuracy ${(100 * accuracy).toFixed(1)}% on ${predictions.length} held-out glyphs | ` +
    `weights ${kib(result.sizeBefore)} → ${kib(result.sizeAfter)} | compiled in ${compileSeconds.toFixed(1)} s, ` +
    `batch of ${predictions.length} in ${runMs.toFixed(1)} ms (${m.backend})\n`);
  m.dispose();
  return { accuracy, predictions, result };
}

const original = await evaluate('original', { quantize: false });
const onebit = await evaluate('1-bit', { keep: args.keep });
for (const layer of onebit.result.layers) {
  const flags = layer.fit?.flags.map((f) => f.code).join(', ');
  process.stdout.write(`  ${layer.layer} ${layer.out}×${layer.in}: ${layer.kept ? 'kept' : `OneBit, SVID error ${layer.fit?.svidRelativeError.toFixed(3)}`}${flags ? ` (flagged: ${flags})` : ''}\n`);
}
const agree = onebit.predictions.filter((p, s) => p === original.predictions[s]).length / onebit.predictions.length;
process.stdout.write(`the 1-bit model agrees with the original on ${(100 * agree).toFixed(1)}% of the test set\n`);
