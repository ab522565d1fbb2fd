// The WASM-SIMD last-axis kernels against the reference kernels (Softmax, ReduceMean, LayerNormalization,
// Gather) and, for RMSNorm, the HF formula in float64: odd widths, single rows, long rows, extreme rows.
import test from 'ava';
import { tensor } from '../../../../formats/tensor.ts';
import type { Tensor } from '../../../../formats/tensor.ts';
import {
  addGather, addLayerNorm, addReduceMeanLastAxis, addRmsNorm, addSoftmaxLastAxis,
} from '../../../../compiler/codegen/wasm/normalize.ts';
import type { Module } from '../../../../compiler/codegen/wasm/module.ts';
import { runKernel } from '../../../helpers/kernels.ts';
import { randomUniform as uniform, rng } from '../../../helpers/onnx-builder.ts';
import { firstMismatch } from '../../../helpers/compare.ts';
import { instantiateKernels } from '../../../helpers/wasm.ts';



const SHAPES: [number, number][] = [[1, 1], [1, 3], [2, 4], [3, 5], [4, 8], [5, 16], [4, 17], [7, 64], [2, 255], [1, 100003]];

// ======================================================================================================
// Softmax, ReduceMean (runtime rows × cols)
// ======================================================================================================

test('Softmax over the last axis matches the reference (max-subtracted, odd widths, long and extreme rows)', async (t) => {
  const k = await instantiateKernels((mod) => addSoftmaxLastAxis(mod, 'softmax'), 4 << 20);
  const check = (rows: number, cols: number, x: Float32Array, what: string) => {
    const px = k.alloc(x.length * 4);
    const py = k.alloc(x.length * 4 + 16);
    k.writeF32(px, x);
    k.writeF32(py + x.length * 4, [7, 7, 7, 7]);
    k.exports.softmax!(px, py, rows, cols);
    const expected = runKernel('Softmax', [tensor('float32', [rows, cols], x)], { axis: -1 })[0]!.data as Float32Array;
    t.is(firstMismatch(k.readF32(py, x.length), expected, 1e-5, 1e-37), undefined, what);
    t.deepEqual(Array.from(k.readF32(py + x.length * 4, 4)), [7, 7, 7, 7], `${what}: nothing written past the end`);
    // in place
    k.exports.softmax!(px, px, rows, cols);
    t.is(firstMismatch(k.readF32(px, x.length), expected, 1e-5, 1e-37), undefined, `${what} in place`);
  };
  let seed = 1;
  for (const [rows, cols] of SHAPES) check(rows, cols, uniform(rows * cols, -10, 10, seed++), `[${rows}, ${cols}]`);
  check(2, 6, Float32Array.of(1000, 999, 998, -1000, 0, 1e30, -1e30, -1e30, -1e30, -1e30, -1e30, -1e30), 'huge logits');
  check(1, 5, Float32Array.of(0, -Infinity, 1, -Infinity, 2), '-Inf logits (masked)');
  check(1, 9, Float32Array.of(3, 3, 3, 3, 3, 3, 3, 3, 3), 'uniform row');
  check(3, 0, new Float32Array(0), 'zero columns');
  check(0, 5, new Float32Array(0), 'zero rows');
});

test('ReduceMean over the last axis matches the reference', async (t) => {
  const k = await instantiateKernels((mod) => addReduceMeanLastAxis(mod, 'mean'), 4 << 20);
  let seed = 100;
  for (const [rows, cols] of [...SHAPES, [3, 1], [6, 4097]] as [number, number][]) {
    for (const [lo, hi] of [[-1, 1], [0.5, 2], [-100, 300]]) {
      const x = uniform(rows * cols, lo!, hi!, seed++);
      const px = k.alloc(x.length * 4);
      const py = k.alloc(rows * 4);
      k.writeF32(px, x);
      k.exports.mean!(px, py, rows, cols);
      const expected = runKernel('ReduceMean', [tensor('float32', [rows, cols], x)], { axes: [-1], keepdims: 1 })[0]!;
      t.deepEqual(expected.dims, [rows, 1]);
      // 1e-5 relative to the mean of |x| (a mean of mixed signs may cancel to near zero).
      const scale = Math.max(Math.abs(lo!), Math.abs(hi!));
      t.is(firstMismatch(k.readF32(py, rows), expected.data as Float32Array, 1e-5, 1e-5 * scale), undefined, `[${rows}, ${cols}] in [${lo}, ${hi}]`);
    }
  }
});

