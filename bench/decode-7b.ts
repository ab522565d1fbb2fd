// Part of `npm run bench`: per-token decode time of a LLaMA-7B-shaped model (2 decoder layers at hidden 4096 /
// intermediate 11008, 32 heads, vocab 32000; random F16 weights, made 1-bit by SVID) through model.wasm's fused
// decode step, against onnxruntime-node fp32 (1 thread) running those layers' fourteen projections (q, k, v,
// o, gate, up, down × 2) for one token as one ONNX graph of MatMuls. The step also reads the embedding row and
// runs the full-precision LM head (32000×4096 fp32, kept as the paper keeps it), which the projections graph
// does not: so the head is timed alone too (the bundle's own matmul kernel, instantiated alone) and reported
// both ways, and onnxruntime-node's fp32 head MatMul beside it; and the whole step of the bundle compiled
// with --quantize-head (1-bit head). Run:
//   node --import ./scripts/ts-loader.js -e "import('./bench/decode-7b.ts').then(m=>m.decode7bTable())"
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ortNode from 'onnxruntime-node';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { compile } from '../compiler/compile.ts';
import { addMatMulConstB } from '../compiler/codegen/wasm/matmul.ts';
import { createKernelModule, finishModule } from '../compiler/codegen/wasm/module.ts';
import type { Tensor } from '../formats/tensor.ts';
import { DecodeSession } from '../runtime/generate/session.ts';
import type { LanguageModel } from '../runtime/generate/session.ts';
import { STORIES_DIR, writeHfCheckpoint } from '../test/helpers/hf-checkpoint.ts';
import { randomNormal, valueInfo } from '../test/helpers/onnx-builder.ts';
import { checkpoint7bShaped } from './compile-7b.ts';
import { median, modelBytes } from './gemv.ts';
import { speedup, table } from './report.ts';

const HIDDEN = 4096;
const INTERMEDIATE = 11008;
const VOCAB = 32000;
const LAYERS = 2;
const PREFILL = 16;

/**
 * Per layer: q = x·Wq, k = x·Wk, v = x·Wv, o = v·Wo, g = o·Wg, u = o·Wu, x ← u·Wd (W [in, out], random fp32);
 * q, k, g of every layer and the last x are outputs, so no MatMul is dead code.
 */
function projectionsModel(): Uint8Array {
  const nodes: OnnxTypes.INodeProto[] = [];
  const outputs: OnnxTypes.IValueInfoProto[] = [];
  const weights: [string, Tensor][] = [];
  let seed = 100;
  let x = 'x';
  const matmul = (input: string, name: string, k: number, n: number): string => {
    weights.push([`${name}.w`, { dtype: 'float32', dims: [k, n], data: randomNormal(k * n, 0.02, seed++) } as Tensor]);
    nodes.push({ name, opType: 'MatMul', input: [input, `${name}.w`], output: [name] });
    return name;
  };
  for (let l = 0; l < LAYERS; l++) {
    const q = matmul(x, `q${l}`, HIDDEN, HIDDEN);
    const k = matmul(x, `k${l}`, HIDDEN, HIDDEN);
    const v = matmul(x, `v${l}`, HIDDEN, HIDDEN);
    const o = matmul(v, `o${l}`, HIDDEN, HIDDEN);
    const g = matmul(o, `gate${l}`, HIDDEN, INTERMEDIATE);
    const u = matmul(o, `up${l}`, HIDDEN, INTERMEDIATE);
    x = matmul(u, `down${l}`, INTERMEDIATE, HIDDEN);
    outputs.push(valueInfo(q, 1, [1, HIDDEN]), valueInfo(k, 1, [1, HIDDEN]), valueInfo(g, 1, [1, INTERMEDIATE]));
  }
  outputs.push(valueInfo(x, 1, [1, HIDDEN]));
  return modelBytes(nodes, [valueInfo('x', 1, [1, HIDDEN])], outputs, weights);
}

function headModel(): Uint8Array {
  return modelBytes([{ name: 'head', opType: 'MatMul', input: ['x', 'w'], output: ['y'] }], [valueInfo('x', 1, [1, HIDDEN])], [valueInfo('y', 1, [1, VOCAB])],
    [['w', { dtype: 'float32', dims: [HIDDEN, VOCAB], data: randomNormal(HIDDEN * VOCAB, 0.02, 7) } as Tensor]]);
}

async function ortRun(model: Uint8Array, threads = 1): Promise<() => Promise<unknown>> {
  const session = await ortNode.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' });
  const feeds = { x: new ortNode.Tensor('float32', randomNormal(HIDDEN, 1, 3), [1, HIDDEN]) };
  return () => session.run(feeds);
}

/** The LM head's kernel as the bundle builds it (matmul-const, k 4096, n 32000, one row), alone with random data. */
async function headKernel(): Promise<() => void> {
  const b = 1024;
  const x = b + HIDDEN * VOCAB * 4;
  const y = x + HIDDEN * 4;
  const mod = createKernelModule();
  addMatMulConstB(mod, 'head', { k: HIDDEN, n: VOCAB, b });
  const { binary } = finishModule(mod);
  mod.dispose();
  const memory = new WebAssembly.Memory({ initial: Math.ceil((y + VOCAB * 4) / 65536) + 1, maximum: 65536 });
  const instance = await WebAssembly.instantiate(new WebAssembly.Module(binary), { env: { memory } });
  new Float32Array(memory.buffer, b, HIDDEN * VOCAB).set(randomNormal(HIDDEN * VOCAB, 0.02, 7));
  new Float32Array(memory.buffer, x, HIDDEN).set(randomNormal(HIDDEN, 1, 3));
  const head = instance.exports.head as (x: number, y: number, rows: number) => void;
  return () => head(x, y, 1);
}

