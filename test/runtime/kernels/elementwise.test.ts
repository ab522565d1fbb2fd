// Hand-checked cases for the element-wise reference kernels (most numbers from the ONNX operator docs).
// The full check is ONNX's conformance data, run by test/conformance/.
import test from 'ava';
import { runKernel } from '../../helpers/kernels.ts';
import type { ExecutionContext } from 'ava';
import type { DType, Tensor } from '../../../formats/tensor.ts';
import type { TensorDataByType } from '../../../formats/dtype.ts';
import { tensor } from '../../../formats/tensor.ts';
import { halfToFloat32 } from '../../../formats/dtype.ts';
import type { AttrValue } from '../../../runtime/graph.ts';
import { KernelError } from '../../../runtime/kernel.ts';
import { erf } from '../../../runtime/kernels/elementwise.ts';

function run(op: string, inputs: (Tensor | undefined)[], attrs: Record<string, AttrValue> = {}, opset = 17): Tensor {
  return runKernel(op, inputs, attrs, opset)[0]!;
}

const f32 = (dims: number[], values: number[]) => tensor('float32', dims, new Float32Array(values));
const f64 = (dims: number[], values: number[]) => tensor('float64', dims, new Float64Array(values));
const i32 = (dims: number[], values: number[]) => tensor('int32', dims, new Int32Array(values));
const i64 = (dims: number[], values: bigint[]) => tensor('int64', dims, new BigInt64Array(values));
const bool = (dims: number[], values: number[]) => tensor('bool', dims, new Uint8Array(values));
const str = (dims: number[], values: string[]) => tensor('string', dims, values);
const typed = <T extends DType>(dtype: T, dims: number[], data: TensorDataByType[T]) => tensor(dtype, dims, data);

/** Asserts dtype, dims and values, floats to a relative `tol` (NaN equals NaN). */
function near(t: ExecutionContext, got: Tensor, dtype: DType, dims: number[], want: number[], tol = 1e-6): void {
  t.is(got.dtype, dtype);
  t.deepEqual(got.dims, dims);
  const values = got.dtype === 'float16' || got.dtype === 'bfloat16' ? halfToFloat32(got.dtype, got.data as Uint16Array) : got.data;
  t.is(values.length, want.length);
  want.forEach((w, i) => {
    const g = Number(values[i]);
    const ok = Number.isNaN(w) ? Number.isNaN(g) : g === w || Math.abs(g - w) <= tol * Math.max(1, Math.abs(w));
    t.true(ok, `element ${i}: got ${g}, want ${w}`);
  });
}

function exact(t: ExecutionContext, got: Tensor, dtype: DType, dims: number[], want: unknown[]): void {
  t.is(got.dtype, dtype);
  t.deepEqual(got.dims, dims);
  t.deepEqual(Array.from(got.data as ArrayLike<unknown>), want);
}

// ---- arithmetic ----

test('Add broadcasts numpy-style', (t) => {
  near(t, run('Add', [f32([2, 3], [1, 2, 3, 4, 5, 6]), f32([3], [10, 20, 30])]), 'float32', [2, 3], [11, 22, 33, 14, 25, 36]);
});

test('integer arithmetic wraps to the dtype width and int64 stays exact', (t) => {
  exact(t, run('Sub', [typed('uint8', [1], new Uint8Array([1])), typed('uint8', [1], new Uint8Array([2]))]), 'uint8', [1], [255]);
  exact(t, run('Mul', [i32([2], [65536, 46341]), i32([2], [65536, 46341])]), 'int32', [2], [0, -2147479015]);
  exact(t, run('Add', [i64([1], [9007199254740993n]), i64([1], [1n])]), 'int64', [1], [9007199254740994n]);
  exact(t, run('Mul', [i64([1], [3037000500n]), i64([1], [3037000500n])]), 'int64', [1], [-9223372036709301616n]);
});

test('Div truncates integers toward zero and rejects an integer zero divisor', (t) => {
  exact(t, run('Div', [i32([4], [7, -7, 7, -7]), i32([4], [2, 2, -2, -2])]), 'int32', [4], [3, -3, -3, 3]);
  exact(t, run('Div', [i64([1], [-7n]), i64([1], [2n])]), 'int64', [1], [-3n]);
  near(t, run('Div', [f32([2], [3, 1]), f32([2], [4, 0])]), 'float32', [2], [0.75, Infinity]);
  t.throws(() => run('Div', [i32([1], [1]), i32([1], [0])]), { instanceOf: KernelError, message: /division by zero/ });
});

