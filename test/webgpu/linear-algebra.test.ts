// The WGSL matrix products against the reference kernels: MatMul with a constant B (GEMV and tiled paths),
// batched MatMul with broadcast batch axes (attention's 4-D, GQA's 5-D) and Gemm (transB, alpha, beta,
// bias C of every form, constant or run-time B). Odd sizes (k, n not multiples of 4/8/16), m = 1 and m > 1.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { onnx as OnnxTypes } from 'onnx-proto';
import type { Tensor } from '../../formats/tensor.ts';
import type { Dims } from '../helpers/onnx-builder.ts';
import { randomNormal, valueInfo } from '../helpers/onnx-builder.ts';
import { compileOnnx, matchesReference } from '../helpers/webgpu.ts';

const FLOAT = 1;
let seed = 1;

const random = (dims: number[]): Tensor => ({ dtype: 'float32', dims, data: randomNormal(dims.reduce((a, d) => a * d, 1), 1, seed++) });

interface Case {
  node: OnnxTypes.INodeProto;
  inputs: [string, Dims][];
  output: Dims;
  initializers?: [string, Tensor][];
  opset?: number;
}

/**
 * Compiles the one-node model once and runs every feed on WebGPU and on the reference kernels: equal dims,
 * relative L2 ≤ 1e-5, and the node ran as a `kind` dispatch.
 */
async function check(t: ExecutionContext, c: Case, kind: string, runs: Record<string, Tensor>[]): Promise<void> {
  const dir = await compileOnnx({
    nodes: [c.node],
    inputs: c.inputs.map(([name, dims]) => valueInfo(name, FLOAT, dims)),
    outputs: [valueInfo('y', FLOAT, c.output)],
    initializers: c.initializers ?? [],
    ...(c.opset ? { opset: c.opset } : {}),
  });
  await matchesReference(t, dir, kind, runs);
}

// ---- MatMul with a constant B [k, n] ----

test.serial('MatMul x [..., 37] · constant W [37, 53]: GEMV (1 and 4 rows) and tiled (70 and 130 rows)', async (t) => {
  const k = 37;
  const n = 53;
  await check(t, {
    node: { opType: 'MatMul', input: ['x', 'w'], output: ['y'] },
    inputs: [['x', ['b', 's', k]]],
    output: ['b', 's', n],
    initializers: [['w', random([k, n])]],
  }, 'matmul-const', [{ x: random([1, 1, k]) }, { x: random([2, 2, k]) }, { x: random([2, 35, k]) }, { x: random([1, 130, k]) }]);
});

test.serial('MatMul x [k] (one row, rank 1) and x [m, k] with k = 200, n = 7', async (t) => {
  const w = random([200, 7]);
  await check(t, {
    node: { opType: 'MatMul', input: ['x', 'w'], output: ['y'] },
    inputs: [['x', [200]]],
    output: [7],
    initializers: [['w', w]],
  }, 'matmul-const', [{ x: random([200]) }]);
  await check(t, {
    node: { opType: 'MatMul', input: ['x', 'w'], output: ['y'] },
    inputs: [['x', ['m', 200]]],
    output: ['m', 7],
    initializers: [['w', w]],
  }, 'matmul-const', [{ x: random([1, 200]) }, { x: random([67, 200]) }]);
});

// ---- batched MatMul of two run-time values ----

test.serial('MatMul [2, 3, m, 19] · [2, 3, 19, t]: attention-style 4-D, m = 1 and m = 66, symbolic n', async (t) => {
  await check(t, {
    node: { opType: 'MatMul', input: ['a', 'b'], output: ['y'] },
    inputs: [['a', [2, 3, 'm', 19]], ['b', [2, 3, 19, 't']]],
    output: [2, 3, 'm', 't'],
  }, 'matmul', [
    { a: random([2, 3, 1, 19]), b: random([2, 3, 19, 23]) },
    { a: random([2, 3, 66, 19]), b: random([2, 3, 19, 71]) },
  ]);
});

test.serial('MatMul broadcasts batch axes: [2, 1, m, k] · [3, k, n] and [m, k] · [2, 3, k, n]', async (t) => {
  await check(t, {
    node: { opType: 'MatMul', input: ['a', 'b'], output: ['y'] },
    inputs: [['a', [2, 1, 'm', 'k']], ['b', [3, 'k', 'n']]],
    output: [2, 3, 'm', 'n'],
  }, 'matmul', [
    { a: random([2, 1, 3, 17]), b: random([3, 17, 9]) },
    { a: random([2, 1, 70, 33]), b: random([3, 33, 65]) },
  ]);
  await check(t, {
    node: { opType: 'MatMul', input: ['a', 'b'], output: ['y'] },
    inputs: [['a', ['m', 'k']], ['b', [2, 3, 'k', 'n']]],
    output: [2, 3, 'm', 'n'],
  }, 'matmul', [
    { a: random([1, 5]), b: random([2, 3, 5, 9]) },
    { a: random([20, 5]), b: random([2, 3, 5, 9]) },
  ]);
});

