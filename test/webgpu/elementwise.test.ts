// The element-wise WGSL shaders (compiler/codegen/wgsl/elementwise.ts) against the reference kernels, on
// SwiftShader: unary ops, binary ops with every broadcasting mode, Where. Each case is data: the node, its
// inputs (declared dims, run dims, constant or fed) and the call kind that must have run on the GPU.
import test from 'ava';
import type { onnx as OnnxTypes } from 'onnx-proto';
import type { Tensor } from '../../formats/tensor.ts';
import { relativeL2 } from '../helpers/compare.ts';
import type { Dims } from '../helpers/onnx-builder.ts';
import { randomNormal, randomUniform, rng, valueInfo } from '../helpers/onnx-builder.ts';
import { runNodeBothWays } from '../helpers/webgpu.ts';

const FLOAT = 1;
const BOOL = 9;
/** Relative L2 error allowed: exactly rounded ops, and ops built on WGSL's exp/log/division. */
const EXACT = 1e-7;
const TRANSCENDENTAL = 1e-6;

interface Input {
  readonly name: string;
  /** Declared dims (symbols are bound at run time). */
  readonly declared: Dims;
  readonly tensor: Tensor;
  /** An initializer rather than a model input. */
  readonly constant?: boolean;
}

interface Case {
  readonly title: string;
  readonly node: OnnxTypes.INodeProto;
  readonly inputs: readonly Input[];
  readonly output: Dims;
  readonly kind: string;
  readonly tolerance: number;
  readonly opset?: number;
}