test('Mod follows the divisor sign by default and the dividend sign with fmod=1', (t) => {
  const x = [-4, 7, 5, 4, -7, 8];
  const y = [2, -3, 8, -2, 3, 5];
  exact(t, run('Mod', [i32([6], x), i32([6], y)]), 'int32', [6], [0, -2, 5, 0, 2, 3]);
  exact(t, run('Mod', [i32([6], x), i32([6], y)], { fmod: 1 }), 'int32', [6], [0, 1, 5, 0, -1, 3]);
  near(t, run('Mod', [f64([6], [-4.3, 7.2, 5, 4.3, -7.2, 8]), f64([6], [2.1, -3.4, 8, -2.1, 3.4, 5])], { fmod: 1 }),
    'float64', [6], [-0.1, 0.4, 5, 0.1, -0.4, 3]);
  t.throws(() => run('Mod', [f32([1], [1]), f32([1], [1])]), { message: /fmod=1/ });
});

test('Pow keeps the base dtype, exact for integers', (t) => {
  near(t, run('Pow', [f32([3], [1, 2, 3]), f32([3], [4, 5, 6])]), 'float32', [3], [1, 32, 729]);
  near(t, run('Pow', [f32([2], [4, 2]), i64([1], [2n])]), 'float32', [2], [16, 4]);
  exact(t, run('Pow', [i32([3], [1, 2, 3]), f32([3], [4, 5, 6])]), 'int32', [3], [1, 32, 729]);
  exact(t, run('Pow', [i64([3], [2n, 2n, 3n]), i64([3], [62n, 64n, 39n])]), 'int64', [3],
    [4611686018427387904n, 0n, 4052555153018976267n]);
});

test('PRelu broadcasts slope to X only', (t) => {
  near(t, run('PRelu', [f32([4], [-2, -1, 0, 1]), f32([1], [0.5])]), 'float32', [4], [-1, -0.5, 0, 1]);
  t.throws(() => run('PRelu', [f32([2], [1, 2]), f32([2, 2], [1, 1, 1, 1])]), { message: /does not broadcast to X/ });
});

test('float16 and bfloat16 compute in float32 and round back to their own precision', (t) => {
  // float16: 2048 + 1 = 2049 lies between 2048 and 2050; ties go to even 2048. 1 + 1 = 2.
  near(t, run('Add', [typed('float16', [2], new Uint16Array([0x6800, 0x3c00])), typed('float16', [2], new Uint16Array([0x3c00, 0x3c00]))]),
    'float16', [2], [2048, 2]);
  // bfloat16: 1 + 2^-8 is halfway between 1 and 1 + 2^-7; ties go to even 1.
  exact(t, run('Add', [typed('bfloat16', [1], new Uint16Array([0x3f80])), typed('bfloat16', [1], new Uint16Array([0x3b80]))]),
    'bfloat16', [1], [0x3f80]);
});

test('inputs must share a dtype the op allows', (t) => {
  t.throws(() => run('Add', [f32([1], [1]), i32([1], [1])]), { instanceOf: KernelError, message: /same dtype/ });
  t.throws(() => run('Sin', [i32([1], [1])]), { instanceOf: KernelError, message: /unsupported dtype int32; expected one of: float32/ });
  t.throws(() => run('Add', [str([1], ['a']), str([1], ['b'])]), { instanceOf: KernelError });
});

// ---- unary math and activations ----

test('Ceil, Floor and half-to-even Round', (t) => {
  near(t, run('Ceil', [f32([2], [-1.5, 1.2])]), 'float32', [2], [-1, 2]);
  near(t, run('Floor', [f32([2], [-1.5, 1.2])]), 'float32', [2], [-2, 1]);
  const x = [0.1, 0.5, 0.9, 1.2, 1.5, 1.8, 2.3, 2.5, 2.7, -1.1, -1.5, -1.9, -2.2, -2.5, -2.8];
  near(t, run('Round', [f32([15], x)]), 'float32', [15], [0, 0, 1, 1, 2, 2, 2, 2, 3, -1, -2, -2, -2, -2, -3]);
});

