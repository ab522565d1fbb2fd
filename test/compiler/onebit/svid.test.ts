import test from 'ava';
import { float16ToFloat32 } from '../../../formats/dtype.ts';
import { svid } from '../../../compiler/onebit/svid.ts';
import { dequantize } from '../../../compiler/onebit/dequantize.ts';
import { unpackSigns } from '../../../compiler/onebit/pack.ts';

// ---- an independent oracle: cyclic Jacobi eigen-decomposition of AᵀA in float64 ----

/** Eigenvalues and eigenvectors (columns of V, row-major n×n) of a symmetric n×n matrix. */
function jacobiEigen(input: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(input);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off < 1e-30 * (1 + a.reduce((s, x) => s + x * x, 0))) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const tan = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(tan * tan + 1);
        const s = tan * c;
        for (let k = 0; k < n; k++) { // A ← A J (columns p, q)
          const akp = a[k * n + p]!, akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) { // A ← Jᵀ A (rows p, q)
          const apk = a[p * n + k]!, aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!, vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i]!;
  return { values, vectors: v };
}

/** Leading singular triplet of A (out×in, float64) via Jacobi on AᵀA; vectors signed to sum ≥ 0. */
function leadingTriplet(a: ArrayLike<number>, out: number, inDim: number): { sigma: number; u: Float64Array; v: Float64Array } {
  const ata = new Float64Array(inDim * inDim);
  for (let i = 0; i < inDim; i++) {
    for (let j = 0; j < inDim; j++) {
      let s = 0;
      for (let o = 0; o < out; o++) s += a[o * inDim + i]! * a[o * inDim + j]!;
      ata[i * inDim + j] = s;
    }
  }
  const { values, vectors } = jacobiEigen(ata, inDim);
  let best = 0;
  for (let i = 1; i < inDim; i++) if (values[i]! > values[best]!) best = i;
  const sigma = Math.sqrt(Math.max(0, values[best]!));
  const v = new Float64Array(inDim);
  for (let i = 0; i < inDim; i++) v[i] = vectors[i * inDim + best]!;
  if (v.reduce((s, x) => s + x, 0) < 0) v.forEach((x, i) => { v[i] = -x; });
  const u = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = 0;
    for (let i = 0; i < inDim; i++) s += a[o * inDim + i]! * v[i]!;
    u[o] = sigma > 0 ? s / sigma : 0;
  }
  return { sigma, u, v };
}

function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

function randomMatrix(seed: number, out: number, inDim: number, scale = 1): Float32Array {
  const rand = random(seed);
  return Float32Array.from({ length: out * inDim }, () => scale * gaussian(rand));
}

const abs = (w: Float32Array): Float64Array => Float64Array.from(w, Math.abs);
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(a[k]! - b[k]!));
  return m;
};
function relativeError(w: Float32Array, approx: ArrayLike<number>): number {
  let e = 0, n = 0;
  for (let k = 0; k < w.length; k++) { e += (w[k]! - approx[k]!) ** 2; n += w[k]! ** 2; }
  return Math.sqrt(e / n);
}

// ---- tests ----

const SHAPES: [number, number][] = [[6, 1], [5, 3], [4, 7], [7, 9], [9, 13], [12, 100], [30, 8], [1, 17]];

test('leading singular value and vectors of |W| match an exact SVD (Jacobi) to 1e-6', (t) => {
  SHAPES.forEach(([out, inDim], k) => {
    const w = randomMatrix(100 + k, out, inDim);
    const r = svid(w, out, inDim);
    const exact = leadingTriplet(abs(w), out, inDim);
    t.true(r.converged, `[${out}, ${inDim}]`);
    t.true(Math.abs(r.sigma - exact.sigma) <= 1e-9 * exact.sigma, `σ [${out}, ${inDim}]: ${r.sigma} vs ${exact.sigma}`);
    t.true(maxDiff(r.u, exact.u) < 1e-6, `u [${out}, ${inDim}]`);
    t.true(maxDiff(r.v, exact.v) < 1e-6, `v [${out}, ${inDim}]`);
    t.true([...r.u, ...r.v].every((x) => x >= 0), 'vectors are nonnegative');
    t.true(Math.abs(r.relativeResidual - Math.sqrt(1 - exact.sigma ** 2 / w.reduce((s, x) => s + x * x, 0))) < 1e-6);
  });
});

