// Greedy decoding speed of stories260K, one thread, all measured in the same run: the OneBit bundle compiled
// from the Hugging Face folder (WASM backend) decoding through model.wasm's fused decode step (one WASM call
// per token) and through the per-node graph with its KV cache (the path before the fused step), the same two
// with --no-quantize, and onnxruntime-node / onnxruntime-web running test/fixtures/stories260K/model.onnx
// (input_ids → logits, no cache) the way a user of that file would: the whole sequence each step, argmax in
// JS. Then how one decode step scales with the context position (the cache should keep it nearly flat). Run:
//   node --import ./scripts/ts-loader.js -e "import('./bench/decode.ts').then(m=>m.decodeTables())"
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { compile } from '../compiler/compile.ts';
import { DecodeSession } from '../runtime/generate/session.ts';
import type { LanguageModel } from '../runtime/generate/session.ts';
import { median } from './gemv.ts';
import { speedup, table } from './report.ts';

const FIXTURE = new URL('../test/fixtures/stories260K/', import.meta.url);
const HF_DIR = new URL('.', FIXTURE).pathname;
const ONNX = new URL('model.onnx', FIXTURE).pathname;
const NEW_TOKENS = 128;
const MAX_CONTEXT = 512;
const STEPS = 32;

interface Bundle extends LanguageModel {
  dispose(): void;
}

/** The bundle without its fused decode step: DecodeSession then runs the graph with past_key_values. */
function graphPath(model: Bundle): LanguageModel {
  return { inputs: model.inputs, outputs: model.outputs, backend: model.backend, run: (feeds, options) => model.run(feeds, options) };
}

/** Greedy decoding through DecodeSession (the prompt once, then one token per step). */
function sessionDecoder(model: LanguageModel, prompt: readonly number[], fused: boolean) {
  return async (): Promise<number[]> => {
    const session = new DecodeSession(model, { maxContext: MAX_CONTEXT });
    if (session.usesFusedStep !== fused) throw new Error(`expected the ${fused ? 'fused' : 'graph'} path`);
    let logits = await session.append(prompt);
    const out: number[] = [];
    while (out.length < NEW_TOKENS) {
      out.push(argmax(logits));
      if (out.length < NEW_TOKENS) logits = await session.append([out.at(-1)!]);
    }
    return out;
  };
}

