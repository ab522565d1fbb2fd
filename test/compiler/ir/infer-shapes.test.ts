import test from 'ava';
import type { DType } from '../../../formats/dtype.ts';
import type { Tensor } from '../../../formats/tensor.ts';
import { tensor } from '../../../formats/tensor.ts';
import { formatDiagnostic } from '../../../compiler/ir/diagnostics.ts';
import type { Dim, IrAttr, IrGraph, IrModel, IrNode, ValueInfo } from '../../../compiler/ir/graph.ts';
import { dimDiv, dimEquals, evalDim, inferShapes, normalizeDim } from '../../../compiler/ir/infer-shapes.ts';
import { importOnnx } from '../../../compiler/import/onnx.ts';

// ---- tiny IR builders ----

const vi = (name: string, dtype: DType, shape?: Dim[]): ValueInfo => ({ name, dtype, ...(shape ? { shape } : {}) });
const node = (op: string, inputs: string[], outputs: string[], attrs: Record<string, IrAttr> = {}): IrNode =>
  ({ name: `n:${outputs[0]}`, op, domain: '', inputs, outputs, attrs });
const i64 = (...xs: (number | bigint)[]) => tensor('int64', [xs.length], BigInt64Array.from(xs.map((x) => BigInt(x))));
const i64s = (x: number) => tensor('int64', [], BigInt64Array.of(BigInt(x)));
const f32 = (dims: number[]) => tensor('float32', dims);

function graph(inputs: ValueInfo[], nodes: IrNode[], inits: Record<string, Tensor> = {}, outputs: ValueInfo[] = [], name = 'main'): IrGraph {
  return { name, inputs, outputs, nodes, initializers: new Map(Object.entries(inits)), types: new Map() };
}
function model(g: IrGraph, opset = 17): IrModel {
  return { graph: g, opsets: { '': opset }, source: { path: 'test.onnx', format: 'onnx' } };
}
/** Infers and returns [model, diagnostics, shape-of]. */
function infer(g: IrGraph, opset = 17) {
  const m = model(g, opset);
  const diagnostics = inferShapes(m);
  const shape = (name: string) => m.graph.types.get(name)?.shape;
  const dtype = (name: string) => m.graph.types.get(name)?.dtype;
  return { m, diagnostics, shape, dtype, errors: diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic) };
}

const X = vi('x', 'float32', ['batch', 'sequence', 64]);

// ---- dims ----

test('symbolic dim arithmetic is canonical', (t) => {
  t.is(normalizeDim('sequence + past'), 'past + sequence');
  t.true(dimEquals('2 * batch * sequence', 'sequence * batch * 2'));
  t.is(dimDiv('64 * batch * sequence', 'batch * 4'), '16 * sequence');
  t.is(dimDiv('batch', 2), undefined);
  t.is(evalDim('past + sequence - 1', { past: 3, sequence: 4 }), 6);
  t.is(normalizeDim('unk_/model/Reshape_0'), 'unk_/model/Reshape_0');
});

// ---- elementwise ----

test('broadcasting with symbols', (t) => {
  const r = infer(graph(
    [X, vi('a', 'float32', ['batch', 1, 64]), vi('b', 'float32', [1, 'sequence', 1]), vi('p', 'float32', ['past']), vi('q', 'float32', ['sequence'])],
    [
      node('Add', ['x', 'bias'], ['y1']),
      node('Mul', ['a', 'b'], ['y2']),
      node('Sub', ['q', 'q'], ['y3']),
      node('Div', ['p', 'q'], ['y4']),
      node('Greater', ['x', 'bias'], ['c']),
      node('Where', ['c', 'x', 'a'], ['w']),
      node('Cast', ['c'], ['cf'], { to: 1 }),
      node('Max', ['a', 'b', 'x'], ['mx']),
      node('Sqrt', ['x'], ['s']),
      node('Dropout', ['x'], ['d', 'dmask']),
    ],
    { bias: f32([64]) },
  ));
  t.deepEqual(r.errors, []);
  t.deepEqual(r.shape('y1'), ['batch', 'sequence', 64]);
  t.deepEqual(r.shape('y2'), ['batch', 'sequence', 64]);
  t.deepEqual(r.shape('y3'), ['sequence']);
  t.deepEqual(r.shape('y4'), ['unk_n:y4_0'], 'two different symbols give a fresh, node-derived symbol');
  t.is(r.dtype('c'), 'bool');
  t.deepEqual(r.shape('w'), ['batch', 'sequence', 64]);
  t.is(r.dtype('cf'), 'float32');
  t.deepEqual(r.shape('mx'), ['batch', 'sequence', 64]);
  t.deepEqual(r.shape('s'), ['batch', 'sequence', 64]);
  t.is(r.dtype('dmask'), 'bool');
});

