// Hand-checked cases for the reduction reference kernels (most numbers from the ONNX operator docs).
// The full check is ONNX's conformance data, run by test/conformance/.
import test from 'ava';
import { kernelContext } from '../../helpers/kernels.ts';
import type { ExecutionContext } from 'ava';
import type { DType, Tensor } from '../../../formats/tensor.ts';
import { tensor } from '../../../formats/tensor.ts';
import type { AttrValue } from '../../../runtime/graph.ts';
import { Attributes, KernelError } from '../../../runtime/kernel.ts';
import { kernels } from '../../../runtime/kernels/reduce.ts';

function run(op: string, inputs: (Tensor | undefined)[], attrs: Record<string, AttrValue> = {}, opset = 17): Tensor {
  const kernel = kernels[op];
  if (!kernel) throw new Error(`no kernel ${op}`);
  return kernel(inputs, new Attributes(attrs), kernelContext(opset))[0]!;
}

const f32 = (dims: number[], values: number[]) => tensor('float32', dims, new Float32Array(values));
const i32 = (dims: number[], values: number[]) => tensor('int32', dims, new Int32Array(values));
const i64 = (dims: number[], values: bigint[]) => tensor('int64', dims, new BigInt64Array(values));
const elements = (t: Tensor) => Array.from(t.data as ArrayLike<unknown>);
const axes = (...values: number[]) => i64([values.length], values.map(BigInt));

function near(t: ExecutionContext, got: Tensor, dtype: DType, dims: number[], want: number[]): void {
  t.is(got.dtype, dtype);
  t.deepEqual(got.dims, dims);
  t.is(got.data.length, want.length);
  want.forEach((w, i) => {
    const g = Number(got.data[i]);
    t.true(g === w || Math.abs(g - w) <= 1e-6 * Math.max(1, Math.abs(w)), `element ${i}: got ${g}, want ${w}`);
  });
}

