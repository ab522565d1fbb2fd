// The sampler: greedy = argmax, topK = 1 = greedy, seeded determinism, top-p mass, temperature.
import test from 'ava';
import { argmax, createRng, createSampler, softmax } from '../../../runtime/generate/sampler.ts';
import { randomNormal } from '../../helpers/onnx-builder.ts';

const logits = randomNormal(512, 2, 11);

function histogram(sample: (l: Float32Array) => number, l: Float32Array, n: number): Float64Array {
  const h = new Float64Array(l.length);
  for (let i = 0; i < n; i++) h[sample(l)]! += 1 / n;
  return h;
}

test('greedy (temperature 0, the default) is argmax; ties go to the lowest index', (t) => {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  t.is(createSampler()(logits), best);
  t.is(createSampler({ temperature: 0, topK: 50, topP: 0.5, seed: 3 })(logits), best);
  t.is(argmax(Float32Array.of(1, 3, 3, -Infinity)), 1);
  t.throws(() => argmax(Float32Array.of(1, NaN)), { message: /NaN/ });
  t.throws(() => createSampler({ temperature: 1 })(Float32Array.of(-Infinity, -Infinity)), { message: /-Infinity/ });
});

test('topK = 1 is greedy at any temperature', (t) => {
  const s = createSampler({ temperature: 5, topK: 1, seed: 1 });
  for (let i = 0; i < 20; i++) t.is(s(logits), argmax(logits));
});

test('the same seed gives the same tokens; another seed other tokens', (t) => {
  const draw = (seed: number) => {
    const s = createSampler({ temperature: 1.5, topK: 100, topP: 0.95, seed });
    return Array.from({ length: 50 }, () => s(logits));
  };
  t.deepEqual(draw(42), draw(42));
  t.notDeepEqual(draw(42), draw(43));
  const r = createRng(7);
  const values = Array.from({ length: 1000 }, r);
  t.true(values.every((v) => v >= 0 && v < 1));
  t.true(Math.abs(values.reduce((a, b) => a + b, 0) / 1000 - 0.5) < 0.05);
});

test('sampling at temperature 1 follows the softmax', (t) => {
  const small = Float32Array.of(0, 1, 2, -1);
  const p = softmax(small);
  const h = histogram(createSampler({ temperature: 1, seed: 5 }), small, 40000);
  for (let i = 0; i < 4; i++) t.true(Math.abs(h[i]! - p[i]!) < 0.01, `token ${i}: ${h[i]} vs ${p[i]}`);
});

test('temperature sharpens (low) and flattens (high) the distribution', (t) => {
  const small = Float32Array.of(0, 1, 2, -1);
  const cold = histogram(createSampler({ temperature: 0.25, seed: 9 }), small, 20000);
  const hot = histogram(createSampler({ temperature: 4, seed: 9 }), small, 20000);
  const pCold = softmax(small, 0.25);
  const pHot = softmax(small, 4);
  for (let i = 0; i < 4; i++) {
    t.true(Math.abs(cold[i]! - pCold[i]!) < 0.015);
    t.true(Math.abs(hot[i]! - pHot[i]!) < 0.015);
  }
  t.true(cold[2]! > 0.95);
  t.true(hot[3]! > 0.1);
});

test('topK keeps the k most likely tokens', (t) => {
  const h = histogram(createSampler({ temperature: 3, topK: 5, seed: 2 }), logits, 5000);
  const top5 = [...logits.keys()].sort((a, b) => logits[b]! - logits[a]!).slice(0, 5);
  const seen = [...h.keys()].filter((i) => h[i]! > 0);
  t.true(seen.every((i) => top5.includes(i)));
  t.is(seen.length, 5);
});

test('topP keeps the smallest most-likely set holding p of the mass, renormalised', (t) => {
  // probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625
  const l = Float32Array.from([0.5, 0.25, 0.125, 0.0625, 0.0625], Math.log);
  const h = histogram(createSampler({ temperature: 1, topP: 0.8, seed: 4 }), l, 30000);
  // 0.5 + 0.25 = 0.75 < 0.8 → the third token is needed; renormalised over 0.875
  t.true(Math.abs(h[0]! - 0.5 / 0.875) < 0.01);
  t.true(Math.abs(h[1]! - 0.25 / 0.875) < 0.01);
  t.true(Math.abs(h[2]! - 0.125 / 0.875) < 0.01);
  t.is(h[3], 0);
  t.is(h[4], 0);
  // a tiny p keeps only the most likely token
  const g = createSampler({ temperature: 2, topP: 1e-6, seed: 4 });
  for (let i = 0; i < 20; i++) t.is(g(logits), argmax(logits));
});

test('softmax is stable for huge logits and bad options are rejected', (t) => {
  const p = softmax(Float32Array.of(1e30, 1e30 - 1e24, -1e30));
  t.true(p.every((x) => Number.isFinite(x)));
  t.true(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  const s = createSampler({ temperature: 1, seed: 1 });
  t.true([0, 1].includes(s(Float32Array.of(3e38, 3e38, -Infinity))));
  t.throws(() => createSampler({ temperature: -1 }), { instanceOf: RangeError });
  t.throws(() => createSampler({ topP: 0 }), { instanceOf: RangeError });
  t.throws(() => createSampler({ topK: 1.5 }), { instanceOf: RangeError });
});
