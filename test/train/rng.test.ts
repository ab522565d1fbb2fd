import test from 'ava';
import { Rng } from '../../compiler/train/rng.ts';

test('xoshiro128** from state [1, 2, 3, 4] gives the reference implementation outputs', (t) => {
  // The first outputs of the authors' xoshiro128starstar.c seeded with s = {1, 2, 3, 4}.
  const r = Rng.fromState([1, 2, 3, 4]);
  t.deepEqual(Array.from({ length: 6 }, () => r.nextUint32()), [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
});

test('same seed, same sequence; another seed, another sequence', (t) => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const seqA = Array.from({ length: 100 }, () => a.next());
  t.deepEqual(Array.from({ length: 100 }, () => b.next()), seqA);
  t.notDeepEqual(Array.from({ length: 100 }, () => c.next()), seqA);
});

test('restore mid-stream continues bit-for-bit (through next, int and normal)', (t) => {
  const a = new Rng(7);
  for (let i = 0; i < 37; i++) a.normal();
  const saved = a.state();
  t.true(saved.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32));
  const draw = (r: Rng) => [r.next(), r.int(10), r.normal(), r.int(2 ** 32), r.next()];
  const expected = draw(a);
  const b = new Rng(999);
  b.restore(JSON.parse(JSON.stringify(saved)) as number[]); // a checkpoint goes through JSON
  t.deepEqual(draw(b), expected);
  t.deepEqual(draw(Rng.fromState(saved)), expected);
});

test('next() is uniform on [0, 1): chi-square over 10 bins, mean and variance', (t) => {
  const r = new Rng(1);
  const n = 100_000, bins = new Array<number>(10).fill(0);
  let sum = 0, sumSq = 0;
  for (let i = 0; i < n; i++) {
    const x = r.next();
    t.true(x >= 0 && x < 1);
    bins[Math.floor(x * 10)]!++;
    sum += x; sumSq += x * x;
  }
  const chi2 = bins.reduce((acc, o) => acc + (o - n / 10) ** 2 / (n / 10), 0);
  t.true(chi2 < 27.9, `chi2 ${chi2}`); // 9 degrees of freedom: p = 0.001 critical value
  t.true(Math.abs(sum / n - 0.5) < 0.005);
  t.true(Math.abs(sumSq / n - (sum / n) ** 2 - 1 / 12) < 0.003);
});

test('int(n) stays in range and hits every value evenly', (t) => {
  const r = new Rng(2);
  const counts = new Array<number>(7).fill(0);
  for (let i = 0; i < 70_000; i++) {
    const k = r.int(7);
    t.true(Number.isInteger(k) && k >= 0 && k < 7);
    counts[k]!++;
  }
  for (const c of counts) t.true(Math.abs(c - 10_000) < 500, `count ${c}`);
  t.throws(() => r.int(0), { instanceOf: RangeError });
  t.throws(() => r.int(2.5), { instanceOf: RangeError });
});

test('normal() has mean 0, variance 1 and the right tail mass', (t) => {
  const r = new Rng(3);
  const n = 100_000;
  let sum = 0, sumSq = 0, beyond2 = 0;
  for (let i = 0; i < n; i++) {
    const x = r.normal();
    t.true(Number.isFinite(x));
    sum += x; sumSq += x * x;
    if (Math.abs(x) > 2) beyond2++;
  }
  t.true(Math.abs(sum / n) < 0.02);
  t.true(Math.abs(sumSq / n - 1) < 0.02);
  t.true(Math.abs(beyond2 / n - 0.0455) < 0.004); // P(|Z| > 2) = 0.0455
});

test('restore rejects malformed and all-zero states', (t) => {
  const r = new Rng(0);
  t.throws(() => r.restore([1, 2, 3]), { instanceOf: RangeError });
  t.throws(() => r.restore([1, 2, 3, -1]), { instanceOf: RangeError });
  t.throws(() => r.restore([0, 0, 0, 0]), { message: /all-zero/ });
});