// ======================================================================================================
// RMSNorm, LayerNormalization (compile-time width)
// ======================================================================================================

const WIDTHS = [1, 3, 4, 5, 8, 17, 64, 127, 4096];

/**
 * Builds one kernel for `width`, its `paramCount` f32[width] tables placed (16-aligned) above the room the
 * test's bump allocations need (two [rows, width] arrays from offset 1024).
 */
async function withParams(width: number, build: (mod: Module, params: number[]) => void, paramCount: number, rows: number) {
  const stride = Math.ceil((width * 4) / 16) * 16;
  const base = 1024 + 2 * (Math.ceil((rows * width * 4) / 16) * 16) + 1024;
  const params = Array.from({ length: paramCount }, (_, i) => base + i * stride);
  const k = await instantiateKernels((mod) => build(mod, params), base + paramCount * stride);
  return { k, params };
}

test('RMSNorm matches x / sqrt(mean(x²) + eps) · weight computed in float64', async (t) => {
  let seed = 200;
  for (const width of WIDTHS) {
    for (const withWeight of [true, false]) {
      for (const eps of [1e-6, 1e-5]) {
        const rows = width > 1000 ? 2 : 5;
        const { k, params } = await withParams(width, (mod, p) => addRmsNorm(mod, 'rms', { width, eps, ...(withWeight ? { weight: p[0]! } : {}) }), withWeight ? 1 : 0, rows);
        const weight = uniform(width, -2, 2, seed++);
        if (withWeight) k.writeF32(params[0]!, weight);
        const x = uniform(rows * width, -3, 3, seed++);
        if (rows > 2) x.fill(0, width, 2 * width); // an all-zero row: 0 / sqrt(eps)
        const px = k.alloc(x.length * 4);
        const py = k.alloc(x.length * 4);
        k.writeF32(px, x);
        k.exports.rms!(px, py, rows);
        const expected = new Float64Array(x.length);
        for (let r = 0; r < rows; r++) {
          let ss = 0;
          for (let i = 0; i < width; i++) ss += x[r * width + i]! ** 2;
          const denom = Math.sqrt(ss / width + eps);
          for (let i = 0; i < width; i++) expected[r * width + i] = (x[r * width + i]! / denom) * (withWeight ? weight[i]! : 1);
        }
        const what = `width ${width}, ${withWeight ? 'weight' : 'no weight'}, eps ${eps}`;
        t.is(firstMismatch(k.readF32(py, x.length), expected, 1e-5, 1e-30), undefined, what);
        k.exports.rms!(px, px, rows);
        t.is(firstMismatch(k.readF32(px, x.length), expected, 1e-5, 1e-30), undefined, `${what}, in place`);
      }
    }
  }
});

