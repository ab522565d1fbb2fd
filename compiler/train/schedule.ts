// The learning-rate schedule: linear warm-up, then cosine decay to a floor (as in the OneBit paper's
// distillation and most LLM training).

export interface ScheduleOptions {
  /** Peak learning rate, reached at the end of warm-up. */
  lr: number;
  /** Steps of linear warm-up: step s < warmupSteps gets lr·(s + 1)/warmupSteps. 0: none. */
  warmupSteps: number;
  /** The step at which the cosine reaches minLr; later steps stay there. */
  totalSteps: number;
  /** Default 0. */
  minLr?: number;
}

/**
 * The learning rate for `step` (0-based: the number of optimizer steps already taken). Warm-up rises from
 * lr/warmupSteps at step 0 to lr at step warmupSteps − 1; from step warmupSteps the rate is
 * minLr + (lr − minLr)·(1 + cos(π·p))/2 with p = (step − warmupSteps)/(totalSteps − warmupSteps), so lr at
 * warmupSteps and minLr at totalSteps and after.
 */
export function learningRate(step: number, opts: ScheduleOptions): number {
  const { lr, warmupSteps, totalSteps } = opts;
  const minLr = opts.minLr ?? 0;
  if (!Number.isInteger(step) || step < 0) throw new RangeError(`learningRate: step must be a non-negative integer, got ${step}`);
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) throw new RangeError(`learningRate: warmupSteps must be a non-negative integer, got ${warmupSteps}`);
  if (!Number.isInteger(totalSteps) || totalSteps < warmupSteps) {
    throw new RangeError(`learningRate: totalSteps must be an integer >= warmupSteps (${warmupSteps}), got ${totalSteps}`);
  }
  if (step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
  if (step >= totalSteps) return minLr;
  const progress = (step - warmupSteps) / (totalSteps - warmupSteps);
  return minLr + ((lr - minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
}