test('erf matches tabulated values', (t) => {
  const table: [number, number][] = [
    [0, 0], [0.5, 0.5204998778130465], [1, 0.8427007929497149], [2, 0.9953222650189527],
    [2.5, 0.999593047982555], [3, 0.9999779095030014], [-1, -0.8427007929497149], [10, 1],
  ];
  for (const [x, want] of table) t.true(Math.abs(erf(x) - want) < 1e-13, `erf(${x}) = ${erf(x)}, want ${want}`);
});

test('Abs, Neg, Sign and Relu work on integers too', (t) => {
  exact(t, run('Abs', [i64([2], [-5n, 3n])]), 'int64', [2], [5n, 3n]);
  exact(t, run('Abs', [typed('int8', [1], new Int8Array([-128]))]), 'int8', [1], [-128]);
  exact(t, run('Neg', [i32([2], [-4, 2])]), 'int32', [2], [4, -2]);
  near(t, run('Sign', [f32([4], [-3, 0, 2, NaN])]), 'float32', [4], [-1, 0, 1, NaN]);
  exact(t, run('Relu', [i32([3], [-1, 0, 2])]), 'int32', [3], [0, 0, 2]);
  t.throws(() => run('Neg', [typed('uint8', [1], new Uint8Array([1]))]), { instanceOf: KernelError });
});

test('activations with their attributes', (t) => {
  const x = f32([3], [-1, 0, 1]);
  near(t, run('Relu', [x]), 'float32', [3], [0, 0, 1]);
  near(t, run('LeakyRelu', [x], { alpha: 0.1 }), 'float32', [3], [-0.1, 0, 1]);
  near(t, run('Elu', [x], { alpha: 2 }), 'float32', [3], [-1.2642411, 0, 1]);
  near(t, run('HardSigmoid', [x], { alpha: 0.5, beta: 0.6 }), 'float32', [3], [0.1, 0.6, 1]);
  near(t, run('HardSwish', [f32([3], [-3, 1, 3])]), 'float32', [3], [0, 2 / 3, 3]);
  near(t, run('Sigmoid', [x]), 'float32', [3], [0.26894142, 0.5, 0.73105858]);
  near(t, run('Softplus', [x]), 'float32', [3], [0.31326166, 0.69314718, 1.31326163]);
  near(t, run('Gelu', [x]), 'float32', [3], [-0.15865526, 0, 0.84134474]);
  near(t, run('Gelu', [x], { approximate: 'tanh' }), 'float32', [3], [-0.158808, 0, 0.841192], 1e-5); // spec's 6 digits
  t.throws(() => run('Gelu', [x], { approximate: 'fast' }), { message: /Should be one of: none, tanh/ });
});

// ---- variadic ----

test('Max, Min, Sum and Mean fold any number of inputs', (t) => {
  const xs = [f32([3], [3, 2, 1]), f32([3], [1, 4, 4]), f32([3], [2, 5, 3])];
  near(t, run('Max', xs), 'float32', [3], [3, 5, 4]);
  near(t, run('Min', xs), 'float32', [3], [1, 2, 1]);
  near(t, run('Sum', xs), 'float32', [3], [6, 11, 8]);
  near(t, run('Mean', xs), 'float32', [3], [2, 11 / 3, 8 / 3]);
  near(t, run('Max', [f32([1], [5])]), 'float32', [1], [5]);
  exact(t, run('Max', [typed('uint64', [1], new BigUint64Array([18446744073709551615n])), typed('uint64', [2], new BigUint64Array([1n, 18446744073709551614n]))]),
    'uint64', [2], [18446744073709551615n, 18446744073709551615n]);
  near(t, run('Min', [f32([2], [1, 2]), f32([2, 1], [0, 3])]), 'float32', [2, 2], [0, 0, 1, 2]);
});

// ---- comparison and logic ----

test('comparisons give bool and compare int64 exactly', (t) => {
  exact(t, run('Equal', [str([2], ['a', 'b']), str([2], ['a', 'c'])]), 'bool', [2], [1, 0]);
  exact(t, run('Equal', [f32([2], [NaN, 1]), f32([2], [NaN, 1])]), 'bool', [2], [0, 1]);
  exact(t, run('Greater', [i64([1], [9007199254740993n]), i64([1], [9007199254740992n])]), 'bool', [1], [1]);
  const a = f32([3], [1, 2, 3]);
  const b = f32([1], [2]);
  exact(t, run('Less', [a, b]), 'bool', [3], [1, 0, 0]);
  exact(t, run('LessOrEqual', [a, b]), 'bool', [3], [1, 1, 0]);
  exact(t, run('GreaterOrEqual', [a, b]), 'bool', [3], [0, 1, 1]);
});

