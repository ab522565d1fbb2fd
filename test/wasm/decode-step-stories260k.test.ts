// The fused decode step (model.wasm's decode_step) on stories260K compiled from its Hugging Face folder, 1-bit
// and --no-quantize: its logits against the per-node graph path with the KV cache at every step, greedy
// tokens, the fixture's reference logits and continuation, the proof that it ran, the context limit, and two
// sessions sharing the model's one cache.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { DecodeSession } from '../../runtime/generate/session.ts';
import { STORIES_DIR } from '../helpers/hf-checkpoint.ts';
import type { LoadedBundle } from './decode-step-helpers.ts';
import { argmax, compileAndLoad, decodeBoth, graphOnly, relativeL2 } from './decode-step-helpers.ts';

const reference = JSON.parse(readFileSync(join(STORIES_DIR, 'reference.json'), 'utf8')) as { prompt_ids: number[]; greedy_continuation_ids: number[] };
const referenceLogits = new Float32Array(readFileSync(join(STORIES_DIR, 'reference_logits.bin')).buffer.slice(0));
const VOCAB = 512;
const CONTEXT = 512; // max_position_embeddings

let onebit: Promise<LoadedBundle> | undefined;
let fp: Promise<LoadedBundle> | undefined;
const oneBitBundle = () => (onebit ??= compileAndLoad(STORIES_DIR));
const fpBundle = () => (fp ??= compileAndLoad(STORIES_DIR, { quantize: false }));

/** Exports of the bundle's model.wasm. */
const exportsOf = (dir: string) => WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(join(dir, 'model.wasm')))).map((e) => e.name);

test.serial('1-bit: q, k, v, gate and up of every layer get a kernel copy reading g ⊙ norm weight; --no-quantize keeps the weighted norm', async (t) => {
  const folded = (await oneBitBundle()).dir;
  const plain = (await fpBundle()).dir;
  t.is(exportsOf(folded).filter((n) => /^onebit_linear_\d+_folded$/.test(n)).length, 5 * 5);
  t.true(exportsOf(folded).includes('decode_step'));
  t.is(exportsOf(plain).filter((n) => n.endsWith('_folded')).length, 0);
  t.true(exportsOf(plain).includes('decode_step'));
});

for (const [name, bundle] of [['1-bit', oneBitBundle], ['--no-quantize', fpBundle]] as const) {
  test.serial(`${name}: the fused step's logits equal the graph path's at each of 64 steps, same greedy tokens, one decode-step call per token`, async (t) => {
    const { model } = await bundle();
    const r = await decodeBoth(model, reference.prompt_ids, 64);
    t.log(`worst relative L2 over 64 steps: ${r.worst.toExponential(2)}`);
    t.true(r.worst <= 1e-5);
    t.deepEqual(r.fused, r.graph);
    // the prompt went through the step one token each; every later step is one call, and no graph kernel ran
    t.deepEqual([...r.calls[0]!], [['decode-step', reference.prompt_ids.length]]);
    for (const calls of r.calls.slice(1)) t.deepEqual([...calls], [['decode-step', 1]]);
  });
}

test.serial('1-bit, a 200-token prompt: one graph pass fills the step\'s cache; 32 fused steps after it match the graph path', async (t) => {
  const { model } = await oneBitBundle();
  const prompt = Array.from({ length: 200 }, (_, i) => (i === 0 ? 1 : ((i * 41) % 500) + 3));
  const r = await decodeBoth(model, prompt, 32);
  t.log(`worst relative L2: ${r.worst.toExponential(2)}`);
  t.true(r.worst <= 1e-5);
  t.deepEqual(r.fused, r.graph);
  t.is(r.calls[0]!.get('decode-step'), undefined);
  for (const calls of r.calls.slice(1)) t.deepEqual([...calls], [['decode-step', 1]]);
});

test.serial('--no-quantize: the fused step reproduces reference_logits.bin at every prompt position and the reference greedy continuation', async (t) => {
  const { model } = await fpBundle();
  const session = new DecodeSession(model, { maxContext: CONTEXT });
  t.true(session.usesFusedStep);
  let worst = 0;
  let logits: Float32Array = new Float32Array(0);
  for (const [i, id] of reference.prompt_ids.entries()) {
    logits = await session.append([id]);
    const row = referenceLogits.subarray(i * VOCAB, (i + 1) * VOCAB);
    for (let v = 0; v < VOCAB; v++) worst = Math.max(worst, Math.abs(logits[v]! - row[v]!));
  }
  t.log(`max |Δ| vs reference_logits.bin ${worst.toExponential(2)}`);
  t.true(worst <= 1e-4);
  const ids: number[] = [];
  for (let s = 0; s < 64; s++) {
    ids.push(argmax(logits));
    logits = await session.append([ids.at(-1)!]);
  }
  t.deepEqual(ids, reference.greedy_continuation_ids.slice(0, 64));
  // generateIds (the bundle's own API) goes through the step too
  const generated = await (model as unknown as { generateIds(p: number[], o: object): Promise<number[]> }).generateIds(reference.prompt_ids, { maxTokens: 64, stopOnEos: false });
  t.deepEqual(generated, reference.greedy_continuation_ids.slice(0, 64));
  t.deepEqual([...model.wasmCalls], [['decode-step', 1]]);
});

test.serial('the cache holds max_position_embeddings tokens: the step refuses more clearly; a session goes on through the graph, and stops at its maxContext', async (t) => {
  const { model } = await oneBitBundle();
  const step = model.fusedDecoder()!;
  t.is(step.contextLength, CONTEXT);
  t.throws(() => step.run([1, 2, 3], CONTEXT - 2), { message: /context of 513 tokens exceeds the decode step's KV cache of 512 positions/ });
  t.throws(() => step.run([VOCAB], 0), { message: /token id 512 is not in the vocabulary/ });
  const ids = Array.from({ length: CONTEXT }, (_, i) => ((i * 37) % 500) + 3);
  const session = new DecodeSession(model, { maxContext: CONTEXT + 8 });
  const graph = new DecodeSession(graphOnly(model), { maxContext: CONTEXT + 8 });
  t.true(relativeL2((await session.append(ids)).slice(), await graph.append(ids)) <= 1e-5);
  t.true(session.usesFusedStep);
  // position 512: past the step's cache, the session recomputes its context through the graph once and goes on there
  for (const id of [7, 8, 9]) {
    const a = (await session.append([id])).slice();
    t.true(relativeL2(a, await graph.append([id])) <= 1e-5);
  }
  t.false(session.usesFusedStep);
  t.is(model.wasmCalls.get('decode-step'), undefined);
  await session.append([1, 2, 3, 4, 5]);
  await t.throwsAsync(session.append([5]), { message: /context of 521 tokens exceeds the maximum 520/ });
});

test.serial('two sessions on one model take turns with the one cache: each gets the logits it would get alone', async (t) => {
  const { model } = await oneBitBundle();
  const a = new DecodeSession(model);
  const b = new DecodeSession(model);
  const alone = new DecodeSession(graphOnly(model));
  const promptB = [1, 400, 300, 200];
  const la1 = (await a.append(reference.prompt_ids)).slice();
  const lb1 = (await b.append(promptB)).slice();
  const la2 = (await a.append([argmax(la1)])).slice(); // a's context runs again: b used the cache since
  const lb2 = (await b.append([argmax(lb1)])).slice();
  t.true(relativeL2(la2, await alone.append([...reference.prompt_ids, argmax(la1)])) <= 1e-5);
  alone.reset();
  t.true(relativeL2(lb2, await alone.append([...promptB, argmax(lb1)])) <= 1e-5);
});
