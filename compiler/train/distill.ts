// `--distill`: quantization-aware knowledge distillation of the 1-bit student from the original model, in
// process (ONEBIT.md §3). Every step: a batch of windows → the teacher's logits and hidden states (cached per
// window) → the student's forward on the tape → KD loss → backward → gradient clipping → Adam on the cosine
// schedule. Checkpoints (parameters, Adam moments, data position, RNG) are written atomically every so many
// steps and on Ctrl-C; --resume continues bit for bit. A non-finite loss stops training and keeps the last
// good checkpoint. The trained student is returned as an ordinary OneBitLinear graph.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import type { Tensor } from '../../formats/tensor.ts';
import type { IrModel } from '../ir/graph.ts';
import { findLinears } from '../passes/find-linears.ts';
import { Adam } from './adam.ts';
import { Tape } from './autodiff/tape.ts';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { clipGradNorm } from './clip-grad-norm.ts';
import type { TextTokenizer } from './data.ts';
import { BatchSampler, loadTextData } from './data.ts';
import type { DistillOptions, ResolvedDistillOptions } from './distill-options.ts';
import { resolveDistillOptions, RUN_IDENTITY } from './distill-options.ts';
import { fuseAttention } from './fuse-attention.ts';
import { kdLoss } from './kd-loss.ts';
import { decoderFeeds, isDecoderGraph } from './language-model-feeds.ts';
import { lowerStudent } from './lower-student.ts';
import { checkTrainingFits } from './memory-check.ts';
import { perplexity } from './perplexity.ts';
import { plotCurve } from './plot-curve.ts';
import { DistillDiverged, DistillError, DistillInterrupted } from './distill-errors.ts';
import { createTrainingProgress } from './progress.ts';
import { Rng } from './rng.ts';
import { learningRate } from './schedule.ts';
import type { Student } from './student.ts';
import { buildStudent } from './student.ts';
import { TeacherCache } from './teacher-cache.ts';
import { sampleFromTeacher } from './teacher-samples.ts';
import { TrainingLog } from './training-log.ts';

export const CHECKPOINT = 'checkpoint';
export const HELD_OUT_TEXT = 'heldout.txt';
export const CURVE_SVG = 'curve.svg';
export const SUMMARY = 'summary.json';
const SELF_SAMPLES = 'teacher-samples.bin';

export interface DistillSummary {
  steps: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  /** Held-out perplexity of the teacher, of the student before training (SVID init) and after. */
  heldOut: { tokens: number; teacher: number; initial: number; final: number } | undefined;
  options: Omit<ResolvedDistillOptions, 'signal' | 'stream'>;
}

export interface DistillInput {
  teacher: IrModel;
  tokenizer: TextTokenizer & { decode(ids: readonly number[]): string };
  contextLength: number;
  /** The LM head's weight, kept in full precision as in the paper. */
  headWeight?: string;
}

interface RunMeta {
  step: number;
  elapsedSeconds: number;
  sampler: ReturnType<BatchSampler['state']>;
  adamStep: number;
  identity: Record<string, unknown>;
  teacherPerplexity?: number;
  initialPerplexity?: number;
}

