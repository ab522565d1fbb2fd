import test from 'ava';
import type { Tensor } from '../../../formats/tensor.ts';
import { tensor } from '../../../formats/tensor.ts';
import type { IrGraph, IrModel, IrNode } from '../../../compiler/ir/graph.ts';
import { inferShapes } from '../../../compiler/ir/infer-shapes.ts';
import { formatType, printModel } from '../../../compiler/ir/print.ts';
import { importOnnx } from '../../../compiler/import/onnx.ts';

const node = (name: string, op: string, inputs: string[], outputs: string[], attrs: IrNode['attrs'] = {}, domain = ''): IrNode =>
  ({ name, op, domain, inputs, outputs, attrs });
const sub = (name: string, nodes: IrNode[], output: string): IrGraph =>
  ({ name, inputs: [], outputs: [{ name: output, dtype: 'float32' }], nodes, initializers: new Map(), types: new Map() });

function tiny(): IrModel {
  const graph: IrGraph = {
    name: 'main',
    inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 'sequence', 64] }, { name: 'c', dtype: 'bool', shape: [] }],
    outputs: [{ name: 'z', dtype: 'float32', shape: ['batch', 'sequence', 8] }],
    nodes: [
      node('mm', 'MatMul', ['x', 'w'], ['y']),
      node('sm', 'Softmax', ['y'], ['s'], { axis: -1 }),
      node('tk', 'TopK', ['s', 'k'], ['v', ''], { largest: 1 }),
      node('if', 'If', ['c'], ['z'], {
        then_branch: sub('then', [node('relu', 'Relu', ['y'], ['t'])], 't'),
        else_branch: sub('else', [node('mul', 'Mul', ['y', 'scale'], ['e'])], 'e'),
      }),
    ],
    initializers: new Map<string, Tensor>([
      ['w', tensor('float32', [64, 8])],
      ['scale', tensor('float32', [8], new Float32Array(8).fill(0.5))],
      ['k', tensor('int64', [1], BigInt64Array.of(2n))],
    ]),
    types: new Map(),
  };
  return { graph, opsets: { '': 17 }, source: { path: 'tiny.onnx', format: 'onnx', producer: 'test' } };
}

const EXPECTED = `model 'tiny.onnx' (onnx, test); opsets: ai.onnx 17
graph 'main'
  inputs:
    %x:float32[batch,sequence,64]
    %c:bool[]
  outputs:
    %z:float32[batch,sequence,8]
  initializers (3):
    @w: float32[64,8]
    @scale: float32[8] = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    @k: int64[1] = [2]
  nodes (4):
    %y:float32[batch,sequence,8] = MatMul(%x, @w)
    %s:float32[batch,sequence,8] = Softmax(%y) {axis=-1}
    %v:float32[batch,sequence,2], _ = TopK(%s, @k) {largest=1}
    %z:float32[batch,sequence,8] = If(%c) {else_branch=<graph 'else'>, then_branch=<graph 'then'>}
      else_branch: graph 'else'
        outputs:
          %e:float32[batch,sequence,8]
        nodes (1):
          %e:float32[batch,sequence,8] = Mul(%y, @scale)
      then_branch: graph 'then'
        outputs:
          %t:float32[batch,sequence,8]
        nodes (1):
          %t:float32[batch,sequence,8] = Relu(%y)
`;

test('prints inputs, outputs, initializers and one line per node, subgraphs indented', (t) => {
  const m = tiny();
  inferShapes(m);
  t.is(printModel(m), EXPECTED);
});

test('untyped values print as ?; unknown rank as [?]', (t) => {
  const m = tiny();
  const text = printModel(m);
  t.true(text.includes('    %y:? = MatMul(%x, @w)'));
  t.is(formatType({ dtype: 'float32' }), 'float32[?]');
  t.is(formatType({ dtype: 'int64', shape: [] }), 'int64[]');
});

test('output is stable: same model, same text', async (t) => {
  const a = await importOnnx('test/fixtures/stories260K/model.onnx');
  const b = await importOnnx('test/fixtures/stories260K/model.onnx');
  inferShapes(a);
  inferShapes(b);
  inferShapes(b);
  const text = printModel(a);
  t.is(text, printModel(b));
  t.true(text.includes('    %logits:float32[batch,sequence,512] = MatMul(%/model/norm/Mul_1_output_0, @onnx::MatMul_1353)\n'));
  t.true(text.includes('@model.embed_tokens.weight: float32[512,64]\n'));
  t.regex(text, /^ {4}%input_ids:int64\[batch,sequence\]$/m);
});

test('non-default domains prefix the op', (t) => {
  const m = tiny();
  m.graph.nodes = [node('ob', 'OneBitLinear', ['x', 'sign', 'g', 'h'], ['y'], { in: 64, out: 8 }, 'ai.onebitc')];
  t.true(printModel(m).includes('    %y:? = ai.onebitc.OneBitLinear(%x, %sign, %g, %h) {in=64, out=8}\n'));
});
