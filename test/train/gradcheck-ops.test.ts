// Gradient checks of every VJP rule of the training engine: a one-node graph per case (its float inputs are the
// trained parameters), loss Σ r·y with fixed random r, the tape's analytic gradient against central finite
// differences in float64. The same cases run once more in float32 (the training dtype; large products go
// through the WASM GEMM) against the float64 finite differences, with a loose tolerance. OneBitTrain's latent
// weight goes through sign(), so its gradient is checked against finite differences of the same computation with
// the sign matrix as a dense parameter, times the straight-through estimator's factor. Last, the KD loss's own
// gradients against finite differences of its loss.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { Tensor } from '../../formats/tensor.ts';
import { tensor } from '../../formats/tensor.ts';
import type { IrAttr, IrGraph, IrNode } from '../../compiler/ir/graph.ts';
import type { FloatDType, Floats } from '../../compiler/train/autodiff/floats.ts';
import { ONEBIT_TRAIN_OP } from '../../compiler/train/autodiff/onebit-train.ts';
import { Tape, VJPS } from '../../compiler/train/autodiff/tape.ts';
import { kdLoss } from '../../compiler/train/kd-loss.ts';
import { assertGrad, centralDifference, dot, f32, f64, i64, randomValues, Rng, sampleIndices } from '../helpers/gradcheck.ts';

const STEP = 1e-5;
/** float64: analytic vs central differences. */
const RTOL_64 = 5e-6;
const FLOOR_64 = 1e-4;
/** float32 analytic vs float64 central differences. */
const RTOL_32 = 2e-3;
const FLOOR_32 = 1e-2;
/** Finite differences per parameter at most (sampled). */
const SAMPLES = 24;

type InputSpec =
  | { kind: 'param'; dims: number[]; values: 'normal' | 'positive' | 'nonzero'; scale?: number }
  | { kind: 'const'; tensor: Tensor }
  | { kind: 'same'; input: number }
  | { kind: 'none' };

const P = (dims: number[], values: 'normal' | 'positive' | 'nonzero' = 'normal', scale?: number): InputSpec => ({ kind: 'param', dims, values, ...(scale ? { scale } : {}) });
const C = (t: Tensor): InputSpec => ({ kind: 'const', tensor: t });
const NONE: InputSpec = { kind: 'none' };

interface OpCase {
  name: string;
  op: string;
  inputs: InputSpec[];
  attrs?: Record<string, IrAttr>;
  /** Number of outputs (default 1). */
  outputs?: number;
  /** Outputs the loss reads (default all). */
  seeded?: number[];
  /** Run only in this dtype. */
  only?: FloatDType;
  /** Attributes of the float32 run where they differ (the float64 finite differences use `attrs`). */
  float32Attrs?: Record<string, IrAttr>;
}

const shapes3: [number[], number[]][] = [
  [[2, 3, 4], [2, 3, 4]], [[2, 3, 4], [4]], [[4], [2, 3, 4]], [[2, 3, 4], []], [[], [2, 3, 4]],
  [[2, 1, 4], [3, 1]], [[1], [2, 3]], [[2, 3, 4], [1, 3, 1]], [[3, 1], [1, 4]],
];
const fmt = (d: number[]) => `[${d.join(',')}]`;