test('incompatible broadcast is an error naming node and op', (t) => {
  const r = infer(graph([vi('a', 'float32', [2, 3]), vi('b', 'float32', [4])], [node('Add', ['a', 'b'], ['y'])]));
  t.is(r.errors.length, 1);
  t.regex(r.errors[0]!, /^test\.onnx: node 'n:y' \(Add\): shapes \[2,3\] and \[4\] do not broadcast/);
  t.is(r.dtype('y'), undefined);
});

// ---- reductions ----

test('reductions: axes attribute or input by opset, ArgMax, TopK', (t) => {
  const nodes = [
    node('ReduceMean', ['x'], ['m'], { axes: [-1] }),
    node('ReduceSum', ['x', 'ax'], ['s'], { keepdims: 0 }),
    node('ArgMax', ['x'], ['am'], { axis: 2, keepdims: 0 }),
    node('TopK', ['x', 'k'], ['tv', 'ti']),
  ];
  const r = infer(graph([X], nodes, { ax: i64(1), k: i64(5) }), 13);
  t.deepEqual(r.errors, []);
  t.deepEqual(r.shape('m'), ['batch', 'sequence', 1]);
  t.deepEqual(r.shape('s'), ['batch', 64]);
  t.deepEqual(r.shape('am'), ['batch', 'sequence']);
  t.is(r.dtype('am'), 'int64');
  t.deepEqual(r.shape('tv'), ['batch', 'sequence', 5]);
  t.is(r.dtype('ti'), 'int64');

  const r18 = infer(graph([X], [node('ReduceMax', ['x', 'ax'], ['m'])], { ax: i64(0, 2) }), 18);
  t.deepEqual(r18.shape('m'), [1, 'sequence', 1]);
});

// ---- tensor ops ----

test('Reshape with 0 and -1, symbolic products', (t) => {
  const r = infer(graph([X], [
    node('Reshape', ['x', 's1'], ['r1']),
    node('Reshape', ['x', 's2'], ['r2']),
    node('Reshape', ['r2', 's3'], ['r3']),
  ], { s1: i64(0, 0, 4, -1), s2: i64(-1, 64), s3: i64(-1, 8, 8) }));
  t.deepEqual(r.errors, []);
  t.deepEqual(r.shape('r1'), ['batch', 'sequence', 4, 16]);
  t.deepEqual(r.shape('r2'), ['batch * sequence', 64]);
  t.deepEqual(r.shape('r3'), ['batch * sequence', 8, 8]);

  const bad = infer(graph([vi('a', 'float32', [2, 3])], [node('Reshape', ['a', 's'], ['y'])], { s: i64(4, -1) }));
  t.regex(bad.errors[0]!, /node 'n:y' \(Reshape\): cannot reshape \[2,3\] \(6 elements\) into \[4,-1\]/);
});

test('Reshape target computed from Shape → Gather → Unsqueeze → Concat keeps symbols', (t) => {
  const r = infer(graph([X], [
    node('Shape', ['x'], ['shape']),
    node('Gather', ['shape', 'zero'], ['b'], { axis: 0 }),
    node('Gather', ['shape', 'one'], ['s'], { axis: 0 }),
    node('Unsqueeze', ['b', 'axes0'], ['bu']),
    node('Unsqueeze', ['s', 'axes0'], ['su']),
    node('Concat', ['bu', 'su', 'heads', 'minus1'], ['target'], { axis: 0 }),
    node('Reshape', ['x', 'target'], ['y']),
    node('Mul', ['s', 'two'], ['s2']),
    node('Unsqueeze', ['s2', 'axes0'], ['s2u']),
    node('Concat', ['bu', 's2u', 'minus1'], ['t2'], { axis: 0 }),
    node('Reshape', ['x', 't2'], ['y2']),
    node('Cast', ['s'], ['sf'], { to: 1 }),
    node('Cast', ['sf'], ['si'], { to: 7 }),
    node('Range', ['zero', 'si', 'one'], ['pos']),
    node('Concat', ['bu', 'su'], ['bs'], { axis: 0 }),
    node('ConstantOfShape', ['bs'], ['mask'], { value: i64(1) }),
    node('Expand', ['bias', 'shape'], ['bx']),
  ], { zero: i64s(0), one: i64s(1), two: i64s(2), axes0: i64(0), heads: i64(4), minus1: i64(-1), bias: f32([64]) }));
  t.deepEqual(r.errors, []);
  t.deepEqual(r.shape('target'), [4]);
  t.deepEqual(r.shape('y'), ['batch', 'sequence', 4, 16]);
  t.deepEqual(r.shape('y2'), ['batch', '2 * sequence', 32]);
  t.deepEqual(r.shape('pos'), ['sequence']);
  t.deepEqual(r.shape('mask'), ['batch', 'sequence']);
  t.is(r.dtype('mask'), 'int64');
  t.deepEqual(r.shape('bx'), ['batch', 'sequence', 64]);
});

