// Training speed (issue 6): one OneBit layer's forward + backward at 4096×4096, and distillation throughput on
// stories260K, each against onnxruntime measured in the same run. onnxruntime has no training in Node, so the
// peers compute the same dense fp32 products: the layer's y = x·Wᵀ, dx = dy·W and dW = dyᵀ·x in one graph, and
// the teacher's forward pass over the same batch. Part of `npm run bench`; alone: `npm run bench -- --train`.
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { readFileSync } from 'node:fs';
import type { Tensor } from '../formats/tensor.ts';
import { tensor } from '../formats/tensor.ts';
import { importModel } from '../compiler/import/import-model.ts';
import { Attributes } from '../runtime/kernel.ts';
import { Tape, TRAIN_KERNELS, VJPS } from '../compiler/train/autodiff/tape.ts';
import { POST_NORM_EPS, buildStudent } from '../compiler/train/student.ts';
import { kdLoss } from '../compiler/train/kd-loss.ts';
import { decoderFeeds } from '../compiler/train/language-model-feeds.ts';
import { fuseAttention } from '../compiler/train/fuse-attention.ts';
import { randomNormal, valueInfo } from '../test/helpers/onnx-builder.ts';
import { median, modelBytes } from './gemv.ts';
import { note, speedup, table } from './report.ts';

const ratio = (ms: number, base: number): string => `${ms.toFixed(1)} ms (${(base / ms).toFixed(2)}×)`;

/** fp32 dense layer, forward and backward: y = x·W, dx = dy·Wᵀ, dW = xᵀ·dy (W [K, N] an initializer). */
function denseTrainingModel(M: number, K: number, N: number): Uint8Array {
  return modelBytes([
    { name: 'fwd', opType: 'MatMul', input: ['x', 'w'], output: ['y'] },
    { name: 'wt', opType: 'Transpose', input: ['w'], output: ['w_t'] },
    { name: 'dx', opType: 'MatMul', input: ['dy', 'w_t'], output: ['dx'] },
    { name: 'xt', opType: 'Transpose', input: ['x'], output: ['x_t'] },
    { name: 'dw', opType: 'MatMul', input: ['x_t', 'dy'], output: ['dw'] },
  ], [valueInfo('x', 1, [M, K]), valueInfo('dy', 1, [M, N])], [valueInfo('y', 1, [M, N]), valueInfo('dx', 1, [M, K]), valueInfo('dw', 1, [K, N])],
  [['w', { dtype: 'float32', dims: [K, N], data: randomNormal(K * N, 0.02, 11) }]]);
}

async function layerTable(M: number, size: number): Promise<void> {
  const x = randomNormal(M * size, 1, 1);
  const dy = randomNormal(M * size, 1, 2);
  const model = denseTrainingModel(M, size, size);
  const node = await ortNode.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  ortWeb.env.wasm.numThreads = 1;
  const web = await ortWeb.InferenceSession.create(model, { executionProviders: ['wasm'] });
  const nodeFeeds = { x: new ortNode.Tensor('float32', x, [M, size]), dy: new ortNode.Tensor('float32', dy, [M, size]) };
  const webFeeds = { x: new ortWeb.Tensor('float32', x, [M, size]), dy: new ortWeb.Tensor('float32', dy, [M, size]) };

  const inputs: Tensor[] = [
    tensor('float32', [M, size], x), tensor('float32', [size, size], randomNormal(size * size, 0.02, 3)),
    tensor('float32', [size], randomNormal(size, 0.05, 4).map(Math.abs)), tensor('float32', [size], randomNormal(size, 0.05, 5).map(Math.abs)),
  ];
  const attrs = new Attributes({ in: size, out: size, ste: 'tanh', post_norm_eps: POST_NORM_EPS });
  const ctx = { opset: 18, outputCount: 2, runSubgraph: () => [] };
  const oneBit = () => {
    const outputs = TRAIN_KERNELS['OneBitTrain']!(inputs, attrs, ctx);
    VJPS['OneBitTrain']!({ inputs, outputs, grads: [dy], needs: [true, true, true, true], attrs });
  };
  const runs = 3;
  const times = new Map<string, number>([
    ['onnxruntime-node fp32 (3 MatMuls)', await median(() => node.run(nodeFeeds), runs, 0)],
    ['onnxruntime-web wasm fp32 (3 MatMuls)', await median(() => web.run(webFeeds), runs, 0)],
    ['onebitc OneBitTrain + VJP (post-norm, tanh STE)', await median(oneBit, runs, 0)],
  ]);
  const base = times.get('onnxruntime-node fp32 (3 MatMuls)')!;
  const title = `one ${size}×${size} layer, forward + backward, ${M} rows (1 thread)`;
  table(title, ['runner', 'median (speed-up over onnxruntime-node)'], [...times].map(([name, ms]) => [name, ratio(ms, base)]));
  for (const [name, ms] of times) speedup(title, 'onnxruntime-node fp32 (3 MatMuls)', name, base / ms);
}

