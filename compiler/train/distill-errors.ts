// How distillation stops early; the CLI maps them to exit codes (130 for Ctrl-C, 1 for divergence).

/** Ctrl-C (or stopAtStep): training stopped after writing a checkpoint. */
export class DistillInterrupted extends Error {
  override name = 'DistillInterrupted';
  constructor(readonly step: number, readonly checkpointDir: string) {
    super(`distillation stopped at step ${step}; checkpoint written to ${checkpointDir} (continue with --resume ${checkpointDir})`);
  }
}

/** A NaN or infinite loss or gradient: training stopped without touching the last good checkpoint. */
export class DistillDiverged extends Error {
  override name = 'DistillDiverged';
}
