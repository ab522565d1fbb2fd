// fp32 MatMul WASM-SIMD kernels against the reference MatMul kernel.
import test from 'ava';
import { tensor } from '../../../../formats/tensor.ts';
import { addBatchedMatMul, addMatMulConstB } from '../../../../compiler/codegen/wasm/matmul.ts';
import { instantiateKernels } from '../../../helpers/wasm.ts';
import type { KernelInstance } from '../../../helpers/wasm.ts';
import { runKernel } from '../../../helpers/kernels.ts';
import { randomNormal } from '../../../helpers/onnx-builder.ts';

const instantiate = instantiateKernels;

const FIRST = 1024; // first address instantiateKernels' alloc hands out
const align16 = (n: number) => Math.ceil(n / 16) * 16;
const SENTINEL = 12345.5;

/** Reference y[m, n] = a[m, k] · b[k, n] (float64 accumulation, rounded to float32). */
function reference(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
  const [y] = runKernel('MatMul', [tensor('float32', [m, k], a), tensor('float32', [k, n], b)]);
  return y!.data as Float32Array;
}

function relErr(got: Float32Array, want: ArrayLike<number>): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return scale === 0 ? err : err / scale;
}

const DIMS = [1, 3, 4, 5, 8, 13, 16, 31, 64, 172];
const ROW_COUNTS = [1, 2, 3, 7, 64, 1000];

async function checkConstB(t: import('ava').ExecutionContext, k: number, n: number, withBias: boolean, rowCounts: number[]): Promise<void> {
  const seed = k * 1000 + n;
  const bPtr = FIRST;
  const biasPtr = bPtr + align16(k * n * 4);
  const maxRows = Math.max(...rowCounts);
  const bytes = biasPtr + align16(n * 4) + align16(maxRows * k * 4) + align16((maxRows * n + 8) * 4) + 1024;
  const inst: KernelInstance = await instantiate((mod) => {
    addMatMulConstB(mod, 'mm', withBias ? { k, n, b: bPtr, bias: biasPtr } : { k, n, b: bPtr });
  }, bytes);
  const B = randomNormal(k * n, 1, seed);
  const bias = randomNormal(n, 1, seed + 1);
  t.is(inst.alloc(k * n * 4), bPtr);
  t.is(inst.alloc(n * 4), biasPtr);
  inst.writeF32(bPtr, B);
  inst.writeF32(biasPtr, bias);
  const aPtr = inst.alloc(maxRows * k * 4);
  const yPtr = inst.alloc((maxRows * n + 8) * 4);
  for (const rows of rowCounts) {
    const a = randomNormal(rows * k, 1, seed + rows);
    inst.writeF32(aPtr, a);
    inst.writeF32(yPtr, new Float32Array(maxRows * n + 8).fill(SENTINEL));
    inst.exports.mm!(aPtr, yPtr, rows);
    const want = Float64Array.from(reference(a, B, rows, k, n));
    if (withBias) for (let i = 0; i < want.length; i++) want[i]! += bias[i % n]!;
    const got = inst.readF32(yPtr, rows * n + 8);
    const err = relErr(got.subarray(0, rows * n), want);
    t.true(err <= 1e-5, `k=${k} n=${n} rows=${rows} bias=${withBias}: relative error ${err}`);
    t.true(got.subarray(rows * n).every((v) => v === SENTINEL), `k=${k} n=${n} rows=${rows}: wrote past y`);
  }
}

for (const k of DIMS) {
  test(`addMatMulConstB k=${k}, n ∈ {${DIMS.join(', ')}}, rows ∈ {${ROW_COUNTS.join(', ')}}`, async (t) => {
    for (const n of DIMS) await checkConstB(t, k, n, (k + n) % 2 === 0, ROW_COUNTS);
  });
}

test('addMatMulConstB with long k (k > 256), with and without bias', async (t) => {
  for (const [k, n] of [[300, 13], [513, 64], [600, 7], [1024, 33]] as const) {
    await checkConstB(t, k, n, true, [1, 5, 12]);
    await checkConstB(t, k, n, false, [2, 8]);
  }
});

test('addMatMulConstB rows = 0 writes nothing', async (t) => {
  const inst = await instantiate((mod) => addMatMulConstB(mod, 'mm', { k: 5, n: 6, b: FIRST }), 1 << 16);
  const b = inst.alloc(5 * 6 * 4);
  const a = inst.alloc(64);
  const y = inst.alloc(64);
  t.is(b, FIRST);
  inst.writeF32(y, new Float32Array(16).fill(SENTINEL));
  inst.exports.mm!(a, y, 0);
  t.true(inst.readF32(y, 16).every((v) => v === SENTINEL));
});

