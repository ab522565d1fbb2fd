// The WASM-SIMD element-wise kernels against the reference kernels (runtime/kernels/): every broadcasting
// mode of the binary ops, odd sizes, in-place calls, and exp/sigmoid/tanh/silu at extreme inputs.
import test from 'ava';
import { tensor } from '../../../../formats/tensor.ts';
import { addBinary, addUnary, BINARY_OPS, UNARY_OPS } from '../../../../compiler/codegen/wasm/elementwise.ts';
import type { UnaryOp } from '../../../../compiler/codegen/wasm/elementwise.ts';
import { runKernel } from '../../../helpers/kernels.ts';
import { randomUniform as uniform } from '../../../helpers/onnx-builder.ts';
import { firstMismatch } from '../../../helpers/compare.ts';
import { instantiateKernels } from '../../../helpers/wasm.ts';
import type { KernelInstance } from '../../../helpers/wasm.ts';


const MEMORY = 8 * 1024 * 1024;

let kernels: Promise<KernelInstance> | undefined;
function instance(): Promise<KernelInstance> {
  kernels ??= instantiateKernels((mod) => {
    for (const op of BINARY_OPS) addBinary(mod, `bin_${op}`, op);
    for (const op of UNARY_OPS) addUnary(mod, `un_${op}`, op);
  }, MEMORY);
  return kernels;
}

/** Runs `fn` with fresh bump allocations (the memory is reused between calls). */
async function withMemory<T>(fn: (k: KernelInstance, alloc: (floats: number) => number) => T): Promise<T> {
  const k = await instance();
  let next = 1024;
  const alloc = (floats: number): number => { const p = next; next += Math.ceil((floats * 4) / 16) * 16 + 16; if (next > MEMORY) throw new Error('too big'); return p; };
  return fn(k, alloc);
}


// ======================================================================================================
// Binary
// ======================================================================================================

interface BroadcastCase {
  name: string;
  aDims: number[];
  bDims: number[];
  /** [repeat, period] of a and b against the output. */
  a: [number, number];
  b: [number, number];
}

const sizeOf = (dims: readonly number[]): number => dims.reduce((p, d) => p * d, 1);

const CASES: BroadcastCase[] = [
  ...[1, 3, 4, 7, 8, 16, 17, 33, 100003].map((n): BroadcastCase => ({ name: `same [${n}]`, aDims: [n], bDims: [n], a: [1, n], b: [1, n] })),
  ...[1, 5, 16, 1027].map((n): BroadcastCase => ({ name: `[${n}] op scalar`, aDims: [n], bDims: [], a: [1, n], b: [1, 1] })),
  ...[1, 6, 16, 1027].map((n): BroadcastCase => ({ name: `scalar op [${n}]`, aDims: [], bDims: [n], a: [1, 1], b: [1, n] })),
  ...[[3, 4], [5, 8], [2, 16], [7, 5], [4, 3], [3, 1], [9, 12], [1, 8]].flatMap(([r, d]): BroadcastCase[] => [
    { name: `[${r},${d}] op [${d}]`, aDims: [r!, d!], bDims: [d!], a: [1, r! * d!], b: [1, d!] },
    { name: `[${d}] op [${r},${d}]`, aDims: [d!], bDims: [r!, d!], a: [1, d!], b: [1, r! * d!] },
    { name: `[${r},${d}] op [${r},1]`, aDims: [r!, d!], bDims: [r!, 1], a: [1, r! * d!], b: [d!, r!] },
    { name: `[${r},1] op [${r},${d}]`, aDims: [r!, 1], bDims: [r!, d!], a: [d!, r!], b: [1, r! * d!] },
    { name: `[${r},1] op [${d}] (outer)`, aDims: [r!, 1], bDims: [d!], a: [d!, r!], b: [1, d!] },
    { name: `[2,${r},${d}] op [${r},1] (repeat wraps)`, aDims: [2, r!, d!], bDims: [r!, 1], a: [1, 2 * r! * d!], b: [d!, r!] },
    { name: `[${r},2,${d}] op [2,1] (repeated & periodic)`, aDims: [r!, 2, d!], bDims: [2, 1], a: [1, 2 * r! * d!], b: [d!, 2] },
  ]),
];

function outDims(c: BroadcastCase): number[] {
  const rank = Math.max(c.aDims.length, c.bDims.length);
  const pad = (d: number[]) => [...Array<number>(rank - d.length).fill(1), ...d];
  const a = pad(c.aDims);
  const b = pad(c.bDims);
  return a.map((x, i) => Math.max(x, b[i]!));
}