test('KV cache: past + new along the sequence axis, positions from Range over symbolic bounds', (t) => {
  const r = infer(graph([vi('past', 'float32', ['batch', 4, 'past_sequence', 8]), vi('k', 'float32', ['batch', 4, 'sequence', 8]), vi('q', 'float32', ['batch', 4, 'sequence', 8])], [
    node('Concat', ['past', 'k'], ['keys'], { axis: 2 }),
    node('Transpose', ['keys'], ['kt'], { perm: [0, 1, 3, 2] }),
    node('MatMul', ['q', 'kt'], ['scores']),
    node('Shape', ['past'], ['ps']),
    node('Gather', ['ps', 'two'], ['plen'], { axis: 0 }),
    node('Shape', ['keys'], ['ks']),
    node('Gather', ['ks', 'two'], ['total'], { axis: 0 }),
    node('Range', ['plen', 'total', 'one'], ['positions']),
  ], { two: tensor('int64', [], BigInt64Array.of(2n)), one: tensor('int64', [], BigInt64Array.of(1n)) }));
  t.deepEqual(r.errors, []);
  t.deepEqual(r.shape('keys'), ['batch', 4, 'past_sequence + sequence', 8]);
  t.deepEqual(r.shape('scores'), ['batch', 4, 'sequence', 'past_sequence + sequence']);
  t.deepEqual(r.shape('positions'), ['sequence']);
});

test('PyTorch repeat_kv pattern: ConstantOfShape · -1 → Equal → Where → Expand', (t) => {
  const r = infer(graph([vi('k', 'float32', ['batch', 4, 1, 'sequence', 8])], [
    node('Shape', ['k'], ['ks']),
    node('Gather', ['ks', 'zero'], ['b'], { axis: 0 }),
    node('Gather', ['ks', 'three'], ['s'], { axis: 0 }),
    node('Unsqueeze', ['b', 'axes0'], ['bu']),
    node('Unsqueeze', ['s', 'axes0'], ['su']),
    node('Concat', ['bu', 'c4', 'c2', 'su', 'c8'], ['want'], { axis: 0 }),
    node('Shape', ['want'], ['wl']),
    node('ConstantOfShape', ['wl'], ['ones'], { value: i64(1) }),
    node('Mul', ['ones', 'neg1'], ['negs']),
    node('Equal', ['want', 'negs'], ['isneg']),
    node('Where', ['isneg', 'ones', 'want'], ['target']),
    node('Expand', ['k', 'target'], ['kx']),
    node('Reshape', ['kx', 'flat'], ['kr']),
  ], {
    zero: i64s(0), three: i64s(3), axes0: i64(0), c4: i64(4), c2: i64(2), c8: i64(8), neg1: i64s(-1),
    flat: i64(0, 8, -1, 8),
  }));
  t.deepEqual(r.errors, []);
  t.deepEqual(r.shape('kx'), ['batch', 4, 2, 'sequence', 8]);
  t.deepEqual(r.shape('kr'), ['batch', 8, 'sequence', 8]);
});

