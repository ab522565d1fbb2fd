// In-process distillation on stories260K: resume is bit-exact, training lowers held-out perplexity, the lowered
// student computes what the trained one does, divergence and bad input stop with clear messages.
import test from 'ava';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { halfToFloat32, float32ToHalf } from '../../formats/dtype.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { tensor } from '../../formats/tensor.ts';
import { importModel } from '../../compiler/import/import-model.ts';
import { Tape } from '../../compiler/train/autodiff/tape.ts';
import { loadCheckpoint } from '../../compiler/train/checkpoint.ts';
import { distill, CHECKPOINT } from '../../compiler/train/distill.ts';
import { DistillDiverged, DistillInterrupted } from '../../compiler/train/distill-errors.ts';
import type { DistillOptions } from '../../compiler/train/distill-options.ts';
import { decoderFeeds } from '../../compiler/train/language-model-feeds.ts';
import { readRecords } from '../../compiler/train/training-log.ts';
import { buildStudent } from '../../compiler/train/student.ts';
import { loadTokenizer } from '../../runtime/tokenizer/tokenizer.ts';
import { tempDir } from '../helpers/cli.ts';
import { STORIES_DIR } from '../helpers/hf-checkpoint.ts';

const SAMPLE = new URL('../fixtures/tinystories/valid_sample.txt', import.meta.url).pathname;
/** The first ~30k characters: enough for a few windows of training and a held-out part, fast to evaluate. */
const text = readFileSync(SAMPLE, 'utf8').slice(0, 30000);
const dir = tempDir('distill');
const textFile = join(dir, 'train.txt');
writeFileSync(textFile, text);

const imported = await importModel(STORIES_DIR);
const tokenizer = loadTokenizer(imported.lm!.tokenizer, JSON.parse(imported.lm!.tokenizerConfig!) as object);
const input = { teacher: imported.model, tokenizer, contextLength: 512, headWeight: imported.headWeight! };
const quiet = { write: () => true } as unknown as NodeJS.WritableStream;
const base = (checkpointDir: string, more: Partial<DistillOptions> = {}): DistillOptions => ({
  data: textFile, checkpointDir, steps: 6, batch: 2, seq: 32, warmup: 1, evalEvery: 3, checkpointEvery: 100, stream: quiet, ...more,
});

async function params(checkpointDir: string): Promise<Map<string, Float32Array>> {
  const { tensors } = await loadCheckpoint(join(checkpointDir, CHECKPOINT));
  return new Map([...tensors].filter(([k]) => k.startsWith('param/')).map(([k, t]) => [k.slice(6), t.data]));
}

test.serial('a run interrupted and resumed ends with the same weights, optimizer state and curve as an uninterrupted one', async (t) => {
  const whole = join(dir, 'whole');
  await distill(input, base(whole));
  const split = join(dir, 'split');
  const error = await t.throwsAsync(distill(input, base(split, { stopAtStep: 2 })), { instanceOf: DistillInterrupted });
  t.regex(error!.message, /stopped at step 2; checkpoint written .* --resume/);
  await distill(input, base(split, { resume: true }));
  const [a, b] = [await loadCheckpoint(join(whole, CHECKPOINT)), await loadCheckpoint(join(split, CHECKPOINT))];
  t.is(a.tensors.size, b.tensors.size);
  for (const [name, ta] of a.tensors) t.deepEqual(Buffer.from(b.tensors.get(name)!.data.buffer), Buffer.from(ta.data.buffer), name);
  t.deepEqual(readRecords(split).map((r) => r.loss), readRecords(whole).map((r) => r.loss));
  t.is(readRecords(whole).length, 6);
});

