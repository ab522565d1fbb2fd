import test from 'ava';
import { learningRate } from '../../compiler/train/schedule.ts';

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-15 + 1e-12 * Math.abs(b);

test('warm-up rises linearly from lr/warmup to lr', (t) => {
  const o = { lr: 4e-3, warmupSteps: 4, totalSteps: 12 };
  t.deepEqual([0, 1, 2, 3].map((s) => learningRate(s, o)), [1e-3, 2e-3, 3e-3, 4e-3]);
});

test('cosine decay: hand-computed points from lr to minLr', (t) => {
  // warmup 4, total 12: p = (s − 4)/8; lr(s) = 1e-4 + (1e-3 − 1e-4)·(1 + cos πp)/2
  const o = { lr: 1e-3, warmupSteps: 4, totalSteps: 12, minLr: 1e-4 };
  const expected: [number, number][] = [
    [4, 1e-3], // p = 0
    [6, 1e-4 + 9e-4 * (1 + Math.SQRT1_2) / 2], // p = 1/4: cos = √½ → 8.6820e-4
    [8, 5.5e-4], // p = 1/2: halfway
    [10, 1e-4 + 9e-4 * (1 - Math.SQRT1_2) / 2], // p = 3/4 → 2.3180e-4
    [12, 1e-4], [13, 1e-4], [1000, 1e-4], // the floor at totalSteps and after
  ];
  for (const [s, lr] of expected) t.true(close(learningRate(s, o), lr), `step ${s}: ${learningRate(s, o)} vs ${lr}`);
  t.true(close(learningRate(6, o), 8.681980515339e-4));
});

test('no warm-up starts at lr; minLr defaults to 0; decay is monotone', (t) => {
  const o = { lr: 2e-3, warmupSteps: 0, totalSteps: 100 };
  t.is(learningRate(0, o), 2e-3);
  t.true(close(learningRate(50, o), 1e-3));
  t.is(learningRate(100, o), 0);
  for (let s = 1; s <= 100; s++) t.true(learningRate(s, o) < learningRate(s - 1, o));
});

test('bad arguments are refused with the argument named', (t) => {
  const o = { lr: 1, warmupSteps: 10, totalSteps: 100 };
  t.throws(() => learningRate(-1, o), { message: /step must be/ });
  t.throws(() => learningRate(1.5, o), { message: /step must be/ });
  t.throws(() => learningRate(0, { ...o, totalSteps: 5 }), { message: /totalSteps must be .*>= warmupSteps \(10\)/ });
  t.throws(() => learningRate(0, { ...o, warmupSteps: -1 }), { message: /warmupSteps/ });
});
