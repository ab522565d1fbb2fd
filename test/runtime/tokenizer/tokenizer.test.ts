// loadTokenizer (tokenizer.json through @huggingface/tokenizers). Oracles independent of that library:
// reference.json (ids computed by the fixture's own pipeline), and our llama2.c port reading tok512.bin —
// a separate vocabulary file and a separate algorithm (score-ordered merging instead of merge ranks).
import test from 'ava';
import { tokenizerFromLlama2c } from '../../../runtime/tokenizer/llama2c.ts';
import { loadTokenizer } from '../../../runtime/tokenizer/tokenizer.ts';
import type { Tokenizer } from '../../../runtime/tokenizer/tokenizer.ts';
import { EDGE_CASES, paragraphs, random, readBytes, readJson, readText, type Reference, STORIES, streamed } from './helpers.ts';

const reference = readJson<Reference>(STORIES + 'reference.json');
const llama = loadTokenizer(readText(STORIES + 'tokenizer.json'), readJson(STORIES + 'tokenizer_config.json'));
const llama2c = tokenizerFromLlama2c(readBytes(STORIES + 'tok512.bin'));
const PARAGRAPHS = paragraphs(2000);

test('stories260K tokenizer.json: prompt and check32 ids as in reference.json', (t) => {
  t.deepEqual(llama.encode(reference.prompt_text), reference.prompt_ids);
  t.deepEqual(llama.encode(PARAGRAPHS[0]!).slice(0, 32), reference.check32.ids);
  t.deepEqual(llama.encode(reference.prompt_text, { addSpecialTokens: false }), reference.prompt_ids.slice(1));
});

test('stories260K tokenizer.json: decodes the reference continuations', (t) => {
  const all = [...reference.prompt_ids, ...reference.greedy_continuation_ids];
  t.is(llama.decode(all), reference.prompt_text + reference.greedy_continuation_text);
  t.is(llama.decode([1, ...reference.greedy_from_bos_60_ids]), reference.greedy_from_bos_60_text);
  // Leading-space rule: decoded on its own, the continuation is the start of a text and loses its space;
  // a stream decoder primed with the prompt keeps it.
  t.is(llama.decode(reference.greedy_continuation_ids), reference.greedy_continuation_text.slice(1));
  t.is(streamed(llama, reference.greedy_continuation_ids, { prefix: reference.prompt_ids }), reference.greedy_continuation_text);
});

test('bos, eos and vocabSize from tokenizer_config.json, and without it', (t) => {
  t.is(llama.bos, 1);
  t.deepEqual(llama.eos, [2]);
  t.is(llama.vocabSize, 512);
  const bare = loadTokenizer(JSON.parse(readText(STORIES + 'tokenizer.json')) as object);
  t.is(bare.bos, 1); // from the post-processor's template
  t.deepEqual(bare.eos, [2]); // '</s>' among the special added tokens
  t.deepEqual(bare.encode(reference.prompt_text), reference.prompt_ids);
  const generation = loadTokenizer(readText(STORIES + 'tokenizer.json'), { eos_token_id: [2, 7] });
  t.deepEqual(generation.eos, [2, 7]);
});

test('2,000 TinyStories paragraphs: tokenizer.json and tok512.bin encoders agree; decode and stream round-trip', (t) => {
  let mismatches = 0;
  for (const [i, text] of PARAGRAPHS.entries()) {
    const ids = llama.encode(text);
    const other = llama2c.encode(text);
    if (ids.length !== other.length || ids.some((id, j) => id !== other[j])) {
      if (mismatches++ < 3) t.log(`paragraph ${i}: ${JSON.stringify(text.slice(0, 80))}`);
      continue;
    }
    if (llama.decode(ids) !== text) { mismatches++; t.log(`decode differs on paragraph ${i}`); continue; }
    if (i % 10 === 0 && streamed(llama, ids) !== text) { mismatches++; t.log(`stream differs on paragraph ${i}`); }
  }
  t.is(PARAGRAPHS.length, 2000);
  t.true(PARAGRAPHS.some((p) => p.includes('â€')), 'the sample has its mojibake');
  t.is(mismatches, 0);
});

