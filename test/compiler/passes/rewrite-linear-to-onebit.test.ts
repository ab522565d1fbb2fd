// Linear detection and the OneBit rewrite on every supported pattern, each compiled to a bundle, run, and
// compared with onnxruntime on the SVID oracle (the original graph with Ŵ = h ⊙ S ⊙ g in place of W).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { compile } from '../../../compiler/compile.ts';
import type { Tensor } from '../../../formats/tensor.ts';
import { relativeL2 } from '../../helpers/compare.ts';
import { tempDir } from '../../helpers/cli.ts';
import type { ModelParts } from '../../helpers/onnx-builder.ts';
import { encodeModel, randomNormal, valueInfo } from '../../helpers/onnx-builder.ts';
import { readBundleWeights, runOnnxruntime, svidOracleModel } from '../../helpers/onnxruntime.ts';

const f32 = (dims: number[], seed: number, std = 0.5): Tensor => ({ dtype: 'float32', dims, data: randomNormal(dims.reduce((a, b) => a * b, 1), std, seed) });

interface Checked { layers: { layer: string; weight: string; nodes: string[]; kept: boolean; source: string }[]; weights: Map<string, Tensor> }

/** Compiles `parts`, runs the bundle on `feeds`, and checks every output against the SVID oracle. */
async function compileAndCheck(t: import('ava').ExecutionContext, parts: ModelParts, feeds: Record<string, Tensor>, keep: string[] = []): Promise<Checked> {
  const dir = tempDir('rewrite');
  const path = join(dir, 'model.onnx');
  const bytes = encodeModel(parts);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(path, bytes);
  const out = join(dir, 'bundle');
  const result = await compile(path, { output: out, keep, log: () => {} });
  const { load } = await import(pathToFileURL(join(out, 'model.js')).href);
  const model = await load();
  const actual = await model.run(feeds) as Record<string, Tensor>;
  const expected = await runOnnxruntime(svidOracleModel(bytes, out, result.layers), feeds);
  for (const [name, e] of Object.entries(expected)) {
    t.deepEqual(actual[name]!.dims, e.dims, name);
    const err = relativeL2(actual[name]!.data as Float32Array, e.data as Float32Array);
    t.true(err <= 1e-5, `${name}: relative L2 ${err}`);
  }
  return { layers: result.layers, weights: readBundleWeights(out) };
}

const gemm = (attrs: OnnxTypes.IAttributeProto[], inputs: string[]): OnnxTypes.INodeProto => ({ name: 'fc/Gemm', opType: 'Gemm', input: inputs, output: ['y'], attribute: attrs });
const int = (name: string, i: number) => ({ name, type: 2, i });
const float = (name: string, f: number) => ({ name, type: 1, f });

test('Gemm with transB, alpha, beta and a per-column bias becomes one OneBitLinear', async (t) => {
  const { layers, weights } = await compileAndCheck(t, {
    nodes: [gemm([int('transB', 1), float('alpha', 0.5), float('beta', 2)], ['x', 'fc.weight', 'fc.bias'])],
    inputs: [valueInfo('x', 1, [3, 20])], outputs: [valueInfo('y', 1, [3, 12])],
    initializers: [['fc.weight', f32([12, 20], 1)], ['fc.bias', f32([12], 2)]],
  }, { x: f32([3, 20], 3) });
  t.is(layers.length, 1);
  t.is(layers[0]!.layer, 'fc');
  t.is(layers[0]!.source, 'Gemm');
  t.deepEqual(weights.get('fc.sign')!.dims, [12, 3]);
});

test('Gemm with transA and a per-row C keeps C as an Add', async (t) => {
  await compileAndCheck(t, {
    nodes: [gemm([int('transA', 1), float('beta', 0.25)], ['x', 'w', 'c'])],
    inputs: [valueInfo('x', 1, [9, 4])], outputs: [valueInfo('y', 1, [4, 7])],
    initializers: [['w', f32([9, 7], 4)], ['c', f32([4, 7], 5)]],
  }, { x: f32([9, 4], 6) });
  t.pass();
});

test('Gemm with a scalar C and one without C', async (t) => {
  await compileAndCheck(t, {
    nodes: [
      { name: 'a/Gemm', opType: 'Gemm', input: ['x', 'wa', 'c'], output: ['ya'] },
      { name: 'b/Gemm', opType: 'Gemm', input: ['x', 'wb'], output: ['yb'], attribute: [int('transB', 1)] },
    ],
    inputs: [valueInfo('x', 1, [2, 10])], outputs: [valueInfo('ya', 1, [2, 5]), valueInfo('yb', 1, [2, 3])],
    initializers: [['wa', f32([10, 5], 7)], ['wb', f32([3, 10], 8)], ['c', f32([1], 9)]],
  }, { x: f32([2, 10], 10) });
  t.pass();
});