let seed = 1;
const normal = (dims: number[], std = 2): Tensor => ({ dtype: 'float32', dims, data: randomNormal(count(dims), std, seed++) });
const uniform = (dims: number[], lo: number, hi: number): Tensor => ({ dtype: 'float32', dims, data: randomUniform(count(dims), lo, hi, seed++) });
const scalar = (value: number, dims: number[] = []): Tensor => ({ dtype: 'float32', dims, data: Float32Array.of(value) });
const mask = (dims: number[]): Tensor => {
  const next = rng(seed++);
  return { dtype: 'bool', dims, data: Uint8Array.from({ length: count(dims) }, () => (next() < 0.5 ? 1 : 0)) };
};
function count(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

const input = (name: string, declared: Dims, tensor: Tensor, constant = false): Input => ({ name, declared, tensor, constant });

async function check(t: import('ava').ExecutionContext, c: Case): Promise<void> {
  const feeds = Object.fromEntries(c.inputs.filter((i) => !i.constant).map((i) => [i.name, i.tensor]));
  const { gpu, reference, gpuCalls } = await runNodeBothWays(
    c.node,
    {
      inputs: c.inputs.filter((i) => !i.constant).map((i) => valueInfo(i.name, i.tensor.dtype === 'bool' ? BOOL : FLOAT, i.declared)),
      outputs: [valueInfo('y', FLOAT, c.output)],
      initializers: c.inputs.filter((i) => i.constant).map((i) => [i.name, i.tensor]),
      ...(c.opset ? { opset: c.opset } : {}),
    },
    feeds,
  );
  t.is(gpuCalls.get(c.kind), 1, `dispatches: ${JSON.stringify([...gpuCalls])}`);
  t.is(gpuCalls.get('host'), undefined);
  const [actual, expected] = [gpu['y']!, reference['y']!];
  t.deepEqual(actual.dims, expected.dims);
  const a = actual.data as Float32Array;
  const e = expected.data as Float32Array;
  // infinities (Where with -inf) must match exactly; the rest within the tolerance
  const finite = [...e.keys()].filter((i) => Number.isFinite(e[i]!));
  t.true([...e.keys()].every((i) => Number.isFinite(e[i]!) || Object.is(a[i], e[i])), 'non-finite values differ');
  const error = finite.length ? relativeL2(finite.map((i) => a[i]!), finite.map((i) => e[i]!)) : 0;
  t.log(`relative L2 error ${error.toExponential(2)}`);
  t.true(error < c.tolerance, `relative L2 error ${error} ≥ ${c.tolerance}`);
}

// ---- unary ----------------------------------------------------------------------------------------------

const UNARY_DIMS = [3, 37, 11];
const unary = (op: string, tolerance: number, options: { attrs?: OnnxTypes.IAttributeProto[]; x?: Tensor; extra?: Input[]; opset?: number; title?: string } = {}): Case => ({
  title: `WGSL ${options.title ?? op} matches the reference kernel on [3, 37, 11] and runs on the GPU`,
  node: { opType: op, input: ['x', ...(options.extra ?? []).map((i) => i.name)], output: ['y'], attribute: options.attrs ?? [] },
  inputs: [input('x', ['a', 37, 11], options.x ?? normal(UNARY_DIMS)), ...(options.extra ?? [])],
  output: ['a', 37, 11],
  kind: 'unary',
  tolerance,
  ...(options.opset ? { opset: options.opset } : {}),
});
const float = (name: string, f: number): OnnxTypes.IAttributeProto => ({ name, type: 1, f });
const string = (name: string, s: string): OnnxTypes.IAttributeProto => ({ name, type: 3, s: new TextEncoder().encode(s) });
const positive = () => uniform(UNARY_DIMS, 0.01, 5);

const UNARY_CASES: Case[] = [
  // WGSL's exp and tanh are accurate to a few ulp, not correctly rounded
  ...['Neg', 'Relu', 'Abs', 'Floor', 'Ceil', 'Sign'].map((op) => unary(op, EXACT)),
  ...['Sigmoid', 'Tanh', 'Exp', 'Cos', 'Sin', 'Erf', 'Softplus', 'HardSwish'].map((op) => unary(op, TRANSCENDENTAL)),
  unary('Round', EXACT, { x: { dtype: 'float32', dims: UNARY_DIMS, data: Float32Array.from(normal(UNARY_DIMS, 4).data as Float32Array, (v, i) => (i % 3 === 0 ? Math.round(v * 2) / 2 : v)) } }),
  unary('Sqrt', EXACT, { x: positive() }),
  unary('Log', TRANSCENDENTAL, { x: positive() }),
  unary('Reciprocal', TRANSCENDENTAL, { x: positive() }),
  unary('Erf', TRANSCENDENTAL, { x: normal(UNARY_DIMS, 0.3), title: 'Erf (small arguments)' }),
  unary('Softplus', TRANSCENDENTAL, { x: normal(UNARY_DIMS, 20), title: 'Softplus (large arguments)' }),
  unary('Gelu', TRANSCENDENTAL, { opset: 20 }),
  unary('Gelu', TRANSCENDENTAL, { opset: 20, attrs: [string('approximate', 'tanh')], title: 'Gelu (tanh)' }),
  unary('LeakyRelu', TRANSCENDENTAL),
  unary('LeakyRelu', EXACT, { attrs: [float('alpha', 0.25)], title: 'LeakyRelu (alpha 0.25)' }),
  unary('Elu', TRANSCENDENTAL, { attrs: [float('alpha', 0.7)] }),
  unary('HardSigmoid', TRANSCENDENTAL, { attrs: [float('alpha', 0.3), float('beta', 0.4)] }),
  unary('Clip', EXACT, { extra: [input('lo', [], scalar(-1), true), input('hi', [], scalar(1.5), true)], title: 'Clip (constant min, max)' }),
  unary('Clip', EXACT, { extra: [input('lo', [], scalar(-0.5), true)], title: 'Clip (min only)' }),
  unary('Clip', EXACT, { opset: 6, attrs: [float('min', -0.25), float('max', 2)], title: 'Clip (opset 6 attributes)' }),
];

// ---- binary -----------------------------------------------------------------------------------------------

interface Operand { declared: Dims; dims: number[]; constant?: boolean; tensor?: Tensor }
const binary = (op: string, a: Operand, b: Operand, output: Dims, tolerance: number, what = ''): Case => {
  const tensorOf = (o: Operand) => o.tensor ?? (op === 'Pow' ? uniform(o.dims, 0.5, 2) : op === 'Div' && o === b ? uniform(o.dims, 0.5, 3) : normal(o.dims));
  const describe = (o: Operand) => `${o.constant ? 'constant ' : ''}[${o.dims.join(', ')}]`;
  return {
    title: `WGSL ${op} of ${describe(a)} and ${describe(b)}${what ? ` (${what})` : ''} matches the reference kernel and runs on the GPU`,
    node: { opType: op, input: ['a', 'b'], output: ['y'] },
    inputs: [input('a', a.declared, tensorOf(a), a.constant), input('b', b.declared, tensorOf(b), b.constant)],
    output,
    kind: 'binary',
    tolerance,
  };
};
const fed = (declared: Dims, dims: number[], tensor?: Tensor): Operand => ({ declared, dims, ...(tensor ? { tensor } : {}) });
const constant = (dims: number[], tensor?: Tensor): Operand => ({ declared: dims, dims, constant: true, ...(tensor ? { tensor } : {}) });

const BINARY_CASES: Case[] = [
  // same shapes, a symbolic leading dim
  ...['Add', 'Sub', 'Mul', 'Max', 'Min', 'Sum', 'Mean'].map((op) => binary(op, fed(['a', 37, 11], [3, 37, 11]), fed(['a', 37, 11], [3, 37, 11]), ['a', 37, 11], EXACT)),
  binary('Div', fed(['a', 37, 11], [3, 37, 11]), fed(['a', 37, 11], [3, 37, 11]), ['a', 37, 11], TRANSCENDENTAL),
  binary('Pow', fed(['a', 37, 11], [3, 37, 11]), fed(['a', 37, 11], [3, 37, 11], normal([3, 37, 11], 1.5)), ['a', 37, 11], TRANSCENDENTAL),
  // scalars: a constant written into the shader, a fed one-element value
  binary('Mul', fed(['a', 13], [5, 13]), constant([], scalar(0.125)), ['a', 13], EXACT, 'scale'),
  binary('Add', fed(['a', 13], [5, 13]), fed([1], [1]), ['a', 13], EXACT, 'fed scalar'),
  binary('Sub', constant([1], scalar(1)), fed(['a', 13], [5, 13]), ['a', 13], EXACT, 'constant first'),
  // bias [n] and per-row factors [m, 1]
  binary('Add', fed(['a', 33], [7, 33]), constant([33]), ['a', 33], EXACT, 'bias'),
  binary('Div', fed(['a', 33], [7, 33]), constant([33], uniform([33], 0.5, 3)), ['a', 33], TRANSCENDENTAL, 'constant divisor'),
  binary('Sub', constant([33]), fed(['a', 33], [7, 33]), ['a', 33], EXACT, 'bias first'),
  binary('Mul', fed(['m', 31], [9, 31]), fed(['m', 1], [9, 1]), ['m', 31], EXACT, 'per-row factor'),
  binary('Mul', fed(['b', 's', 24], [2, 5, 24]), fed(['b', 's', 1], [2, 5, 1]), ['b', 's', 24], EXACT, 'RMSNorm scale'),
  binary('Mul', fed(['b', 4, 's', 16], [1, 4, 7, 16]), fed(['s', 16], [7, 16]), ['b', 4, 's', 16], EXACT, 'RoPE table'),
  binary('Add', fed([1, 17], [1, 17]), fed([13, 1], [13, 1]), [13, 17], EXACT, 'outer sum'),
  binary('Max', fed([13, 1], [13, 1]), fed([17], [17]), [13, 17], EXACT, 'outer max'),
  // attention mask [1, 1, s, s] over scores [1, h, s, s]
  binary('Add', fed([1, 4, 's', 's'], [1, 4, 9, 9]), fed([1, 1, 's', 's'], [1, 1, 9, 9]), [1, 4, 's', 's'], EXACT, 'attention mask'),
  binary('Add', fed([1, 1, 's', 's'], [1, 1, 9, 9]), fed([1, 4, 's', 's'], [1, 4, 9, 9]), [1, 4, 's', 's'], EXACT, 'attention mask first'),
  // strided: broadcasting in the middle, unrelated symbols, rank 6
  binary('Mul', fed([2, 1, 5, 1], [2, 1, 5, 1]), fed([1, 3, 1, 7], [1, 3, 1, 7]), [2, 3, 5, 7], EXACT, 'strided'),
  binary('Sub', fed(['p', 3, 'q'], [4, 3, 6]), fed(['r', 1, 'q'], [4, 1, 6]), ['p', 3, 'q'], EXACT, 'strided, run-time dims'),
  binary('Add', fed(['p', 8], [6, 8]), fed(['q', 8], [1, 8]), ['p', 8], EXACT, 'symbols broadcast at run time'),
  binary('Add', fed([2, 1, 3, 1, 2, 3], [2, 1, 3, 1, 2, 3]), fed([2, 1, 3, 1, 1], [2, 1, 3, 1, 1]), [2, 2, 3, 3, 2, 3], EXACT, 'rank 6'),
  binary('Min', fed([5, 1, 'k'], [5, 1, 3]), constant([4, 1]), [5, 4, 'k'], EXACT, 'strided constant'),
  // Pow: exponents written into the shader, a negative base with integer exponents
  binary('Pow', fed(['a', 19], [3, 19]), constant([], scalar(2)), ['a', 19], EXACT, 'square'),
  binary('Pow', fed(['a', 19], [3, 19]), constant([1], scalar(0.5)), ['a', 19], EXACT, 'square root'),
  binary('Pow', fed(['a', 19], [3, 19], normal([3, 19])), constant([], scalar(3)), ['a', 19], TRANSCENDENTAL, 'cube of a negative base'),
  binary('Pow', fed(['a', 19], [3, 19]), constant([], scalar(-1.7)), ['a', 19], TRANSCENDENTAL, 'fractional exponent'),
  binary('Pow', fed(['a', 19], [3, 19]), constant([], { dtype: 'int64', dims: [], data: BigInt64Array.of(2n) }), ['a', 19], EXACT, 'int64 exponent'),
  binary('Pow', fed(['a', 19], [3, 19], normal([3, 19])), fed([19], [19], { dtype: 'float32', dims: [19], data: Float32Array.from({ length: 19 }, (_, i) => (i % 5) - 2) }), ['a', 19], TRANSCENDENTAL, 'integer exponents, negative bases'),
  binary('PRelu', fed(['a', 5, 7], [3, 5, 7]), constant([5, 1]), ['a', 5, 7], EXACT, 'per-channel slope'),
];

// ---- Where ---------------------------------------------------------------------------------------------------

const where = (what: string, inputs: Input[], output: Dims): Case => ({
  title: `WGSL Where (${what}) matches the reference kernel and runs on the GPU`,
  node: { opType: 'Where', input: ['c', 'p', 'q'], output: ['y'] },
  inputs,
  output,
  kind: 'where',
  tolerance: EXACT,
});

const WHERE_CASES: Case[] = [
  where('same shapes', [input('c', ['a', 29], mask([4, 29])), input('p', ['a', 29], normal([4, 29])), input('q', ['a', 29], normal([4, 29]))], ['a', 29]),
  where('causal mask, constant fill', [input('c', [1, 1, 's', 's'], mask([1, 1, 7, 7])), input('p', [2, 3, 's', 's'], normal([2, 3, 7, 7])), input('q', [], scalar(-1e9), true)], [2, 3, 's', 's']),
  where('constant mask, -inf', [input('c', [5, 11], mask([5, 11]), true), input('p', ['b', 5, 11], normal([3, 5, 11])), input('q', [1], scalar(-Infinity), true)], ['b', 5, 11]),
  where('three-way broadcast', [input('c', [3, 1, 1], mask([3, 1, 1])), input('p', [1, 5, 1], normal([1, 5, 1])), input('q', [7], normal([7]))], [3, 5, 7]),
];

for (const c of [...UNARY_CASES, ...BINARY_CASES, ...WHERE_CASES]) {
  // GPU tests run one at a time: Dawn hangs when several devices are created concurrently in one process.
  test.serial(c.title, (t) => check(t, c));
}
