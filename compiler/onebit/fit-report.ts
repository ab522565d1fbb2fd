// Per-layer diagnostics of how well a OneBit linear fits W, so users can `--keep` poor fits in full precision.
// Cost: one pass over W for the errors (exact, using the stored fp16 g, h and packed signs) plus a few
// power iterations for the spectrum, on evenly spaced rows when W is big (see `spectrumEstimate`).
import { float16ToFloat32 } from '../../formats/dtype.ts';
import { packedRowBytes } from './pack.ts';
import type { SvidResult } from './svid.ts';
import { svid } from './svid.ts';

export interface FitReportOptions {
  /** Flag 'tiny' below this many weights. Default 4096. */
  minWeights?: number;
  /** Flag 'tiny' when out or in is below this. Default 16. */
  minDim?: number;
  /** Flag 'many-zeros' above this fraction of exact zeros (each becomes ±h·g, since sign(0) = +1). Default 0.25. */
  maxZeroFraction?: number;
  /** Flag 'poor-fit' when ‖W − Ŵ‖/‖W‖ of SVID exceeds this. Default 0.8 (iid Gaussian W gives ≈ 0.60). */
  maxRelativeError?: number;
  /** Flag 'dominant-direction' when σ1/σ2 of W exceeds this. Default 10. */
  maxSigmaRatio?: number;
  /** The spectrum estimate uses at most this many weights (whole rows, evenly spaced). Default 2^20. */
  spectrumSampleWeights?: number;
  /** Power iterations for each of σ1 and σ2. Default 20. */
  spectrumIterations?: number;
}

export type FitFlagCode = 'tiny' | 'many-zeros' | 'poor-fit' | 'no-gain-over-naive' | 'dominant-direction' | 'not-converged';

export interface FitFlag {
  readonly code: FitFlagCode;
  /** One human-readable line: what was measured and why it matters. */
  readonly message: string;
}

export interface SpectrumEstimate {
  /** Estimated σ1 and σ2 of the rows used (power iteration, σ2 with σ1's direction deflated). */
  readonly sigma1: number;
  readonly sigma2: number;
  /** σ1/σ2 (Infinity when σ2 = 0, NaN for an all-zero W). σ2 from few iterations is a lower bound, so this tends high. */
  readonly ratio: number;
  /** Rows of W used; less than `out` when W was sampled (evenly spaced rows), so the numbers are of that submatrix. */
  readonly rowsUsed: number;
  readonly sampled: boolean;
}

export interface FitReport {
  readonly out: number;
  readonly in: number;
  readonly weights: number;
  /** Fraction of elements that are exactly 0 (or −0). */
  readonly zeroFraction: number;
  /** Fewer than `minWeights` weights or a dimension below `minDim`: 1-bit saves little and hurts much. */
  readonly tiny: boolean;
  /** ‖W − Ŵ‖_F / ‖W‖_F with Ŵ = h·S·g from the stored fp16 vectors and packed signs (exact, whole matrix). */
  readonly svidRelativeError: number;
  /** ‖W − sign(W)·mean|W|‖_F / ‖W‖_F, the per-tensor baseline (exact, whole matrix). */
  readonly naiveRelativeError: number;
  readonly spectrumEstimate: SpectrumEstimate;
  readonly svidIterations: number;
  readonly svidConverged: boolean;
  /** Reasons to consider keeping this layer in full precision; empty when none. */
  readonly flags: readonly FitFlag[];
}

/**
 * Diagnoses the OneBit fit of a row-major W (out, in). Pass the layer's `svid` result to avoid computing it
 * again (the errors are measured on exactly those bytes).
 */
