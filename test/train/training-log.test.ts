import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrainingLog, readRecords } from '../../compiler/train/training-log.ts';
import type { TrainingRecord } from '../../compiler/train/training-log.ts';

const tmp = mkdtempSync(join(tmpdir(), 'onebitc-log-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
const logDir = () => join(mkdtempSync(join(tmp, 'case-')), 'log');

const record = (step: number, extra: Partial<TrainingRecord> = {}): TrainingRecord => ({
  step, loss: 3 / step + 0.1, ce: 2 / step, mse: 1 / step + 0.1, lr: 1e-3 * step, gradNorm: 0.5 + step,
  tokensPerSecond: 1234.5, elapsedSeconds: step * 0.1, ...extra,
});

test('writes log.csv line by line and log.json with the whole curve', (t) => {
  const dir = logDir();
  const log = TrainingLog.open(dir);
  t.is(readFileSync(join(dir, 'log.csv'), 'utf8'), 'step,loss,ce,mse,lr,gradNorm,tokensPerSecond,elapsedSeconds,heldOutPerplexity\n');
  log.append(record(10));
  // Flushed as it goes: the line is on disk before close().
  t.is(readFileSync(join(dir, 'log.csv'), 'utf8').split('\n')[1], `10,${3 / 10 + 0.1},0.2,${1 / 10 + 0.1},0.01,10.5,1234.5,1,`);
  log.append(record(20, { heldOutPerplexity: 17.25 }));
  t.is(readFileSync(join(dir, 'log.csv'), 'utf8').split('\n')[2]!.split(',').at(-1), '17.25');
  t.deepEqual(JSON.parse(readFileSync(join(dir, 'log.json'), 'utf8')), [record(10), record(20, { heldOutPerplexity: 17.25 })]);
  t.deepEqual(log.records, [record(10), record(20, { heldOutPerplexity: 17.25 })]);
  t.throws(() => log.append(record(20)), { message: /step 20 is not after the last logged step 20/ });
  log.close();
  t.throws(() => log.append(record(30)), { message: /closed/ });
});

test('reopening on resume keeps the records up to the resumed step, in both files', (t) => {
  const dir = logDir();
  const log = TrainingLog.open(dir);
  for (const s of [10, 20, 30, 40]) log.append(record(s, s === 20 ? { heldOutPerplexity: 9 } : {}));
  log.close();
  const resumed = TrainingLog.open(dir, { resumeStep: 25 });
  t.deepEqual(resumed.records.map((r) => r.step), [10, 20]);
  resumed.append(record(30, { loss: 7 }));
  resumed.close();
  const expected = [record(10), record(20, { heldOutPerplexity: 9 }), record(30, { loss: 7 })];
  t.deepEqual(JSON.parse(readFileSync(join(dir, 'log.json'), 'utf8')), expected);
  const csv = readFileSync(join(dir, 'log.csv'), 'utf8').trimEnd().split('\n');
  t.is(csv.length, 4);
  t.deepEqual(readRecords(dir), expected);
  // A new run (no resumeStep) starts empty.
  t.deepEqual(TrainingLog.open(dir).records, []);
});

test('without log.json the CSV is read back exactly (and a line cut off by a crash is dropped)', (t) => {
  const dir = logDir();
  const log = TrainingLog.open(dir);
  const values = [record(1, { loss: 0.1 + 0.2, lr: 3.9e-3 / 7 }), record(2, { heldOutPerplexity: 1e-7 })];
  values.forEach((r) => log.append(r));
  log.close();
  writeFileSync(join(dir, 'log.csv'), readFileSync(join(dir, 'log.csv'), 'utf8') + '3,1.5,0.2');
  rmSync(join(dir, 'log.json'));
  t.deepEqual(readRecords(dir), values);
  const resumed = TrainingLog.open(dir, { resumeStep: 2 });
  t.deepEqual(resumed.records, values);
  resumed.close();
});
