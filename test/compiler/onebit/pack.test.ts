import test from 'ava';
import { packedRowBytes, packSigns, unpackSigns } from '../../../compiler/onebit/pack.ts';

test('bit j of byte k (LSB first) is column 8k+j, bit 1 means −1', (t) => {
  const row = new Float32Array([-1, 1, 1, 1, 1, 1, 1, 1, -1]);
  t.deepEqual([...packSigns(row, 1, 9)], [0x01, 0x01]);
  t.deepEqual([...packSigns(new Float32Array([1, 1, 1, 1, 1, 1, 1, -2]), 1, 8)], [0x80]);
  t.deepEqual([...packSigns(new Float32Array([-1, -1, 1, -1]), 1, 4)], [0b1011]);
  t.deepEqual([...packSigns(new Float32Array(16).fill(-0.5), 1, 16)], [0xff, 0xff]);
});

test('sign(0) is +1, also for −0', (t) => {
  t.deepEqual([...packSigns(new Float32Array([0, -0, -1e-30, 0]), 1, 4)], [0b0100]);
});

test('rows are packed one after another, each padded to whole bytes with zero bits', (t) => {
  // two rows of 3: [−,+,−] and [+,−,−]
  const w = new Float32Array([-1, 2, -3, 4, -5, -6]);
  t.deepEqual([...packSigns(w, 2, 3)], [0b101, 0b110]);
  t.is(packedRowBytes(3), 1);
  t.is(packedRowBytes(8), 1);
  t.is(packedRowBytes(9), 2);
  t.is(packSigns(new Float32Array(0), 0, 5).length, 0);
});

test('unpackSigns inverts packSigns for widths that are not multiples of 8', (t) => {
  let seed = 7;
  const rand = (): number => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
  for (const inDim of [1, 3, 7, 8, 9, 13, 100]) {
    const out = 5;
    const w = Float32Array.from({ length: out * inDim }, () => (rand() < -0.3 ? 0 : rand()));
    const signs = unpackSigns(packSigns(w, out, inDim), out, inDim);
    t.deepEqual([...signs], [...w].map((x) => (x < 0 ? -1 : 1)), `in=${inDim}`);
  }
});

test('unpackSigns rejects wrong lengths and nonzero padding bits', (t) => {
  t.throws(() => unpackSigns(new Uint8Array(3), 2, 9), { message: /expected out·ceil\(in\/8\) = 2·2 = 4/ });
  t.throws(() => unpackSigns(new Uint8Array([0x01, 0x02]), 1, 9), { message: /row 0 has nonzero padding bits/ });
  t.throws(() => packSigns(new Float32Array(5), 2, 3), { message: /expected out·in/ });
});
