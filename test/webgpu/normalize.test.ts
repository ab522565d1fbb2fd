// The WGSL row kernels against the reference kernels: Softmax (opset 13+ and the older axis = last),
// RMSNorm (fused from the exported Pow … Mul chain), LayerNormalization, InstanceNormalization,
// ReduceMean/ReduceSum/ReduceMax over the last axis, BatchNormalization. Rows shorter and longer than a
// workgroup, odd widths, widths known and symbolic.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { onnx as OnnxTypes } from 'onnx-proto';
import type { Tensor } from '../../formats/tensor.ts';
import type { Dims } from '../helpers/onnx-builder.ts';
import { randomNormal, randomUniform, valueInfo } from '../helpers/onnx-builder.ts';
import { compileOnnx, matchesReference } from '../helpers/webgpu.ts';

const FLOAT = 1;
let seed = 100;

const random = (dims: number[], std = 1): Tensor => ({ dtype: 'float32', dims, data: randomNormal(dims.reduce((a, d) => a * d, 1), std, seed++) });
const positive = (dims: number[]): Tensor => ({ dtype: 'float32', dims, data: randomUniform(dims.reduce((a, d) => a * d, 1), 0.5, 2, seed++) });
const scalar = (v: number): Tensor => ({ dtype: 'float32', dims: [], data: Float32Array.of(v) });
const int64s = (values: number[]): Tensor => ({ dtype: 'int64', dims: [values.length], data: BigInt64Array.from(values.map(BigInt)) });
const ints = (name: string, values: number[]) => ({ name, type: 7, ints: values });
const int = (name: string, i: number) => ({ name, type: 2, i });
const float = (name: string, f: number) => ({ name, type: 1, f });

interface Case {
  nodes: OnnxTypes.INodeProto[];
  x: Dims;
  output: Dims;
  initializers?: [string, Tensor][];
  opset?: number;
}

/** Compiles once; runs every x on WebGPU and on the reference kernels (dims equal, rel. L2 ≤ 1e-5, one `kind` dispatch). */
async function check(t: ExecutionContext, c: Case, kind: string, xs: Tensor[]): Promise<void> {
  const dir = await compileOnnx({
    nodes: c.nodes,
    inputs: [valueInfo('x', FLOAT, c.x)],
    outputs: [valueInfo('y', FLOAT, c.output)],
    initializers: c.initializers ?? [],
    ...(c.opset ? { opset: c.opset } : {}),
  });
  await matchesReference(t, dir, kind, xs.map((x) => ({ x })), { hostFree: true });
}

// ---- Softmax ----

test.serial('Softmax (opset 17, default axis) over rows of 1, 5, 37, 300 and 1000 with a symbolic width', async (t) => {
  await check(t, { nodes: [{ opType: 'Softmax', input: ['x'], output: ['y'] }], x: ['r', 'w'], output: ['r', 'w'] }, 'softmax',
    [random([3, 1]), random([4, 5], 3), random([7, 37], 10), random([2, 300], 5), random([3, 1000], 20)]);
});

test.serial('Softmax axis=3 on attention scores [1, 2, t, t] with masked (-1e9) entries, known width 29', async (t) => {
  const x = random([1, 2, 29, 29], 4);
  const data = x.data as Float32Array;
  for (let i = 0; i < data.length; i++) if ((i % 29) > Math.floor(i / 29) % 29) data[i] = -1e9; // causal mask
  await check(t, { nodes: [{ opType: 'Softmax', input: ['x'], output: ['y'], attribute: [int('axis', 3)] }], x: [1, 2, 29, 29], output: [1, 2, 29, 29] }, 'softmax', [x]);
});

test.serial('Softmax opset 11 with axis=1 on [n, 77] (the coerced 2-D form when axis is the last)', async (t) => {
  await check(t, { nodes: [{ opType: 'Softmax', input: ['x'], output: ['y'], attribute: [int('axis', 1)] }], x: ['n', 77], output: ['n', 77], opset: 11 }, 'softmax',
    [random([5, 77], 3)]);
});

// ---- RMSNorm (fused) ----

