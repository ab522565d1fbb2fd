// Gradient clipping by the global L2 norm, as torch.nn.utils.clip_grad_norm_ (1.13): the norm over all
// gradients together; when it exceeds maxNorm every gradient is scaled by maxNorm / (norm + 1e-6).

/**
 * Scales `grads` in place so their global L2 norm is at most `maxNorm`; returns the norm before clipping.
 * A non-finite norm (an overflow or NaN in some gradient) is returned and the gradients are left as they
 * are: the caller should skip that step.
 */
export function clipGradNorm(grads: Iterable<Float32Array | Float64Array> | Map<string, Float32Array | Float64Array>, maxNorm: number): number {
  if (!(maxNorm > 0)) throw new RangeError(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const list = grads instanceof Map ? [...grads.values()] : [...grads];
  let sumSq = 0;
  for (const g of list) for (let i = 0; i < g.length; i++) sumSq += g[i]! * g[i]!;
  const norm = Math.sqrt(sumSq);
  if (!Number.isFinite(norm)) return norm;
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const g of list) for (let i = 0; i < g.length; i++) g[i] = g[i]! * coef;
  return norm;
}