export async function distill(input: DistillInput, options: DistillOptions): Promise<{ model: IrModel; summary: DistillSummary }> {
  const { teacher } = input;
  if (!isDecoderGraph(teacher.graph) || !teacher.hiddenStates?.length) {
    throw new DistillError('--distill needs a decoder language model from a Hugging Face checkpoint (LLaMA, Mistral, Qwen2, GPT-2, OPT): its layers\' hidden states come from the architecture template');
  }
  const parameters = [...teacher.graph.initializers.values()].reduce((n, t) => n + t.data.length, 0);
  const o = resolveDistillOptions(options, { parameters, contextLength: input.contextLength });
  // Before SVID and the student's copies of the weights, which a model too large would not survive.
  checkTrainingFits(findLinears(teacher).filter((s) => s.weight !== input.headWeight).reduce((n, s) => n + s.out * s.in, 0), totalmem());
  const stream = o.stream ?? process.stderr;
  const say = (line: string) => stream.write(`${line}\n`);
  await mkdir(o.checkpointDir, { recursive: true });
  const checkpointPath = join(o.checkpointDir, CHECKPOINT);
  if (!o.resume && existsSync(checkpointPath)) {
    throw new DistillError(`${o.checkpointDir} already holds a distillation checkpoint: continue it with --resume, or choose another --checkpoint-dir`);
  }

  const data = await trainingData(input, o, say);
  for (const [part, tokens] of [['training', data.train], ['held-out', data.heldOut]] as const) {
    if (tokens.length < o.seq + 1) {
      throw new DistillError(`${o.data}: its ${part} part has ${tokens.length} tokens, fewer than one window of --seq ${o.seq} + 1; give more text or a smaller --seq`);
    }
  }
  await writeFile(join(o.checkpointDir, HELD_OUT_TEXT), data.heldOutText);
  const student = buildStudent(teacher, { postNorm: o.postNorm, latentInit: o.latentInit, ste: o.ste, keep: (s) => s.weight === input.headWeight });
  say(`distill: student with ${student.layers.length} 1-bit layers${o.postNorm ? ' + post-LayerNorm' : ''}; ${data.train.length} training tokens, ${data.heldOut.length} held out`);
  const params = new Map([...student.params].map(([name, t]) => [name, t.data]));
  const adam = new Adam(params);
  const rng = new Rng(o.seed);
  const sampler = new BatchSampler(data.train, { batch: o.batch, seq: o.seq }, rng);
  const identity = Object.fromEntries(RUN_IDENTITY.map((k) => [k, o[k]]));

  let step = 0;
  let elapsed = 0;
  let meta: Partial<RunMeta> = {};
  if (o.resume) {
    meta = await restore(checkpointPath, params, adam, sampler, identity);
    step = meta.step!;
    elapsed = meta.elapsedSeconds!;
    say(`distill: resumed at step ${step} from ${checkpointPath}`);
  }
  // Training runs on graphs with attention fused; the student's own graph is what gets lowered and compiled.
  const teacherGraph = fuseAttention(teacher.graph);
  const studentGraph = fuseAttention(student.model.graph);
  const evalWindows = 16;
  const heldOut = (graph: IrModel['graph'], p: ReadonlyMap<string, Tensor>, maxWindows?: number) =>
    perplexity(graph, p, data.heldOut, { seq: o.seq, ...(maxWindows ? { maxWindows } : {}) });
  meta.teacherPerplexity ??= heldOut(teacherGraph, new Map()).perplexity;
  meta.initialPerplexity ??= heldOut(studentGraph, student.params).perplexity;
  say(`distill: held-out perplexity: teacher ${meta.teacherPerplexity.toFixed(3)}, student before training ${meta.initialPerplexity.toFixed(3)}`);

  const log = TrainingLog.open(o.checkpointDir, o.resume ? { resumeStep: step } : {});
  const cache = new TeacherCache(teacherGraph, teacher.hiddenStates);
  const tape = new Tape(studentGraph);
  const progress = createTrainingProgress({ total: o.steps, stream, everySeconds: 10 });
  const save = async () => {
    const tensors = new Map<string, { dims: number[]; data: Float32Array }>();
    for (const [name, t] of student.params) tensors.set(`param/${name}`, { dims: [...t.dims], data: t.data });
    const moments = adam.state();
    for (const [name, m] of moments.m) tensors.set(`adam.m/${name}`, { dims: [m.length], data: m });
    for (const [name, v] of moments.v) tensors.set(`adam.v/${name}`, { dims: [v.length], data: v });
    const state: RunMeta = { step, elapsedSeconds: elapsed, sampler: sampler.state(), adamStep: moments.step, identity, teacherPerplexity: meta.teacherPerplexity!, initialPerplexity: meta.initialPerplexity! };
    await saveCheckpoint(checkpointPath, { tensors, meta: state });
    await writeFile(join(o.checkpointDir, CURVE_SVG), plotCurve(log.records, { title: 'onebitc distillation' }));
  };

  const tokensPerStep = o.batch * o.seq;
  const hidden = teacher.hiddenStates;
  try {
    while (step < o.steps) {
      const started = performance.now();
      const batch = sampler.next();
      const ids = dropLastToken(batch.ids, o.batch, o.seq);
      const target = cache.outputs(ids, batch.windows, o.seq);
      const values = tape.run(decoderFeeds(studentGraph, ids, o.batch), student.params).values;
      const loss = kdLoss({
        teacherLogits: target.logits, studentLogits: values.get('logits')!.data as Float32Array, vocab: target.logits.length / tokensPerStep,
        teacherHidden: target.hidden, studentHidden: hidden.map((h) => values.get(h)!.data as Float32Array), hidden: target.hidden[0]!.length / tokensPerStep,
        alpha: o.alpha, temperature: o.temperature,
      });
      const seeds = new Map([['logits', loss.logitsGrad], ...hidden.map((h, i) => [h, loss.hiddenGrads[i]!] as const)]);
      const grads = tape.backward(seeds, params.keys());
      const gradNorm = clipGradNorm(grads, o.clip);
      if (!Number.isFinite(loss.loss) || !Number.isFinite(gradNorm)) {
        throw new DistillDiverged(`distillation diverged at step ${step + 1}: loss ${loss.loss}, gradient norm ${gradNorm}. The last good checkpoint is kept in ${checkpointPath}; try a lower --lr (now ${o.lr}).`);
      }
      const lr = learningRate(step, { lr: o.lr, warmupSteps: o.warmup, totalSteps: o.steps });
      adam.step(grads, lr);
      step++;
      const seconds = (performance.now() - started) / 1000;
      elapsed += seconds;
      const tokensPerSecond = tokensPerStep / seconds;
      const evaluate = step % o.evalEvery === 0 || step === o.steps;
      const ppl = evaluate ? heldOut(studentGraph, student.params, step === o.steps ? undefined : evalWindows).perplexity : undefined;
      log.append({ step, loss: loss.loss, ce: loss.ce, mse: loss.mse, lr, gradNorm, tokensPerSecond, elapsedSeconds: elapsed, ...(ppl !== undefined ? { heldOutPerplexity: ppl } : {}) });
      progress.update(step, { loss: loss.loss, ce: loss.ce, mse: loss.mse, lr, tokensPerSecond });
      if (ppl !== undefined) progress.log(`step ${step}: held-out perplexity ${ppl.toFixed(3)}${step === o.steps ? '' : ` (${evalWindows} windows)`}`);
      await new Promise((resolve) => setImmediate(resolve)); // lets Ctrl-C (a signal event) reach o.signal
      const stopping = o.signal?.aborted || step === o.stopAtStep;
      if (step % o.checkpointEvery === 0 || step === o.steps || stopping) await save();
      if (stopping && step < o.steps) throw new DistillInterrupted(step, o.checkpointDir);
    }
  } finally {
    progress.stop();
    log.close();
  }
  const final = log.records.at(-1)?.heldOutPerplexity ?? heldOut(studentGraph, student.params).perplexity;
  const { signal: _s, stream: _t, ...recorded } = o;
  const summary: DistillSummary = {
    steps: step, tokens: step * tokensPerStep, seconds: elapsed, tokensPerSecond: (step * tokensPerStep) / Math.max(elapsed, 1e-9),
    heldOut: { tokens: data.heldOut.length, teacher: meta.teacherPerplexity, initial: meta.initialPerplexity, final },
    options: recorded,
  };
  await writeFile(join(o.checkpointDir, SUMMARY), JSON.stringify(summary, null, 2) + '\n');
  say(`distill: ${step} steps in ${elapsed.toFixed(0)} s (${summary.tokensPerSecond.toFixed(0)} tokens/s); held-out perplexity teacher ${meta.teacherPerplexity.toFixed(3)}, student at start ${meta.initialPerplexity.toFixed(3)}, distilled ${final.toFixed(3)}`);
  return { model: lowerStudent(student as Student), summary };
}