test('h ⊗ g equals σ·u·vᵀ up to fp16 rounding', (t) => {
  SHAPES.forEach(([out, inDim], k) => {
    const w = randomMatrix(200 + k, out, inDim);
    const r = svid(w, out, inDim);
    const exact = leadingTriplet(abs(w), out, inDim);
    for (let o = 0; o < out; o++) {
      for (let i = 0; i < inDim; i++) {
        const want = exact.sigma * exact.u[o]! * exact.v[i]!;
        const got = float16ToFloat32(r.h[o]!) * float16ToFloat32(r.g[i]!);
        // two fp16 roundings (≤ 2^-11 relative each) plus the 1e-6 of the power iteration
        t.true(Math.abs(got - want) <= 2.01 * 2 ** -11 * want + 1e-6 * exact.sigma, `[${out}, ${inDim}] (${o}, ${i}): ${got} vs ${want}`);
      }
    }
  });
});

test('signs follow sign(W) with sign(0) = +1, for widths that are not multiples of 8', (t) => {
  for (const inDim of [1, 3, 7, 9, 13, 100]) {
    const out = 4;
    const w = randomMatrix(inDim, out, inDim);
    for (let k = 0; k < w.length; k += 3) w[k] = k % 2 ? 0 : -0;
    const r = svid(w, out, inDim);
    t.is(r.sign.length, out * Math.ceil(inDim / 8));
    t.deepEqual([...unpackSigns(r.sign, out, inDim)], [...w].map((x) => (x < 0 ? -1 : 1)), `in=${inDim}`);
  }
});

test('all-zero W gives g = h = 0, +1 signs and no NaN', (t) => {
  for (const [out, inDim] of [[3, 5], [16, 16], [1, 1]] as const) {
    const r = svid(new Float32Array(out * inDim), out, inDim);
    t.true(r.g.every((x) => x === 0) && r.h.every((x) => x === 0));
    t.true(r.sign.every((x) => x === 0));
    t.is(r.sigma, 0);
    t.is(r.relativeResidual, 0);
    t.true(r.converged);
    t.false([...r.u, ...r.v, r.balance].some(Number.isNaN));
  }
  const empty = svid(new Float32Array(0), 0, 4);
  t.is(empty.h.length, 0);
  t.is(empty.g.length, 4);
});

test('partially zero W: zero rows and columns get zero scales, the rest matches the exact SVD', (t) => {
  const out = 8, inDim = 11;
  const w = randomMatrix(7, out, inDim);
  for (let i = 0; i < inDim; i++) w[2 * inDim + i] = 0;   // row 2
  for (let o = 0; o < out; o++) w[o * inDim + 5] = 0;     // column 5
  for (let k = 0; k < w.length; k += 4) w[k] = 0;         // scattered zeros
  const r = svid(w, out, inDim);
  const exact = leadingTriplet(abs(w), out, inDim);
  t.is(r.h[2], 0);
  t.is(r.g[5], 0);
  t.true(Math.abs(r.sigma - exact.sigma) <= 1e-9 * exact.sigma);
  t.true(maxDiff(r.u, exact.u) < 1e-6 && maxDiff(r.v, exact.v) < 1e-6);
  const wHat = dequantize(r.sign, r.g, r.h, out, inDim);
  t.false(wHat.some(Number.isNaN));
  for (let i = 0; i < inDim; i++) t.is(wHat[2 * inDim + i], 0);
});

test('deterministic: the same W gives the same bytes', (t) => {
  const w = randomMatrix(42, 33, 70);
  const a = svid(w, 33, 70);
  const b = svid(Float32Array.from(w), 33, 70);
  t.deepEqual(a.sign, b.sign);
  t.deepEqual(a.g, b.g);
  t.deepEqual(a.h, b.h);
  t.is(a.iterations, b.iterations);
});

