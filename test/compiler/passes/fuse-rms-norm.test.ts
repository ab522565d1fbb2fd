// The RMSNorm patterns PyTorch exports become one RMSNorm node, and the model still matches onnxruntime.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { compile } from '../../../compiler/compile.ts';
import { importOnnx } from '../../../compiler/import/onnx.ts';
import { inferShapes } from '../../../compiler/ir/infer-shapes.ts';
import { fuseRmsNorm } from '../../../compiler/passes/fuse-rms-norm.ts';
import type { Tensor } from '../../../formats/tensor.ts';
import { relativeL2 } from '../../helpers/compare.ts';
import { tempDir } from '../../helpers/cli.ts';
import { encodeModel, randomNormal, valueInfo } from '../../helpers/onnx-builder.ts';
import { runOnnxruntime } from '../../helpers/onnxruntime.ts';

const scalar = (v: number): Tensor => ({ dtype: 'float32', dims: [], data: Float32Array.of(v) });
const axesAttr = { name: 'axes', type: 7, ints: [-1] };

/** x [2, 5, 12] → RMSNorm in one of the exported spellings. */
function model(variant: 'div-one' | 'reciprocal' | 'divide' | 'no-weight'): Uint8Array {
  const nodes: OnnxTypes.INodeProto[] = [
    { name: 'pow', opType: 'Pow', input: ['x', 'two'], output: ['sq'] },
    { name: 'mean', opType: 'ReduceMean', input: ['sq'], output: ['ms'], attribute: [axesAttr, { name: 'keepdims', type: 2, i: 1 }] },
    { name: 'add', opType: 'Add', input: ['ms', 'eps'], output: ['var'] },
    { name: 'sqrt', opType: 'Sqrt', input: ['var'], output: ['rms'] },
  ];
  if (variant === 'divide') nodes.push({ name: 'div', opType: 'Div', input: ['x', 'rms'], output: ['normed'] });
  else {
    nodes.push(variant === 'reciprocal'
      ? { name: 'inv', opType: 'Reciprocal', input: ['rms'], output: ['inv'] }
      : { name: 'inv', opType: 'Div', input: ['one', 'rms'], output: ['inv'] });
    nodes.push({ name: 'mul', opType: 'Mul', input: ['x', 'inv'], output: ['normed'] });
  }
  if (variant !== 'no-weight') nodes.push({ name: 'scale', opType: 'Mul', input: ['w', 'normed'], output: ['y'] });
  return encodeModel({
    nodes, opset: 17,
    inputs: [valueInfo('x', 1, [2, 5, 12])], outputs: [valueInfo(variant === 'no-weight' ? 'normed' : 'y', 1, [2, 5, 12])],
    initializers: [['two', scalar(2)], ['eps', scalar(1e-5)], ['one', scalar(1)], ['w', { dtype: 'float32', dims: [12], data: randomNormal(12, 1, 5) }]],
  });
}

for (const variant of ['div-one', 'reciprocal', 'divide', 'no-weight'] as const) {
  test(`${variant}: fused into one RMSNorm that matches onnxruntime`, async (t) => {
    const dir = tempDir('rms');
    const path = join(dir, 'model.onnx');
    const bytes = model(variant);
    writeFileSync(path, bytes);
    const ir = await importOnnx(path);
    inferShapes(ir);
    t.is(fuseRmsNorm(ir), 1);
    t.deepEqual(ir.graph.nodes.map((n) => n.op), ['RMSNorm']);

    const out = join(dir, 'bundle');
    await compile(path, { output: out, log: () => {} });
    const x: Tensor = { dtype: 'float32', dims: [2, 5, 12], data: randomNormal(120, 3, 6) };
    for (const backend of ['js', 'wasm'] as const) {
      const { load } = await import(pathToFileURL(join(out, 'model.js')).href);
      const m = await load({ backend });
      const actual = Object.values(await m.run({ x }))[0] as Tensor;
      const expected = Object.values(await runOnnxruntime(bytes, { x }))[0]!;
      t.true(relativeL2(actual.data as Float32Array, expected.data as Float32Array) < 1e-6, backend);
    }
  });
}

test('a Pow whose result is read twice is not fused', async (t) => {
  const dir = tempDir('rms2');
  const path = join(dir, 'model.onnx');
  writeFileSync(path, encodeModel({
    nodes: [
      { name: 'pow', opType: 'Pow', input: ['x', 'two'], output: ['sq'] },
      { name: 'mean', opType: 'ReduceMean', input: ['sq'], output: ['ms'], attribute: [axesAttr] },
      { name: 'add', opType: 'Add', input: ['ms', 'eps'], output: ['var'] },
      { name: 'sqrt', opType: 'Sqrt', input: ['var'], output: ['rms'] },
      { name: 'div', opType: 'Div', input: ['x', 'rms'], output: ['y'] },
    ],
    inputs: [valueInfo('x', 1, [3, 4])], outputs: [valueInfo('y', 1, [3, 4]), valueInfo('sq', 1, [3, 4])],
    initializers: [['two', scalar(2)], ['eps', scalar(1e-6)]],
  }));
  const ir = await importOnnx(path);
  inferShapes(ir);
  t.is(fuseRmsNorm(ir), 0);
});