test('logic ops on bool', (t) => {
  const a = bool([4], [0, 0, 1, 1]);
  const b = bool([4], [0, 1, 0, 1]);
  exact(t, run('And', [a, b]), 'bool', [4], [0, 0, 0, 1]);
  exact(t, run('Or', [a, b]), 'bool', [4], [0, 1, 1, 1]);
  exact(t, run('Xor', [a, b]), 'bool', [4], [0, 1, 1, 0]);
  exact(t, run('Not', [a]), 'bool', [4], [1, 1, 0, 0]);
  t.throws(() => run('And', [f32([1], [1]), f32([1], [1])]), { instanceOf: KernelError });
});

// ---- selection ----

test('Where picks from X or Y, any dtype', (t) => {
  const c = bool([2, 2], [1, 0, 1, 1]);
  near(t, run('Where', [c, f32([2, 2], [1, 2, 3, 4]), f32([2, 2], [9, 8, 7, 6])]), 'float32', [2, 2], [1, 8, 3, 4]);
  exact(t, run('Where', [bool([2], [0, 1]), str([1], ['x']), str([2], ['y', 'z'])]), 'string', [2], ['y', 'x']);
});

test('Clip bounds are attributes before opset 11 and optional inputs after', (t) => {
  const x = f32([3], [-2, 0, 2]);
  near(t, run('Clip', [x], { min: -1, max: 1 }, 6), 'float32', [3], [-1, 0, 1]);
  near(t, run('Clip', [x], {}, 6), 'float32', [3], [-2, 0, 2]);
  near(t, run('Clip', [x, f32([], [-1]), f32([], [1])], {}, 13), 'float32', [3], [-1, 0, 1]);
  near(t, run('Clip', [x, undefined, f32([], [1])], {}, 13), 'float32', [3], [-2, 0, 1]);
  near(t, run('Clip', [x, f32([], [2]), f32([], [1])], {}, 13), 'float32', [3], [1, 1, 1]);
  exact(t, run('Clip', [typed('int8', [3], new Int8Array([-100, 0, 100])), typed('int8', [], new Int8Array([-5]))], {}, 13), 'int8', [3], [-5, 0, 100]);
  t.throws(() => run('Clip', [x, f32([2], [0, 1])], {}, 13), { message: /scalar/ });
});

// ---- Cast ----

test('Cast between numeric dtypes truncates, wraps and rounds', (t) => {
  exact(t, run('Cast', [f32([2], [1.9, -1.9])], { to: 6 }), 'int32', [2], [1, -1]);
  exact(t, run('Cast', [f32([2], [300, -1])], { to: 2 }), 'uint8', [2], [44, 255]);
  exact(t, run('Cast', [f32([3], [0, 0.5, NaN])], { to: 9 }), 'bool', [3], [0, 1, 1]);
  exact(t, run('Cast', [i64([1], [9007199254740993n])], { to: 11 }), 'float64', [1], [9007199254740992]);
  exact(t, run('Cast', [f32([2], [1, 65520])], { to: 10 }), 'float16', [2], [0x3c00, 0x7c00]);
  exact(t, run('Cast', [bool([2], [1, 0])], { to: 7 }), 'int64', [2], [1n, 0n]);
  exact(t, run('Cast', [bool([2], [1, 0])], { to: 'int16' }), 'int16', [2], [1, 0]);
});

test('Cast to and from strings', (t) => {
  exact(t, run('Cast', [f32([4], [0.1, NaN, Infinity, -Infinity])], { to: 8 }), 'string', [4], ['0.1', 'NaN', 'INF', '-INF']);
  near(t, run('Cast', [str([5], ['1.5', 'INF', '+INF', '-INF', 'NaN'])], { to: 1 }), 'float32', [5], [1.5, Infinity, Infinity, -Infinity, NaN]);
  exact(t, run('Cast', [str([1], ['-9007199254740993'])], { to: 7 }), 'int64', [1], [-9007199254740993n]);
  t.throws(() => run('Cast', [str([1], ['abc'])], { to: 1 }), { message: /cannot parse 'abc'/ });
  t.throws(() => run('Cast', [f32([1], [1])], { to: 17 }), { message: /unsupported Cast target 'to' = 17/ });
  t.throws(() => run('Cast', [f32([1], [1])], { to: 'float8' }), { message: /unsupported Cast target/ });
});