const CASES: OpCase[] = [
  ...['Add', 'Sub', 'Mul', 'Div'].flatMap((op) => shapes3.map(([a, b]): OpCase => ({
    name: `${op} ${fmt(a)} ${fmt(b)}`, op, inputs: [P(a), P(b, op === 'Div' ? 'nonzero' : 'normal')],
  }))),
  { name: 'Mul x·x (one value read twice: gradients accumulate)', op: 'Mul', inputs: [P([3, 4]), { kind: 'same', input: 0 }] },
  { name: 'Pow [2,3] ** 2.5', op: 'Pow', inputs: [P([2, 3], 'positive'), C(f32([], [2.5]))] },
  { name: 'Pow [2,3] ** [0.5,2,-1.5]', op: 'Pow', inputs: [P([2, 3], 'positive'), C(f32([3], [0.5, 2, -1.5]))] },
  { name: 'Where cond[2,1,4] X[3,1] Y[2,3,4]', op: 'Where', inputs: [C(tensor('bool', [2, 1, 4], Uint8Array.from([1, 0, 0, 1, 1, 1, 0, 0])) as Tensor), P([3, 1]), P([2, 3, 4])] },
  { name: 'Where cond[3,4] X[] Y[4]', op: 'Where', inputs: [C(tensor('bool', [3, 4], Uint8Array.from([1, 0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1])) as Tensor), P([]), P([4])] },
  ...['Neg', 'Sigmoid', 'Tanh', 'Relu', 'Exp', 'Erf'].map((op): OpCase => ({ name: `${op} [3,4]`, op, inputs: [P([3, 4])] })),
  { name: 'Sqrt [3,4] (positive)', op: 'Sqrt', inputs: [P([3, 4], 'positive')] },
  { name: 'Reciprocal [3,4] (away from 0)', op: 'Reciprocal', inputs: [P([3, 4], 'nonzero')] },

  {
    name: 'FusedAttention q[2,2,3,4] kT[2,1,4,5] v[2,1,5,4] (kv shared by 2 groups), additive mask with masked entries', op: 'FusedAttention', outputs: 2, seeded: [0],
    inputs: [P([2, 2, 3, 4]), P([2, 1, 4, 5]), P([2, 1, 5, 4]), C(f32([3, 5], [0, 0, 0, -3.4028234663852886e38, -3.4028234663852886e38, 0, -0.5, 0, 0, -3.4028234663852886e38, 0.25, 0, 0, 0, 0]))], attrs: { scale: 0.5 },
  },
  { name: 'MatMul [3,4]·[4,5]', op: 'MatMul', inputs: [P([3, 4]), P([4, 5])] },
  { name: 'MatMul batched [2,3,4]·[2,4,5]', op: 'MatMul', inputs: [P([2, 3, 4]), P([2, 4, 5])] },
  { name: 'MatMul broadcast batch [2,1,3,4]·[5,4,2]', op: 'MatMul', inputs: [P([2, 1, 3, 4]), P([5, 4, 2])] },
  { name: 'MatMul broadcast batch [3,4]·[2,4,5]', op: 'MatMul', inputs: [P([3, 4]), P([2, 4, 5])] },
  { name: 'MatMul 1-D A [4]·[2,4,3]', op: 'MatMul', inputs: [P([4]), P([2, 4, 3])] },
  { name: 'MatMul 1-D B [2,3,4]·[4]', op: 'MatMul', inputs: [P([2, 3, 4]), P([4])] },
  { name: 'MatMul 1-D both [4]·[4]', op: 'MatMul', inputs: [P([4]), P([4])] },
  { name: 'MatMul large [64,96]·[96,80] (WASM GEMM in float32)', op: 'MatMul', inputs: [P([64, 96]), P([96, 80])] },
  { name: 'MatMul large batched [2,32,48]·[48,40] (WASM GEMM in float32)', op: 'MatMul', inputs: [P([2, 32, 48]), P([48, 40])] },
  ...[[0, 0], [1, 0], [0, 1], [1, 1]].flatMap(([ta, tb]) => {
    const a = ta ? [4, 3] : [3, 4];
    const b = tb ? [5, 4] : [4, 5];
    const base = `Gemm transA=${ta} transB=${tb}`;
    return [
      { name: `${base}, no C`, op: 'Gemm', inputs: [P(a), P(b)], attrs: { transA: ta!, transB: tb! } },
      { name: `${base}, alpha 0.7 beta 1.3 C[5]`, op: 'Gemm', inputs: [P(a), P(b), P([5])], attrs: { transA: ta!, transB: tb!, alpha: 0.7, beta: 1.3 } },
      { name: `${base}, alpha 1.5 beta -0.4 C[3,5]`, op: 'Gemm', inputs: [P(a), P(b), P([3, 5])], attrs: { transA: ta!, transB: tb!, alpha: 1.5, beta: -0.4 } },
    ] as OpCase[];
  }),
  { name: 'Gemm with C omitted (empty input name)', op: 'Gemm', inputs: [P([3, 4]), P([5, 4]), NONE], attrs: { transB: 1 } },
  { name: 'Gemm C[3,1] beta 2', op: 'Gemm', inputs: [P([3, 4]), P([4, 5]), P([3, 1])], attrs: { beta: 2 } },
  { name: 'Gemm C[] (scalar) alpha 0.5', op: 'Gemm', inputs: [P([3, 4]), P([4, 5]), P([])], attrs: { alpha: 0.5 } },
  { name: 'Gemm beta 0 (C gets a zero gradient)', op: 'Gemm', inputs: [P([3, 4]), P([4, 5]), P([3, 5])], attrs: { beta: 0 } },
  { name: 'Gemm large transA transB [48,32]ᵀ·[40,48]ᵀ + C (WASM GEMM in float32)', op: 'Gemm', inputs: [P([48, 32]), P([40, 48]), P([40])], attrs: { transA: 1, transB: 1, alpha: 0.9, beta: 1.1 } },

  { name: 'Softmax axis -1 [2,3,5]', op: 'Softmax', inputs: [P([2, 3, 5])], attrs: { axis: -1 } },
  { name: 'Softmax axis 1 [2,3,5]', op: 'Softmax', inputs: [P([2, 3, 5])], attrs: { axis: 1 } },
  { name: 'Softmax axis 0 [3,4]', op: 'Softmax', inputs: [P([3, 4])], attrs: { axis: 0 } },
  { name: 'RMSNorm with weight [2,3,8]', op: 'RMSNorm', inputs: [P([2, 3, 8]), P([8])], attrs: { epsilon: 1e-5 } },
  { name: 'RMSNorm without weight [2,3,8]', op: 'RMSNorm', inputs: [P([2, 3, 8])], attrs: { epsilon: 1e-5 } },
  { name: 'LayerNormalization axis -1 with scale and bias', op: 'LayerNormalization', inputs: [P([2, 3, 8]), P([8]), P([8])], attrs: { axis: -1, epsilon: 1e-5 } },
  { name: 'LayerNormalization axis 1 over [3,8] with scale and bias', op: 'LayerNormalization', inputs: [P([2, 3, 8]), P([3, 8]), P([3, 8])], attrs: { axis: 1, epsilon: 1e-5 } },
  { name: 'LayerNormalization axis 1 over [3,8], scale and bias [8] broadcast', op: 'LayerNormalization', inputs: [P([2, 3, 8]), P([8]), P([8])], attrs: { axis: 1, epsilon: 1e-5 } },
  { name: 'LayerNormalization without bias', op: 'LayerNormalization', inputs: [P([4, 6]), P([6])], attrs: { axis: -1, epsilon: 1e-3 } },

  { name: 'Transpose perm [2,0,1]', op: 'Transpose', inputs: [P([2, 3, 4])], attrs: { perm: [2, 0, 1] } },
  { name: 'Transpose default perm', op: 'Transpose', inputs: [P([2, 3, 4])] },
  { name: 'Split axis 1 [1,2,1]', op: 'Split', inputs: [P([2, 4, 3]), C(i64([3], [1, 2, 1]))], attrs: { axis: 1 }, outputs: 3 },
  { name: 'Split axis 1, only outputs 0 and 2 used', op: 'Split', inputs: [P([2, 4, 3]), C(i64([3], [1, 2, 1]))], attrs: { axis: 1 }, outputs: 3, seeded: [0, 2] },
  { name: 'Split axis -1 num_outputs 2', op: 'Split', inputs: [P([3, 4])], attrs: { axis: -1, num_outputs: 2 }, outputs: 2 },
  { name: 'Concat axis 1 of three', op: 'Concat', inputs: [P([2, 1, 3]), P([2, 3, 3]), P([2, 2, 3])], attrs: { axis: 1 } },
  { name: 'Concat axis -1 with a constant', op: 'Concat', inputs: [P([2, 3]), C(f32([2, 2], [1, 2, 3, 4]))], attrs: { axis: -1 } },
  { name: 'Gather axis 0, repeated and negative indices', op: 'Gather', inputs: [P([5, 3]), C(i64([2, 3], [0, -1, 2, 4, 0, -1]))], attrs: { axis: 0 } },
  { name: 'Gather axis 0, scalar negative index of [4,2,3]', op: 'Gather', inputs: [P([4, 2, 3]), C(i64([], [-2]))] },
  { name: 'Slice negative starts and steps', op: 'Slice', inputs: [P([4, 5, 6]), C(i64([3], [-1, 1, -4])), C(i64([3], [-10, 5, -1])), C(i64([3], [0, 2, 1])), C(i64([3], [-2, 2, 1]))] },
  { name: 'Slice negative axis, step -1 from the end', op: 'Slice', inputs: [P([3, 5]), C(i64([1], [-2])), C(i64([1], [0])), C(i64([1], [-1])), C(i64([1], [-1]))] },
  { name: 'Slice without axes and steps', op: 'Slice', inputs: [P([4, 3]), C(i64([1], [1])), C(i64([1], [3]))] },
  { name: 'Expand [3,1] → [2,3,4]', op: 'Expand', inputs: [P([3, 1]), C(i64([3], [2, 3, 4]))] },
  { name: 'Expand [4] by [2,3,1]', op: 'Expand', inputs: [P([4]), C(i64([3], [2, 3, 1]))] },
  { name: 'Reshape [2,3,4] → [4,-1]', op: 'Reshape', inputs: [P([2, 3, 4]), C(i64([2], [4, -1]))] },
  { name: 'Unsqueeze axes [0,-1]', op: 'Unsqueeze', inputs: [P([2, 3]), C(i64([2], [0, -1]))] },
  { name: 'Squeeze axes [1]', op: 'Squeeze', inputs: [P([2, 1, 3]), C(i64([1], [1]))] },
  { name: 'Flatten axis 2', op: 'Flatten', inputs: [P([2, 3, 4])], attrs: { axis: 2 } },
  { name: 'Identity', op: 'Identity', inputs: [P([2, 3])] },
  // float64: Cast to double (a Cast to float would round the finite differences to float32); float32: to float
  { name: 'Cast (to double in float64, to float in float32)', op: 'Cast', inputs: [P([2, 3])], attrs: { to: 11 }, float32Attrs: { to: 1 } },
];

