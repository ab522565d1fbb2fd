import test from 'ava';
import { fitReport } from '../../../compiler/onebit/fit-report.ts';
import { svid } from '../../../compiler/onebit/svid.ts';
import { dequantize } from '../../../compiler/onebit/dequantize.ts';

function matrix(out: number, inDim: number, f: (o: number, i: number) => number): Float32Array {
  return Float32Array.from({ length: out * inDim }, (_, k) => f(Math.floor(k / inDim), k % inDim));
}
// a deterministic pseudo-random value in [-1, 1)
const noise = (o: number, i: number): number => ((Math.sin(o * 12.9898 + i * 78.233) * 43758.5453) % 1);

test('measures zeros, SVID and naive errors exactly', (t) => {
  const out = 64, inDim = 80;
  const w = matrix(out, inDim, (o, i) => ((o + i) % 5 === 0 ? 0 : noise(o, i) * (1 + o / 8) * (1 + i / 40)));
  const fit = svid(w, out, inDim);
  const report = fitReport(w, out, inDim, fit);
  const wHat = dequantize(fit.sign, fit.g, fit.h, out, inDim);
  let e = 0, n = 0, zeros = 0;
  for (let k = 0; k < w.length; k++) { e += (w[k]! - wHat[k]!) ** 2; n += w[k]! ** 2; if (w[k] === 0) zeros++; }
  t.true(Math.abs(report.svidRelativeError - Math.sqrt(e / n)) < 1e-9);
  t.is(report.zeroFraction, zeros / w.length);
  t.true(report.svidRelativeError < report.naiveRelativeError);
  t.false(report.tiny);
  t.false(report.spectrumEstimate.sampled);
  t.deepEqual(report.flags.map((f) => f.code), []);
});

test('flags tiny layers, many zeros and poor fits with reasons', (t) => {
  const small = fitReport(matrix(8, 8, noise), 8, 8);
  t.true(small.tiny);
  t.true(small.flags.some((f) => f.code === 'tiny' && /64 weights/.test(f.message)));

  const sparse = matrix(32, 256, (o, i) => ((o * 7 + i) % 3 === 0 ? noise(o, i) : 0));
  const r = fitReport(sparse, 32, 256);
  t.true(r.zeroFraction > 0.6);
  t.true(r.flags.some((f) => f.code === 'many-zeros' && /exactly 0/.test(f.message)));
  t.true(r.flags.some((f) => f.code === 'poor-fit'));
});

test('estimates σ1/σ2 and samples rows of big matrices', (t) => {
  const out = 300, inDim = 64;
  // rank-1 plus small noise: σ1/σ2 large
  const w = matrix(out, inDim, (o, i) => (1 + noise(o, 0)) * (1 + noise(0, i)) + 0.01 * noise(o, i));
  const report = fitReport(w, out, inDim, undefined, { spectrumSampleWeights: 100 * inDim });
  t.true(report.spectrumEstimate.sampled);
  t.is(report.spectrumEstimate.rowsUsed, 100);
  t.true(report.spectrumEstimate.ratio > 10);
  t.true(report.flags.some((f) => f.code === 'dominant-direction' && /on 100 of 300 rows/.test(f.message)));
  const zero = fitReport(new Float32Array(20 * 20), 20, 20);
  t.is(zero.svidRelativeError, 0);
  t.false(Number.isNaN(zero.zeroFraction));
});
