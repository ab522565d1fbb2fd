import test from 'ava';
import type { DType } from '../../../formats/dtype.ts';
import type { Tensor } from '../../../formats/tensor.ts';
import { tensor } from '../../../formats/tensor.ts';
import { CompileError, formatDiagnostic, throwIfErrors } from '../../../compiler/ir/diagnostics.ts';
import type { Dim, IrAttr, IrGraph, IrModel, IrNode, ValueInfo } from '../../../compiler/ir/graph.ts';
import { KNOWN_OPS, verifyModel } from '../../../compiler/ir/verify.ts';
import { importOnnx } from '../../../compiler/import/onnx.ts';

const vi = (name: string, dtype: DType, shape?: Dim[]): ValueInfo => ({ name, dtype, ...(shape ? { shape } : {}) });
const node = (op: string, inputs: string[], outputs: string[], attrs: Record<string, IrAttr> = {}, name = `n:${outputs[0]}`): IrNode =>
  ({ name, op, domain: '', inputs, outputs, attrs });
const f32 = (dims: number[]) => tensor('float32', dims);
const i64 = (...xs: number[]) => tensor('int64', [xs.length], BigInt64Array.from(xs.map(BigInt)));

function graph(inputs: ValueInfo[], nodes: IrNode[], inits: Record<string, Tensor> = {}, outputs: ValueInfo[] = [], name = 'main'): IrGraph {
  return { name, inputs, outputs, nodes, initializers: new Map(Object.entries(inits)), types: new Map() };
}
function verify(g: IrGraph, opset = 17, supportedOps?: string[]): string[] {
  const m: IrModel = { graph: g, opsets: { '': opset }, source: { path: 'model.onnx', format: 'onnx' } };
  return verifyModel(m, supportedOps ? { supportedOps } : {}).filter((d) => d.severity === 'error').map(formatDiagnostic);
}

const X = vi('x', 'float32', ['batch', 64]);

test('a well-formed graph has no errors', (t) => {
  t.deepEqual(verify(graph([X], [node('MatMul', ['x', 'w'], ['y']), node('Relu', ['y'], ['z'])], { w: f32([64, 8]) }, [vi('z', 'float32')])), []);
});

test('topological order: use before definition, undefined values', (t) => {
  t.deepEqual(verify(graph([X], [node('Relu', ['y'], ['z']), node('Relu', ['x'], ['y']), node('Neg', ['ghost'], ['g'])])), [
    "model.onnx: node 'n:z' (Relu): input 0 'y' is used before it is defined (by node 'n:y' later in the graph): nodes must be in topological order",
    "model.onnx: node 'n:g' (Neg): input 0 'ghost' is not defined: not a graph input, initializer or output of an earlier node",
  ]);
});

test('single assignment, unique node names, outputs produced', (t) => {
  t.deepEqual(verify(graph([X], [
    node('Relu', ['x'], ['y'], {}, 'same'),
    node('Neg', ['x'], ['y'], {}, 'same'),
    node('Abs', ['x'], ['x'], {}, 'other'),
  ], {}, [vi('missing', 'float32')])), [
    "model.onnx: node 'same' (Neg): node name 'same' is used by more than one node",
    "model.onnx: node 'same' (Neg): output 'y' is already defined in this graph (every value must be assigned once)",
    "model.onnx: node 'other' (Abs): output 'x' is already defined in this graph (every value must be assigned once)",
    "model.onnx: value 'missing': graph output 'missing' is not produced by any node, input or initializer",
  ]);
});

test('unknown ops name node and op and list the supported ops', (t) => {
  const errors = verify(graph([X], [node('Frobnicate', ['x'], ['y'])]), 17, ['Add', 'MatMul', 'Relu']);
  t.deepEqual(errors, ["model.onnx: node 'n:y' (Frobnicate): unsupported op 'Frobnicate'; supported ops: Add, MatMul, Relu"]);
  // Known to the IR but not in the caller's list: unsupported too.
  t.regex(verify(graph([X], [node('Tanh', ['x'], ['y'])]), 17, ['Relu'])[0]!, /unsupported op 'Tanh'; supported ops: Relu/);
  t.true(KNOWN_OPS.includes('OneBitLinear') && KNOWN_OPS.includes('Loop'));
});

test('input and output counts follow ONNX, opset by opset', (t) => {
  t.deepEqual(verify(graph([X], [node('Add', ['x'], ['y']), node('TopK', ['x', 'k'], ['v'])], { k: i64(2) })), [
    "model.onnx: node 'n:y' (Add): has 1 input, expected 2 (opset 17)",
    "model.onnx: node 'n:v' (TopK): has 1 output, expected 2",
  ]);
  // Unsqueeze's axes moved from attribute to input in opset 13.
  const unsq = graph([X], [node('Unsqueeze', ['x'], ['y'], { axes: [0] })]);
  t.deepEqual(verify(unsq, 11), []);
  t.deepEqual(verify(unsq, 13), ["model.onnx: node 'n:y' (Unsqueeze): has 1 input, expected 2 (opset 13)"]);
  t.deepEqual(verify(graph([X], [node('Gemm', ['x', '', 'c'], ['y'])], { c: f32([1]) })), [
    "model.onnx: node 'n:y' (Gemm): input 1 is required but omitted ('')",
  ]);
});

