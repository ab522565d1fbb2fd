// SVID: Sign-Value-Independent Decomposition, the initialisation of a OneBit linear (docs ONEBIT.md §2).
//
//   S = sign(W),  |W| ≈ a bᵀ (rank-1, nonnegative),  h = a·c,  g = b/c
//
// The rank-1 factor of |W| is its leading singular triplet, found by power iteration in float64 from the
// all-ones vector. |W| is nonnegative and so is every iterate, so the vectors come out nonnegative
// (Perron–Frobenius). Each iteration is one pass over W's rows: u_o = Σ_i |W[o,i]|·v_i and, while the
// row is still in cache, acc_i += |W[o,i]|·u_o (= |W|ᵀu). No copy of |W| is made.
import { float32ToFloat16 } from '../../formats/dtype.ts';
import { packSigns } from './pack.ts';

export interface SvidOptions {
  /**
   * Convergence: stop when the unit right vector v moves less than this (L2 norm of the change) in one
   * iteration. Default 1e-8. The singular value then has a relative error of order tolerance².
   */
  tolerance?: number;
  /** Iteration cap; `converged` is false when it is reached first. Default 200. */
  maxIterations?: number;
  /** Called after every iteration (each is one pass over W), e.g. to drive a progress bar on big layers. */
  onProgress?: (progress: SvidProgress) => void;
}

export interface SvidProgress {
  readonly iteration: number;
  readonly maxIterations: number;
  /** Change of the unit right vector in this iteration (compare with `tolerance`). */
  readonly delta: number;
  /** Current estimate of σ1(|W|). */
  readonly sigma: number;
}

export interface SvidResult {
  /** Packed sign(W), bytes (out, ceil(in/8)); the ONEBIT.md convention (bit = 1 means −1). */
  readonly sign: Uint8Array;
  /** fp16 words (in): input-side scale, g = b/c. */
  readonly g: Uint16Array;
  /** fp16 words (out): output-side scale, h = a·c. */
  readonly h: Uint16Array;
  /** σ1(|W|), the leading singular value of |W| (float64). */
  readonly sigma: number;
  /** (out) unit left singular vector of |W|, nonnegative, float64 (before balancing and fp16 rounding). */
  readonly u: Float64Array;
  /** (in) unit right singular vector of |W|, nonnegative, float64. */
  readonly v: Float64Array;
  /** Power iterations run (passes over W). */
  readonly iterations: number;
  /** Whether the change of v fell below `tolerance` within `maxIterations`. */
  readonly converged: boolean;
  /** Change of the unit right vector in the last iteration. */
  readonly delta: number;
  /** ‖W‖_F (float64). */
  readonly frobenius: number;
  /**
   * ‖W − S ⊙ (σ u vᵀ)‖_F / ‖W‖_F, before fp16 rounding: since W = S ⊙ |W|, this is the rank-1 residual of
   * |W|, sqrt(1 − σ²/‖W‖²). 0 for an all-zero W.
   */
  readonly relativeResidual: number;
  /** The balance factor c applied before fp16 rounding (h = σ·u·c, g = v/c); chosen so max h = max g. */
  readonly balance: number;
  /** Elements of g and h above the fp16 maximum, stored as 65504 instead of Infinity. */
  readonly fp16Saturated: number;
  /** Positive elements of g and h that rounded to fp16 zero. */
  readonly fp16Flushed: number;
}

const FP16_MAX = 65504;

/**
 * SVID of a row-major weight W (out, in). Deterministic: the same input gives the same bytes.
 * An all-zero W (or out = 0 / in = 0) gives g = h = 0, sigma 0, converged true.
 */