for (const op of BINARY_OPS) {
  test(`${op}: every broadcasting mode matches the reference kernel exactly`, async (t) => {
    await withMemory((k, alloc) => {
      let seed = 1;
      for (const c of CASES) {
        const dims = outDims(c);
        const n = sizeOf(dims);
        const av = uniform(sizeOf(c.aDims), -4, 4, seed++);
        const bv = uniform(sizeOf(c.bDims), op === 'Div' ? 0.5 : -4, 4, seed++);
        const expected = runKernel(op, [tensor('float32', c.aDims, av), tensor('float32', c.bDims, bv)])[0]!;
        t.deepEqual(expected.dims, dims, c.name);
        const pa = alloc(av.length);
        const pb = alloc(bv.length);
        const py = alloc(n);
        k.writeF32(pa, av);
        k.writeF32(pb, bv);
        k.exports[`bin_${op}`]!(pa, c.a[0], c.a[1], pb, c.b[0], c.b[1], py, n);
        t.is(firstMismatch(k.readF32(py, n), expected.data as Float32Array, 0, 0), undefined, `${op} ${c.name}`);
      }
    });
  });
}

test('binary ops accept repeat/period pairs equivalent to the common modes, and general ones', async (t) => {
  await withMemory((k, alloc) => {
    // a[floor(i / 3) % 5] (neither repeat nor period a multiple of 4) and b[floor(i / 8) % 3]; n = 101.
    const n = 101;
    const av = uniform(5, -2, 2, 11);
    const bv = uniform(3, -2, 2, 12);
    const pa = alloc(5); const pb = alloc(3); const py = alloc(n);
    k.writeF32(pa, av); k.writeF32(pb, bv);
    for (const [aRep, aPer, bRep, bPer] of [[3, 5, 8, 3], [1, 5, 4, 3], [12, 5, 1, 1], [100, 5, 200, 3], [4, 5, 1, 3]] as const) {
      k.exports.bin_Sub!(pa, aRep, aPer, pb, bRep, bPer, py, n);
      const expected = Array.from({ length: n }, (_, i) => Math.fround(av[Math.floor(i / aRep) % aPer]! - bv[Math.floor(i / bRep) % bPer]!));
      t.is(firstMismatch(k.readF32(py, n), expected, 0, 0), undefined, `${aRep},${aPer},${bRep},${bPer}`);
    }
  });
});

test('binary ops run in place (y = a, y = b) and do nothing for n = 0', async (t) => {
  await withMemory((k, alloc) => {
    for (const n of [1, 7, 64, 1001]) {
      const av = uniform(n, -3, 3, n);
      const bv = uniform(n, -3, 3, n + 1);
      const pa = alloc(n); const pb = alloc(n);
      const expected = Float32Array.from(av, (x, i) => x * bv[i]!);
      k.writeF32(pa, av); k.writeF32(pb, bv);
      k.exports.bin_Mul!(pa, 1, n, pb, 1, n, pa, n);
      t.is(firstMismatch(k.readF32(pa, n), expected, 0, 0), undefined, `y = a, n = ${n}`);
      k.writeF32(pa, av);
      k.exports.bin_Mul!(pa, 1, n, pb, 1, n, pb, n);
      t.is(firstMismatch(k.readF32(pb, n), expected, 0, 0), undefined, `y = b, n = ${n}`);
      // bias in place: y = a + w with w periodic
      const w = uniform(4, -1, 1, 99);
      const pw = alloc(4);
      k.writeF32(pw, w);
      k.writeF32(pa, av);
      k.exports.bin_Add!(pa, 1, n, pw, 1, 4, pa, n);
      t.is(firstMismatch(k.readF32(pa, n), Float32Array.from(av, (x, i) => x + w[i % 4]!), 0, 0), undefined, `bias in place, n = ${n}`);
    }
    const py = alloc(4);
    k.writeF32(py, [9, 9, 9, 9]);
    k.exports.bin_Add!(0, 1, 0, 0, 1, 0, py, 0);
    t.deepEqual(Array.from(k.readF32(py, 4)), [9, 9, 9, 9]);
  });
});

// ======================================================================================================
// Unary
// ======================================================================================================

const SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 100003];
const EXTREMES = [0, -0, 1e-8, -1e-8, 1e-30, -1e-30, 1e-45, 0.5, -0.5, 0.625, -0.625, 1, -1, 10, -10, 20, -20, 40, -40,
  80, -80, 87, -87, 88.5, -88.5, 88.72, 89, -95, -100, 100, -103, -104, -110, -200, 1e30, -1e30,
  Infinity, -Infinity, NaN, 3.4e38, -3.4e38];

