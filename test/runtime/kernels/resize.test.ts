import test from 'ava';
import { kernelContext } from '../../helpers/kernels.ts';
import { tensor } from '../../../formats/tensor.ts';
import type { Tensor } from '../../../formats/tensor.ts';
import { Attributes, KernelError } from '../../../runtime/kernel.ts';
import type { AttrValue } from '../../../runtime/graph.ts';
import { kernels } from '../../../runtime/kernels/resize.ts';

function resize(inputs: (Tensor | undefined)[], attrs: Record<string, AttrValue> = {}, opset = 13): Tensor {
  const ctx = kernelContext(opset);
  return kernels.Resize!(inputs, new Attributes(attrs), ctx)[0]!;
}
const f32 = (dims: number[], values: number[]) => tensor('float32', dims, Float32Array.from(values));
const i64 = (dims: number[], values: number[]) => tensor('int64', dims, BigInt64Array.from(values, BigInt));
const list = (t: Tensor) => Array.from(t.data as ArrayLike<unknown>, (v) => (typeof v === 'bigint' ? Number(v) : v));
const close = (actual: Tensor, expected: number[]) =>
  list(actual).length === expected.length && list(actual).every((v, i) => Math.abs((v as number) - expected[i]!) < 1e-4);

const square2 = f32([1, 1, 2, 2], [1, 2, 3, 4]);
const wide = f32([1, 1, 2, 4], [1, 2, 3, 4, 5, 6, 7, 8]);
const square4 = f32([1, 1, 4, 4], Array.from({ length: 16 }, (_, i) => i + 1));

// Expected values below are the ones printed in the ONNX Resize operator examples.

test('nearest: upsample by scales and sizes, downsample', (t) => {
  const up = resize([square2, undefined, f32([4], [1, 1, 2, 3])]);
  t.deepEqual(up.dims, [1, 1, 4, 6]);
  t.deepEqual(list(up), [1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4]);
  const sized = resize([square2, undefined, undefined, i64([4], [1, 1, 7, 8])]);
  t.deepEqual(sized.dims, [1, 1, 7, 8]);
  t.deepEqual(list(sized), [...Array(4).fill([1, 1, 1, 1, 2, 2, 2, 2]).flat(), ...Array(3).fill([3, 3, 3, 3, 4, 4, 4, 4]).flat()]);
  t.deepEqual(list(resize([wide, undefined, f32([4], [1, 1, 0.6, 0.6])])), [1, 3]);
  // half_pixel, scale 3/4 on columns: sources 0.17, 1.5, 2.83 round (prefer floor) to 0, 1, 3
  t.deepEqual(list(resize([wide, undefined, undefined, i64([4], [1, 1, 1, 3])])), [1, 2, 4]);
});

test('nearest: floor with align_corners', (t) => {
  const y = resize([square4, undefined, undefined, i64([4], [1, 1, 8, 8])], { coordinate_transformation_mode: 'align_corners', nearest_mode: 'floor' });
  const row = (r: number[]) => [r[0], r[0], r[0], r[1], r[1], r[2], r[2], r[3]];
  const rows = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]];
  t.deepEqual(list(y), [0, 0, 0, 1, 1, 2, 2, 3].flatMap((r) => row(rows[r]!)));
});

test('nearest moves elements of any dtype (opset 10 layout)', (t) => {
  const y = resize([tensor('string', [1, 2], ['a', 'b']), f32([2], [1, 2])], { mode: 'nearest' }, 10);
  t.deepEqual(y.data, ['a', 'a', 'b', 'b']);
  const z = resize([i64([2], [5, 9]), undefined, f32([1], [2])]);
  t.deepEqual(list(z), [5, 5, 9, 9]);
});

test('linear: half_pixel upsample, align_corners downsample', (t) => {
  const up = resize([square2, undefined, f32([4], [1, 1, 2, 2])], { mode: 'linear' });
  t.deepEqual(list(up), [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4]);
  const down = resize([wide, undefined, f32([4], [1, 1, 0.6, 0.6])], { mode: 'linear', coordinate_transformation_mode: 'align_corners' });
  t.true(close(down, [1, 3.142857]));
  t.true(close(resize([wide, undefined, f32([4], [1, 1, 0.6, 0.6])], { mode: 'linear' }), [2.6666667, 4.3333335]));
});

test('linear: tf_crop_and_resize with a roi', (t) => {
  const roi = f32([8], [0, 0, 0.4, 0.6, 1, 1, 0.6, 0.8]);
  const y = resize([square4, roi, undefined, i64([4], [1, 1, 3, 3])], { mode: 'linear', coordinate_transformation_mode: 'tf_crop_and_resize' });
  t.true(close(y, [7.6, 7.9, 8.2, 8.8, 9.1, 9.4, 10, 10.3, 10.6]));
  const outside = f32([8], [0, 0, 0.4, 0.6, 1, 1, 1.2, 1.7]);
  const e = resize([square4, outside, undefined, i64([4], [1, 1, 3, 3])], { mode: 'linear', coordinate_transformation_mode: 'tf_crop_and_resize', extrapolation_value: 10 });
  t.true(close(e, [7.6, 10, 10, 12.4, 10, 10, 10, 10, 10]));
});

test('cubic: upsample by 2 (first row of the ONNX example)', (t) => {
  const y = resize([square4, undefined, f32([4], [1, 1, 2, 2])], { mode: 'cubic' });
  t.deepEqual(y.dims, [1, 1, 8, 8]);
  t.true(close(tensor('float32', [8], (y.data as Float32Array).slice(0, 8)), [0.47265625, 0.76953125, 1.24609375, 1.875, 2.28125, 2.91015625, 3.38671875, 3.68359375]));
});

test('opset 18 axes and keep_aspect_ratio_policy', (t) => {
  const y = resize([square2, undefined, f32([2], [2, 3])], { axes: [2, 3] }, 18);
  t.deepEqual(y.dims, [1, 1, 4, 6]);
  const kept = resize([square2, undefined, undefined, i64([2], [4, 6])], { axes: [2, 3], keep_aspect_ratio_policy: 'not_larger' }, 18);
  t.deepEqual(kept.dims, [1, 1, 4, 4]);
});

test('Resize rejects ambiguous or malformed sizes', (t) => {
  t.throws(() => resize([square2, undefined, f32([4], [1, 1, 2, 2]), i64([4], [1, 1, 4, 4])]), { instanceOf: KernelError, message: /exactly one of scales and sizes/ });
  t.throws(() => resize([square2, undefined, f32([2], [2, 2])]), { message: /expected 4/ });
  t.throws(() => resize([square2, undefined, f32([4], [1, 1, 2, 2])], { mode: 'bilinear' }), { message: /nearest, linear, cubic/ });
});