test('addBatchedMatMul against per-batch reference products, broadcast and padded strides', async (t) => {
  const shapes: [number, number, number][] = [
    [1, 1, 1], [1, 8, 1], [1, 8, 37], [1, 64, 9], [2, 3, 5], [3, 1, 5], [4, 4, 4], [5, 8, 12],
    [7, 13, 9], [8, 8, 8], [9, 33, 70], [16, 64, 16], [13, 31, 3], [6, 2, 31], [17, 8, 17],
  ];
  const bytes = 48 << 20;
  const inst = await instantiate((mod) => addBatchedMatMul(mod, 'bmm'), bytes);
  let seed = 7;
  for (const batch of [1, 3, 40]) {
    for (const [m, k, n] of shapes) {
      for (const mode of ['contiguous', 'aBroadcast', 'bBroadcast', 'padded'] as const) {
        const aStride = mode === 'aBroadcast' ? 0 : mode === 'padded' ? m * k + 3 : m * k;
        const bStride = mode === 'bBroadcast' ? 0 : mode === 'padded' ? k * n + 1 : k * n;
        const aLen = Math.max(aStride * (batch - 1), 0) + m * k;
        const bLen = Math.max(bStride * (batch - 1), 0) + k * n;
        const aData = randomNormal(aLen, 1, seed++);
        const bData = randomNormal(bLen, 1, seed++);
        const aPtr = inst.alloc(aLen * 4);
        const bPtr = inst.alloc(bLen * 4);
        const yPtr = inst.alloc((batch * m * n + 8) * 4);
        inst.writeF32(aPtr, aData);
        inst.writeF32(bPtr, bData);
        inst.writeF32(yPtr, new Float32Array(batch * m * n + 8).fill(SENTINEL));
        inst.exports.bmm!(aPtr, bPtr, yPtr, batch, m, k, n, aStride, bStride);
        const got = inst.readF32(yPtr, batch * m * n + 8);
        let err = 0;
        for (let i = 0; i < batch; i++) {
          const want = reference(aData.subarray(i * aStride, i * aStride + m * k), bData.subarray(i * bStride, i * bStride + k * n), m, k, n);
          err = Math.max(err, relErr(got.subarray(i * m * n, (i + 1) * m * n), want));
        }
        t.true(err <= 1e-5, `batch=${batch} m=${m} k=${k} n=${n} ${mode}: relative error ${err}`);
        t.true(got.subarray(batch * m * n).every((v) => v === SENTINEL), `batch=${batch} m=${m} k=${k} n=${n} ${mode}: wrote past y`);
      }
    }
    // reuse the memory for the next batch size
    (inst as { alloc: (n: number) => number }).alloc = ((next) => (n: number) => { const p = next; next += align16(n); return p; })(FIRST);
  }
});

test('addBatchedMatMul with an empty dimension', async (t) => {
  const inst = await instantiate((mod) => addBatchedMatMul(mod, 'bmm'), 1 << 16);
  const y = inst.alloc(64);
  inst.writeF32(y, new Float32Array(16).fill(SENTINEL));
  inst.exports.bmm!(y, y, y, 2, 2, 0, 3, 0, 0);
  const got = inst.readF32(y, 16);
  t.deepEqual(Array.from(got.subarray(0, 12)), new Array(12).fill(0));
  t.true(got.subarray(12).every((v) => v === SENTINEL));
  inst.writeF32(y, new Float32Array(16).fill(SENTINEL));
  inst.exports.bmm!(y, y, y, 0, 2, 3, 3, 0, 0);
  inst.exports.bmm!(y, y, y, 2, 0, 3, 3, 0, 0);
  inst.exports.bmm!(y, y, y, 2, 2, 3, 0, 0, 0);
  t.true(inst.readF32(y, 16).every((v) => v === SENTINEL));
});

test('generated kernels use SIMD and are loops, not unrolled', async (t) => {
  const inst = await instantiate((mod) => {
    addMatMulConstB(mod, 'mm', { k: 4096, n: 4096, b: FIRST, bias: FIRST });
    addBatchedMatMul(mod, 'bmm');
  }, 1 << 16);
  t.regex(inst.text, /f32x4\.mul/);
  t.true(inst.text.length < 200_000, `module text is ${inst.text.length} characters`);
});
