// The training curve on disk: log.csv gets one line per logged step, appended and flushed as training goes
// (readable while it runs, survives a crash), and log.json holds the whole curve, rewritten atomically each
// time. Reopened on resume, both are cut back to the records up to the checkpoint's step.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface TrainingRecord {
  /** Optimizer steps taken when this was logged. */
  step: number;
  /** The loss minimised (e.g. ce + mse for distillation). */
  loss: number;
  /** Cross-entropy part. */
  ce: number;
  /** MSE (hidden-state distillation) part. */
  mse: number;
  lr: number;
  /** Global gradient L2 norm before clipping. */
  gradNorm: number;
  tokensPerSecond: number;
  /** Wall-clock seconds of training so far (across resumes). */
  elapsedSeconds: number;
  /** When evaluated at this step. */
  heldOutPerplexity?: number;
}

export const CSV_FILE = 'log.csv';
export const JSON_FILE = 'log.json';
const COLUMNS = ['step', 'loss', 'ce', 'mse', 'lr', 'gradNorm', 'tokensPerSecond', 'elapsedSeconds', 'heldOutPerplexity'] as const;

export interface OpenTrainingLogOptions {
  /**
   * Resuming from a checkpoint taken at this step: records up to it are kept, later ones dropped. Without it
   * the log starts empty (a new run).
   */
  resumeStep?: number;
}

export class TrainingLog {
  private readonly list: TrainingRecord[];
  private fd: number | undefined;

  private constructor(readonly dir: string, records: TrainingRecord[]) {
    this.list = records;
    mkdirSync(dir, { recursive: true });
    replaceFile(join(dir, CSV_FILE), [COLUMNS.join(','), ...records.map(csvLine)].join('\n') + '\n');
    this.writeJson();
    this.fd = openSync(join(dir, CSV_FILE), 'a');
  }

  /** Opens (creating) the log in `dir`; see OpenTrainingLogOptions for resuming. */
  static open(dir: string, options: OpenTrainingLogOptions = {}): TrainingLog {
    const { resumeStep } = options;
    if (resumeStep === undefined) return new TrainingLog(dir, []);
    return new TrainingLog(dir, readRecords(dir).filter((r) => r.step <= resumeStep));
  }

  /** The records so far (read-only view). */
  get records(): readonly TrainingRecord[] {
    return this.list;
  }

  /** Adds one record: a line appended to log.csv and flushed, and log.json rewritten. */
  append(record: TrainingRecord): void {
    if (this.fd === undefined) throw new Error('TrainingLog.append: the log is closed');
    const last = this.list[this.list.length - 1];
    if (last && record.step <= last.step) throw new RangeError(`TrainingLog.append: step ${record.step} is not after the last logged step ${last.step}`);
    const r = { ...record };
    if (r.heldOutPerplexity === undefined) delete r.heldOutPerplexity;
    this.list.push(r);
    writeSync(this.fd, csvLine(r) + '\n');
    fsyncSync(this.fd);
    this.writeJson();
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private writeJson(): void {
    replaceFile(join(this.dir, JSON_FILE), JSON.stringify(this.list) + '\n');
  }
}

/** The records in `dir`: from log.json, or from log.csv when the JSON is missing or unreadable. */
export function readRecords(dir: string): TrainingRecord[] {
  try {
    const list = JSON.parse(readFileSync(join(dir, JSON_FILE), 'utf8')) as unknown;
    if (Array.isArray(list)) return list as TrainingRecord[];
  } catch {
    // fall through to the CSV, which is appended line by line and so is the more robust of the two
  }
  let text: string;
  try {
    text = readFileSync(join(dir, CSV_FILE), 'utf8');
  } catch {
    return [];
  }
  const [head, ...lines] = text.split('\n');
  const names = (head ?? '').split(',');
  const records: TrainingRecord[] = [];
  for (const line of lines) {
    const cells = line.split(',');
    if (cells.length !== names.length) continue; // an empty last line, or a line cut off by a crash
    const r: Record<string, number> = {};
    names.forEach((name, i) => {
      if (cells[i] !== '') r[name] = Number(cells[i]);
    });
    records.push(r as unknown as TrainingRecord);
  }
  return records;
}

/** Writes beside and renames over, so a crash leaves the old file or the new one. */
function replaceFile(path: string, text: string): void {
  writeFileSync(path + '.partial', text);
  renameSync(path + '.partial', path);
}

function csvLine(r: TrainingRecord): string {
  // String(number) round-trips exactly; an absent value is an empty cell.
  return COLUMNS.map((c) => (r[c] === undefined ? '' : String(r[c]))).join(',');
}