test.serial('distillation lowers the student\'s held-out perplexity, and the lowered 1-bit model computes the trained student', async (t) => {
  const run = join(dir, 'lower');
  const { model, summary } = await distill(input, base(run, { steps: 10 }));
  t.true(summary.heldOut!.final < summary.heldOut!.initial / 2, `perplexity ${summary.heldOut!.initial} → ${summary.heldOut!.final}`);
  t.true(existsSync(join(run, 'curve.svg')) && existsSync(join(run, 'log.csv')) && existsSync(join(run, 'heldout.txt')));
  // The trained student on the tape, with g and h rounded to fp16 as the bundle stores them …
  const student = buildStudent(imported.model, { keep: (s) => s.weight === imported.headWeight });
  const trained = await params(run);
  const halves = new Set(student.layers.flatMap((l) => [l.g, l.h]));
  const p = new Map<string, Tensor<'float32'>>([...student.params].map(([name, t0]) => {
    const v = trained.get(name)!;
    return [name, tensor('float32', t0.dims, halves.has(name) ? halfToFloat32('float16', float32ToHalf('float16', v)) : v)];
  }));
  const ids = tokenizer.encode('Once upon a time, there was a little girl');
  const want = new Tape(student.model.graph).run(decoderFeeds(student.model.graph, ids, 1), p).values.get('logits')!.data as Float32Array;
  // … against the lowered graph, whose OneBitLinear nodes run the runtime's reference kernel on packed signs.
  const got = new Tape(model.graph).run(decoderFeeds(model.graph, ids, 1), new Map()).values.get('logits')!.data as Float32Array;
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i]! - got[i]!));
  t.true(worst < 1e-3, `max |Δ logits| ${worst}`);
  t.is(model.graph.nodes.filter((n) => n.op === 'OneBitLinear').length, 35);
});

test.serial('a diverging run stops with a clear message and keeps the last good checkpoint', async (t) => {
  const run = join(dir, 'diverge');
  const error = await t.throwsAsync(distill(input, base(run, { lr: 1e30, warmup: 0, checkpointEvery: 1, clip: 1e30 })), { instanceOf: DistillDiverged });
  t.regex(error!.message, /diverged at step \d+: loss .*last good checkpoint is kept in .*--lr/);
  const { meta, tensors } = await loadCheckpoint<{ step: number }>(join(run, CHECKPOINT));
  t.true(meta.step >= 1);
  for (const [name, v] of tensors) t.true(v.data.every(Number.isFinite), name);
});

test.serial('bad input names what is wrong', async (t) => {
  await t.throwsAsync(distill(input, base(join(dir, 'missing'), { data: join(dir, 'nope.txt') })), { message: /nope\.txt.*not found/ });
  const run = join(dir, 'identity');
  await t.throwsAsync(distill(input, base(run, { stopAtStep: 1 })), { instanceOf: DistillInterrupted });
  await t.throwsAsync(distill(input, base(run, { resume: true, seq: 16 })), { message: /trained with seq = 32, this run asks for 16/ });
  await t.throwsAsync(distill(input, base(run)), { message: /already holds a distillation checkpoint.*--resume/ });
  await t.throwsAsync(distill(input, base(join(dir, 'few'), { data: 'self:10' })), { message: /self:10: too few tokens/ });
});

test.serial('self:N trains on text sampled from the teacher, which the teacher itself finds likely', async (t) => {
  const run = join(dir, 'self');
  const { summary } = await distill(input, base(run, { data: 'self:4000', steps: 4, evalEvery: 4 }));
  const sampled = readFileSync(join(run, 'teacher-samples.bin'));
  t.is(sampled.byteLength, 4000 * 4);
  const ids = new Int32Array(sampled.buffer, sampled.byteOffset, 4000);
  t.is(ids[0], tokenizer.bos!);
  t.true(ids.every((id) => id >= 0 && id < 512));
  // Samples at temperature 1 score about the teacher's own entropy: far better than the uniform 512.
  t.true(summary.heldOut!.teacher < 20, `teacher perplexity on its samples ${summary.heldOut!.teacher}`);
  t.true(summary.heldOut!.final < summary.heldOut!.initial);
  t.regex(readFileSync(join(run, 'heldout.txt'), 'utf8'), /[a-z]+ [a-z]+/);
});