const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/**
 * Expected values, and [rtol, atol]: exact for the IEEE ops, 1e-6 relative for the exp family. atol only
 * covers subnormal results (below 2^-126 a result carries fewer bits): 2 subnormal ulps for exp and sigmoid;
 * silu multiplies sigmoid's subnormal by x (|x| ≤ ~104 there), so its atol is ~2^-149 · 2 · 128.
 */
const SUBNORMAL_ULP = 2 ** -149;
function expectedUnary(op: UnaryOp, x: Float32Array): { values: ArrayLike<number>; rtol: number; atol: number } {
  const round = (f: (v: number) => number) => Float32Array.from(x, (v) => f(v));
  switch (op) {
    case 'Silu': return { values: round((v) => v * sigmoid(v)), rtol: 1e-6, atol: 256 * SUBNORMAL_ULP };
    case 'Square': return { values: round((v) => v * v), rtol: 0, atol: 0 };
    default: {
      const values = runKernel(op, [tensor('float32', [x.length], x)])[0]!.data as Float32Array;
      const approximate = op === 'Exp' || op === 'Sigmoid' || op === 'Tanh';
      return { values, rtol: approximate ? 1e-6 : 0, atol: approximate ? 2 * SUBNORMAL_ULP : 0 };
    }
  }
}

const RANGES: Partial<Record<UnaryOp, [number, number]>> = {
  Exp: [-88, 88], Sigmoid: [-30, 30], Tanh: [-12, 12], Silu: [-30, 30], Sqrt: [0, 1000], Reciprocal: [-10, 10],
};

for (const op of UNARY_OPS) {
  test(`${op}: random inputs of odd sizes and extreme values match the reference`, async (t) => {
    await withMemory((k, alloc) => {
      const [lo, hi] = RANGES[op] ?? [-50, 50];
      const inputs = [...SIZES.map((n) => uniform(n, lo, hi, n + 7)), uniform(4001, -1, 1, 3), Float32Array.from(EXTREMES),
        Float32Array.from({ length: 2001 }, (_, i) => (i - 1000) * 0.01)];
      for (const x of inputs) {
        const { values, rtol, atol } = expectedUnary(op, x);
        const px = alloc(x.length);
        const py = alloc(x.length + 4);
        k.writeF32(px, x);
        k.writeF32(py + x.length * 4, [7, 7, 7, 7]);
        k.exports[`un_${op}`]!(px, py, x.length);
        t.is(firstMismatch(k.readF32(py, x.length), values, rtol, atol), undefined, `${op} on ${x.length} inputs`);
        t.deepEqual(Array.from(k.readF32(py + x.length * 4, 4)), [7, 7, 7, 7], 'writes nothing past n');
        // in place
        k.exports[`un_${op}`]!(px, px, x.length);
        t.is(firstMismatch(k.readF32(px, x.length), values, rtol, atol), undefined, `${op} in place on ${x.length} inputs`);
      }
    });
  });
}

test('exp, sigmoid and tanh special values are exact', async (t) => {
  await withMemory((k, alloc) => {
    const x = [Infinity, -Infinity, NaN, 0, -0, 100, -200];
    const px = alloc(x.length);
    const py = alloc(x.length);
    const run = (op: UnaryOp) => { k.writeF32(px, x); k.exports[`un_${op}`]!(px, py, x.length); return Array.from(k.readF32(py, x.length)); };
    t.deepEqual(run('Exp'), [Infinity, 0, NaN, 1, 1, Infinity, 0]);
    t.deepEqual(run('Sigmoid'), [1, 0, NaN, 0.5, 0.5, 1, 0]);
    t.deepEqual(run('Tanh'), [1, -1, NaN, 0, -0, 1, -1]);
    t.deepEqual(run('Silu'), [Infinity, NaN, NaN, 0, -0, 100, -0]); // −Inf · 0, as x · sigmoid(x)
  });
});

test('exp is within 2 ulp over the whole finite range', async (t) => {
  await withMemory((k, alloc) => {
    const n = 200001;
    const x = Float32Array.from({ length: n }, (_, i) => -87 + (175 * i) / (n - 1));
    const px = alloc(n);
    const py = alloc(n);
    k.writeF32(px, x);
    k.exports.un_Exp!(px, py, n);
    const y = k.readF32(py, n);
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.exp(x[i]!);
      const ulp = 2 ** (Math.floor(Math.log2(e)) - 23);
      worst = Math.max(worst, Math.abs(y[i]! - e) / ulp);
    }
    t.log(`exp: worst error ${worst.toFixed(2)} ulp`);
    t.true(worst <= 2, `worst ${worst} ulp`);
  });
});
