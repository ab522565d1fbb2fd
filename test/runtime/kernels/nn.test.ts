import test from 'ava';
import { kernelContext } from '../../helpers/kernels.ts';
import { tensor } from '../../../formats/tensor.ts';
import type { Tensor } from '../../../formats/tensor.ts';
import { Attributes, KernelError } from '../../../runtime/kernel.ts';
import type { AttrValue } from '../../../runtime/graph.ts';
import { kernels } from '../../../runtime/kernels/nn.ts';

function run(op: string, inputs: (Tensor | undefined)[], attrs: Record<string, AttrValue> = {}, opset = 17): Tensor[] {
  const ctx = kernelContext(opset);
  return kernels[op]!(inputs, new Attributes(attrs), ctx);
}
const f32 = (dims: number[], values: number[]) => tensor('float32', dims, Float32Array.from(values));
const list = (t: Tensor) => Array.from(t.data as ArrayLike<unknown>, (v) => (typeof v === 'bigint' ? Number(v) : v));
const close = (actual: Tensor, expected: number[]) =>
  list(actual).length === expected.length && list(actual).every((v, i) => Math.abs((v as number) - expected[i]!) < 1e-5);
const iota = (n: number, from = 0) => Array.from({ length: n }, (_, i) => i + from);

// the ONNX Conv example: a 5x5 ramp convolved with a 3x3 kernel of ones
const ramp = f32([1, 1, 5, 5], iota(25));
const ones3x3 = f32([1, 1, 3, 3], new Array(9).fill(1));

test('Conv with and without padding, with strides (ONNX example)', (t) => {
  const [padded] = run('Conv', [ramp, ones3x3], { pads: [1, 1, 1, 1] });
  t.deepEqual(padded!.dims, [1, 1, 5, 5]);
  t.deepEqual(list(padded!), [12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81, 93, 144, 153, 162, 111, 72, 111, 117, 123, 84]);
  t.deepEqual(list(run('Conv', [ramp, ones3x3])[0]!), [54, 63, 72, 99, 108, 117, 144, 153, 162]);
  t.deepEqual(list(run('Conv', [ramp, ones3x3], { pads: [1, 1, 1, 1], strides: [2, 2] })[0]!), [12, 27, 24, 63, 108, 81, 72, 117, 84]);
  t.deepEqual(run('Conv', [ramp, ones3x3], { auto_pad: 'SAME_UPPER', strides: [2, 2] })[0]!.dims, [1, 1, 3, 3]);
});

test('Conv groups, bias and float16', (t) => {
  // two channels, each its own group: 1*3 + 10 and 2*4 + 20
  const [y] = run('Conv', [f32([1, 2, 1, 1], [1, 2]), f32([2, 1, 1, 1], [3, 4]), f32([2], [10, 20])], { group: 2 });
  t.deepEqual(list(y!), [13, 28]);
  // four ones times 0.5 = 2 (0x4000); 1.0 is 0x3c00 and 0.5 is 0x3800
  const [h] = run('Conv', [tensor('float16', [1, 1, 2, 2], new Uint16Array(4).fill(0x3c00)), tensor('float16', [1, 1, 2, 2], new Uint16Array(4).fill(0x3800))]);
  t.is(h!.dtype, 'float16');
  t.deepEqual(list(h!), [0x4000]);
  t.throws(() => run('Conv', [f32([1, 2, 1, 1], [1, 2]), f32([1, 1, 1, 1], [1])]), { instanceOf: KernelError, message: /input channels/ });
});

test('ConvTranspose (ONNX example) and strides', (t) => {
  const x = f32([1, 1, 3, 3], iota(9));
  const w = f32([1, 2, 3, 3], new Array(18).fill(1));
  const [y] = run('ConvTranspose', [x, w]);
  t.deepEqual(y!.dims, [1, 2, 5, 5]);
  const plane = [0, 1, 3, 3, 2, 3, 8, 15, 12, 7, 9, 21, 36, 27, 15, 9, 20, 33, 24, 13, 6, 13, 21, 15, 8];
  t.deepEqual(list(y!), [...plane, ...plane]);
  // 1-D, stride 2: [1, 2] spreads each value over 3 taps starting at 0 and 2
  const [s] = run('ConvTranspose', [f32([1, 1, 2], [1, 2]), f32([1, 1, 3], [1, 1, 1])], { strides: [2] });
  t.deepEqual(list(s!), [1, 1, 3, 2, 2]);
  const [shaped] = run('ConvTranspose', [f32([1, 1, 2], [1, 2]), f32([1, 1, 3], [1, 1, 1])], { strides: [2], output_shape: [6] });
  t.deepEqual(list(shaped!), [1, 1, 3, 2, 2, 0]);
});

