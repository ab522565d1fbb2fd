// Single-Linear models at LLM sizes (weights as ONNX external data, so nothing holds the model in one
// buffer), compiled by the CLI and run from the bundle, against the SVID oracle on onnxruntime.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import type { Tensor } from '../../formats/tensor.ts';
import { relativeL2 } from '../helpers/compare.ts';
import { onebitc, runBundle, tempDir } from '../helpers/cli.ts';
import { randomNormal, valueInfo, writeModel } from '../helpers/onnx-builder.ts';
import type { ReportLayer } from '../helpers/onnxruntime.ts';
import { runOnnxruntime, svidOracleModel } from '../helpers/onnxruntime.ts';

/** y = x·W (MatMul, W stored [in, out] in weights.bin beside the model) + b. */
function linearModel(dir: string, out: number, inDim: number): string {
  const w = randomNormal(inDim * out, 0.02, out * 31 + inDim);
  writeFileSync(join(dir, 'weights.bin'), new Uint8Array(w.buffer));
  const path = join(dir, 'linear.onnx');
  writeModel(path, {
    nodes: [
      { name: 'proj/MatMul', opType: 'MatMul', input: ['x', 'proj.weight'], output: ['xw'] },
      { name: 'proj/Add', opType: 'Add', input: ['xw', 'proj.bias'], output: ['y'] },
    ],
    inputs: [valueInfo('x', 1, ['batch', inDim])],
    outputs: [valueInfo('y', 1, ['batch', out])],
    initializers: [['proj.bias', { dtype: 'float32', dims: [out], data: randomNormal(out, 0.1, 7) }]],
    initializerProtos: [{
      name: 'proj.weight', dataType: 1, dims: [inDim, out], dataLocation: 1,
      externalData: [{ key: 'location', value: 'weights.bin' }, { key: 'offset', value: '0' }, { key: 'length', value: String(w.byteLength) }],
    }],
  });
  return path;
}

for (const [out, inDim] of [[4096, 4096], [11008, 4096], [4096, 11008]] as const) {
  test(`${out}×${inDim} Linear compiles and matches the SVID oracle`, async (t) => {
    const dir = tempDir(`linear-${out}x${inDim}`);
    const model = linearModel(dir, out, inDim);
    const bundle = join(dir, 'bundle');
    const report = join(dir, 'report.json');
    const r = onebitc(model, '-o', bundle, '--report', report);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /SVID weight error ‖W−Ŵ‖\/‖W‖: median 0\.\d+/);
    t.regex(r.stdout, /fidelity \(1-bit vs original outputs on seeded random inputs\): cosine 0\.\d+/);
    const layers = (JSON.parse(readFileSync(report, 'utf8')) as { layers: (ReportLayer & { bytesAfter: number; source: string })[] }).layers;
    t.is(layers.length, 1);
    t.is(layers[0]!.source, 'MatMul+Add');
    t.is(layers[0]!.bytesAfter, out * Math.ceil(inDim / 8) + 2 * (inDim + out));

    const x: Tensor = { dtype: 'float32', dims: [2, inDim], data: randomNormal(2 * inDim, 1, 3) };
    const y = runBundle(bundle, { x })['y']!;
    t.deepEqual(y.dims, [2, out]);
    // The oracle model needs its weight inline: onnxruntime gets the bytes, not the folder.
    const oracle = svidOracleModel(readFileSync(model), bundle, layers);
    const expected = (await runOnnxruntime(oracle, { x }))['y']!;
    const err = relativeL2(y.data as Float32Array, expected.data as Float32Array);
    t.log(`relative L2 vs SVID oracle ${err.toExponential(2)}`);
    t.true(err <= 1e-4);
  });
}