test('dtype constraints name node, op, input and dtypes', (t) => {
  t.deepEqual(verify(graph([X, vi('ids', 'int64', ['batch', 64]), vi('c', 'float32', [1]), vi('fi', 'float32', [2])], [
    node('MatMul', ['x', 'ids'], ['mm'], {}, '/model/MatMul'),
    node('Add', ['x', 'ids'], ['add'], {}, '/model/Add'),
    node('Where', ['c', 'x', 'x'], ['w']),
    node('Gather', ['x', 'fi'], ['g']),
    node('Sqrt', ['ids'], ['s']),
  ])), [
    "model.onnx: node '/model/MatMul' (MatMul): input 1 'ids' has dtype int64, expected float32 like input 0",
    "model.onnx: node '/model/Add' (Add): input 1 'ids' has dtype int64, expected float32 like input 0",
    "model.onnx: node 'n:w' (Where): input 0 'c' has dtype float32, expected bool",
    "model.onnx: node 'n:g' (Gather): input 1 'fi' has dtype float32, expected int32 or int64",
    "model.onnx: node 'n:s' (Sqrt): input 0 'ids' has dtype int64, expected a float type (float16, float32, float64, bfloat16)",
  ]);
});

test('dtypes of intermediate values are inferred before checking', (t) => {
  t.deepEqual(verify(graph([X], [
    node('Cast', ['x'], ['xi'], { to: 7 }),
    node('Mul', ['x', 'xi'], ['y']),
  ])), ["model.onnx: node 'n:y' (Mul): input 1 'xi' has dtype int64, expected float32 like input 0"]);
});

test('attribute types and required attributes', (t) => {
  t.deepEqual(verify(graph([X], [
    node('Concat', ['x', 'x'], ['c'], { axis: 'zero' }),
    node('Cast', ['x'], ['k']),
    node('Transpose', ['x'], ['tr'], { perm: [1.5, 0] }),
    node('Softmax', ['x'], ['sm'], { axis: 1, colour: 'blue' }),
  ])), [
    "model.onnx: node 'n:c' (Concat): attribute 'axis' must be an int, got a string",
    "model.onnx: node 'n:k' (Cast): attribute 'to' is required",
    "model.onnx: node 'n:tr' (Transpose): attribute 'perm' must be a list of ints, got a list of numbers",
  ]);
  const m: IrModel = { graph: graph([X], [node('Softmax', ['x'], ['sm'], { colour: 'blue' })]), opsets: { '': 17 }, source: { path: 'model.onnx', format: 'onnx' } };
  t.deepEqual(verifyModel(m).map(formatDiagnostic), ["warning: model.onnx: node 'n:sm' (Softmax): unknown attribute 'colour' for Softmax; it is ignored"]);
});

test('subgraphs: outer values visible, shadowing and branch arity checked', (t) => {
  const ok = graph([], [node('Relu', ['x'], ['t_out'])], {}, [vi('t_out', 'float32')], 'then');
  const shadow = graph([], [node('Neg', ['x'], ['x'], {}, 'inner')], {}, [vi('x', 'float32')], 'else');
  const errors = verify(graph([X, vi('c', 'bool', [])], [
    node('If', ['c'], ['y', 'extra'], { then_branch: ok, else_branch: shadow }),
  ]));
  t.deepEqual(errors, [
    "model.onnx: graph 'else': node 'inner' (Neg): output 'x' shadows a value of an enclosing graph (names must be unique across subgraphs)",
    "model.onnx: node 'n:y' (If): then_branch has 1 outputs, but the node has 2",
    "model.onnx: node 'n:y' (If): else_branch has 1 outputs, but the node has 2",
  ]);
  const loopBody = graph([vi('i', 'int64', []), vi('c_in', 'bool', [])], [node('Identity', ['c_in'], ['c_out'])], {}, [vi('c_out', 'bool')], 'body');
  t.deepEqual(verify(graph([X], [node('Loop', ['', '', 'x'], ['r'], { body: loopBody })])), [
    "model.onnx: node 'n:r' (Loop): body has 2 inputs, expected 3 (iteration number, condition and 1 loop-carried values)",
    "model.onnx: node 'n:r' (Loop): body has 1 outputs, expected at least 2 (condition and 1 loop-carried values)",
  ]);
});

test('every error is collected, not only the first', (t) => {
  const errors = verify(graph([X, vi('ids', 'int64', [3])], [
    node('Relu', ['nope'], ['a']),
    node('Add', ['x', 'ids'], ['b']),
    node('Mystery', ['x'], ['c']),
    node('Gather', ['x'], ['d']),
  ]));
  t.is(errors.length, 4);
  t.deepEqual(errors.map((e) => e.match(/\((\w+)\)/)![1]), ['Relu', 'Add', 'Mystery', 'Gather']);
});

test('CompileError carries every diagnostic and prints one line each', (t) => {
  const diagnostics = verifyModel({
    graph: graph([X], [node('Relu', ['nope'], ['a']), node('Neg', ['nope2'], ['b'])]),
    opsets: { '': 17 }, source: { path: 'm.onnx', format: 'onnx' },
  });
  const error = t.throws(() => throwIfErrors(diagnostics), { instanceOf: CompileError })!;
  t.is(error.diagnostics.length, 2);
  t.is(error.message.split('\n').length, 2);
  t.is(formatDiagnostic({ severity: 'error', file: 'm.onnx', node: 'n', op: 'Add', message: 'bad', hint: 'fix it' }), "m.onnx: node 'n' (Add): bad (hint: fix it)");
  t.notThrows(() => throwIfErrors([{ severity: 'warning', message: 'just so you know' }]));
});

test('stories260K verifies cleanly', async (t) => {
  const m = await importOnnx('test/fixtures/stories260K/model.onnx');
  t.deepEqual(verifyModel(m).map(formatDiagnostic), []);
});