test('edge cases: encode as the llama2.c port, decode round-trips, stream equals decode', (t) => {
  for (const text of EDGE_CASES) {
    const ids = llama.encode(text);
    t.deepEqual(ids, llama2c.encode(text), JSON.stringify(text));
    t.is(llama.decode(ids), text, JSON.stringify(text));
    t.is(llama.decode(llama.encode(text, { addSpecialTokens: false })), text, JSON.stringify(text));
    t.is(streamed(llama, ids), text, JSON.stringify(text));
    const raw = llama.decode(ids, { skipSpecialTokens: false });
    t.is(streamed(llama, ids, { skipSpecialTokens: false }), raw, JSON.stringify(text));
  }
});

test('edge cases: known ids', (t) => {
  t.deepEqual(llama.encode(''), [1]); // no dummy prefix for empty text
  t.deepEqual(llama.encode('', { addSpecialTokens: false }), []);
  t.deepEqual(llama.encode(' '), [1, 410, 410]); // dummy prefix + the space
  t.deepEqual(llama.encode('\n'), [1, 410, 13]); // '\n' by byte fallback: 0x0A + 3
  t.deepEqual(llama.encode('😀'), [1, 410, 0xf0 + 3, 0x9f + 3, 0x98 + 3, 0x80 + 3]);
  t.deepEqual(llama.encode('â€œHi'), [1, 410, 502, 503, 200, 150, 440, 417]);
  t.is(llama.decode([]), '');
  t.is(llama.decode([1, 2]), '');
  t.is(llama.decode([1, 403, 2], { skipSpecialTokens: false }), '<s> Once</s>');
  t.is(llama.decode([403, 9999, -1, 1.5]), 'Once', 'ids outside the vocabulary are ignored');
});

test('stream decoder holds split multi-byte characters back', (t) => {
  const ids = llama.encode('a 😀 b', { addSpecialTokens: false });
  const decoder = llama.createDecoder();
  const pieces = ids.map((id) => decoder.push(id));
  pieces.push(decoder.flush());
  t.deepEqual(pieces.filter((p) => p !== ''), ['a', ' ', '😀', ' b']);
  t.false(pieces.some((p) => p.includes('\uFFFD')));
  // An incomplete character at the end comes out as U+FFFD on flush, as decode() gives it.
  const cut = [1, 410, 0xf0 + 3, 0x9f + 3];
  const d = llama.createDecoder();
  t.is(cut.map((id) => d.push(id)).join(''), '');
  t.is(d.flush(), llama.decode(cut));
});

test('stream decoder: special tokens in the middle keep the spaces decode() gives', (t) => {
  const story = llama.encode('The end.');
  const ids = [...story, 2, ...llama.encode('Once upon a time')];
  for (const skipSpecialTokens of [true, false]) {
    t.is(streamed(llama, ids, { skipSpecialTokens }), llama.decode(ids, { skipSpecialTokens }));
  }
});

function fuzz(t: import('ava').ExecutionContext, tokenizer: Tokenizer, seed: number): void {
  const next = random(seed);
  for (let round = 0; round < 300; round++) {
    const ids: number[] = [];
    const length = 1 + Math.floor(next() * 24);
    for (let i = 0; i < length; i++) {
      const r = next();
      // specials, byte tokens (often UTF-8 lead/continuation bytes), ordinary pieces
      ids.push(r < 0.1 ? Math.floor(next() * 3) : r < 0.45 ? 3 + 0x80 + Math.floor(next() * 0x78) : 259 + Math.floor(next() * 253));
    }
    for (const skipSpecialTokens of [true, false]) {
      const whole = tokenizer.decode(ids, { skipSpecialTokens });
      const stream = streamed(tokenizer, ids, { skipSpecialTokens });
      if (stream !== whole) {
        t.fail(`ids ${JSON.stringify(ids)} skip=${skipSpecialTokens}: ${JSON.stringify(stream)} ≠ ${JSON.stringify(whole)}`);
        return;
      }
    }
  }
  t.pass();
}

