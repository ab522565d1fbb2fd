// The straight-through estimators against their definitions in float64: the tanh surrogate 1.001 − tanh²(w)
// (computed as 0.001 + 4/(eʷ + e⁻ʷ)², also for weights where eʷ overflows) and the clipped identity.
import test from 'ava';
import { applySte } from '../../compiler/train/autodiff/ste.ts';

const surrogate = (w: number): number => 1.001 - Math.tanh(w) ** 2;

/** Latent weights over the range training sees and beyond: around 0, ±1, large, signed zeros. */
function weights(n: number): Float32Array {
  const special = [0, -0, 1e-30, -1e-30, 1e-3, 0.5, -0.5, 1, -1, 3, -3, 9, -9, 20, -20, 100, -100, 1e30, -1e30];
  return Float32Array.from({ length: n }, (_, i) => (i < special.length ? special[i]! : Math.sin(i * 12.9898) * 4 * Math.cos(i * 0.37)));
}

for (const n of [7, 4100]) {
  test(`tanh STE on ${n} float32 weights matches 1.001 − tanh²(w) in float64`, (t) => {
    const w = weights(n);
    const dw = Float32Array.from({ length: n }, (_, i) => (i % 3) - 1.25);
    const before = dw.slice();
    applySte('tanh', w, dw);
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const want = before[i]! * surrogate(w[i]!);
      worst = Math.max(worst, Math.abs(dw[i]! - want) / Math.abs(want));
    }
    t.log(`largest relative error ${worst.toExponential(2)}`);
    t.true(worst <= 2e-6);
  });
}

test('tanh STE in float64 matches the definition to rounding', (t) => {
  const w = Float64Array.from(weights(5000));
  const dw = new Float64Array(5000).fill(0.75);
  applySte('tanh', w, dw);
  for (let i = 0; i < w.length; i++) t.true(Math.abs(dw[i]! - 0.75 * surrogate(w[i]!)) <= 1e-15, `w = ${w[i]}`);
});

test('clip STE passes the gradient where |w| ≤ 1 and stops it elsewhere', (t) => {
  const w = Float32Array.from([0, -0.5, 1, -1, 1.0001, -3, 1e30]);
  const dw = new Float32Array(w.length).fill(2);
  applySte('clip', w, dw);
  t.deepEqual([...dw], [2, 2, 2, 2, 0, 0, 0]);
});
