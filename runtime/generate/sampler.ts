// Picks the next token from a row of logits: greedy (temperature 0) or sampling with temperature, top-k and
// top-p (nucleus), driven by a seeded PRNG so that a given seed always gives the same tokens.

export interface SamplerOptions {
  /** 0 (default) is greedy (argmax); higher values flatten the distribution. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined: all). topK = 1 is greedy. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability mass reaches p (1 or undefined: all). */
  topP?: number;
  /** Seed of the PRNG (a 32-bit integer); without it a random seed is drawn. */
  seed?: number;
}

export type Sampler = (logits: Float32Array) => number;

/** Index of the largest logit (the first one on ties, as numpy's argmax); NaN is an error. */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (v > max) { max = v; best = i; }
    else if (Number.isNaN(v)) throw new Error(`logits contain NaN (at index ${i})`);
  }
  if (logits.length === 0) throw new Error('no logits to choose from');
  if (max === -Infinity) throw new Error('every logit is -Infinity: no token can be chosen');
  return best;
}

/** xoshiro128** seeded through splitmix32: uniform floats in [0, 1), deterministic per seed. */
export function createRng(seed: number): () => number {
  let s = seed >>> 0;
  const splitmix = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix(), b = splitmix(), c = splitmix(), d = splitmix();
  if ((a | b | c | d) === 0) a = 1;
  return () => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a; d ^= b; b ^= c; a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result / 4294967296;
  };
}

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));

/** Numerically stable softmax (max subtracted, sums in float64) of `logits / temperature`. */
export function softmax(logits: ArrayLike<number>, temperature = 1): Float64Array {
  const out = new Float64Array(logits.length);
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  if (max === -Infinity) throw new Error('softmax of logits that are all -Infinity');
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp((logits[i]! - max) / temperature);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

function checkOptions(o: SamplerOptions): void {
  const { temperature, topK, topP, seed } = o;
  if (temperature !== undefined && !(temperature >= 0 && Number.isFinite(temperature))) throw new RangeError(`temperature must be a number ≥ 0, got ${temperature}`);
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 0)) throw new RangeError(`topK must be an integer ≥ 0 (0: no limit), got ${topK}`);
  if (topP !== undefined && !(topP > 0 && topP <= 1)) throw new RangeError(`topP must be in (0, 1], got ${topP}`);
  if (seed !== undefined && !Number.isFinite(seed)) throw new RangeError(`seed must be a number, got ${seed}`);
}

/**
 * A sampler over rows of logits. Greedy when temperature is 0 (the default) or topK is 1; otherwise it
 * scales by 1/temperature, keeps the topK most likely tokens, then the smallest most-likely set whose mass
 * reaches topP, renormalises and draws from the seeded PRNG. Scratch buffers are reused between calls.
 */
export function createSampler(options: SamplerOptions = {}): Sampler {
  checkOptions(options);
  const temperature = options.temperature ?? 0;
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  if (temperature === 0 || topK === 1) return (logits) => argmax(logits);
  const random = createRng(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  let index = new Int32Array(0);
  let prob = new Float64Array(0);
  return (logits) => {
    const n = logits.length;
    if (n === 0) throw new Error('no logits to choose from');
    if (index.length < n) { index = new Int32Array(n); prob = new Float64Array(n); }
    let max = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = logits[i]!;
      if (Number.isNaN(v)) throw new Error(`logits contain NaN (at index ${i})`);
      if (v > max) max = v;
    }
    if (max === -Infinity) throw new Error('every logit is -Infinity: no token can be sampled');
    // candidates: every token, or the topK largest (ties broken by lower index)
    let count = n;
    for (let i = 0; i < n; i++) index[i] = i;
    const needSort = (topK > 0 && topK < n) || topP < 1;
    if (needSort) {
      const order = index.subarray(0, n);
      order.sort((a, b) => (logits[b]! - logits[a]!) || (a - b));
      if (topK > 0 && topK < n) count = topK;
    }
    let sum = 0;
    for (let j = 0; j < count; j++) {
      const e = Math.exp((logits[index[j]!]! - max) / temperature);
      prob[j] = e;
      sum += e;
    }
    if (topP < 1) {
      // sorted descending: keep the shortest prefix whose mass reaches topP (at least one token)
      let mass = 0;
      let keep = 0;
      while (keep < count) {
        mass += prob[keep]! / sum;
        keep++;
        if (mass >= topP) break;
      }
      count = keep;
      sum = 0;
      for (let j = 0; j < count; j++) sum += prob[j]!;
    }
    let r = random() * sum;
    for (let j = 0; j < count; j++) {
      r -= prob[j]!;
      if (r < 0) return index[j]!;
    }
    // rounding: the last candidate with non-zero probability
    for (let j = count - 1; j >= 0; j--) if (prob[j]! > 0) return index[j]!;
    return index[0]!;
  };
}