test('stream decoder equals decode() on random id sequences (tokenizer.json)', (t) => fuzz(t, llama, 1234));
test('stream decoder equals decode() on random id sequences (tok512.bin)', (t) => fuzz(t, llama2c, 99));

test('bad tokenizer.json gives a clear error', (t) => {
  t.throws(() => loadTokenizer('{ not json'), { message: /tokenizer\.json: not valid JSON/ });
  t.throws(() => loadTokenizer({ version: '1.0' }), { message: /tokenizer\.json: expected an object with a "model" field/ });
});

// ---- GPT-2 style byte-level BPE, built here ----

/** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards. */
function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
  const table: string[] = [];
  bs.forEach((b, i) => { table[b] = String.fromCodePoint(cs[i]!); });
  return table;
}

function tinyGpt2(): { json: object; byteId: (b: number) => number } {
  const table = bytesToUnicode();
  const vocab: Record<string, number> = {};
  // GPT-2's order: the printable bytes first, then the others (so 'Ġ', the space, is 220 as in GPT-2).
  const order = [...Array(256).keys()].sort((a, b) => table[a]!.codePointAt(0)! - table[b]!.codePointAt(0)!);
  order.forEach((b, i) => { vocab[table[b]!] = i; });
  const merges = ['Ġ t', 'h e', 'Ġt he', 'Ġ c', 'a t', 'Ġc at', 'Ġ s', 'Ġs at'];
  merges.forEach((m, i) => { vocab[m.replace(' ', '')] = 256 + i; });
  vocab['<|endoftext|>'] = 264;
  const json = {
    version: '1.0',
    added_tokens: [{ id: 264, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
  return { json, byteId: (b) => vocab[table[b]!]! };
}

test('GPT-2 style byte-level BPE: encode and decode known strings', (t) => {
  const { json, byteId } = tinyGpt2();
  const gpt2 = loadTokenizer(JSON.stringify(json));
  const b = (s: string): number[] => [...new TextEncoder().encode(s)].map(byteId);
  t.is(byteId(0x20), 220);
  t.is(byteId(0x21), 0);
  t.deepEqual(gpt2.encode('the cat sat'), [...b('t'), 257, 261, 263]); // 't'+'he' (no 'the' merge), 'Ġcat', 'Ġsat'
  t.deepEqual(gpt2.encode(' the cat'), [258, 261]);
  t.deepEqual(gpt2.encode('cats!'), [...b('c'), 260, ...b('s!')]);
  t.deepEqual(gpt2.encode(' 😀'), b(' 😀'));
  t.deepEqual(gpt2.encode('the<|endoftext|>'), [...b('t'), 257, 264]);
  t.deepEqual(gpt2.encode(''), []);
  t.is(gpt2.bos, undefined);
  t.deepEqual(gpt2.eos, [264]);
  t.is(gpt2.vocabSize, 265);
  for (const text of ['the cat sat', ' the cat', '  two  spaces ', 'naïve 日本 😀 👨‍👩‍👧', 'line\nbreak', '']) {
    const ids = gpt2.encode(text);
    t.is(gpt2.decode(ids), text, JSON.stringify(text)); // byte-level: no leading-space rule
    t.is(streamed(gpt2, ids), text, JSON.stringify(text));
  }
  t.is(gpt2.decode([261, 264, 263]), ' cat sat');
  t.is(gpt2.decode([261, 264, 263], { skipSpecialTokens: false }), ' cat<|endoftext|> sat');
  // An emoji's four byte tokens: nothing comes out until the last one.
  const decoder = gpt2.createDecoder();
  t.deepEqual(b('😀').map((id) => decoder.push(id)), ['', '', '', '😀']);
  t.is(decoder.flush(), '');
});