async function stepTable(batch: number, seq: number): Promise<void> {
  const dir = new URL('../test/fixtures/stories260K/', import.meta.url).pathname;
  const { model, headWeight } = await importModel(dir);
  const student = buildStudent(model, { keep: (s) => s.weight === headWeight });
  const text = readFileSync(new URL('../test/fixtures/tinystories/valid_sample.txt', import.meta.url), 'utf8');
  const ids = Array.from({ length: batch * seq }, (_, i) => 3 + (text.charCodeAt(i) % 500));
  // The graphs distillation trains on: attention fused (compiler/train/distill.ts).
  const teacherTape = new Tape(fuseAttention(model.graph));
  const studentTape = new Tape(fuseAttention(student.model.graph));
  const teacher = teacherTape.run(decoderFeeds(model.graph, ids, batch), new Map()).values;
  const hidden = model.hiddenStates!;
  const target = { logits: teacher.get('logits')!.data as Float32Array, hidden: hidden.map((h) => teacher.get(h)!.data as Float32Array) };
  const studentStep = () => {
    const values = studentTape.run(decoderFeeds(student.model.graph, ids, batch), student.params).values;
    const loss = kdLoss({
      teacherLogits: target.logits, studentLogits: values.get('logits')!.data as Float32Array, vocab: 512,
      teacherHidden: target.hidden, studentHidden: hidden.map((h) => values.get(h)!.data as Float32Array), hidden: 64, alpha: 1,
    });
    studentTape.backward(new Map([['logits', loss.logitsGrad], ...hidden.map((h, i) => [h, loss.hiddenGrads[i]!] as const)]), student.params.keys());
  };
  const teacherForward = () => teacherTape.run(decoderFeeds(model.graph, ids, batch), new Map());
  const onnx = readFileSync(new URL('model.onnx', `file://${dir}`));
  const node = await ortNode.InferenceSession.create(onnx, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const idsTensor = BigInt64Array.from(ids.map(BigInt));
  const nodeFeeds = { input_ids: new ortNode.Tensor('int64', idsTensor, [batch, seq]) };
  const runs = 3;
  const ortMs = await median(() => node.run(nodeFeeds), runs, 0);
  const stepMs = await median(studentStep, runs, 0);
  const teacherMs = await median(teacherForward, runs, 0);
  const tokens = batch * seq;
  const tps = (ms: number) => `${Math.round(tokens / (ms / 1000))} tokens/s`;
  const title = `stories260K distillation, ${batch}×${seq} tokens per step (1 thread)`;
  table(title, ['runner', 'median', 'throughput', '÷ onnxruntime-node forward'], [
    ['onnxruntime-node fp32, teacher forward only', `${ortMs.toFixed(0)} ms`, tps(ortMs), '1.00×'],
    ['onebitc teacher forward (tape)', `${teacherMs.toFixed(0)} ms`, tps(teacherMs), `${(teacherMs / ortMs).toFixed(2)}×`],
    ['onebitc student step: forward + KD loss + backward (teacher cached)', `${stepMs.toFixed(0)} ms`, tps(stepMs), `${(stepMs / ortMs).toFixed(2)}×`],
    ['onebitc full step, teacher not cached', `${(stepMs + teacherMs).toFixed(0)} ms`, tps(stepMs + teacherMs), `${((stepMs + teacherMs) / ortMs).toFixed(2)}×`],
  ]);
  note('A training step also runs Adam and the gradient clip (under 1 % of a step here). The teacher\'s outputs are cached per training window after the first epoch (compiler/train/teacher-cache.ts).');
}

export async function trainTables(): Promise<void> {
  await layerTable(128, 4096);
  await stepTable(16, 256);
}
