// examples/onnx-classifier run as a user runs it, then checked against onnxruntime-node: the reference
// bundle's outputs against the ONNX file itself, the 1-bit bundle's against the SVID oracle (the same ONNX
// file with each weight replaced by h ⊙ S ⊙ g read from the bundle), and the accuracies it printed.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import type { Tensor } from '../../formats/tensor.ts';
import { maxAbsDiff, relativeL2 } from '../helpers/compare.ts';
import { ROOT, tempDir } from '../helpers/cli.ts';
import { runOnnxruntime, svidOracleModel } from '../helpers/onnxruntime.ts';

const dir = tempDir('onnx-classifier');
const run = spawnSync(process.execPath, [join(ROOT, 'examples/onnx-classifier/run.js'), '--dir', dir], { encoding: 'utf8', cwd: ROOT });

const testSet = (): { pixels: number[]; labels: number[] } => JSON.parse(readFileSync(join(dir, 'test-set.json'), 'utf8'));
const feeds = (): Record<string, Tensor> => {
  const { pixels, labels } = testSet();
  return { pixels: { dtype: 'float32', dims: [labels.length, pixels.length / labels.length], data: Float32Array.from(pixels) } };
};
const accuracy = (probabilities: Float32Array, labels: number[]) => {
  let right = 0;
  labels.forEach((label, s) => {
    const row = probabilities.subarray(s * 10, s * 10 + 10);
    if (row.indexOf(Math.max(...row)) === label) right++;
  });
  return right / labels.length;
};
const printed = (name: string) => Number(new RegExp(`^${name} +accuracy ([\\d.]+)%`, 'm').exec(run.stdout)?.[1]) / 100;

async function bundleOutputs(bundle: string): Promise<Record<string, { data: Float32Array; dims: number[] }>> {
  const { load } = await import(pathToFileURL(join(dir, bundle, 'model.js')).href) as { load(o: object): Promise<{ run(f: object): Promise<Record<string, { data: Float32Array; dims: number[] }>> }> };
  return (await load({ backend: 'wasm' })).run(feeds());
}

test('the example runs and prints both accuracies', (t) => {
  t.is(run.status, 0, run.stderr);
  t.log(run.stdout);
  t.regex(run.stdout, /^1-bit +accuracy [\d.]+% on 200 held-out glyphs \| weights 534\.0 KiB → 21\.2 KiB/m);
  t.regex(run.stdout, /features 512×256: OneBit/);
});

test('the reference bundle gives onnxruntime-node\'s outputs and the printed accuracy', async (t) => {
  const ours = await bundleOutputs('original');
  const ort = await runOnnxruntime(readFileSync(join(dir, 'classifier.onnx')), feeds());
  for (const name of ['logits', 'probabilities']) {
    const diff = maxAbsDiff(ours[name]!.data, ort[name]!.data as Float32Array);
    t.true(diff <= 1e-4, `${name}: max |Δ| ${diff}`);
  }
  const expected = accuracy(ort['probabilities']!.data as Float32Array, testSet().labels);
  t.true(expected >= 0.9, `a trained classifier: ${expected}`);
  t.is(printed('original'), expected);
});

test('the 1-bit bundle matches the SVID oracle run by onnxruntime-node, and the printed accuracy', async (t) => {
  const layers = [
    { layer: 'features', weight: 'features.weight', transposed: false, out: 512, in: 256, kept: false },
    { layer: 'classifier', weight: 'classifier.weight', transposed: false, out: 10, in: 512, kept: false },
  ];
  const oracle = svidOracleModel(readFileSync(join(dir, 'classifier.onnx')), join(dir, '1-bit'), layers);
  const expected = await runOnnxruntime(oracle, feeds());
  const ours = await bundleOutputs('1-bit');
  const err = relativeL2(ours['logits']!.data, expected['logits']!.data as Float32Array);
  t.log(`relative L2 vs the SVID oracle ${err.toExponential(2)}`);
  t.true(err <= 1e-4);
  t.is(printed('1-bit'), accuracy(expected['probabilities']!.data as Float32Array, testSet().labels));
});
