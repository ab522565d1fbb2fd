// tokenizerFromLlama2c: llama2.c's tokenizer.bin read and used as run.c does. Oracle: reference.json, whose
// ids come from llama2.c's conventions (the cross-check against tokenizer.json is in tokenizer.test.ts).
import test from 'ava';
import { tokenizerFromLlama2c } from '../../../runtime/tokenizer/llama2c.ts';
import { paragraphs, readBytes, readJson, type Reference, STORIES, streamed } from './helpers.ts';

const bytes = readBytes(STORIES + 'tok512.bin');
const reference = readJson<Reference>(STORIES + 'reference.json');
const tok = tokenizerFromLlama2c(bytes);

test('reads tok512.bin: 512 tokens, BOS 1, EOS 2', (t) => {
  t.is(tok.vocabSize, 512);
  t.is(tok.bos, 1);
  t.deepEqual(tok.eos, [2]);
});

test('encodes the reference prompt and check32 ids', (t) => {
  t.deepEqual(tok.encode(reference.prompt_text), reference.prompt_ids);
  t.deepEqual(tok.encode(paragraphs(1)[0]!).slice(0, 32), reference.check32.ids);
  t.deepEqual(tok.encode(reference.prompt_text, { addSpecialTokens: false }), reference.prompt_ids.slice(1));
});

test('decode strips the leading space after BOS (and at the start), keeps it elsewhere', (t) => {
  t.is(tok.decode(reference.prompt_ids), reference.prompt_text);
  t.is(tok.decode([...reference.prompt_ids, ...reference.greedy_continuation_ids]), reference.prompt_text + reference.greedy_continuation_text);
  t.is(tok.decode([1, ...reference.greedy_from_bos_60_ids]), reference.greedy_from_bos_60_text);
  t.is(tok.decode(reference.greedy_continuation_ids), reference.greedy_continuation_text.slice(1));
  t.is(streamed(tok, reference.greedy_continuation_ids, { prefix: reference.prompt_ids }), reference.greedy_continuation_text);
  // run.c: after every BOS (a new story), not only the first
  const two = [...tok.encode('The end.'), ...tok.encode('Once')];
  t.is(tok.decode(two), 'The end.Once');
  t.is(tok.decode(two, { skipSpecialTokens: false }), '<s>The end.<s>Once');
});

test('byte fallback: characters missing from the vocabulary become their UTF-8 bytes + 3', (t) => {
  t.deepEqual(tok.encode('日'), [1, 410, 0xe6 + 3, 0x97 + 3, 0xa5 + 3]);
  t.deepEqual(tok.encode('\n'), [1, 410, 0x0a + 3]);
  t.is(tok.decode([1, 410, 0xe6 + 3, 0x97 + 3, 0xa5 + 3]), '日');
  t.deepEqual(tok.encode(''), [1]);
  t.deepEqual(tok.encode('', { addSpecialTokens: false }), []);
});

test('stream decoder: split characters, equal to decode()', (t) => {
  const ids = tok.encode('a 日本 b');
  const decoder = tok.createDecoder();
  const pieces = ids.map((id) => decoder.push(id));
  t.false(pieces.some((p) => p.includes('\uFFFD')));
  t.is(pieces.join('') + decoder.flush(), 'a 日本 b');
  for (const text of paragraphs(50)) t.is(streamed(tok, tok.encode(text)), text);
});

test('truncated or malformed tokenizer.bin gives a clear error', (t) => {
  t.throws(() => tokenizerFromLlama2c(bytes.subarray(0, 2)), { message: /tokenizer\.bin: truncated/ });
  t.throws(() => tokenizerFromLlama2c(bytes.subarray(0, bytes.length - 1)), { message: /tokenizer\.bin: token 511 has length/ });
  t.throws(() => tokenizerFromLlama2c(bytes.subarray(0, 4 + 8 + 5 + 3)), { message: /tokenizer\.bin: truncated in the header of token 1/ });
  t.throws(() => tokenizerFromLlama2c(bytes.subarray(0, 4 + 8 + 5)), { message: /expected at least 259/ });
});
