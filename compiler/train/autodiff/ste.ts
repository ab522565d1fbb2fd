// Straight-through estimators for sign(W): the gradient that flows to the latent weight in place of sign's
// (zero almost everywhere) derivative.
export const STE_KINDS = ['tanh', 'clip'] as const;
export type SteKind = (typeof STE_KINDS)[number];

/** d sign(w)/dw as the estimator sees it: 1.001 − tanh²(w) (the reference's surrogate), or 1 where |w| ≤ 1. */
export function steDerivative(kind: SteKind, w: number): number {
  if (kind === 'clip') return Math.abs(w) <= 1 ? 1 : 0;
  const t = Math.tanh(w);
  return 1.001 - t * t;
}