interface Built {
  graph: IrGraph;
  /** Parameters by name, float64 data (in float32's grid). */
  params: Map<string, { dims: number[]; data: Float64Array }>;
  seeds: Map<string, Float64Array>;
}

function buildCase(c: OpCase, seed: number): Built {
  const rng = new Rng(seed);
  const params = new Map<string, { dims: number[]; data: Float64Array }>();
  const initializers = new Map<string, Tensor>();
  const names: string[] = [];
  c.inputs.forEach((spec, i) => {
    const name = `in${i}`;
    if (spec.kind === 'none') names.push('');
    else if (spec.kind === 'same') names.push(names[spec.input]!);
    else if (spec.kind === 'const') { initializers.set(name, spec.tensor); names.push(name); }
    else {
      params.set(name, { dims: spec.dims, data: randomValues(rng, spec.dims.reduce((a, b) => a * b, 1), spec.values, spec.scale) });
      names.push(name);
    }
  });
  const outputs = Array.from({ length: c.outputs ?? 1 }, (_, i) => `out${i}`);
  const node: IrNode = { name: 'node', op: c.op, domain: '', inputs: names, outputs, attrs: c.attrs ?? {} };
  const graph: IrGraph = { name: c.name, inputs: [], outputs: outputs.map((name) => ({ name, dtype: 'float32' })), nodes: [node], initializers, types: new Map() };
  // output sizes from one float64 run, then fixed random weights r per seeded output
  const tape = new Tape(graph, { dtype: 'float64' }).run(new Map(), toTensors(params, 'float64'));
  const seeds = new Map<string, Float64Array>();
  for (const k of c.seeded ?? outputs.keys()) {
    const n = tape.values.get(outputs[k]!)!.data.length;
    seeds.set(outputs[k]!, randomValues(rng, n));
  }
  return { graph, params, seeds };
}

