// DecodeSession and generate(): stories260K (input_ids → logits: the recompute path) against the fixture's
// greedy continuation; a tiny KV-cache model (the HF templates' I/O convention) against recomputation.
import { join } from 'node:path';
import test from 'ava';
import { generate, generateIds, generateTokens } from '../../../runtime/generate/generate.ts';
import { DecodeSession } from '../../../runtime/generate/session.ts';
import type { LanguageModel } from '../../../runtime/generate/session.ts';
import { tempDir } from '../../helpers/cli.ts';
import { runOnnxruntime } from '../../helpers/onnxruntime.ts';
import { compileAndLoad, FIXTURE, reference, storiesBundle, storiesTokenizer, TINY, writeTinyCacheModel } from './lm-fixtures.ts';

const tokenizer = storiesTokenizer();

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const piece of it) out.push(piece);
  return out;
}

test('stories260K: greedy 64 tokens after the prompt ids reproduce the reference continuation (recompute path)', async (t) => {
  const { model } = await storiesBundle();
  const session = new DecodeSession(model);
  t.is(session.mode, 'recompute');
  t.is(session.maxContext, model.metadata?.maxContext ?? 2048);
  const ids = await generateIds(model, tokenizer, reference.prompt_ids, { maxTokens: 64 });
  t.deepEqual(ids, reference.greedy_continuation_ids);
});

test('stories260K: generate() streams the reference text from the prompt text; onToken sees every id', async (t) => {
  const { model } = await storiesBundle();
  const seen: number[] = [];
  const pieces = await collect(generate(model, tokenizer, reference.prompt_text, { maxTokens: 64, onToken: (id) => seen.push(id) }));
  t.true(pieces.length > 10);
  t.is(pieces.join(''), reference.greedy_continuation_text);
  t.deepEqual(seen, reference.greedy_continuation_ids);
});

test('stop strings end generation without emitting the stop string; maxTokens caps it', async (t) => {
  const { model } = await storiesBundle();
  const full = reference.greedy_continuation_text;
  const text = (await collect(generate(model, tokenizer, reference.prompt_text, { maxTokens: 64, stop: ['park', 'zebra'] }))).join('');
  t.is(text, full.slice(0, full.indexOf('park')));
  // a stop string spanning several tokens, and one that never completes (held back text is released at the end)
  const two = (await collect(generate(model, tokenizer, reference.prompt_text, { maxTokens: 64, stop: ['. One day'] }))).join('');
  t.is(two, full.slice(0, full.indexOf('. One day')));
  const none = (await collect(generate(model, tokenizer, reference.prompt_text, { maxTokens: 64, stop: ['Lily,!'] }))).join('');
  t.is(none, full);
  const ids = await generateIds(model, tokenizer, reference.prompt_ids, { maxTokens: 5 });
  t.deepEqual(ids, reference.greedy_continuation_ids.slice(0, 5));
  t.deepEqual(await generateIds(model, tokenizer, reference.prompt_ids, { maxTokens: 0 }), []);
});

test('EOS stops generation (not emitted); stopOnEos: false goes on', async (t) => {
  const { model } = await storiesBundle();
  const eos = reference.greedy_continuation_ids[7]!; // pretend this token is EOS
  t.deepEqual(await generateIds(model, tokenizer, reference.prompt_ids, { maxTokens: 64, eos }), reference.greedy_continuation_ids.slice(0, 7));
  t.deepEqual(await generateIds(model, tokenizer, reference.prompt_ids, { maxTokens: 10, eos, stopOnEos: false }), reference.greedy_continuation_ids.slice(0, 10));
});

test('seeded sampling is deterministic', async (t) => {
  const { model } = await storiesBundle();
  const options = { maxTokens: 20, temperature: 1, topK: 40, topP: 0.9, seed: 1234 };
  const a = await generateIds(model, tokenizer, reference.prompt_ids, options);
  const b = await generateIds(model, tokenizer, reference.prompt_ids, options);
  t.is(a.length, 20);
  t.deepEqual(a, b);
});