export function svid(weight: Float32Array, out: number, inDim: number, options: SvidOptions = {}): SvidResult {
  if (!Number.isInteger(out) || out < 0 || !Number.isInteger(inDim) || inDim < 0) {
    throw new RangeError(`svid: out and in must be non-negative integers, got out=${out}, in=${inDim}`);
  }
  if (weight.length !== out * inDim) {
    throw new RangeError(`svid: weight has ${weight.length} elements, expected out·in = ${out}·${inDim} = ${out * inDim}`);
  }
  const tolerance = options.tolerance ?? 1e-8;
  const maxIterations = options.maxIterations ?? 200;
  if (!(tolerance >= 0)) throw new RangeError(`svid: tolerance must be ≥ 0, got ${tolerance}`);
  if (!Number.isInteger(maxIterations) || maxIterations < 1) {
    throw new RangeError(`svid: maxIterations must be a positive integer, got ${maxIterations}`);
  }

  const sign = packSigns(weight, out, inDim);
  const u = new Float64Array(out);    // (out) |W| v, normalised at the end
  let v = new Float64Array(inDim);    // (in) unit right vector
  let acc = new Float64Array(inDim);  // (in) |W|ᵀ u, accumulated row by row
  v.fill(inDim > 0 ? 1 / Math.sqrt(inDim) : 0);

  // ‖W‖_F in float64, one pass (also rejects NaN / ±Infinity).
  let frobenius2 = 0;
  for (let k = 0; k < weight.length; k++) frobenius2 += weight[k]! * weight[k]!;
  if (!Number.isFinite(frobenius2)) throw new RangeError('svid: weight contains NaN or Infinity');

  let sigma = 0;
  let uNorm = 0;
  let delta = 0;
  let iterations = 0;
  let converged = frobenius2 === 0;
  while (!converged && iterations < maxIterations) {
    iterations++;
    acc.fill(0);
    let uNorm2 = 0;
    for (let o = 0; o < out; o++) {
      const row = o * inDim;
      let dot = 0;
      for (let i = 0; i < inDim; i++) dot += Math.abs(weight[row + i]!) * v[i]!;
      u[o] = dot;
      uNorm2 += dot * dot;
      if (dot !== 0) {
        for (let i = 0; i < inDim; i++) acc[i]! += Math.abs(weight[row + i]!) * dot;
      }
    }
    uNorm = Math.sqrt(uNorm2);
    let accNorm2 = 0;
    for (let i = 0; i < inDim; i++) accNorm2 += acc[i]! * acc[i]!;
    const accNorm = Math.sqrt(accNorm2);
    // acc = |W|ᵀ |W| v with ‖v‖ = 1, so ‖acc‖ / ‖|W| v‖ = ‖|W|ᵀ û‖ ≤ σ1, approached from below.
    sigma = accNorm / uNorm;
    delta = 0;
    for (let i = 0; i < inDim; i++) {
      const next = acc[i]! / accNorm;
      delta += (next - v[i]!) ** 2;
      acc[i] = next;
    }
    delta = Math.sqrt(delta);
    [v, acc] = [acc, v];
    converged = delta <= tolerance;
    options.onProgress?.({ iteration: iterations, maxIterations, delta, sigma });
  }

  const g = new Uint16Array(inDim);
  const h = new Uint16Array(out);
  if (frobenius2 === 0) {
    v.fill(0);
    return {
      sign, g, h, sigma: 0, u, v, iterations, converged, delta: 0, frobenius: 0, relativeResidual: 0, balance: 1,
      fp16Saturated: 0, fp16Flushed: 0,
    };
  }
  // u was computed from the previous v; |W|ᵀ û = σ v holds exactly for the pair (û, v).
  for (let o = 0; o < out; o++) u[o] = u[o]! / uNorm;

  // Balance: h = σ·u·c, g = v/c with max h = max g = sqrt(σ · max u · max v) (the largest |Ŵ|, square-rooted),
  // so both vectors sit in the middle of fp16's range whatever the scale of W.
  let maxU = 0;
  let maxV = 0;
  for (let o = 0; o < out; o++) maxU = Math.max(maxU, u[o]!);
  for (let i = 0; i < inDim; i++) maxV = Math.max(maxV, v[i]!);
  const balance = Math.sqrt(maxV / (sigma * maxU));
  let fp16Saturated = 0;
  let fp16Flushed = 0;
  const toHalf = (value: number): number => {
    if (value > FP16_MAX) { fp16Saturated++; return 0x7bff; }
    const word = float32ToFloat16(value);
    if (word === 0 && value > 0) fp16Flushed++;
    return word;
  };
  for (let o = 0; o < out; o++) h[o] = toHalf(sigma * u[o]! * balance);
  for (let i = 0; i < inDim; i++) g[i] = toHalf(v[i]! / balance);

  const relativeResidual = Math.sqrt(Math.max(0, 1 - (sigma * sigma) / frobenius2));
  return {
    sign, g, h, sigma, u, v, iterations, converged, delta, frobenius: Math.sqrt(frobenius2), relativeResidual,
    balance, fp16Saturated, fp16Flushed,
  };
}