test('balancing keeps g and h inside fp16 range for tiny (1e-6) and huge (1e4) weights', (t) => {
  const out = 40, inDim = 24;
  const reference = svid(randomMatrix(9, out, inDim), out, inDim);
  const referenceError = relativeError(randomMatrix(9, out, inDim), dequantize(reference.sign, reference.g, reference.h, out, inDim));
  for (const scale of [1e-6, 1e4]) {
    const w = randomMatrix(9, out, inDim, scale);
    const r = svid(w, out, inDim);
    t.is(r.fp16Flushed, 0, `scale ${scale}`);
    t.is(r.fp16Saturated, 0, `scale ${scale}`);
    // every element is a normal fp16 number (exponent neither 0 nor 31)
    for (const word of [...r.g, ...r.h]) {
      const exponent = (word >> 10) & 0x1f;
      t.true(exponent > 0 && exponent < 31, `scale ${scale}: word 0x${word.toString(16)}`);
    }
    const error = relativeError(w, dequantize(r.sign, r.g, r.h, out, inDim));
    t.true(Math.abs(error - referenceError) < 1e-3, `scale ${scale}: ${error} vs ${referenceError}`);
  }
});

test('Proposition 2: sign(W) ⊙ abᵀ is no worse than the rank-1 SVD of W', (t) => {
  for (let k = 0; k < 20; k++) {
    const out = 3 + (k % 7), inDim = 2 + ((k * 5) % 11);
    const w = randomMatrix(300 + k, out, inDim);
    if (k % 3 === 0) for (let j = 0; j < w.length; j++) w[j] = w[j]! + 0.7; // a shared mean: W itself near rank 1
    const r = svid(w, out, inDim);
    const rank1 = leadingTriplet(w, out, inDim);
    const svdError = relativeError(w, Float64Array.from({ length: out * inDim }, (_, j) =>
      rank1.sigma * rank1.u[Math.floor(j / inDim)]! * rank1.v[j % inDim]!));
    t.true(r.relativeResidual <= svdError + 1e-12, `exact: ${r.relativeResidual} vs ${svdError}`);
    const svidError = relativeError(w, dequantize(r.sign, r.g, r.h, out, inDim));
    t.true(svidError <= svdError + 2e-3, `fp16: ${svidError} vs ${svdError}`);
  }
});

test('SVID beats the naive sign·mean|W| baseline on matrices with row and column scales', (t) => {
  for (let k = 0; k < 5; k++) {
    const out = 64, inDim = 48 + k;
    const rand = random(500 + k);
    const rowScale = Array.from({ length: out }, () => Math.exp(2 * gaussian(rand)));
    const colScale = Array.from({ length: inDim }, () => Math.exp(gaussian(rand)));
    const w = Float32Array.from({ length: out * inDim }, (_, j) =>
      gaussian(rand) * rowScale[Math.floor(j / inDim)]! * colScale[j % inDim]!);
    const r = svid(w, out, inDim);
    const svidError = relativeError(w, dequantize(r.sign, r.g, r.h, out, inDim));
    const mean = w.reduce((s, x) => s + Math.abs(x), 0) / w.length;
    const naiveError = relativeError(w, Float64Array.from(w, (x) => (x < 0 ? -mean : mean)));
    t.true(svidError < 0.8 * naiveError, `${svidError} vs naive ${naiveError}`);
  }
});

test('reports progress, honours the iteration cap and rejects bad input', (t) => {
  const w = randomMatrix(1, 10, 10);
  const seen: number[] = [];
  const r = svid(w, 10, 10, { maxIterations: 1, tolerance: 0, onProgress: (p) => seen.push(p.iteration) });
  t.deepEqual(seen, [1]);
  t.false(r.converged);
  t.is(r.iterations, 1);
  t.throws(() => svid(new Float32Array(5), 2, 3), { message: /expected out·in/ });
  t.throws(() => svid(Float32Array.of(1, NaN), 1, 2), { message: /NaN or Infinity/ });
});