test('MaxPool values, Indices in both storage orders', (t) => {
  const x = f32([1, 1, 4, 4], iota(16));
  const [y, indices] = run('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] });
  t.deepEqual(list(y!), [5, 7, 13, 15]);
  t.deepEqual(list(indices!), [5, 7, 13, 15]);
  const [, columnMajor] = run('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2], storage_order: 1 });
  t.deepEqual(list(columnMajor!), [5, 13, 7, 15]);
  // ceil_mode: 4x4 ramp 1..16, 3x3 windows every 2 -> a 2x2 output (ONNX example)
  const [c] = run('MaxPool', [f32([1, 1, 4, 4], iota(16, 1))], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 });
  t.deepEqual(list(c!), [11, 12, 15, 16]);
  // uint8 with pads 2 (ONNX example), padding never wins
  const [u] = run('MaxPool', [tensor('uint8', [1, 1, 5, 5], Uint8Array.from(iota(25, 1)))], { kernel_shape: [5, 5], pads: [2, 2, 2, 2] });
  t.is(u!.dtype, 'uint8');
  t.deepEqual(list(u!), [13, 14, 15, 15, 15, 18, 19, 20, 20, 20, 23, 24, 25, 25, 25, 23, 24, 25, 25, 25, 23, 24, 25, 25, 25]);
});

test('AveragePool: padding counted or not, SAME_UPPER and SAME_LOWER', (t) => {
  const x = f32([1, 1, 3], [1, 2, 3]);
  t.deepEqual(list(run('AveragePool', [x], { kernel_shape: [2], pads: [1, 1] })[0]!), [1, 1.5, 2.5, 3]);
  t.deepEqual(list(run('AveragePool', [x], { kernel_shape: [2], pads: [1, 1], count_include_pad: 1 })[0]!), [0.5, 1.5, 2.5, 1.5]);
  const y = f32([1, 1, 4], [1, 2, 3, 4]);
  t.deepEqual(list(run('AveragePool', [y], { kernel_shape: [3], auto_pad: 'SAME_UPPER' })[0]!), [1.5, 2, 3, 3.5]);
  t.deepEqual(list(run('AveragePool', [y], { kernel_shape: [2], auto_pad: 'SAME_UPPER' })[0]!), [1.5, 2.5, 3.5, 4]);
  t.deepEqual(list(run('AveragePool', [y], { kernel_shape: [2], auto_pad: 'SAME_LOWER' })[0]!), [1, 1.5, 2.5, 3.5]);
  t.throws(() => run('AveragePool', [y], { kernel_shape: [5] }), { message: /does not fit/ });
});

test('GlobalAveragePool averages each plane', (t) => {
  const [y] = run('GlobalAveragePool', [f32([1, 2, 2, 2], [1, 2, 3, 4, 10, 20, 30, 40])]);
  t.deepEqual(y!.dims, [1, 2, 1, 1]);
  t.deepEqual(list(y!), [2.5, 25]);
});

test('BatchNormalization at inference and in training mode', (t) => {
  const x = f32([1, 1, 3], [1, 2, 3]);
  const [y] = run('BatchNormalization', [x, f32([1], [2]), f32([1], [1]), f32([1], [2]), f32([1], [1])], { epsilon: 0 });
  t.deepEqual(list(y!), [-1, 1, 3]);
  // batch mean 2, batch variance 2/3; running stats blend with momentum 0.9
  const [z, mean, variance] = run('BatchNormalization', [x, f32([1], [1]), f32([1], [0]), f32([1], [0]), f32([1], [1])], { epsilon: 0, training_mode: 1 });
  const s = Math.sqrt(1.5);
  t.true(close(z!, [-s, 0, s]));
  t.true(close(mean!, [0.2]));
  t.true(close(variance!, [0.9 + 0.1 * (2 / 3)]));
});

test('InstanceNormalization normalizes each channel of each image', (t) => {
  const [y] = run('InstanceNormalization', [f32([1, 2, 2], [1, 3, 2, 2]), f32([2], [2, 1]), f32([2], [0, 5])], { epsilon: 0 });
  t.deepEqual(y!.dims, [1, 2, 2]);
  t.deepEqual(list(y!).slice(0, 2), [-2, 2]);
  const [e] = run('InstanceNormalization', [f32([1, 2, 2], [1, 3, 2, 2]), f32([2], [2, 1]), f32([2], [0, 5])]);
  t.deepEqual(list(e!).slice(2), [5, 5]); // zero variance: epsilon keeps it finite
});

test('LayerNormalization returns Y, Mean and InvStdDev', (t) => {
  const x = f32([2, 2], [1, 3, 2, 6]); // rows: mean 2, var 1; mean 4, var 4
  const [y, mean, inv] = run('LayerNormalization', [x, f32([2], [1, 2]), f32([2], [0, 1])], { epsilon: 0 });
  t.deepEqual(list(y!), [-1, 3, -1, 3]);
  t.deepEqual(mean!.dims, [2, 1]);
  t.deepEqual(list(mean!), [2, 4]);
  t.deepEqual(list(inv!), [1, 0.5]);
  const [all] = run('LayerNormalization', [x, f32([], [1])], { axis: 0, epsilon: 0 }); // mean 3, var 3.5
  t.true(close(all!, [1, 3, 2, 6].map((v) => (v - 3) / Math.sqrt(3.5))));
  t.throws(() => run('LayerNormalization', [x, f32([3], [1, 1, 1])]), { message: /does not broadcast/ });
});