function toTensors(params: Map<string, { dims: number[]; data: Float64Array }>, dtype: FloatDType): Map<string, Tensor> {
  return new Map([...params].map(([name, p]) => [name, dtype === 'float64' ? f64(p.dims, p.data) : f32(p.dims, p.data)]));
}

function lossOf(graph: IrGraph, params: Map<string, { dims: number[]; data: Float64Array }>, seeds: Map<string, Float64Array>): number {
  const tape = new Tape(graph, { dtype: 'float64' }).run(new Map(), toTensors(params, 'float64'));
  let loss = 0;
  for (const [name, r] of seeds) loss += dot(r, tape.values.get(name)!.data as Float64Array);
  return loss;
}

function analyticGrads(graph: IrGraph, params: Map<string, { dims: number[]; data: Float64Array }>, seeds: Map<string, Float64Array>, dtype: FloatDType): Map<string, Floats> {
  const tape = new Tape(graph, { dtype }).run(new Map(), toTensors(params, dtype));
  for (const [name, values] of tape.values) {
    if (seeds.has(name) && dtype === 'float32' && !(values.data instanceof Float32Array)) throw new Error(`${name}: expected float32 values in a float32 tape`);
  }
  const typed = new Map<string, Floats>([...seeds].map(([name, r]) => [name, dtype === 'float64' ? r : Float32Array.from(r)]));
  return tape.backward(typed, params.keys());
}