test('Slice, Split, Squeeze/Unsqueeze (attr vs input), Transpose, Concat, Gather, Flatten, Tile, Pad', (t) => {
  const nodes = [
    node('Slice', ['x', 'st', 'en', 'ax'], ['sl']),
    node('Split', ['x', 'parts'], ['p0', 'p1'], { axis: 2 }),
    node('Split', ['x'], ['h0', 'h1'], { axis: -1 }),
    node('Unsqueeze', ['x', 'axes'], ['u']),
    node('Squeeze', ['u', 'axes'], ['sq']),
    node('Transpose', ['x'], ['tr'], { perm: [1, 0, 2] }),
    node('Concat', ['x', 'x'], ['cc'], { axis: 1 }),
    node('Gather', ['emb', 'ids'], ['g']),
    node('Flatten', ['x'], ['fl'], { axis: 2 }),
    node('Tile', ['x', 'reps'], ['ti']),
    node('Pad', ['x', 'pads'], ['pd']),
    node('Shape', ['x'], ['shp']),
    node('Slice', ['shp', 'one1', 'two1'], ['seqv']),
  ];
  const r = infer(graph([X, vi('ids', 'int64', ['batch', 'sequence'])], nodes, {
    st: i64(0, 4), en: i64(2, 2n ** 63n - 1n), ax: i64(0, 2),
    parts: i64(16, 48), axes: i64(1), emb: f32([512, 64]), reps: i64(1, 2, 1), pads: i64(0, 1, 0, 0, 1, 0),
    one1: i64(1), two1: i64(2),
  }));
  t.deepEqual(r.errors, []);
  t.deepEqual(r.shape('sl'), ['unk_n:sl_0', 'sequence', 60], 'min(batch, 2) is not knowable');
  t.deepEqual(r.shape('p0'), ['batch', 'sequence', 16]);
  t.deepEqual(r.shape('p1'), ['batch', 'sequence', 48]);
  t.deepEqual(r.shape('h1'), ['batch', 'sequence', 32]);
  t.deepEqual(r.shape('u'), ['batch', 1, 'sequence', 64]);
  t.deepEqual(r.shape('sq'), ['batch', 'sequence', 64]);
  t.deepEqual(r.shape('tr'), ['sequence', 'batch', 64]);
  t.deepEqual(r.shape('cc'), ['batch', '2 * sequence', 64]);
  t.deepEqual(r.shape('g'), ['batch', 'sequence', 64]);
  t.deepEqual(r.shape('fl'), ['batch * sequence', 64]);
  t.deepEqual(r.shape('ti'), ['batch', '2 * sequence', 64]);
  t.deepEqual(r.shape('pd'), ['batch', 'sequence + 2', 64]);
  t.deepEqual(r.shape('seqv'), [1]);

  const sliced = infer(graph([X], [
    node('Shape', ['x'], ['shp']),
    node('Slice', ['shp', 'one1', 'two1'], ['seq1']),
    node('Slice', ['cache', 'zero1', 'seq1', 'zero1'], ['rope']),
  ], { cache: f32([512, 8]), zero1: i64(0), one1: i64(1), two1: i64(2) }));
  t.deepEqual(sliced.errors, []);
  t.deepEqual(sliced.shape('rope'), ['sequence', 8], 'rotary cache sliced to the sequence length');
});

test('Squeeze and Unsqueeze take axes as attributes before opset 13', (t) => {
  const r = infer(graph([vi('a', 'float32', [1, 'n', 1])], [
    node('Squeeze', ['a'], ['s'], { axes: [0] }),
    node('Unsqueeze', ['s'], ['u'], { axes: [0, 3] }),
    node('Squeeze', ['a'], ['all']),
  ]), 11);
  t.deepEqual(r.errors, []);
  t.deepEqual(r.shape('s'), ['n', 1]);
  t.deepEqual(r.shape('u'), [1, 'n', 1, 1]);
  t.deepEqual(r.shape('all'), ['n']);
});

test('unknown values never fail: fresh symbols derived from the node', (t) => {
  const g = graph([X, vi('target', 'int64', [3]), vi('any', 'float32')], [
    node('Reshape', ['x', 'target'], ['r']),
    node('Relu', ['any'], ['ra']),
    node('MatMul', ['any', 'w'], ['mm']),
    node('Expand', ['x', 'target'], ['e']),
  ], { w: f32([64, 8]) });
  const r = infer(g);
  t.deepEqual(r.errors, []);
  t.deepEqual(r.shape('r'), ['unk_n:r_0', 'unk_n:r_1', 'unk_n:r_2']);
  t.is(r.shape('ra'), undefined);
  t.is(r.dtype('ra'), 'float32');
  t.is(r.dtype('mm'), 'float32');
  t.deepEqual(r.shape('e'), ['unk_n:e_0', 'unk_n:e_1', 64]);
  // Stable across runs: same names again.
  inferShapes(r.m);
  t.deepEqual(r.m.graph.types.get('r')?.shape, ['unk_n:r_0', 'unk_n:r_1', 'unk_n:r_2']);
});

