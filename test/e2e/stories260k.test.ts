// stories260K (a real trained Llama exported by PyTorch) through the CLI, run from the bundle in a fresh
// Node process, against the independent reference logits, onnxruntime, and the SVID oracle.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import type { Tensor } from '../../formats/tensor.ts';
import { maxAbsDiff, relativeL2 } from '../helpers/compare.ts';
import { ROOT, onebitc, runBundle, tempDir } from '../helpers/cli.ts';
import type { ReportLayer } from '../helpers/onnxruntime.ts';
import { readBundleWeights, runOnnxruntime, svidOracleModel } from '../helpers/onnxruntime.ts';

const FIXTURE = join(ROOT, 'test/fixtures/stories260K');
const MODEL = join(FIXTURE, 'model.onnx');
const reference = JSON.parse(readFileSync(join(FIXTURE, 'reference.json'), 'utf8')) as { prompt_ids: number[]; logits_shape: [number, number] };
const referenceLogits = new Float32Array(readFileSync(join(FIXTURE, 'reference_logits.bin')).buffer.slice(0));
const ids: Tensor = { dtype: 'int64', dims: [1, reference.prompt_ids.length], data: BigInt64Array.from(reference.prompt_ids.map(BigInt)) };

test('--no-quantize bundle matches the reference logits and onnxruntime within 1e-4', async (t) => {
  const out = join(tempDir('fp'), 'bundle');
  const r = onebitc(MODEL, '-o', out, '--no-quantize');
  t.is(r.code, 0, r.stderr);
  const logits = runBundle(out, { input_ids: ids })['logits']!;
  t.deepEqual(logits.dims, [1, ...reference.logits_shape]);
  const ort = (await runOnnxruntime(readFileSync(MODEL), { input_ids: ids }))['logits']!;
  const vsReference = maxAbsDiff(logits.data as Float32Array, referenceLogits);
  const vsOrt = maxAbsDiff(logits.data as Float32Array, ort.data as Float32Array);
  t.log(`max |Δ| vs reference_logits.bin ${vsReference.toExponential(2)}, vs onnxruntime ${vsOrt.toExponential(2)}`);
  t.true(vsReference <= 1e-4);
  t.true(vsOrt <= 1e-4);
});

test('quantized bundle: every Linear is OneBit, sizes are exact, logits match the SVID oracle within 1e-4 relative L2', async (t) => {
  const dir = tempDir('q');
  const out = join(dir, 'bundle');
  const reportPath = join(dir, 'report.json');
  const r = onebitc(MODEL, '-o', out, '--report', reportPath);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /size: .* before → .* after/);
  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as { layers: (ReportLayer & { bytesAfter: number })[] };
  // 5 layers × (q, k, v, o, gate, up, down) + the LM head
  t.is(report.layers.length, 36);
  t.true(report.layers.every((l) => !l.kept));

  const weights = readBundleWeights(out);
  for (const l of report.layers) {
    t.is((weights.get(`${l.layer}.sign`)!.data as Uint8Array).byteLength, l.out * Math.ceil(l.in / 8), l.layer);
    t.is(weights.get(`${l.layer}.sign`)!.dtype, 'uint8');
    t.is(weights.get(`${l.layer}.g`)!.dtype, 'float16');
    t.is((weights.get(`${l.layer}.g`)!.data as Uint16Array).byteLength + (weights.get(`${l.layer}.h`)!.data as Uint16Array).byteLength, 2 * (l.in + l.out));
    t.is(l.bytesAfter, l.out * Math.ceil(l.in / 8) + 2 * (l.in + l.out));
  }
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  t.is(manifest.formatVersion, 1);
  t.true(manifest.size.after < manifest.size.before);

  const logits = runBundle(out, { input_ids: ids })['logits']!;
  const oracle = svidOracleModel(readFileSync(MODEL), out, report.layers);
  const expected = (await runOnnxruntime(oracle, { input_ids: ids }))['logits']!;
  const err = relativeL2(logits.data as Float32Array, expected.data as Float32Array);
  t.log(`relative L2 vs SVID oracle ${err.toExponential(2)}; vs fp32 reference ${relativeL2(logits.data as Float32Array, referenceLogits).toFixed(3)}`);
  t.true(err <= 1e-4);
});

test('the same input gives byte-identical bundles', (t) => {
  const a = join(tempDir('a'), 'b');
  const b = join(tempDir('b'), 'b');
  t.is(onebitc(MODEL, '-o', a).code, 0);
  t.is(onebitc(MODEL, '-o', b).code, 0);
  for (const f of ['model.js', 'model.d.ts', 'model.wasm', 'weights.safetensors', 'manifest.json']) {
    t.true(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), f);
  }
});

test('inspect lists inputs, outputs, op counts and every Linear with its size before and after', (t) => {
  const r = onebitc('inspect', MODEL);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /input_ids: int64 \[batch, sequence\]/);
  t.regex(r.stdout, /logits: float32 \[batch, sequence, 512\]/);
  t.regex(r.stdout, /MatMul 46/);
  t.regex(r.stdout, /linears \(36\)/);
  t.regex(r.stdout, /model\.layers\.0\.mlp\.down_proj {2}64×172 {2}MatMul/);
});

test('the example continues the prompt exactly like the fp32 reference when run on the --no-quantize bundle', (t) => {
  const out = join(tempDir('example'), 'bundle');
  t.is(onebitc(MODEL, '-o', out, '--no-quantize').code, 0);
  const r = spawnSync(process.execPath, [join(ROOT, 'examples/stories260k/run.js'), out, '20'], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const expected = (JSON.parse(readFileSync(join(FIXTURE, 'reference.json'), 'utf8')) as { greedy_continuation_text: string }).greedy_continuation_text;
  t.true(r.stdout.startsWith(`Once upon a time, there was a little${expected.slice(0, 40)}`), r.stdout);
  t.regex(r.stdout, /the first 20 match the fp32 model's greedy continuation/);
});

test('compiling without -o says what is missing', (t) => {
  const r = onebitc(MODEL);
  t.is(r.code, 1);
  t.regex(r.stderr, /missing -o <dir>/);
});