/** The exported RMSNorm chain x → Pow → ReduceMean → Add(eps) → Sqrt → Reciprocal → Mul(x) [→ Mul(w)], fused by the compiler. */
function rmsNormChain(width: number, weight: boolean): { nodes: OnnxTypes.INodeProto[]; initializers: [string, Tensor][] } {
  const nodes: OnnxTypes.INodeProto[] = [
    { name: 'pow', opType: 'Pow', input: ['x', 'two'], output: ['sq'] },
    { name: 'mean', opType: 'ReduceMean', input: ['sq'], output: ['ms'], attribute: [ints('axes', [-1]), int('keepdims', 1)] },
    { name: 'add', opType: 'Add', input: ['ms', 'eps'], output: ['var'] },
    { name: 'sqrt', opType: 'Sqrt', input: ['var'], output: ['rms'] },
    { name: 'inv', opType: 'Reciprocal', input: ['rms'], output: ['inv'] },
    { name: 'mul', opType: 'Mul', input: ['x', 'inv'], output: [weight ? 'normed' : 'y'] },
  ];
  if (weight) nodes.push({ name: 'scale', opType: 'Mul', input: ['w', 'normed'], output: ['y'] });
  return { nodes, initializers: [['two', scalar(2)], ['eps', scalar(1e-6)], ...(weight ? [['w', random([width])] as [string, Tensor]] : [])] };
}

for (const width of [13, 300]) {
  test.serial(`RMSNorm with weight over [b, s, ${width}] (fused from the exported chain)`, async (t) => {
    await check(t, { ...rmsNormChain(width, true), x: ['b', 's', width], output: ['b', 's', width] }, 'rms-norm',
      [random([1, 1, width]), random([2, 9, width], 3)]);
  });
}

test.serial('RMSNorm without weight over [s, 64]', async (t) => {
  await check(t, { ...rmsNormChain(64, false), x: ['s', 64], output: ['s', 64] }, 'rms-norm', [random([5, 64], 2)]);
});

// ---- LayerNormalization, InstanceNormalization ----

for (const width of [7, 384]) {
  test.serial(`LayerNormalization over [s, ${width}] with scale and bias, and with scale only`, async (t) => {
    const ln = (inputs: string[]): OnnxTypes.INodeProto => ({ opType: 'LayerNormalization', input: inputs, output: ['y'], attribute: [int('axis', -1), float('epsilon', 1e-5)] });
    const initializers: [string, Tensor][] = [['scale', random([width])], ['bias', random([width])]];
    const xs = [random([1, width], 2), random([6, width], 3)];
    // a non-zero mean, so the two-pass variance matters
    (xs[1]!.data as Float32Array).forEach((v, i, a) => { a[i] = v + 5; });
    await check(t, { nodes: [ln(['x', 'scale', 'bias'])], x: ['s', width], output: ['s', width], initializers }, 'layer-norm', xs);
    await check(t, { nodes: [ln(['x', 'scale'])], x: ['s', width], output: ['s', width], initializers: initializers.slice(0, 1) }, 'layer-norm', xs);
  });
}

test.serial('InstanceNormalization over [n, 3, 9, 11] planes', async (t) => {
  await check(t, {
    nodes: [{ opType: 'InstanceNormalization', input: ['x', 'scale', 'bias'], output: ['y'], attribute: [float('epsilon', 1e-4)] }],
    x: ['n', 3, 9, 11], output: ['n', 3, 9, 11], initializers: [['scale', random([3])], ['bias', random([3])]],
  }, 'instance-norm', [random([1, 3, 9, 11], 2), random([2, 3, 9, 11], 3)]);
});

// ---- last-axis reductions ----

for (const op of ['ReduceMean', 'ReduceSum', 'ReduceMax']) {
  test.serial(`${op} over the last axis: keepdims 1 and 0, attribute axes (opset 11) and input axes (opset 18)`, async (t) => {
    const xs = [random([3, 1]), random([2, 5, 37], 2), random([4, 500], 3)];
    await check(t, { nodes: [{ opType: op, input: ['x'], output: ['y'], attribute: [ints('axes', [-1])] }], x: ['a', 'w'], output: ['a', 1], opset: 11 }, 'reduce-last',
      [xs[0]!, xs[2]!]);
    await check(t, {
      nodes: [{ opType: op, input: ['x', 'axes'], output: ['y'], attribute: [int('keepdims', 0)] }],
      x: [2, 5, 37], output: [2, 5], opset: 18, initializers: [['axes', int64s([2])]],
    }, 'reduce-last', [xs[1]!]);
  });
}

// ---- BatchNormalization ----

test.serial('BatchNormalization (inference) over [n, 5, 7, 9] and [n, 5]', async (t) => {
  const initializers: [string, Tensor][] = [['scale', random([5])], ['bias', random([5])], ['mean', random([5])], ['var', positive([5])]];
  const bn: OnnxTypes.INodeProto = { opType: 'BatchNormalization', input: ['x', 'scale', 'bias', 'mean', 'var'], output: ['y'], attribute: [float('epsilon', 1e-3)] };
  await check(t, { nodes: [bn], x: ['n', 5, 7, 9], output: ['n', 5, 7, 9], initializers }, 'batch-norm', [random([2, 5, 7, 9], 2)]);
  await check(t, { nodes: [bn], x: ['n', 5], output: ['n', 5], initializers }, 'batch-norm', [random([3, 5], 2)]);
});