// ---- nn ----

test('MatMul, Gemm, Conv, pooling, normalizations', (t) => {
  const r = infer(graph([X, vi('img', 'float32', ['n', 3, 32, 32]), vi('a', 'float32', [8, 'k'])], [
    node('MatMul', ['x', 'w'], ['mm']),
    node('MatMul', ['q', 'kt'], ['att']),
    node('MatMul', ['v', 'vec'], ['mv']),
    node('Gemm', ['a', 'wg', 'bg'], ['gm'], { transB: 1 }),
    node('Conv', ['img', 'wc', 'bc'], ['cv'], { pads: [1, 1, 1, 1], strides: [2, 2] }),
    node('MaxPool', ['cv'], ['mp', 'mpi'], { kernel_shape: [2, 2], strides: [2, 2] }),
    node('AveragePool', ['cv'], ['ap'], { kernel_shape: [3, 3], auto_pad: 'SAME_UPPER' }),
    node('GlobalAveragePool', ['cv'], ['gap']),
    node('ConvTranspose', ['cv', 'wt'], ['ct'], { strides: [2, 2] }),
    node('BatchNormalization', ['cv', 'g16', 'g16', 'g16', 'g16'], ['bn']),
    node('LayerNormalization', ['x', 'g64', 'g64'], ['ln', 'lnm', 'lnr']),
    node('InstanceNormalization', ['cv', 'g16', 'g16'], ['in']),
    node('Softmax', ['att'], ['sm'], { axis: -1 }),
  ], {
    w: f32([64, 32]), q: f32([2, 8, 5, 16]), kt: f32([1, 8, 16, 7]), v: f32([3, 4]), vec: f32([4]),
    wg: f32([16, 8]), bg: f32([16]), wc: f32([16, 3, 3, 3]), bc: f32([16]), wt: f32([16, 4, 3, 3]),
    g16: f32([16]), g64: f32([64]),
  }));
  t.deepEqual(r.errors, []);
  t.deepEqual(r.shape('mm'), ['batch', 'sequence', 32]);
  t.deepEqual(r.shape('att'), [2, 8, 5, 7]);
  t.deepEqual(r.shape('mv'), [3]);
  t.deepEqual(r.shape('gm'), [8, 16]);
  t.deepEqual(r.shape('cv'), ['n', 16, 16, 16]);
  t.deepEqual(r.shape('mp'), ['n', 16, 8, 8]);
  t.is(r.dtype('mpi'), 'int64');
  t.deepEqual(r.shape('ap'), ['n', 16, 16, 16]);
  t.deepEqual(r.shape('gap'), ['n', 16, 1, 1]);
  t.deepEqual(r.shape('ct'), ['n', 4, 33, 33]);
  t.deepEqual(r.shape('bn'), ['n', 16, 16, 16]);
  t.deepEqual(r.shape('ln'), ['batch', 'sequence', 64]);
  t.deepEqual(r.shape('lnm'), ['batch', 'sequence', 1]);
  t.deepEqual(r.shape('sm'), [2, 8, 5, 7]);

  const bad = infer(graph([X], [node('MatMul', ['x', 'w'], ['y'])], { w: f32([32, 8]) }));
  t.regex(bad.errors[0]!, /node 'n:y' \(MatMul\): inner dims of \[batch,sequence,64\] × \[32,8\] differ: 64 vs 32/);
});

test('OneBitLinear: [..., in] → float32 [..., out], checks its packed operands', (t) => {
  const inputs = ['x', 'sign', 'g', 'h', 'bias'];
  const inits = { sign: tensor('uint8', [32, 8]), g: f32([64]), h: f32([32]), bias: f32([32]) };
  const r = infer(graph([X], [{ ...node('OneBitLinear', inputs, ['y'], { in: 64, out: 32 }), domain: 'ai.onebitc' }], inits));
  t.deepEqual(r.errors, []);
  t.deepEqual(r.shape('y'), ['batch', 'sequence', 32]);
  t.is(r.dtype('y'), 'float32');

  const bad = infer(graph([X], [node('OneBitLinear', inputs, ['y'], { in: 64, out: 32 })], { ...inits, sign: tensor('uint8', [32, 64]) }));
  t.regex(bad.errors[0]!, /\(OneBitLinear\): sign has shape \[32,64\], expected \[32,8\]/);
});

