import test from 'ava';
import { kernelContext } from '../../helpers/kernels.ts';
import { tensor } from '../../../formats/tensor.ts';
import type { Tensor } from '../../../formats/tensor.ts';
import { Attributes, KernelError } from '../../../runtime/kernel.ts';
import type { AttrValue } from '../../../runtime/graph.ts';
import { kernels } from '../../../runtime/kernels/tensor-ops.ts';

function run(op: string, inputs: (Tensor | undefined)[], attrs: Record<string, AttrValue> = {}, opset = 17): Tensor[] {
  const ctx = kernelContext(opset);
  return kernels[op]!(inputs, new Attributes(attrs), ctx);
}
const f32 = (dims: number[], values: number[]) => tensor('float32', dims, Float32Array.from(values));
const i64 = (dims: number[], values: number[]) => tensor('int64', dims, BigInt64Array.from(values, BigInt));
const list = (t: Tensor) => Array.from(t.data as ArrayLike<unknown>, (v) => (typeof v === 'bigint' ? Number(v) : v));

test('Transpose moves int64 and string elements', (t) => {
  const [y] = run('Transpose', [i64([2, 3], [1, 2, 3, 4, 5, 6])]);
  t.deepEqual(y!.dims, [3, 2]);
  t.deepEqual(list(y!), [1, 4, 2, 5, 3, 6]);
  const [s] = run('Transpose', [tensor('string', [1, 2, 2], ['a', 'b', 'c', 'd'])], { perm: [2, 0, 1] });
  t.deepEqual(s!.dims, [2, 1, 2]);
  t.deepEqual(s!.data, ['a', 'c', 'b', 'd']);
  t.throws(() => run('Transpose', [f32([2, 2], [1, 2, 3, 4])], { perm: [0, 0] }), { instanceOf: KernelError, message: /permutation/ });
});

test('Concat joins float16 words and bools along an axis', (t) => {
  const a = tensor('float16', [2, 1], Uint16Array.of(0x3c00, 0x4000)); // 1, 2
  const b = tensor('float16', [2, 2], Uint16Array.of(0x4200, 0x4400, 0x4500, 0x4600)); // 3 4 / 5 6
  const [y] = run('Concat', [a, b], { axis: -1 });
  t.deepEqual(y!.dims, [2, 3]);
  t.deepEqual(list(y!), [0x3c00, 0x4200, 0x4400, 0x4000, 0x4500, 0x4600]);
  const [z] = run('Concat', [tensor('bool', [1], Uint8Array.of(1)), tensor('bool', [2], Uint8Array.of(0, 1))], { axis: 0 });
  t.deepEqual(list(z!), [1, 0, 1]);
  t.throws(() => run('Concat', [f32([1, 2], [1, 2]), f32([2, 3], [1, 2, 3, 4, 5, 6])], { axis: 0 }), { message: /cannot concatenate/ });
});

test('Split: sizes from the attribute, the input or num_outputs', (t) => {
  const x = f32([6], [1, 2, 3, 4, 5, 6]);
  t.deepEqual(run('Split', [x], { split: [2, 4] }, 11).map(list), [[1, 2], [3, 4, 5, 6]]);
  t.deepEqual(run('Split', [x, i64([2], [1, 5])], {}, 13).map(list), [[1], [2, 3, 4, 5, 6]]);
  t.deepEqual(run('Split', [x], { num_outputs: 3 }).map(list), [[1, 2], [3, 4], [5, 6]]);
  t.deepEqual(run('Split', [f32([5], [1, 2, 3, 4, 5])], { num_outputs: 2 }, 18).map(list), [[1, 2, 3], [4, 5]]);
  t.throws(() => run('Split', [x, i64([2], [1, 2])]), { message: /do not add up/ });
});