// (3, 2, 2)
const ONE_TO_TWELVE = f32([3, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
// (3, 2, 2), the ONNX docs' ReduceMean/Max/Min example
const DOCS = f32([3, 2, 2], [5, 1, 20, 2, 30, 1, 40, 2, 55, 1, 60, 2]);

// ---- Reduce* ----

test('ReduceSum takes axes as an attribute before opset 13 and as an input from 13', (t) => {
  near(t, run('ReduceSum', [ONE_TO_TWELVE], { axes: [1] }, 11), 'float32', [3, 1, 2], [4, 6, 12, 14, 20, 22]);
  near(t, run('ReduceSum', [ONE_TO_TWELVE, axes(1)], {}, 13), 'float32', [3, 1, 2], [4, 6, 12, 14, 20, 22]);
  near(t, run('ReduceSum', [ONE_TO_TWELVE, axes(-2)], { keepdims: 0 }, 13), 'float32', [3, 2], [4, 6, 12, 14, 20, 22]);
  near(t, run('ReduceSum', [ONE_TO_TWELVE], {}, 13), 'float32', [1, 1, 1], [78]);
  t.throws(() => run('ReduceSum', [ONE_TO_TWELVE], { axes: [1] }, 13), { instanceOf: KernelError, message: /input 1 from opset 13/ });
  t.throws(() => run('ReduceSum', [ONE_TO_TWELVE, axes(1)], {}, 11), { instanceOf: KernelError, message: /attribute before opset 13/ });
  t.throws(() => run('ReduceSum', [ONE_TO_TWELVE, axes(3)], {}, 13), { message: /out of range/ });
  t.throws(() => run('ReduceSum', [ONE_TO_TWELVE, axes(1, -2)], {}, 13), { message: /repeat/ });
});

test('noop_with_empty_axes passes the input through', (t) => {
  const out = run('ReduceSum', [ONE_TO_TWELVE, axes()], { noop_with_empty_axes: 1 }, 13);
  near(t, out, 'float32', [3, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  near(t, run('ReduceMax', [ONE_TO_TWELVE], { noop_with_empty_axes: 1 }, 18), 'float32', [3, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
});

test('ReduceMean, ReduceMax and ReduceMin take axes as an input from opset 18', (t) => {
  near(t, run('ReduceMean', [DOCS], { axes: [1], keepdims: 0 }, 17), 'float32', [3, 2], [12.5, 1.5, 35, 1.5, 57.5, 1.5]);
  near(t, run('ReduceMean', [DOCS, axes(1)], { keepdims: 0 }, 18), 'float32', [3, 2], [12.5, 1.5, 35, 1.5, 57.5, 1.5]);
  near(t, run('ReduceMax', [DOCS, axes(1)], {}, 18), 'float32', [3, 1, 2], [20, 2, 40, 2, 60, 2]);
  near(t, run('ReduceMin', [DOCS], { axes: [1] }, 13), 'float32', [3, 1, 2], [5, 1, 30, 1, 55, 1]);
  t.throws(() => run('ReduceMean', [DOCS, axes(1)], {}, 17), { message: /attribute before opset 18/ });
});

test('ReduceProd and ReduceL2', (t) => {
  near(t, run('ReduceProd', [ONE_TO_TWELVE], { axes: [1] }), 'float32', [3, 1, 2], [3, 8, 35, 48, 99, 120]);
  near(t, run('ReduceL2', [ONE_TO_TWELVE], { axes: [2] }), 'float32', [3, 2, 1],
    [2.23606798, 5, 7.81024968, 10.63014581, 13.45362405, 16.2788206]);
});

test('integer reductions are exact, wrap to the dtype and truncate means', (t) => {
  near(t, run('ReduceSum', [i32([2], [2147483647, 1])], { keepdims: 0 }, 11), 'int32', [], [-2147483648]);
  t.deepEqual(elements(run('ReduceMean', [i64([2], [1n, 2n])], { keepdims: 0 })), [1n]);
  t.deepEqual(elements(run('ReduceProd', [i64([2], [4294967296n, 4294967297n])])), [4294967296n]);
});

test('reductions over an empty axis give the identity', (t) => {
  const empty = f32([2, 0], []);
  near(t, run('ReduceSum', [empty], { axes: [1] }, 11), 'float32', [2, 1], [0, 0]);
  near(t, run('ReduceProd', [empty], { axes: [1] }), 'float32', [2, 1], [1, 1]);
  near(t, run('ReduceMax', [empty], { axes: [1] }), 'float32', [2, 1], [-Infinity, -Infinity]);
  t.deepEqual(elements(run('ReduceMin', [i32([2, 0], [])], { axes: [1] })), [2147483647, 2147483647]);
});

// ---- ArgMax ----

test('ArgMax finds the first largest value, or the last with select_last_index', (t) => {
  const data = f32([2, 2], [2, 1, 3, 10]);
  t.deepEqual(elements(run('ArgMax', [data])), [1n, 1n]);
  t.deepEqual(run('ArgMax', [data]).dims, [1, 2]);
  const out = run('ArgMax', [data], { axis: 1, keepdims: 0 });
  t.is(out.dtype, 'int64');
  t.deepEqual(out.dims, [2]);
  t.deepEqual(elements(out), [0n, 1n]);
  const ties = f32([2, 2], [2, 2, 3, 10]);
  t.deepEqual(elements(run('ArgMax', [ties], { axis: 1 })), [0n, 1n]);
  t.deepEqual(elements(run('ArgMax', [ties], { axis: 1, select_last_index: 1 })), [1n, 1n]);
  t.deepEqual(elements(run('ArgMax', [ties], { axis: -1, keepdims: 0 })), [0n, 1n]);
});

// ---- CumSum ----

test('CumSum with exclusive and reverse', (t) => {
  const x = f32([5], [1, 2, 3, 4, 5]);
  const axis = i32([], [0]);
  near(t, run('CumSum', [x, axis]), 'float32', [5], [1, 3, 6, 10, 15]);
  near(t, run('CumSum', [x, axis], { exclusive: 1 }), 'float32', [5], [0, 1, 3, 6, 10]);
  near(t, run('CumSum', [x, axis], { reverse: 1 }), 'float32', [5], [15, 14, 12, 9, 5]);
  near(t, run('CumSum', [x, axis], { reverse: 1, exclusive: 1 }), 'float32', [5], [14, 12, 9, 5, 0]);
});

test('CumSum along either axis of a matrix', (t) => {
  const x = f32([2, 3], [1, 2, 3, 4, 5, 6]);
  near(t, run('CumSum', [x, i32([], [0])]), 'float32', [2, 3], [1, 2, 3, 5, 7, 9]);
  near(t, run('CumSum', [x, i64([1], [1n])]), 'float32', [2, 3], [1, 3, 6, 4, 9, 15]);
  near(t, run('CumSum', [x, i32([], [-1])]), 'float32', [2, 3], [1, 3, 6, 4, 9, 15]);
  t.deepEqual(elements(run('CumSum', [i64([2], [9007199254740993n, 1n]), i32([], [0])])), [9007199254740993n, 9007199254740994n]);
  t.throws(() => run('CumSum', [x, i32([], [2])]), { message: /out of range/ });
});

// ---- Softmax ----

test('Softmax normalizes along an axis', (t) => {
  near(t, run('Softmax', [f32([1, 3], [-1, 0, 1])], {}, 13), 'float32', [1, 3], [0.09003058, 0.24472848, 0.66524094]);
  // large inputs must not overflow: softmax is shift-invariant
  near(t, run('Softmax', [f32([1, 3], [1000, 1001, 1002])], {}, 13), 'float32', [1, 3], [0.09003058, 0.24472848, 0.66524094]);
});

test('Softmax before opset 13 normalizes over every axis from `axis` on', (t) => {
  const zeros = f32([1, 2, 2], [0, 0, 0, 0]);
  near(t, run('Softmax', [zeros], {}, 11), 'float32', [1, 2, 2], [0.25, 0.25, 0.25, 0.25]);
  near(t, run('Softmax', [zeros], { axis: 2 }, 11), 'float32', [1, 2, 2], [0.5, 0.5, 0.5, 0.5]);
  near(t, run('Softmax', [zeros], {}, 13), 'float32', [1, 2, 2], [0.5, 0.5, 0.5, 0.5]);
  near(t, run('Softmax', [zeros], { axis: 1 }, 13), 'float32', [1, 2, 2], [0.5, 0.5, 0.5, 0.5]);
  t.throws(() => run('Softmax', [i32([1], [1])], {}, 13), { instanceOf: KernelError });
});