// ---- control flow ----

test('If: branches see outer values; differing dims become fresh symbols', (t) => {
  const thenBranch = graph([], [node('Add', ['x', 'one'], ['t_out'])], { one: f32([1]) }, [vi('t_out', 'float32')], 'then');
  const elseBranch = graph([], [node('Concat', ['x', 'x'], ['e_out'], { axis: 1 })], {}, [vi('e_out', 'float32')], 'else');
  const r = infer(graph([X, vi('c', 'bool', [])], [
    node('If', ['c'], ['y'], { then_branch: thenBranch, else_branch: elseBranch }),
  ]));
  t.deepEqual(r.errors, []);
  t.deepEqual(thenBranch.types.get('t_out')?.shape, ['batch', 'sequence', 64]);
  t.deepEqual(elseBranch.types.get('e_out')?.shape, ['batch', '2 * sequence', 64]);
  t.deepEqual(r.shape('y'), ['batch', 'unk_n:y_0', 64]);
});

test('Loop: carried values and scan outputs', (t) => {
  const body = graph(
    [vi('i', 'int64', []), vi('cond_in', 'bool', []), vi('acc_in', 'float32')],
    [
      node('Identity', ['cond_in'], ['cond_out']),
      node('Add', ['acc_in', 'x'], ['acc_out']),
      node('ReduceSum', ['acc_out'], ['scan'], { keepdims: 0 }),
    ],
    {}, [vi('cond_out', 'bool'), vi('acc_out', 'float32'), vi('scan', 'float32')], 'body',
  );
  const r = infer(graph([X], [node('Loop', ['trips', '', 'x'], ['acc', 'scans'], { body })], { trips: i64s(5) }));
  t.deepEqual(r.errors, []);
  t.deepEqual(body.types.get('acc_in')?.shape, ['batch', 'sequence', 64]);
  t.deepEqual(r.shape('acc'), ['batch', 'sequence', 64]);
  t.deepEqual(r.shape('scans'), [5]);
});

// ---- diagnostics ----

test('undefined inputs, unknown ops and declared-output conflicts are reported', (t) => {
  const r = infer(graph([X], [
    node('Relu', ['nowhere'], ['a']),
    node('Frobnicate', ['x'], ['b']),
    node('Relu', ['b'], ['c']),
    node('Cast', ['x'], ['out'], { to: 7 }),
  ], {}, [vi('out', 'float32', ['batch', 'sequence', 64])]));
  t.deepEqual(r.errors, [
    "test.onnx: node 'n:a' (Relu): input 0 'nowhere' is not defined before this node",
    "test.onnx: value 'out': output 'out' is declared float32 but computed as int64",
  ]);
  t.truthy(r.diagnostics.find((d) => d.severity === 'warning' && d.op === 'Frobnicate'));
});

// ---- a real model ----

test('stories260K: logits and every MatMul have symbolic batch/sequence dims', async (t) => {
  const m = await importOnnx('test/fixtures/stories260K/model.onnx');
  // Forget what the file declares: the shapes must come from inference.
  for (const g of [m.graph]) {
    g.types.clear();
    for (const o of g.outputs) delete o.shape;
  }
  const diagnostics = inferShapes(m);
  t.deepEqual(diagnostics.map(formatDiagnostic), []);
  t.deepEqual(m.graph.types.get('logits'), { dtype: 'float32', shape: ['batch', 'sequence', 512] });
  const matmuls = m.graph.nodes.filter((n) => n.op === 'MatMul');
  t.is(matmuls.length, 46);
  for (const n of matmuls) {
    const a = m.graph.types.get(n.inputs[0]!)!.shape!;
    const y = m.graph.types.get(n.outputs[0]!)!.shape!;
    t.is(a[0], 'batch', n.name);
    t.true(a.includes('sequence'), n.name);
    t.true(y.every((d) => typeof d === 'number' || d === 'batch' || d === 'sequence'), `${n.name}: ${y}`);
  }
  const attn = m.graph.types.get('/model/layers.0/self_attn/MatMul_output_0');
  t.deepEqual(attn?.shape, ['batch', 8, 'sequence', 'sequence']);
  for (const [name, type] of m.graph.types) {
    t.true(type.shape?.every((d) => typeof d === 'number' || d === 'batch' || d === 'sequence'), `${name}: ${type.shape}`);
  }
});