export function fitReport(weight: Float32Array, out: number, inDim: number, fit?: SvidResult, options: FitReportOptions = {}): FitReport {
  const result = fit ?? svid(weight, out, inDim);
  const rowBytes = packedRowBytes(inDim);
  if (result.sign.length !== out * rowBytes || result.g.length !== inDim || result.h.length !== out) {
    throw new RangeError(`fitReport: the SVID result does not match W of shape [${out}, ${inDim}]`);
  }
  const minWeights = options.minWeights ?? 4096;
  const minDim = options.minDim ?? 16;
  const maxZeroFraction = options.maxZeroFraction ?? 0.25;
  const maxRelativeError = options.maxRelativeError ?? 0.8;
  const maxSigmaRatio = options.maxSigmaRatio ?? 10;

  // One pass: zeros, ‖W‖², Σ|W|, Σ|W|², and ‖W − Ŵ‖² of SVID.
  const g = new Float64Array(inDim);
  const h = new Float64Array(out);
  for (let i = 0; i < inDim; i++) g[i] = float16ToFloat32(result.g[i]!);
  for (let o = 0; o < out; o++) h[o] = float16ToFloat32(result.h[o]!);
  let zeros = 0;
  let sumAbs = 0;
  let norm2 = 0;
  let svidError2 = 0;
  for (let o = 0; o < out; o++) {
    const row = o * inDim;
    for (let i = 0; i < inDim; i++) {
      const w = weight[row + i]!;
      if (w === 0) zeros++;
      sumAbs += Math.abs(w);
      norm2 += w * w;
      const negative = (result.sign[o * rowBytes + (i >> 3)]! >> (i & 7)) & 1;
      const magnitude = Math.fround(h[o]! * g[i]!);
      svidError2 += (w - (negative ? -magnitude : magnitude)) ** 2;
    }
  }
  const weights = out * inDim;
  const mean = weights > 0 ? sumAbs / weights : 0;
  // Σ(|w| − m)² = Σw² − 2mΣ|w| + N m² = Σw² − N m² for m = mean|W|.
  const naiveError2 = Math.max(0, norm2 - weights * mean * mean);
  const relative = (e2: number): number => (norm2 > 0 ? Math.sqrt(e2 / norm2) : 0);
  const svidRelativeError = relative(svidError2);
  const naiveRelativeError = relative(naiveError2);
  const zeroFraction = weights > 0 ? zeros / weights : 0;
  const tiny = weights < minWeights || out < minDim || inDim < minDim;
  const spectrumEstimate = estimateSpectrum(weight, out, inDim, options);

  const flags: FitFlag[] = [];
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  if (tiny) {
    flags.push({ code: 'tiny', message: `[${out}, ${inDim}] has ${weights} weights (< ${minWeights}) or a dimension < ${minDim}: 1-bit saves little here and costs accuracy` });
  }
  if (zeroFraction > maxZeroFraction) {
    flags.push({ code: 'many-zeros', message: `${pct(zeroFraction)} of weights are exactly 0 (> ${pct(maxZeroFraction)}); 1-bit cannot represent 0 (sign(0) = +1), each becomes +h·g` });
  }
  if (svidRelativeError > maxRelativeError) {
    flags.push({ code: 'poor-fit', message: `SVID relative error ${svidRelativeError.toFixed(3)} > ${maxRelativeError}: the 1-bit layer starts far from W` });
  }
  if (norm2 > 0 && svidRelativeError >= naiveRelativeError) {
    flags.push({ code: 'no-gain-over-naive', message: `SVID error ${svidRelativeError.toFixed(3)} is no better than sign·mean|W| (${naiveRelativeError.toFixed(3)}): |W| has no rank-1 structure to use` });
  }
  if (spectrumEstimate.ratio > maxSigmaRatio) {
    const where = spectrumEstimate.sampled ? ` (on ${spectrumEstimate.rowsUsed} of ${out} rows)` : '';
    flags.push({ code: 'dominant-direction', message: `σ1/σ2 of W ≈ ${spectrumEstimate.ratio.toFixed(1)}${where} > ${maxSigmaRatio}: one direction dominates (outlier features); a 1-bit error there is amplified` });
  }
  if (!result.converged) {
    flags.push({ code: 'not-converged', message: `SVID power iteration stopped after ${result.iterations} iterations without converging (last change ${result.delta.toExponential(2)})` });
  }
  return {
    out, in: inDim, weights, zeroFraction, tiny, svidRelativeError, naiveRelativeError, spectrumEstimate,
    svidIterations: result.iterations, svidConverged: result.converged, flags,
  };
}

/** σ1, σ2 of W (or of evenly spaced rows of it) by a fixed number of power iterations with deflation. */
function estimateSpectrum(weight: Float32Array, out: number, inDim: number, options: FitReportOptions): SpectrumEstimate {
  const sampleWeights = options.spectrumSampleWeights ?? 2 ** 20;
  const iterations = options.spectrumIterations ?? 20;
  const rowsUsed = Math.min(out, Math.max(1, Math.floor(sampleWeights / Math.max(1, inDim))));
  const rows = new Int32Array(rowsUsed);
  for (let k = 0; k < rowsUsed; k++) rows[k] = Math.floor((k * out) / rowsUsed);
  const sampled = rowsUsed < out;
  if (out === 0 || inDim === 0) return { sigma1: 0, sigma2: 0, ratio: NaN, rowsUsed: 0, sampled: false };

  // Deterministic, non-degenerate start (a fixed LCG), so the result is reproducible.
  const start = new Float64Array(inDim);
  let seed = 0x9e3779b9;
  for (let i = 0; i < inDim; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    start[i] = seed / 2 ** 32 - 0.5;
  }
  const { sigma: sigma1, vector: v1 } = powerIteration(weight, inDim, rows, start, iterations, undefined);
  const { sigma: sigma2 } = powerIteration(weight, inDim, rows, start, iterations, v1);
  const ratio = sigma1 === 0 ? NaN : sigma2 === 0 ? Infinity : sigma1 / sigma2;
  return { sigma1, sigma2, ratio, rowsUsed, sampled };
}

/** Power iteration on AᵀA for the rows `rows` of W, keeping v orthogonal to `deflate` when given. */
function powerIteration(
  weight: Float32Array, inDim: number, rows: Int32Array, start: Float64Array, iterations: number, deflate: Float64Array | undefined,
): { sigma: number; vector: Float64Array } {
  let v = Float64Array.from(start);
  let acc = new Float64Array(inDim);
  const project = (x: Float64Array): number => {
    if (deflate) {
      let d = 0;
      for (let i = 0; i < inDim; i++) d += x[i]! * deflate[i]!;
      for (let i = 0; i < inDim; i++) x[i]! -= d * deflate[i]!;
    }
    let n = 0;
    for (let i = 0; i < inDim; i++) n += x[i]! * x[i]!;
    n = Math.sqrt(n);
    if (n > 0) for (let i = 0; i < inDim; i++) x[i]! /= n;
    return n;
  };
  if (project(v) === 0) return { sigma: 0, vector: v };
  let sigma = 0;
  for (let it = 0; it < iterations; it++) {
    acc.fill(0);
    let uNorm2 = 0;
    for (let k = 0; k < rows.length; k++) {
      const row = rows[k]! * inDim;
      let dot = 0;
      for (let i = 0; i < inDim; i++) dot += weight[row + i]! * v[i]!;
      uNorm2 += dot * dot;
      if (dot !== 0) for (let i = 0; i < inDim; i++) acc[i]! += weight[row + i]! * dot;
    }
    const accNorm = project(acc);
    const uNorm = Math.sqrt(uNorm2);
    sigma = uNorm > 0 ? accNorm / uNorm : 0;
    if (accNorm === 0) break;
    [v, acc] = [acc, v];
  }
  return { sigma, vector: v };
}