test('MatMul weights through Transpose, Cast and Identity are found; a shared weight is decomposed once', async (t) => {
  const half: Tensor = { dtype: 'float16', dims: [6, 6], data: new Uint16Array(36).map((_, i) => 0x3800 + ((i * 37) % 64) * 17 - (i % 2) * 0x8000) };
  const { layers } = await compileAndCheck(t, {
    nodes: [
      { name: 't', opType: 'Transpose', input: ['w_t'], output: ['w1'], attribute: [{ name: 'perm', type: 7, ints: [1, 0] }] },
      { name: 'one/MatMul', opType: 'MatMul', input: ['x', 'w1'], output: ['h1'] },
      { name: 'c', opType: 'Cast', input: ['w_half'], output: ['w2'], attribute: [int('to', 1)] },
      { name: 'two/MatMul', opType: 'MatMul', input: ['h1', 'w2'], output: ['h2'] },
      { name: 'i', opType: 'Identity', input: ['w2'], output: ['w3'] },
      { name: 'three/MatMul', opType: 'MatMul', input: ['h2', 'w3'], output: ['h3'] },
      { name: 'four/MatMul', opType: 'MatMul', input: ['h3', 'w_shared'], output: ['h4'] },
      { name: 'five/MatMul', opType: 'MatMul', input: ['h4', 'w_shared'], output: ['y'] },
    ],
    inputs: [valueInfo('x', 1, ['batch', 5, 6])], outputs: [valueInfo('y', 1, ['batch', 5, 6])],
    initializers: [['w_t', f32([6, 6], 11)], ['w_half', half], ['w_shared', f32([6, 6], 12)]],
  }, { x: f32([2, 5, 6], 13) });
  const shared = layers.find((l) => l.weight === 'w_shared')!;
  t.deepEqual(shared.nodes, ['four/MatMul', 'five/MatMul']);
  t.deepEqual(layers.find((l) => l.weight === 'w2')!.nodes, ['two/MatMul', 'three/MatMul']); // w3 = Identity(w2)
  t.is(layers.length, 3);
});

test('MatMul + Add of a constant bias fuses the bias', async (t) => {
  const { layers } = await compileAndCheck(t, {
    nodes: [
      { name: '/proj/MatMul', opType: 'MatMul', input: ['x', 'onnx::MatMul_7'], output: ['xw'] },
      { name: '/proj/Add', opType: 'Add', input: ['proj.bias', 'xw'], output: ['y'] },
    ],
    inputs: [valueInfo('x', 1, [4, 13])], outputs: [valueInfo('y', 1, [4, 9])],
    initializers: [['onnx::MatMul_7', f32([13, 9], 14)], ['proj.bias', f32([9], 15)]],
  }, { x: f32([4, 13], 16) });
  t.is(layers[0]!.layer, 'proj');
  t.is(layers[0]!.source, 'MatMul+Add');
});

test('Linears inside If branches and a Loop body (weights in the outer graph) are converted', async (t) => {
  const branch = (name: string, weight: string): OnnxTypes.IGraphProto => ({
    name, node: [{ name: `${name}/MatMul`, opType: 'MatMul', input: ['x', weight], output: [`${name}_y`] }],
    output: [valueInfo(`${name}_y`, 1, [2, 8])],
  });
  const body: OnnxTypes.IGraphProto = {
    name: 'body',
    node: [
      { name: 'body/MatMul', opType: 'MatMul', input: ['h_in', 'w_loop'], output: ['mm'] },
      { name: 'body/Tanh', opType: 'Tanh', input: ['mm'], output: ['h_out'] },
      { name: 'body/Identity', opType: 'Identity', input: ['cond_in'], output: ['cond_out'] },
    ],
    input: [valueInfo('i', 7, []), valueInfo('cond_in', 9, []), valueInfo('h_in', 1, [2, 8])],
    output: [valueInfo('cond_out', 9, []), valueInfo('h_out', 1, [2, 8])],
  };
  const { layers } = await compileAndCheck(t, {
    nodes: [
      { name: 'if', opType: 'If', input: ['flag'], output: ['z'], attribute: [{ name: 'then_branch', type: 5, g: branch('then', 'w_then') }, { name: 'else_branch', type: 5, g: branch('else', 'w_else') }] },
      { name: 'loop', opType: 'Loop', input: ['trips', '', 'z'], output: ['y'], attribute: [{ name: 'body', type: 5, g: body }] },
    ],
    inputs: [valueInfo('x', 1, [2, 5]), valueInfo('flag', 9, [])], outputs: [valueInfo('y', 1, [2, 8])],
    initializers: [['w_then', f32([5, 8], 17)], ['w_else', f32([5, 8], 18)], ['w_loop', f32([8, 8], 19)], ['trips', { dtype: 'int64', dims: [], data: BigInt64Array.of(3n) }]],
  }, { x: f32([2, 5], 20), flag: { dtype: 'bool', dims: [], data: Uint8Array.of(1) } });
  t.deepEqual(layers.map((l) => l.weight).sort(), ['w_else', 'w_loop', 'w_then']);
});

test('--keep globs keep matching Linears in full precision', async (t) => {
  const { layers, weights } = await compileAndCheck(t, {
    nodes: [
      { name: '/model/q_proj/MatMul', opType: 'MatMul', input: ['x', 'onnx::MatMul_1'], output: ['a'] },
      { name: '/lm_head/MatMul', opType: 'MatMul', input: ['a', 'onnx::MatMul_2'], output: ['y'] },
    ],
    inputs: [valueInfo('x', 1, [1, 16])], outputs: [valueInfo('y', 1, [1, 4])],
    initializers: [['onnx::MatMul_1', f32([16, 16], 21)], ['onnx::MatMul_2', f32([16, 4], 22)]],
  }, { x: f32([1, 16], 23) }, ['*lm_head*']);
  t.deepEqual(layers.map((l) => [l.layer, l.kept]), [['model.q_proj', false], ['lm_head', true]]);
  t.true(weights.has('model.q_proj.sign'));
  t.false(weights.has('lm_head.sign'));
  t.true(weights.has('onnx::MatMul_2'));
});

test('a weight that is an activation (no constant) is left alone', async (t) => {
  const { layers } = await compileAndCheck(t, {
    nodes: [{ name: 'mm', opType: 'MatMul', input: ['a', 'b'], output: ['y'] }],
    inputs: [valueInfo('a', 1, [2, 3]), valueInfo('b', 1, [3, 2])], outputs: [valueInfo('y', 1, [2, 2])],
  }, { a: f32([2, 3], 24), b: f32([3, 2], 25) });
  t.is(layers.length, 0);
});

