// Training progress: a cli-progress bar on a terminal; elsewhere (CI, a log file) one plain line every so many
// steps or seconds, so logs stay short and greppable:
//   step 120/2000  loss 3.412 (ce 3.01 mse 0.40)  lr 3.9e-3  1234 tok/s  ETA 12m03s
import cliProgress from 'cli-progress';

export interface TrainingProgressParts {
  loss: number;
  ce?: number;
  mse?: number;
  lr?: number;
  tokensPerSecond?: number;
}

export interface TrainingProgressOptions {
  /** The step training ends at. */
  total: number;
  /** Default process.stderr. A bar when `stream.isTTY`, plain lines otherwise. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Plain lines: print when this many steps passed since the last line. Default total/100 (at least 1) unless everySeconds is given. */
  everySteps?: number;
  /** Plain lines: print when this many seconds passed since the last line. */
  everySeconds?: number;
  /** Milliseconds clock, for tests. Default performance.now. */
  now?: () => number;
}

export interface TrainingProgress {
  /** Reports that `step` steps are done (the first call marks the start, e.g. a resumed step). */
  update(step: number, parts: TrainingProgressParts): void;
  /** A line of its own (an evaluation result, a checkpoint saved), above the bar on a terminal. */
  log(line: string): void;
  stop(): void;
}

export function createTrainingProgress(options: TrainingProgressOptions): TrainingProgress {
  const { total } = options;
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? (() => performance.now());
  const everySeconds = options.everySeconds;
  const everySteps = options.everySteps ?? (everySeconds === undefined ? Math.max(1, Math.round(total / 100)) : Infinity);
  let start: { step: number; time: number } | undefined;
  const eta = (step: number): string => {
    if (!start || step <= start.step) return '?';
    const msPerStep = (now() - start.time) / (step - start.step);
    return formatDuration((Math.max(0, total - step) * msPerStep) / 1000);
  };

  if (stream.isTTY) {
    const bars = new cliProgress.MultiBar({
      format: 'train {bar} {value}/{total} | loss {loss} (ce {ce} mse {mse}) | lr {lr} | {tps} tok/s | ETA {eta}',
      stream, hideCursor: true, clearOnComplete: false, gracefulExit: true,
    }, cliProgress.Presets.shades_classic);
    let bar: cliProgress.SingleBar | undefined;
    return {
      update(step, parts) {
        start ??= { step, time: now() };
        const payload = { ...fields(parts), eta: eta(step) };
        bar ??= bars.create(total, step, payload);
        bar.update(step, payload);
      },
      log: (line) => bars.log(line.endsWith('\n') ? line : line + '\n'),
      stop: () => bars.stop(),
    };
  }

  let last: { step: number; time: number } | undefined;
  return {
    update(step, parts) {
      const time = now();
      start ??= { step, time };
      const due = !last || step >= total || step - last.step >= everySteps || (everySeconds !== undefined && time - last.time >= everySeconds * 1000);
      if (!due) return;
      last = { step, time };
      const f = fields(parts);
      const split = parts.ce !== undefined || parts.mse !== undefined
        ? ` (${[parts.ce !== undefined ? `ce ${f.ce}` : '', parts.mse !== undefined ? `mse ${f.mse}` : ''].filter(Boolean).join(' ')})` : '';
      const pieces = [`step ${step}/${total}`, `loss ${f.loss}${split}`];
      if (parts.lr !== undefined) pieces.push(`lr ${f.lr}`);
      if (parts.tokensPerSecond !== undefined) pieces.push(`${f.tps} tok/s`);
      pieces.push(`ETA ${eta(step)}`);
      stream.write(pieces.join('  ') + '\n');
    },
    log: (line) => void stream.write(line.endsWith('\n') ? line : line + '\n'),
    stop: () => undefined,
  };
}

/** The numbers as shown: loss to 3 decimals, its parts to 2, lr as 3.9e-3, tokens/s whole. */
function fields(parts: TrainingProgressParts): { loss: string; ce: string; mse: string; lr: string; tps: string } {
  return {
    loss: parts.loss.toFixed(3),
    ce: parts.ce === undefined ? '-' : parts.ce.toFixed(2),
    mse: parts.mse === undefined ? '-' : parts.mse.toFixed(2),
    lr: parts.lr === undefined ? '-' : parts.lr.toExponential(1).replace('e+', 'e'),
    tps: parts.tokensPerSecond === undefined ? '-' : Math.round(parts.tokensPerSecond).toString(),
  };
}

/** 45s, 12m03s, 2h05m. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
