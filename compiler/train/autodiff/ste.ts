// Straight-through estimators for sign(W): the gradient that flows to the latent weight in place of sign's
// (zero almost everywhere) derivative.
import type { Floats } from './floats.ts';

export const STE_KINDS = ['tanh', 'clip'] as const;
export type SteKind = (typeof STE_KINDS)[number];

/**
 * dW ⊙= d sign(w)/dw as the estimator sees it: 1.001 − tanh²(w) (the reference's surrogate; computed as
 * 0.001 + 4/(eʷ + e⁻ʷ)², one exp per weight), or 1 where |w| ≤ 1 and 0 elsewhere (the clipped identity).
 */
export function applySte(kind: SteKind, w: Floats, dw: Floats): void {
  if (kind === 'clip') {
    for (let i = 0; i < w.length; i++) if (Math.abs(w[i]!) > 1) dw[i] = 0;
    return;
  }
  for (let i = 0; i < w.length; i++) {
    const e = Math.exp(w[i]!);
    const d = e + 1 / e;
    dw[i] *= 0.001 + 4 / (d * d);
  }
}