test.serial('MatMul GQA 5-D: q [1, 2, 3, m, 16] · kᵀ [1, 2, 1, 16, t], then p [1, 2, 3, m, t] · v [1, 2, 1, t, 16]', async (t) => {
  await check(t, {
    node: { opType: 'MatMul', input: ['q', 'k'], output: ['y'] },
    inputs: [['q', [1, 2, 3, 'm', 16]], ['k', [1, 2, 1, 16, 't']]],
    output: [1, 2, 3, 'm', 't'],
  }, 'matmul', [
    { q: random([1, 2, 3, 1, 16]), k: random([1, 2, 1, 16, 29]) },
    { q: random([1, 2, 3, 29, 16]), k: random([1, 2, 1, 16, 29]) },
  ]);
  await check(t, {
    node: { opType: 'MatMul', input: ['p', 'v'], output: ['y'] },
    inputs: [['p', [1, 2, 3, 'm', 't']], ['v', [1, 2, 1, 't', 16]]],
    output: [1, 2, 3, 'm', 16],
  }, 'matmul', [
    { p: random([1, 2, 3, 1, 29]), v: random([1, 2, 1, 29, 16]) },
    { p: random([1, 2, 3, 29, 29]), v: random([1, 2, 1, 29, 16]) },
  ]);
});

// ---- Gemm ----

for (const transB of [0, 1]) {
  test.serial(`Gemm transB=${transB}, constant B, bias C [n], alpha and beta; m = 1, 3 and 80`, async (t) => {
    const [k, n] = [45, 27];
    await check(t, {
      node: { opType: 'Gemm', input: ['a', 'b', 'c'], output: ['y'], attribute: [
        { name: 'transB', type: 2, i: transB }, { name: 'alpha', type: 1, f: 0.5 }, { name: 'beta', type: 1, f: 2 },
      ] },
      inputs: [['a', ['m', k]]],
      output: ['m', n],
      initializers: [['b', random(transB ? [n, k] : [k, n])], ['c', random([n])]],
    }, 'gemm', [{ a: random([1, k]) }, { a: random([3, k]) }, { a: random([80, k]) }]);
  });

  test.serial(`Gemm transB=${transB} with run-time B, no C; m = 2 and 65`, async (t) => {
    await check(t, {
      node: { opType: 'Gemm', input: ['a', 'b'], output: ['y'], attribute: [{ name: 'transB', type: 2, i: transB }] },
      inputs: [['a', ['m', 'k']], ['b', transB ? ['n', 'k'] : ['k', 'n']]],
      output: ['m', 'n'],
    }, 'gemm', [
      { a: random([2, 31]), b: random(transB ? [66, 31] : [31, 66]) },
      { a: random([65, 31]), b: random(transB ? [3, 31] : [31, 3]) },
    ]);
  });
}

test.serial('Gemm bias forms: scalar C, C [1, n], C [m, 1] and run-time C [m, n]', async (t) => {
  const gemm = (input: string[]): OnnxTypes.INodeProto => ({ opType: 'Gemm', input, output: ['y'], attribute: [{ name: 'transB', type: 2, i: 1 }, { name: 'beta', type: 1, f: -1.5 }] });
  const b = random([13, 21]);
  await check(t, { node: gemm(['a', 'b', 'c']), inputs: [['a', ['m', 21]]], output: ['m', 13], initializers: [['b', b], ['c', random([])]] },
    'gemm', [{ a: random([1, 21]) }, { a: random([9, 21]) }]);
  await check(t, { node: gemm(['a', 'b', 'c']), inputs: [['a', ['m', 21]]], output: ['m', 13], initializers: [['b', b], ['c', random([1, 13])]] },
    'gemm', [{ a: random([1, 21]) }, { a: random([9, 21]) }]);
  await check(t, { node: gemm(['a', 'b', 'c']), inputs: [['a', [6, 21]]], output: [6, 13], initializers: [['b', b], ['c', random([6, 1])]] },
    'gemm', [{ a: random([6, 21]) }]);
  await check(t, { node: gemm(['a', 'b', 'c']), inputs: [['a', ['m', 21]], ['c', ['m', 13]]], output: ['m', 13], initializers: [['b', b]] },
    'gemm', [{ a: random([2, 21]), c: random([2, 13]) }, { a: random([70, 21]), c: random([70, 13]) }]);
});