test('Slice: attributes before opset 10, inputs with negative steps after', (t) => {
  const x = i64([10], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.deepEqual(list(run('Slice', [x], { starts: [7], ends: [1000] }, 9)[0]!), [7, 8, 9]);
  t.deepEqual(list(run('Slice', [x, i64([1], [8]), i64([1], [2]), i64([1], [0]), i64([1], [-2])])[0]!), [8, 6, 4]);
  // 2-D: rows 1.., every second column from the end
  const m = f32([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]);
  const [y] = run('Slice', [m, i64([2], [1, -1]), i64([2], [2, -1000]), i64([2], [0, 1]), i64([2], [1, -2])]);
  t.deepEqual(y!.dims, [1, 2]);
  t.deepEqual(list(y!), [8, 6]);
  t.throws(() => run('Slice', [x, i64([1], [0]), i64([1], [2]), i64([1], [0]), i64([1], [0])]), { message: /step/ });
});

test('Gather and GatherElements follow the ONNX examples', (t) => {
  const data = f32([3, 2], [1, 1.2, 2.3, 3.4, 4.5, 5.7]);
  const [y] = run('Gather', [data, i64([2, 2], [0, 1, 1, 2])], { axis: 0 });
  t.deepEqual(y!.dims, [2, 2, 2]);
  t.deepEqual(list(y!), [1, 1.2, 2.3, 3.4, 2.3, 3.4, 4.5, 5.7].map(Math.fround));
  const [z] = run('Gather', [data, tensor('int32', [], Int32Array.of(-1))], { axis: 1 });
  t.deepEqual(z!.dims, [3]);
  t.deepEqual(list(z!), [1.2, 3.4, 5.7].map(Math.fround));
  t.throws(() => run('Gather', [data, i64([1], [3])]), { instanceOf: KernelError, message: /out of range/ });
  const [e] = run('GatherElements', [i64([2, 2], [1, 2, 3, 4]), i64([2, 2], [0, 0, 1, 0])], { axis: 1 });
  t.deepEqual(list(e!), [1, 1, 4, 3]);
});

test('Pad: constant, reflect, edge and wrap', (t) => {
  const x = f32([3, 2], [1, 1.2, 2.3, 3.4, 4.5, 5.7]);
  const pads = i64([4], [0, 2, 0, 0]);
  const reflect = run('Pad', [x, pads], { mode: 'reflect' })[0]!;
  t.deepEqual(reflect.dims, [3, 4]);
  t.deepEqual(list(reflect), [1, 1.2, 1, 1.2, 2.3, 3.4, 2.3, 3.4, 4.5, 5.7, 4.5, 5.7].map(Math.fround));
  const edge = run('Pad', [x, pads], { mode: 'edge' })[0]!;
  t.deepEqual(list(edge), [1, 1, 1, 1.2, 2.3, 2.3, 2.3, 3.4, 4.5, 4.5, 4.5, 5.7].map(Math.fround));
  const wrap = run('Pad', [i64([3], [1, 2, 3]), i64([2], [2, 1])], { mode: 'wrap' })[0]!;
  t.deepEqual(list(wrap), [2, 3, 1, 2, 3, 1]);
  const constant = run('Pad', [i64([3], [1, 2, 3]), i64([2], [1, -1]), i64([], [9])])[0]!;
  t.deepEqual(list(constant), [9, 1, 2]);
  // opset 2..10: pads and value are attributes
  const old = run('Pad', [f32([2], [1, 2])], { pads: [1, 2], value: 0.5 }, 7)[0]!;
  t.deepEqual(list(old), [0.5, 1, 2, 0.5, 0.5]);
  // opset 18: pads for the listed axes only
  const axes = run('Pad', [i64([2, 2], [1, 2, 3, 4]), i64([2], [1, 0]), undefined, i64([1], [-1])], {}, 18)[0]!;
  t.deepEqual(axes.dims, [2, 3]);
  t.deepEqual(list(axes), [0, 1, 2, 0, 3, 4]);
});

test('Reshape, Flatten, Squeeze, Unsqueeze change only dims', (t) => {
  const x = f32([2, 3, 4], Array.from({ length: 24 }, (_, i) => i));
  t.deepEqual(run('Reshape', [x, i64([3], [0, -1, 2])])[0]!.dims, [2, 6, 2]);
  t.deepEqual(run('Reshape', [f32([0, 3], []), i64([2], [3, 0])], { allowzero: 1 })[0]!.dims, [3, 0]);
  t.throws(() => run('Reshape', [x, i64([2], [5, -1])]), { message: /cannot reshape/ });
  t.deepEqual(run('Flatten', [x], { axis: 0 })[0]!.dims, [1, 24]);
  t.deepEqual(run('Flatten', [x], { axis: -1 })[0]!.dims, [6, 4]);
  const ones = f32([1, 3, 1], [1, 2, 3]);
  t.deepEqual(run('Squeeze', [ones])[0]!.dims, [3]);
  t.deepEqual(run('Squeeze', [ones], { axes: [-1] }, 11)[0]!.dims, [1, 3]);
  t.deepEqual(run('Squeeze', [ones, i64([1], [0])])[0]!.dims, [3, 1]);
  t.throws(() => run('Squeeze', [ones, i64([1], [1])]), { message: /not 1/ });
  t.deepEqual(run('Unsqueeze', [ones], { axes: [0, 4] }, 11)[0]!.dims, [1, 1, 3, 1, 1]);
  t.deepEqual(run('Unsqueeze', [f32([3], [1, 2, 3]), i64([2], [-1, 0])])[0]!.dims, [1, 3, 1]);
});

test('Shape, ConstantOfShape, Constant and Range create tensors', (t) => {
  const x = f32([2, 3, 4, 5], new Array(120).fill(0));
  t.deepEqual(list(run('Shape', [x])[0]!), [2, 3, 4, 5]);
  t.deepEqual(list(run('Shape', [x], { start: 1, end: -1 })[0]!), [3, 4]);
  t.deepEqual(list(run('Shape', [x], { start: -10 })[0]!), [2, 3, 4, 5]);
  const [c] = run('ConstantOfShape', [i64([2], [2, 2])], { value: i64([1], [7]) });
  t.is(c!.dtype, 'int64');
  t.deepEqual(list(c!), [7, 7, 7, 7]);
  t.deepEqual(list(run('ConstantOfShape', [i64([1], [3])])[0]!), [0, 0, 0]);
  t.deepEqual(list(run('Constant', [], { value_ints: [1, 2] })[0]!), [1, 2]);
  t.deepEqual(run('Constant', [], { value_float: 2.5 })[0]!.dims, []);
  t.deepEqual(list(run('Range', [i64([], [10]), i64([], [4]), i64([], [-3])])[0]!), [10, 7]);
  t.deepEqual(list(run('Range', [f32([], [1]), f32([], [5]), f32([], [2])])[0]!), [1, 3]);
});

test('Expand and Tile repeat elements', (t) => {
  const [e] = run('Expand', [i64([3, 1], [1, 2, 3]), i64([2], [1, 3])]);
  t.deepEqual(e!.dims, [3, 3]);
  t.deepEqual(list(e!), [1, 1, 1, 2, 2, 2, 3, 3, 3]);
  const [r] = run('Tile', [tensor('string', [2, 2], ['a', 'b', 'c', 'd']), i64([2], [2, 2])]);
  t.deepEqual(r!.dims, [4, 4]);
  t.deepEqual(r!.data, ['a', 'b', 'a', 'b', 'c', 'd', 'c', 'd', 'a', 'b', 'a', 'b', 'c', 'd', 'c', 'd']);
});

test('TopK: largest or smallest, ties by lower index', (t) => {
  const x = f32([3, 4], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const [v, i] = run('TopK', [x, i64([1], [3])]);
  t.deepEqual(list(v!), [3, 2, 1, 7, 6, 5, 11, 10, 9]);
  t.deepEqual(list(i!), [3, 2, 1, 3, 2, 1, 3, 2, 1]);
  const [sv, si] = run('TopK', [x, i64([1], [1])], { axis: 0, largest: 0 });
  t.deepEqual(list(sv!), [0, 1, 2, 3]);
  t.deepEqual(list(si!), [0, 0, 0, 0]);
  const [tv, ti] = run('TopK', [i64([4], [1, 3, 3, 2]), i64([1], [2])]);
  t.deepEqual([list(tv!), list(ti!)], [[3, 3], [1, 2]]);
});

test('Trilu keeps the upper or lower triangle', (t) => {
  const x = i64([3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.deepEqual(list(run('Trilu', [x])[0]!), [1, 2, 3, 0, 5, 6, 0, 0, 9]);
  t.deepEqual(list(run('Trilu', [x, i64([], [-1])], { upper: 0 })[0]!), [0, 0, 0, 4, 0, 0, 7, 8, 0]);
  t.deepEqual(list(run('Trilu', [x, i64([], [1])])[0]!), [0, 2, 3, 0, 0, 6, 0, 0, 0]);
});

test('Identity and Dropout pass the input through at inference', (t) => {
  const x = f32([2], [1, 2]);
  t.is(run('Identity', [x])[0], x);
  const [y, mask] = run('Dropout', [x, f32([], [0.5])]);
  t.is(y, x);
  t.is(mask!.dtype, 'bool');
  t.deepEqual(list(mask!), [1, 1]);
});
