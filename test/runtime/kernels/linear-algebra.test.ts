import test from 'ava';
import { kernelContext } from '../../helpers/kernels.ts';
import { tensor } from '../../../formats/tensor.ts';
import type { Tensor } from '../../../formats/tensor.ts';
import { Attributes, KernelError } from '../../../runtime/kernel.ts';
import type { AttrValue } from '../../../runtime/graph.ts';
import { kernels } from '../../../runtime/kernels/linear-algebra.ts';

function run(op: string, inputs: (Tensor | undefined)[], attrs: Record<string, AttrValue> = {}, opset = 17): Tensor[] {
  const ctx = kernelContext(opset);
  return kernels[op]!(inputs, new Attributes(attrs), ctx);
}
const f32 = (dims: number[], values: number[]) => tensor('float32', dims, Float32Array.from(values));
const list = (t: Tensor) => Array.from(t.data as ArrayLike<unknown>, (v) => (typeof v === 'bigint' ? Number(v) : v));

test('MatMul multiplies matrices', (t) => {
  const [y] = run('MatMul', [f32([2, 3], [1, 2, 3, 4, 5, 6]), f32([3, 2], [7, 8, 9, 10, 11, 12])]);
  t.deepEqual(y!.dims, [2, 2]);
  t.deepEqual(list(y!), [58, 64, 139, 154]);
  t.throws(() => run('MatMul', [f32([2, 3], [1, 2, 3, 4, 5, 6]), f32([2, 3], [1, 2, 3, 4, 5, 6])]), { instanceOf: KernelError, message: /inner dimensions/ });
});

test('MatMul promotes 1-D operands and drops the added axis', (t) => {
  const [dot] = run('MatMul', [f32([3], [1, 2, 3]), f32([3], [4, 5, 6])]);
  t.deepEqual(dot!.dims, []);
  t.deepEqual(list(dot!), [32]);
  const [row] = run('MatMul', [f32([2], [1, 2]), f32([2, 3], [1, 2, 3, 4, 5, 6])]);
  t.deepEqual(row!.dims, [3]);
  t.deepEqual(list(row!), [9, 12, 15]);
  const [col] = run('MatMul', [f32([2, 2], [1, 2, 3, 4]), f32([2], [1, 1])]);
  t.deepEqual(col!.dims, [2]);
  t.deepEqual(list(col!), [3, 7]);
});

test('MatMul broadcasts batch dimensions', (t) => {
  // A: 2 row vectors (batch [2, 1]); B: 3 column vectors (batch [3]) -> every pair of dot products
  const a = f32([2, 1, 1, 2], [1, 2, 3, 4]);
  const b = f32([3, 2, 1], [1, 0, 0, 1, 1, 1]);
  const [y] = run('MatMul', [a, b]);
  t.deepEqual(y!.dims, [2, 3, 1, 1]);
  t.deepEqual(list(y!), [1, 2, 3, 3, 4, 7]);
});

test('MatMul is exact for int64 and rounds float16 once', (t) => {
  const big = run('MatMul', [tensor('int64', [1, 1], BigInt64Array.of(2n ** 40n)), tensor('int64', [1, 1], BigInt64Array.of(2n ** 20n + 1n))])[0]!;
  t.deepEqual([...(big.data as BigInt64Array)], [2n ** 60n + 2n ** 40n]);
  // 1.5 * 2 = 3 in float16 words
  const half = run('MatMul', [tensor('float16', [1, 1], Uint16Array.of(0x3e00)), tensor('float16', [1, 1], Uint16Array.of(0x4000))])[0]!;
  t.is(half.dtype, 'float16');
  t.deepEqual(list(half), [0x4200]);
});

test('Gemm applies transA, transB, alpha, beta and broadcasts C', (t) => {
  const a = f32([2, 2], [1, 2, 3, 4]);
  const identity = f32([2, 2], [1, 0, 0, 1]);
  // A^T = [[1, 3], [2, 4]]; 2 * A^T + 0.5 * [10, 20]
  const [y] = run('Gemm', [a, identity, f32([2], [10, 20])], { transA: 1, alpha: 2, beta: 0.5 });
  t.deepEqual(list(y!), [7, 16, 9, 18]);
  // A * B^T with B = [[1, 1], [0, 1], [2, 0]] (3x2): rows of A dotted with rows of B
  const [z] = run('Gemm', [a, f32([3, 2], [1, 1, 0, 1, 2, 0])], { transB: 1 });
  t.deepEqual(z!.dims, [2, 3]);
  t.deepEqual(list(z!), [3, 2, 2, 7, 4, 6]);
  const [c] = run('Gemm', [a, identity, f32([1, 1], [5])]);
  t.deepEqual(list(c!), [6, 7, 8, 9]);
  t.throws(() => run('Gemm', [a, identity, f32([3], [1, 2, 3])]), { message: /does not broadcast/ });
  t.throws(() => run('Gemm', [a, f32([3, 2], [1, 2, 3, 4, 5, 6])]), { message: /cannot multiply/ });
});
