// Seeded random numbers for training (init, sampling windows, dropout): xoshiro128** (Blackman & Vigna), four
// 32-bit state words, so the whole generator is a number[4] that a checkpoint stores and restores bit-for-bit.
// normal() keeps no cached spare, so state() alone is the full state.

const TWO_POW_32 = 2 ** 32;

/** SplitMix32 (the seeding the xoshiro authors recommend): spreads one seed over the four state words. */
function splitMix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private s: Uint32Array;

  /** A generator seeded from a 32-bit integer (other numbers are taken modulo 2³²). */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`Rng: seed must be a finite number, got ${seed}`);
    const mix = splitMix32(Math.trunc(seed));
    this.s = Uint32Array.of(mix(), mix(), mix(), mix());
  }

  /** A generator with exactly these four state words (as returned by state()). */
  static fromState(state: readonly number[]): Rng {
    const r = new Rng(0);
    r.restore(state);
    return r;
  }

  /** The next raw 32-bit output (an unsigned integer). */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A float in [0, 1), a multiple of 2⁻³². */
  next(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** A uniform integer in [0, n), unbiased (rejection of the last partial block of 2³²). n ≤ 2³². */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) throw new RangeError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** A standard normal sample (Box–Muller; uses two outputs, the second variate is dropped). */
  normal(): number {
    const u1 = 1 - this.next(); // (0, 1]: log(u1) is finite
    const u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** The four state words; restore() with them continues the same sequence. */
  state(): number[] {
    return Array.from(this.s);
  }

  restore(state: readonly number[]): void {
    if (state.length !== 4 || !state.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_POW_32)) {
      throw new RangeError(`Rng.restore: expected 4 unsigned 32-bit integers, got [${state.join(', ')}]`);
    }
    if (state.every((w) => w === 0)) throw new RangeError('Rng.restore: the all-zero state is a fixed point of xoshiro128**');
    this.s = Uint32Array.from(state);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
