// How distillation fails or stops early; the CLI maps them to exit codes (130 for Ctrl-C, 1 otherwise).

/** A problem with what the user gave distillation (model, data, checkpoint, options): reported, not a bug. */
export class DistillError extends Error {
  override name = 'DistillError';
}

/** Ctrl-C (or stopAtStep): training stopped after writing a checkpoint. */
export class DistillInterrupted extends Error {
  override name = 'DistillInterrupted';
  constructor(readonly step: number, readonly checkpointDir: string) {
    super(`distillation stopped at step ${step}; checkpoint written to ${checkpointDir} (continue with --resume ${checkpointDir})`);
  }
}

/** A NaN or infinite loss or gradient: training stopped without touching the last good checkpoint. */
export class DistillDiverged extends DistillError {
  override name = 'DistillDiverged';
}