test('LayerNorm matches the ONNX LayerNormalization reference (scale and bias optional)', async (t) => {
  let seed = 300;
  for (const width of WIDTHS) {
    for (const [withScale, withBias] of [[true, true], [true, false], [false, true], [false, false]] as const) {
      const rows = width > 1000 ? 2 : 4;
      const eps = 1e-5;
      const { k, params } = await withParams(width, (mod, p) => addLayerNorm(mod, 'ln', {
        width, eps, ...(withScale ? { scale: p[0]! } : {}), ...(withBias ? { bias: p[1]! } : {}),
      }), 2, rows);
      const scale = withScale ? uniform(width, -2, 2, seed++) : new Float32Array(width).fill(1);
      const bias = uniform(width, -1, 1, seed++);
      k.writeF32(params[0]!, scale);
      k.writeF32(params[1]!, bias);
      const x = uniform(rows * width, -3, 5, seed++);
      if (rows > 2) x.fill(2.5, width, 2 * width); // a constant row: variance 0
      const px = k.alloc(x.length * 4);
      const py = k.alloc(x.length * 4);
      k.writeF32(px, x);
      k.exports.ln!(px, py, rows);
      const inputs: Tensor[] = [tensor('float32', [rows, width], x), tensor('float32', [width], scale)];
      if (withBias) inputs.push(tensor('float32', [width], bias));
      const expected = runKernel('LayerNormalization', inputs, { axis: -1, epsilon: eps }, 17, 1)[0]!.data as Float32Array;
      const what = `width ${width}, scale ${withScale}, bias ${withBias}`;
      // |y| is O(1): 1e-5 relative plus 1e-5 absolute for outputs that cancel to near zero.
      t.is(firstMismatch(k.readF32(py, x.length), expected, 1e-5, 1e-5), undefined, what);
      k.exports.ln!(px, px, rows);
      t.is(firstMismatch(k.readF32(px, x.length), expected, 1e-5, 1e-5), undefined, `${what}, in place`);
    }
  }
});

// ======================================================================================================
// Gather
// ======================================================================================================

test('Gather copies rows by int64 index (negative from the end) and reports the first bad index', async (t) => {
  for (const [rows, width] of [[10, 5], [7, 8], [1, 1], [300, 33]] as [number, number][]) {
    const data = uniform(rows * width, -1, 1, rows * width);
    const dataPtr = 64 * 1024;
    const k = await instantiateKernels((mod) => addGather(mod, 'gather', { data: dataPtr, rows, width }), dataPtr + data.length * 4 + 4096);
    k.writeF32(dataPtr, data);
    const run = (indices: bigint[]) => {
      const pi = k.alloc(Math.max(1, indices.length) * 8);
      new BigInt64Array(k.memory.buffer, pi, indices.length).set(indices);
      const py = k.alloc(Math.max(1, indices.length) * width * 4 + 16);
      k.writeF32(py + indices.length * width * 4, [7, 7, 7, 7]);
      const status = (k.exports.gather as unknown as (...a: number[]) => number)(pi, py, indices.length);
      return { status, y: k.readF32(py, indices.length * width), after: Array.from(k.readF32(py + indices.length * width * 4, 4)) };
    };
    const r = rng(rows);
    const indices = [0n, BigInt(rows - 1), -1n, BigInt(-rows), ...Array.from({ length: 20 }, () => BigInt(Math.floor(r() * 2 * rows) - rows))];
    const { status, y, after } = run(indices);
    t.is(status, 0);
    const expected = runKernel('Gather', [tensor('float32', [rows, width], data), tensor('int64', [indices.length], BigInt64Array.from(indices))], { axis: 0 })[0]!;
    t.deepEqual(expected.dims, [indices.length, width]);
    t.deepEqual(Array.from(y), Array.from(expected.data as Float32Array), `[${rows}, ${width}]`);
    t.deepEqual(after, [7, 7, 7, 7], 'nothing written past the end');
    t.is(run([]).status, 0, 'count 0');
    t.is(run([0n, 1n % BigInt(rows), BigInt(rows)]).status, 3, 'index = rows');
    t.is(run([BigInt(-rows - 1), 0n]).status, 1, 'index < -rows');
    t.is(run([0n, 2n ** 40n]).status, 2, 'index beyond 32 bits');
    t.is(run([0n, -(2n ** 40n)]).status, 2, 'negative index beyond 32 bits');
    t.is(run([0n, -(2n ** 63n)]).status, 2, 'most negative int64');
  }
});