async function loadBundle(quantize: boolean): Promise<Bundle> {
  const dir = join(mkdtempSync(join(tmpdir(), 'onebitc-decode-')), 'bundle');
  await compile(HF_DIR, { output: dir, quantize, log: () => {} });
  const { load } = await import(pathToFileURL(join(dir, 'model.js')).href);
  return await load({ backend: 'wasm' }) as Bundle;
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

type OrtTensor = { data: unknown; dims: readonly number[] };
type OrtSession = { run(feeds: Record<string, never>): Promise<Record<string, OrtTensor>> };

/** Greedy decoding over an input_ids → logits graph: the whole sequence runs each step. */
function recomputeDecoder(session: OrtSession, makeIds: (ids: BigInt64Array, n: number) => unknown, prompt: readonly number[]) {
  return async (): Promise<number[]> => {
    const ids = new BigInt64Array(prompt.length + NEW_TOKENS);
    prompt.forEach((id, i) => { ids[i] = BigInt(id); });
    const out: number[] = [];
    for (let n = prompt.length; out.length < NEW_TOKENS; n++) {
      const { logits } = await session.run({ input_ids: makeIds(ids.subarray(0, n), n) as never });
      const data = logits!.data as Float32Array;
      const vocab = logits!.dims[2]!;
      const id = argmax(data.subarray((n - 1) * vocab, n * vocab));
      out.push(id);
      ids[n] = BigInt(id);
    }
    return out;
  };
}

/** A prompt of `length` tokens: BOS, then the reference prompt's other ids repeated. */
function longPrompt(prompt: readonly number[], length: number): number[] {
  const body = prompt.slice(1);
  return [prompt[0]!, ...Array.from({ length: length - 1 }, (_, i) => body[i % body.length]!)];
}

/** Median ms of one decode step after prefilling `prefill` tokens (prefill not timed). */
async function stepMs(model: LanguageModel, prefill: readonly number[]): Promise<number> {
  const session = new DecodeSession(model, { maxContext: MAX_CONTEXT });
  const times: number[] = [];
  const start = performance.now();
  for (let round = 0; round < 3 || (round < 30 && performance.now() - start < 1500); round++) {
    session.reset();
    let logits = await session.append(prefill);
    for (let s = 0; s < STEPS; s++) {
      const id = argmax(logits);
      const t0 = performance.now();
      logits = await session.append([id]);
      if (round > 0) times.push(performance.now() - t0); // first round: warm-up
    }
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export async function decodeTables(): Promise<void> {
  ortWeb.env.wasm.numThreads = 1;
  const prompt = JSON.parse(readFileSync(new URL('reference.json', FIXTURE), 'utf8')).prompt_ids as number[];
  const onebit = await loadBundle(true);
  const fp = await loadBundle(false);
  const onnx = readFileSync(ONNX);
  const node = await ortNode.InferenceSession.create(onnx, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  const web = await ortWeb.InferenceSession.create(onnx, { executionProviders: ['wasm'] });

  const runners: [string, () => Promise<number[]>][] = [
    ['onnxruntime-node fp32, full recompute', recomputeDecoder(node as unknown as OrtSession, (ids, n) => new ortNode.Tensor('int64', ids, [1, n]), prompt)],
    ['onnxruntime-web wasm fp32, full recompute', recomputeDecoder(web as unknown as OrtSession, (ids, n) => new ortWeb.Tensor('int64', ids, [1, n]), prompt)],
    ['onebitc 1-bit, fused decode step, wasm', sessionDecoder(onebit, prompt, true)],
    ['onebitc 1-bit, KV cache through the graph, wasm', sessionDecoder(graphPath(onebit), prompt, false)],
    ['onebitc --no-quantize, fused decode step, wasm', sessionDecoder(fp, prompt, true)],
    ['onebitc --no-quantize, KV cache through the graph, wasm', sessionDecoder(graphPath(fp), prompt, false)],
  ];
  const rows: { name: string; tps: number; ids: number[] }[] = [];
  for (const [name, run] of runners) {
    const ids = await run();
    if (ids.length !== NEW_TOKENS) throw new Error(`${name}: ${ids.length} tokens, expected ${NEW_TOKENS}`);
    const ms = await median(run, 10, 2000);
    rows.push({ name, tps: NEW_TOKENS / (ms / 1000), ids });
  }
  const ref = rows[0]!;
  const same = (a: number[]) => { let i = 0; while (i < a.length && a[i] === ref.ids[i]) i++; return i; };
  const title = `stories260K greedy decoding, ${prompt.length}-token prompt + ${NEW_TOKENS} new tokens, one thread (median of whole generations)`;
  table(title, ['runner', 'tokens/s', 'speed-up over onnxruntime-node', 'ids matching onnxruntime-node'],
    rows.map((r) => [r.name, r.tps.toFixed(0), `${(r.tps / ref.tps).toFixed(2)}×`, `${same(r.ids)}/${NEW_TOKENS}`]));
  for (const r of rows) speedup('stories260K greedy decoding, tokens/s', 'onnxruntime-node fp32, full recompute', r.name, r.tps / ref.tps);

  const short = longPrompt(prompt, 16);
  const long = longPrompt(prompt, 400);
  const steps: string[][] = [];
  const bundles: [string, LanguageModel][] = [
    ['onebitc 1-bit, fused step', onebit], ['onebitc 1-bit, graph', graphPath(onebit)],
    ['onebitc --no-quantize, fused step', fp], ['onebitc --no-quantize, graph', graphPath(fp)],
  ];
  for (const [name, model] of bundles) {
    const a = await stepMs(model, short);
    const b = await stepMs(model, long);
    steps.push([name, `${a.toFixed(3)} ms (${(1000 / a).toFixed(0)})`, `${b.toFixed(3)} ms (${(1000 / b).toFixed(0)})`, `${(b / a).toFixed(2)}×`]);
  }
  table(`stories260K, one decode step after a 16- vs 400-token prefill (wasm, median of ${STEPS}-step runs, prefill excluded)`,
    ['bundle', 'at 16: ms/step (tokens/s)', 'at 400: ms/step (tokens/s)', 'tokens/s 16 ÷ 400'], steps);
  onebit.dispose();
  fp.dispose();
}
