// Options of `--distill` and their defaults (ONEBIT.md §3; the small-model figures were measured on stories260K).
import type { SteKind } from './autodiff/ste.ts';

export interface DistillOptions {
  /** A text file, or `self:N` for N tokens sampled from the teacher. */
  data: string;
  /** Folder for checkpoints, the training log, its plot and the held-out text. */
  checkpointDir: string;
  /** Continue from the checkpoint in checkpointDir. */
  resume?: boolean;
  steps?: number;
  /** Peak learning rate. Default 4e-3 for models up to 100M parameters (measured on stories260K), else the paper's 4e-4. */
  lr?: number;
  /** Linear warm-up steps. Default 5 % of the steps (at most 200). */
  warmup?: number;
  /** Weight of the hidden-state term. Default 1 (the paper). */
  alpha?: number;
  /** Tokens per training window. Default 256 (capped at the model's context). */
  seq?: number;
  /** Windows per step. Default 16. */
  batch?: number;
  seed?: number;
  /** Global gradient-norm clip. Default 1. */
  clip?: number;
  ste?: SteKind;
  /** The paper's post-LayerNorm after each 1-bit linear. Default true. */
  postNorm?: boolean;
  latentInit?: 'weight' | 'sign';
  temperature?: number;
  /** Steps between checkpoints. Default: a tenth of the steps, at most 100. */
  checkpointEvery?: number;
  /** Steps between held-out evaluations (on a sample of windows). Default: a tenth of the steps. */
  evalEvery?: number;
  /** Stop (as Ctrl-C does: checkpoint, then DistillInterrupted) once this step is reached. For tests and time-boxed runs. */
  stopAtStep?: number;
  /** Aborting stops after the current step, with a checkpoint (the CLI wires Ctrl-C to it). */
  signal?: AbortSignal;
  /** Progress output (a bar on a TTY). Default process.stderr. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
}

export type ResolvedDistillOptions = Required<Omit<DistillOptions, 'signal' | 'stream' | 'stopAtStep' | 'resume'>> & Pick<DistillOptions, 'signal' | 'stream' | 'stopAtStep' | 'resume'>;

/** Options that must match for --resume to continue the same run bit for bit. */
export const RUN_IDENTITY = ['data', 'lr', 'warmup', 'alpha', 'seq', 'batch', 'seed', 'clip', 'ste', 'postNorm', 'latentInit', 'temperature', 'steps'] as const;

export function resolveDistillOptions(o: DistillOptions, model: { parameters: number; contextLength: number }): ResolvedDistillOptions {
  const steps = o.steps ?? 1000;
  const check = (name: string, v: number, ok: boolean) => { if (!ok) throw new RangeError(`--${name} ${v}: out of range`); };
  const seq = Math.min(o.seq ?? 256, model.contextLength);
  const r: ResolvedDistillOptions = {
    ...o,
    steps,
    lr: o.lr ?? (model.parameters <= 100e6 ? 4e-3 : 4e-4),
    warmup: o.warmup ?? Math.min(200, Math.round(steps * 0.05)),
    alpha: o.alpha ?? 1,
    seq,
    batch: o.batch ?? 16,
    seed: o.seed ?? 0,
    clip: o.clip ?? 1,
    ste: o.ste ?? 'tanh',
    postNorm: o.postNorm ?? true,
    latentInit: o.latentInit ?? 'weight',
    temperature: o.temperature ?? 1,
    checkpointEvery: o.checkpointEvery ?? Math.max(1, Math.min(100, Math.round(steps / 10))),
    evalEvery: o.evalEvery ?? Math.max(1, Math.round(steps / 10)),
  };
  check('steps', r.steps, Number.isInteger(r.steps) && r.steps >= 1);
  check('lr', r.lr, r.lr > 0 && Number.isFinite(r.lr));
  check('warmup', r.warmup, Number.isInteger(r.warmup) && r.warmup >= 0 && r.warmup < r.steps + 1);
  check('alpha', r.alpha, r.alpha >= 0 && Number.isFinite(r.alpha));
  check('seq', r.seq, Number.isInteger(r.seq) && r.seq >= 2);
  check('batch', r.batch, Number.isInteger(r.batch) && r.batch >= 1);
  check('seed', r.seed, Number.isInteger(r.seed) && r.seed >= 0);
  check('clip', r.clip, r.clip > 0);
  check('temperature', r.temperature, r.temperature > 0);
  return r;
}