/** (batch, seq + 1) windows → their first seq tokens (distillation needs no shifted targets). */
function dropLastToken(ids: Int32Array, batch: number, seq: number): Int32Array {
  const out = new Int32Array(batch * seq);
  for (let r = 0; r < batch; r++) out.set(ids.subarray(r * (seq + 1), r * (seq + 1) + seq), r * seq);
  return out;
}

async function trainingData(input: DistillInput, o: ResolvedDistillOptions, say: (line: string) => void): Promise<{ train: Int32Array; heldOut: Int32Array; heldOutText: string }> {
  const self = /^self:(\d+)$/.exec(o.data);
  if (!self) return loadTextData(o.data, input.tokenizer);
  const total = Number(self[1]);
  const bos = input.tokenizer.bos;
  if (bos === undefined) throw new DistillError('--distill self:N needs a tokenizer with a BOS token to start the teacher\'s samples');
  if (total < 10 * (o.seq + 1)) throw new RangeError(`--distill self:${total}: too few tokens; at least ${10 * (o.seq + 1)} (ten windows of --seq ${o.seq} + 1)`);
  const file = join(o.checkpointDir, SELF_SAMPLES);
  let tokens: Int32Array;
  if (existsSync(file)) {
    const bytes = await readFile(file);
    tokens = new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    if (tokens.length !== total) throw new DistillError(`${file} holds ${tokens.length} sampled tokens, not ${total}: remove it to sample again`);
  } else {
    let shown = 0;
    tokens = sampleFromTeacher(fuseAttention(input.teacher.graph), total, {
      length: o.seq + 1, bos, rng: new Rng(o.seed + 0x5eed),
      onProgress: (done) => { if (done - shown >= total / 10 || done === total) { shown = done; say(`distill: sampled ${done}/${total} tokens from the teacher`); } },
    });
    await writeFile(file, new Uint8Array(tokens.buffer));
  }
  const cut = Math.floor(tokens.length * 0.9);
  return { train: tokens.subarray(0, cut), heldOut: tokens.subarray(cut), heldOutText: input.tokenizer.decode(Array.from(tokens.subarray(cut))) };
}

async function restore(path: string, params: Map<string, Float32Array>, adam: Adam, sampler: BatchSampler, identity: Record<string, unknown>): Promise<RunMeta> {
  const { tensors, meta } = await loadCheckpoint<RunMeta>(path);
  for (const [key, value] of Object.entries(identity)) {
    if (JSON.stringify(meta.identity[key]) !== JSON.stringify(value)) {
      throw new DistillError(`${path}: the checkpoint was trained with ${key} = ${JSON.stringify(meta.identity[key])}, this run asks for ${JSON.stringify(value)}; resume with the same options`);
    }
  }
  const take = (key: string, length: number) => {
    const t = tensors.get(key);
    if (!t || t.data.length !== length) throw new DistillError(`${path}: tensor '${key}' is missing or has the wrong size (a checkpoint of another model?)`);
    return t.data;
  };
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const [name, p] of params) {
    p.set(take(`param/${name}`, p.length));
    m.set(name, take(`adam.m/${name}`, p.length));
    v.set(name, take(`adam.v/${name}`, p.length));
  }
  adam.restore({ step: meta.adamStep, m, v });
  sampler.restore(meta.sampler);
  return meta;
}