test('going past the context limit is a clear error', async (t) => {
  const { model } = await storiesBundle();
  await t.throwsAsync(generateIds(model, tokenizer, reference.prompt_ids, { maxTokens: 10, maxContext: 8 }), { message: 'context of 10 tokens exceeds the maximum 8; shorten the prompt, lower maxTokens, or raise maxContext (if the model supports it)' });
  // 10 prompt + 5 generated: the 5th needs a context of 14 tokens only
  t.is((await generateIds(model, tokenizer, reference.prompt_ids, { maxTokens: 5, maxContext: 14 })).length, 5);
  await t.throwsAsync(generateIds(model, tokenizer, reference.prompt_ids, { maxTokens: 6, maxContext: 14 }), { message: /^context of 15 tokens exceeds the maximum 14;/ });
  const session = new DecodeSession(model, { maxContext: 4 });
  await t.throwsAsync(session.logitsFor([1, 2, 3, 4, 5]), { message: /^context of 5 tokens exceeds the maximum 4;/ });
  await t.throwsAsync(session.append([1, 600]), { message: /token id 600 is not in the vocabulary \(0\.\.511\)/ });
});

test('logitsFor gives every position of one pass; append gives the last, step by step', async (t) => {
  const { model } = await storiesBundle();
  const session = new DecodeSession(model);
  const ids = reference.prompt_ids;
  const rows = await session.logitsFor(ids);
  t.is(rows.length, ids.length);
  t.is(session.length, 0);
  let last = await session.append(ids.slice(0, 4));
  t.deepEqual([...last], [...rows[3]!]);
  for (let i = 4; i < ids.length; i++) last = await session.append([ids[i]!]);
  t.deepEqual([...last], [...rows[ids.length - 1]!]);
  t.deepEqual(session.tokens, ids);
  session.reset();
  t.is(session.length, 0);
});

test('stories260K from its Hugging Face files (KV-cache graph): greedy with the cache reproduces the reference', async (t) => {
  const { model } = await compileAndLoad(FIXTURE, 'stories-hf');
  const session = new DecodeSession(model);
  t.is(session.mode, 'cache');
  const ids = await generateIds(model, tokenizer, reference.prompt_ids, { maxTokens: 64 });
  t.deepEqual(ids, reference.greedy_continuation_ids);
  // the prompt's logits from the cache path equal one pass over the prompt
  const rows = await session.logitsFor(reference.prompt_ids);
  let last = await session.append(reference.prompt_ids.slice(0, 3));
  for (const id of reference.prompt_ids.slice(3)) last = await session.append([id]);
  for (let j = 0; j < last.length; j++) t.true(Math.abs(last[j]! - rows[rows.length - 1]![j]!) < 1e-4);
});

/** Next-token logits by recomputing the whole sequence with an empty cache (onnxruntime on the ONNX graph). */
async function recomputeWithOrt(onnx: string, ids: number[], withPositions: boolean): Promise<Float32Array> {
  const n = ids.length;
  const empty = { dtype: 'float32' as const, dims: [1, 1, 0, TINY.dim], data: new Float32Array(0) };
  const out = await runOnnxruntime(onnx, {
    input_ids: { dtype: 'int64', dims: [1, n], data: BigInt64Array.from(ids.map(BigInt)) },
    ...(withPositions ? {
      attention_mask: { dtype: 'int64', dims: [1, n], data: new BigInt64Array(n).fill(1n) },
      position_ids: { dtype: 'int64', dims: [1, n], data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)) },
    } : {}),
    'past_key_values.0.key': empty,
    'past_key_values.0.value': empty,
  });
  return (out['logits']!.data as Float32Array).slice((n - 1) * TINY.vocab, n * TINY.vocab);
}