/** Central differences of Σ r·y at up to SAMPLES entries of each parameter. */
function finiteDifferences(b: Built, seed: number): Map<string, Map<number, number>> {
  const rng = new Rng(seed);
  const out = new Map<string, Map<number, number>>();
  for (const [name, p] of b.params) {
    const fd = new Map<number, number>();
    for (const i of sampleIndices(rng, p.data.length, SAMPLES)) fd.set(i, centralDifference(p.data, i, STEP, () => lossOf(b.graph, b.params, b.seeds)));
    out.set(name, fd);
  }
  return out;
}

test('the checks cover every op with a gradient rule', (t) => {
  const covered = new Set([...CASES.map((c) => c.op), ONEBIT_TRAIN_OP]);
  t.deepEqual(Object.keys(VJPS).filter((op) => !covered.has(op)), []);
  for (const dtype of ['float64', 'float32'] as const) {
    const ran = new Set([...CASES.filter((c) => !c.only || c.only === dtype).map((c) => c.op), ONEBIT_TRAIN_OP]);
    t.deepEqual(Object.keys(VJPS).filter((op) => !ran.has(op)), [], dtype);
  }
});

CASES.forEach((c, index) => {
  const dtypes = (['float64', 'float32'] as const).filter((d) => !c.only || c.only === d);
  test(`${c.name}: analytic gradient = finite differences (${dtypes.join(', ')})`, (t) => {
    const b = buildCase(c, 1000 + index);
    const fd = finiteDifferences(b, 2000 + index);
    for (const dtype of dtypes) {
      const graph = dtype === 'float32' && c.float32Attrs ? { ...b.graph, nodes: [{ ...b.graph.nodes[0]!, attrs: c.float32Attrs }] } : b.graph;
      const grads = analyticGrads(graph, b.params, b.seeds, dtype);
      for (const [name, p] of b.params) {
        const g = grads.get(name);
        t.is(g?.length, p.data.length, `${dtype} ${name}: gradient size`);
        if (dtype === 'float32') t.true(g instanceof Float32Array, `${name}: float32 gradient in float32 mode`);
        assertGrad(t, `${dtype} ${name}`, g, fd.get(name)!, dtype === 'float64' ? RTOL_64 : RTOL_32, dtype === 'float64' ? FLOOR_64 : FLOOR_32);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// OneBitTrain

interface OneBitCase { ste: 'tanh' | 'clip'; eps?: number; bias: boolean; rows: number[]; inDim: number; out: number }

function oneBitGraph(c: OneBitCase): IrGraph {
  const node: IrNode = {
    name: 'onebit', op: ONEBIT_TRAIN_OP, domain: 'ai.onebitc.train', inputs: ['x', 'W', 'g', 'h', ...(c.bias ? ['bias'] : [])], outputs: ['y', 'y::signed_sum'],
    attrs: { in: c.inDim, out: c.out, ste: c.ste, ...(c.eps !== undefined ? { post_norm_eps: c.eps } : {}) },
  };
  return { name: 'onebit', inputs: [], outputs: [{ name: 'y', dtype: 'float32' }], nodes: [node], initializers: new Map(), types: new Map() };
}

/** The same computation with plain ops and the sign matrix S as a dense parameter. */
function oracleGraph(c: OneBitCase): IrGraph {
  const n = (op: string, inputs: string[], output: string, attrs: Record<string, IrAttr> = {}): IrNode => ({ name: output, op, domain: '', inputs, outputs: [output], attrs });
  const nodes: IrNode[] = [
    n('Mul', ['x', 'g'], 'xg'), n('Transpose', ['S'], 'St', { perm: [1, 0] }), n('MatMul', ['xg', 'St'], 's'), n('Mul', ['s', 'h'], 'sh'),
    ...(c.bias ? [n('Add', ['sh', 'bias'], 'z')] : [n('Identity', ['sh'], 'z')]),
    c.eps !== undefined ? n('LayerNormalization', ['z', 'ones', 'zeros'], 'y', { axis: -1, epsilon: c.eps }) : n('Identity', ['z'], 'y'),
  ];
  const initializers = new Map<string, Tensor>([['ones', f32([c.out], new Float32Array(c.out).fill(1))], ['zeros', f32([c.out], new Float32Array(c.out))]]);
  return { name: 'oracle', inputs: [], outputs: [{ name: 'y', dtype: 'float32' }], nodes, initializers, types: new Map() };
}

function oneBitParams(c: OneBitCase, seed: number): Map<string, { dims: number[]; data: Float64Array }> {
  const rng = new Rng(seed);
  const rows = c.rows.reduce((a, b) => a * b, 1);
  const params = new Map<string, { dims: number[]; data: Float64Array }>([
    ['x', { dims: [...c.rows, c.inDim], data: randomValues(rng, rows * c.inDim) }],
    // |W| spread around 1, so the clip STE has entries on both sides
    ['W', { dims: [c.out, c.inDim], data: randomValues(rng, c.out * c.inDim, 'normal', 0.9) }],
    ['g', { dims: [c.inDim], data: randomValues(rng, c.inDim, 'normal', 0.5) }],
    ['h', { dims: [c.out], data: randomValues(rng, c.out, 'normal', 0.5) }],
  ]);
  if (c.bias) params.set('bias', { dims: [c.out], data: randomValues(rng, c.out, 'normal', 0.3) });
  return params;
}

const ONEBIT_CASES: OneBitCase[] = [
  { ste: 'tanh', eps: 1e-5, bias: true, rows: [2, 3], inDim: 7, out: 5 },
  { ste: 'tanh', bias: true, rows: [2, 3], inDim: 7, out: 5 },
  { ste: 'clip', eps: 1e-5, bias: true, rows: [2, 3], inDim: 7, out: 5 },
  { ste: 'clip', bias: true, rows: [2, 3], inDim: 7, out: 5 },
  { ste: 'tanh', eps: 1e-3, bias: false, rows: [4], inDim: 6, out: 8 },
  { ste: 'clip', eps: 1e-5, bias: false, rows: [4], inDim: 6, out: 8 },
];

function checkOneBit(t: ExecutionContext, c: OneBitCase, seed: number, dtypes: readonly FloatDType[]): void {
  const params = oneBitParams(c, seed);
  const graph = oneBitGraph(c);
  const rng = new Rng(seed + 1);
  const rows = c.rows.reduce((a, b) => a * b, 1);
  const seeds = new Map([['y', randomValues(rng, rows * c.out)]]);
  const w = params.get('W')!.data;
  t.true(w.some((v) => Math.abs(v) > 1) && w.some((v) => Math.abs(v) <= 1), 'latent weights on both sides of |W| = 1');

  // the oracle: S = sign(W) as a dense parameter
  const signs = { dims: [c.out, c.inDim], data: Float64Array.from(w, (v) => (v < 0 ? -1 : 1)) };
  const oracleParams = new Map([...params].filter(([name]) => name !== 'W'));
  oracleParams.set('S', signs);
  const oracle = oracleGraph(c);
  const y = new Tape(graph, { dtype: 'float64' }).run(new Map(), toTensors(params, 'float64')).values.get('y')!.data as Float64Array;
  const yOracle = new Tape(oracle, { dtype: 'float64' }).run(new Map(), toTensors(oracleParams, 'float64')).values.get('y')!.data as Float64Array;
  let worst = 0;
  for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(y[i]! - yOracle[i]!));
  t.true(worst < 1e-12, `forward matches the dense-sign computation (worst ${worst})`);

  const fd = finiteDifferences({ graph, params, seeds }, seed + 2);
  const fdS = finiteDifferences({ graph: oracle, params: oracleParams, seeds }, seed + 3).get('S')!;
  const dWExpected = new Map<number, number>();
  for (const [i, d] of fdS) {
    const wi = w[i]!;
    dWExpected.set(i, c.ste === 'clip' ? (Math.abs(wi) <= 1 ? d : 0) : d * (1.001 - Math.tanh(wi) ** 2));
  }
  for (const dtype of dtypes) {
    const grads = analyticGrads(graph, params, seeds, dtype);
    const rtol = dtype === 'float64' ? RTOL_64 : RTOL_32;
    const floor = dtype === 'float64' ? FLOOR_64 : FLOOR_32;
    for (const name of ['x', 'g', 'h', ...(c.bias ? ['bias'] : [])]) assertGrad(t, `${dtype} d${name}`, grads.get(name), fd.get(name)!, rtol, floor);
    assertGrad(t, `${dtype} dW (vs dL/dS ⊙ STE)`, grads.get('W'), dWExpected, rtol, floor);
    if (c.ste === 'clip') {
      const dW = grads.get('W')!;
      t.true(w.every((v, i) => Math.abs(v) <= 1 || dW[i] === 0), `${dtype}: clip STE zeroes dW where |W| > 1`);
    }
  }
}

ONEBIT_CASES.forEach((c, index) => {
  const label = `OneBitTrain ste=${c.ste} ${c.eps !== undefined ? `post_norm_eps=${c.eps}` : 'no post-norm'} ${c.bias ? 'with' : 'without'} bias, x [${c.rows.join(',')},${c.inDim}]`;
  test(`${label}: dx, dg, dh, dbias = finite differences; dW = dL/dS ⊙ STE (float64, float32)`, (t) => {
    checkOneBit(t, c, 3000 + 10 * index, ['float64', 'float32']);
  });
});

test('OneBitTrain large enough for the WASM GEMM in float32 (24×48 by 40), tanh STE with post-norm', (t) => {
  checkOneBit(t, { ste: 'tanh', eps: 1e-5, bias: true, rows: [2, 12], inDim: 48, out: 40 }, 3900, ['float64', 'float32']);
});

// ---------------------------------------------------------------------------------------------------------------
// KD loss

for (const alpha of [0, 1]) {
  for (const temperature of [1, 2]) {
    test(`kdLoss α=${alpha} τ=${temperature}: logitsGrad and hiddenGrads = finite differences of its loss`, (t) => {
      const rng = new Rng(4000 + 10 * alpha + temperature);
      const positions = 5;
      const vocab = 7;
      const hidden = 6;
      const layers = 3;
      const teacherLogits = randomValues(rng, positions * vocab, 'normal', 2);
      const studentLogits = randomValues(rng, positions * vocab, 'normal', 2);
      const teacherHidden = Array.from({ length: layers }, () => randomValues(rng, positions * hidden));
      const studentHidden = Array.from({ length: layers }, () => randomValues(rng, positions * hidden));
      const run = () => kdLoss({ teacherLogits, studentLogits, vocab, teacherHidden, studentHidden, hidden, alpha, temperature });
      const parts = run();
      t.true(Math.abs(parts.loss - (parts.ce + alpha * parts.mse)) < 1e-12);
      t.true(parts.ce > 0);
      if (alpha > 0) t.true(parts.mse > 0);
      const loss = () => run().loss;
      const fdLogits = new Map<number, number>();
      for (let i = 0; i < studentLogits.length; i++) fdLogits.set(i, centralDifference(studentLogits, i, STEP, loss));
      assertGrad(t, 'logitsGrad', parts.logitsGrad, fdLogits, RTOL_64, FLOOR_64);
      t.is(parts.hiddenGrads.length, layers);
      studentHidden.forEach((hs, layer) => {
        const fd = new Map<number, number>();
        for (let i = 0; i < hs.length; i++) fd.set(i, centralDifference(hs, i, STEP, loss));
        if (alpha === 0) t.true(parts.hiddenGrads[layer]!.every((v) => v === 0), `layer ${layer}: α = 0 gives zero hidden gradients`);
        assertGrad(t, `hiddenGrads[${layer}]`, parts.hiddenGrads[layer], fd, RTOL_64, FLOOR_64);
      });
    });
  }
}