/** Median ms of one fused decode step after a PREFILL-token prompt (rounds of 8 steps, prefill not timed). */
async function stepMs(model: LanguageModel): Promise<number> {
  const session = new DecodeSession(model);
  if (!session.usesFusedStep) throw new Error('the 7B-shaped bundle has no fused decode step');
  const times: number[] = [];
  const start = performance.now();
  for (let round = 0; round < 2 || (round < 10 && performance.now() - start < 8000); round++) {
    session.reset();
    await session.append(Array.from({ length: PREFILL }, (_, i) => 3 + i));
    for (let s = 0; s < 8; s++) {
      const t0 = performance.now();
      await session.append([100 + s]);
      if (round > 0) times.push(performance.now() - t0);
    }
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

async function bundleStepMs(dir: string, threads = 1): Promise<number> {
  const { load } = await import(pathToFileURL(join(dir, 'model.js')).href) as { load(o: object): Promise<LanguageModel & { dispose(): void; threads: number }> };
  const model = await load({ backend: 'wasm', threads });
  if (model.threads !== threads) throw new Error(`asked for ${threads} threads, the bundle runs ${model.threads}`);
  const ms = await stepMs(model);
  model.dispose();
  return ms;
}

export async function decode7bTable(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'onebitc-decode-7b-'));
  try {
    const { tensors, config } = checkpoint7bShaped('llama');
    await writeHfCheckpoint(join(dir, 'ckpt'), { config, tensors, dtype: 'F16', tokenizerFrom: STORIES_DIR });
    const t0 = performance.now();
    await compile(join(dir, 'ckpt'), { output: join(dir, 'out'), log: () => {} });
    const compileSeconds = (performance.now() - t0) / 1000;
    await compile(join(dir, 'ckpt'), { output: join(dir, 'out-1bit-head'), quantizeHead: true, log: () => {} });
    rmSync(join(dir, 'ckpt'), { recursive: true, force: true });
    const step = await bundleStepMs(join(dir, 'out'));
    const stepOneBitHead = await bundleStepMs(join(dir, 'out-1bit-head'));
    const step2 = await bundleStepMs(join(dir, 'out'), 2);
    const stepOneBitHead2 = await bundleStepMs(join(dir, 'out-1bit-head'), 2);
    const head = await median(await headKernel(), 10, 1500);
    const ortProjections = await median(await ortRun(projectionsModel()), 10, 3000);
    const ortProjections2 = await median(await ortRun(projectionsModel(), 2), 10, 3000);
    const ortHead = await median(await ortRun(headModel()), 10, 1500);

    const rows: [string, number][] = [
      ['onnxruntime-node fp32: the 14 projections (q, k, v, o, gate, up, down × 2), one token', ortProjections],
      ['onnxruntime-node fp32, 2 threads: the 14 projections', ortProjections2],
      ['onebitc fused decode step, whole token: embedding, 2 layers (1-bit projections, RoPE, attention over the cache), fp32 LM head', step],
      ['onebitc fused decode step without its LM head (step − head kernel alone): embedding + 2 layers', step - head],
      ['onebitc fused decode step, whole token, with --quantize-head (1-bit LM head)', stepOneBitHead],
      ['onebitc fused decode step, 2 threads, whole token, fp32 LM head', step2],
      ['onebitc fused decode step, 2 threads, without its LM head (step − head kernel alone)', step2 - head],
      ['onebitc fused decode step, 2 threads, whole token, --quantize-head', stepOneBitHead2],
      ['onebitc LM head kernel alone (fp32 32000×4096 GEMV, matmul-const)', head],
      ['onnxruntime-node fp32 LM head MatMul alone (4096 → 32000)', ortHead],
      ['onnxruntime-node fp32: 14 projections + LM head (sum of the two)', ortProjections + ortHead],
    ];
    const title = `LLaMA-7B-shaped, ${LAYERS} layers (hidden ${HIDDEN}, intermediate ${INTERMEDIATE}, 32 heads, vocab ${VOCAB}), 1-bit by SVID (compiled in ${compileSeconds.toFixed(0)} s): one decode step after a ${PREFILL}-token prompt, one thread unless said (medians)`;
    table(title, ['runner', 'per token', '÷ onnxruntime-node 14 projections', 'speed-up'],
      rows.map(([name, ms]) => [name, `${ms.toFixed(2)} ms`, (ms / ortProjections).toFixed(3), `${(ortProjections / ms).toFixed(2)}×`]));
    const chart: [string, number][] = [['onnxruntime-node fp32, 2 threads', ortProjections2], ['onebitc fused step, 2 layers (no LM head)', step - head],
      ['onebitc fused step, whole token, fp32 LM head', step], ['onebitc fused step, whole token, 1-bit LM head', stepOneBitHead],
      ['onebitc fused step, 2 threads, 2 layers (no LM head)', step2 - head], ['onebitc fused step, 2 threads, whole token, 1-bit LM head', stepOneBitHead2]];
    for (const [name, ms] of chart) speedup('LLaMA-7B-shaped 2-layer decode step, per token', 'onnxruntime-node fp32, 1 thread: the 14 projections', name, ortProjections / ms);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