for (const withPositions of [true, false]) {
  test(`KV cache (${withPositions ? 'with' : 'without'} attention_mask/position_ids): decoding with the cache equals recomputation`, async (t) => {
    const onnx = join(tempDir('tiny-lm'), 'tiny.onnx');
    writeTinyCacheModel(onnx, withPositions);
    const { model } = await compileAndLoad(onnx, 'tiny-bundle');
    // record what the session feeds
    const calls: { ids: number; past: number; mask?: number; positions?: number[] }[] = [];
    const spy: LanguageModel = {
      inputs: model.inputs,
      outputs: model.outputs,
      run: (feeds) => {
        calls.push({
          ids: feeds['input_ids']!.dims[1]!,
          past: feeds['past_key_values.0.key']!.dims[2]!,
          ...(withPositions ? { mask: feeds['attention_mask']!.dims[1]!, positions: Array.from(feeds['position_ids']!.data as BigInt64Array, Number) } : {}),
        });
        return model.run(feeds);
      },
    };
    const session = new DecodeSession(spy, { maxContext: 40 });
    t.is(session.mode, 'cache');
    const prompt = [3, 1, 4, 1, 5];
    const ids = await generateIds(spy, undefined, prompt, { maxTokens: 20 });
    t.is(ids.length, 20);
    // one prefill of the prompt, then one token per step with the growing cache
    t.deepEqual(calls.map((c) => [c.ids, c.past]), [[5, 0], ...Array.from({ length: 19 }, (_, i) => [1, 5 + i])]);
    if (withPositions) {
      t.deepEqual(calls.map((c) => c.mask), calls.map((c) => c.ids + c.past));
      t.deepEqual(calls[0]!.positions, [0, 1, 2, 3, 4]);
      t.deepEqual(calls[3]!.positions, [7]);
    }
    // greedy with recomputation (onnxruntime on the original graph, empty cache, whole sequence each step)
    const expected: number[] = [];
    const seq = [...prompt];
    for (let i = 0; i < 20; i++) {
      const logits = await recomputeWithOrt(onnx, seq, withPositions);
      let best = 0;
      for (let j = 1; j < logits.length; j++) if (logits[j]! > logits[best]!) best = j;
      expected.push(best);
      seq.push(best);
    }
    t.deepEqual(ids, expected);
    t.true(new Set(ids).size > 2, `a degenerate test model: ${ids.join(' ')}`);
    // step logits equal the one-pass logits of the whole sequence
    const all = await session.logitsFor(seq.slice(0, 24));
    session.reset();
    let last = await session.append(seq.slice(0, 5));
    for (let i = 5; i < 24; i++) {
      for (let j = 0; j < TINY.vocab; j++) t.true(Math.abs(last[j]! - all[i - 1]![j]!) < 1e-5);
      last = await session.append([seq[i]!]);
    }
    // the context limit holds with a cache too
    await t.throwsAsync(generateIds(spy, undefined, prompt, { maxTokens: 40, maxContext: 40 }), { message: /^context of 41 tokens exceeds the maximum 40;/ });
    // sampling through the cache: same seed, same ids
    const s1 = await generateIds(spy, undefined, prompt, { maxTokens: 15, temperature: 1.2, seed: 9 });
    const s2 = await generateIds(spy, undefined, prompt, { maxTokens: 15, temperature: 1.2, seed: 9 });
    t.deepEqual(s1, s2);
  });
}

test('generateTokens without a tokenizer yields ids with empty text; bad models are refused clearly', async (t) => {
  const { model } = await storiesBundle();
  const tokens: { id: number; text: string }[] = [];
  for await (const tok of generateTokens(model, undefined, reference.prompt_ids, { maxTokens: 3 })) tokens.push(tok);
  t.deepEqual(tokens, reference.greedy_continuation_ids.slice(0, 3).map((id) => ({ id, text: '' })));
  await t.throwsAsync(generateIds(model, undefined, 'text', {}), { message: /needs a tokenizer/ });
  const notLm: LanguageModel = { inputs: [{ name: 'x', dtype: 'float32', dims: [1] }], outputs: [], run: model.run.bind(model) };
  t.throws(() => new DecodeSession(notLm), { message: /not a language model: no 'input_ids' input/ });
  const odd: LanguageModel = { ...notLm, inputs: [{ name: 'input_ids', dtype: 'int64', dims: ['b', 's'] }, { name: 'token_type_ids', dtype: 'int64', dims: ['b', 's'] }], outputs: [{ name: 'logits', dtype: 'float32', dims: ['b', 's', 5] }] };
  t.throws(() => new DecodeSession(odd), { message: /input 'token_type_ids' is not one decoding can feed/ });
});

test('attachLanguageModel gives the model generate(), generateIds() and perplexity()', async (t) => {
  const { attachLanguageModel } = await import('../../../runtime/generate/index.ts');
  const { model: base } = await compileAndLoad(join(FIXTURE, 'model.onnx'), 'stories-attach');
  const model = attachLanguageModel(base, tokenizer, { maxContext: 512 });
  t.is(model.tokenizer, tokenizer);
  t.is((await collect(model.generate(reference.prompt_text, { maxTokens: 64 }))).join(''), reference.greedy_continuation_text);
  t.deepEqual(await model.generateIds(reference.prompt_ids, { maxTokens: 3 }), reference.greedy_continuation_ids.slice(0, 3));
  const long = Array.from({ length: 508 }, (_, i) => reference.prompt_ids[i % 10]!);
  await t.throwsAsync(model.generateIds(long, { maxTokens: 6 }), { message: /^context of 513 tokens exceeds the maximum 512;/ });
  const r = await model.perplexity('Once upon a time, there was a little girl.\n\nShe liked to play.', {});
  t.is(r.chunks, 1);
  t.true(r.perplexity > 1 && r.perplexity < 50);
  t.false(Object.keys(model).includes('generate'));
});
