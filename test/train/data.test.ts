import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '../../formats/errors.ts';
import { loadTokenizer } from '../../runtime/tokenizer/tokenizer.ts';
import { BatchSampler, loadTextData } from '../../compiler/train/data.ts';
import { Rng } from '../../compiler/train/rng.ts';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const STORIES = join(FIXTURES, 'tinystories/valid_sample.txt');
const tokenizer = loadTokenizer(
  readFileSync(join(FIXTURES, 'stories260K/tokenizer.json'), 'utf8'),
  JSON.parse(readFileSync(join(FIXTURES, 'stories260K/tokenizer_config.json'), 'utf8')) as object,
);
const tmp = mkdtempSync(join(tmpdir(), 'onebitc-data-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
const textFile = (text: string) => {
  const path = join(mkdtempSync(join(tmp, 'case-')), 'text.txt');
  writeFileSync(path, text);
  return path;
};

/** Paragraphs as runs of non-blank lines, trimmed. */
function paragraphsOf(text: string): string[] {
  const out: string[] = [];
  let current: string[] = [];
  for (const line of [...text.split('\n'), '']) {
    if (line.trim() === '') {
      if (current.length) out.push(current.join('\n').trim());
      current = [];
    } else current.push(line);
  }
  return out;
}
/** The tokenizer's own encoding: its Llama post-processor puts BOS in front of each paragraph. */
const withBos = (paragraphs: string[]) => paragraphs.flatMap((p) => tokenizer.encode(p));

const data = loadTextData(STORIES, tokenizer);

test('TinyStories sample: split at the blank line nearest 90% of the characters, BOS before each paragraph', async (t) => {
  const { train, heldOut, heldOutText } = await data;
  const text = readFileSync(STORIES, 'utf8');
  // Oracle for the cut: every "\n\n" position, the closest to floor(0.9 · length).
  const target = Math.floor(text.length * 0.9);
  let cut = -1;
  for (let i = text.indexOf('\n\n'); i >= 0; i = text.indexOf('\n\n', i + 1)) if (cut < 0 || Math.abs(i - target) < Math.abs(cut - target)) cut = i;
  t.is(cut, 714042); // worked out once with Python over the same file
  t.is(heldOutText, text.slice(cut + 2));
  t.deepEqual(Array.from(heldOut), withBos(paragraphsOf(text.slice(cut + 2))));
  const trainParagraphs = paragraphsOf(text.slice(0, cut));
  t.is(train.filter((id) => id === tokenizer.bos).length, trainParagraphs.length);
  const head = withBos(trainParagraphs.slice(0, 300));
  t.deepEqual(Array.from(train.subarray(0, head.length)), head);
  t.is(train[0], 1); // stories260K's BOS
  t.is(tokenizer.bos, 1);
  t.true(tokenizer.decode(Array.from(train.subarray(0, 40))).startsWith('Spot. Spot saw the shiny car and said, "Wow'));
  t.true(heldOut.length > 0.08 * (train.length + heldOut.length) && heldOut.length < 0.12 * (train.length + heldOut.length));
});

test('heldOutFraction moves the cut; a tokenizer without BOS adds none', async (t) => {
  const path = textFile('aaa aaa\n\nbbb\n\nccc ccc ccc\n\nddd\n\n');
  const chars = { bos: undefined, encode: (s: string) => Array.from(s, (c) => c.charCodeAt(0)) };
  // 34 characters; the 50% point (17) is nearest the "\n\n" at 12 (distance 5; the next is at 23, distance 6).
  const half = await loadTextData(path, chars, { heldOutFraction: 0.5 });
  t.is(String.fromCharCode(...half.train), 'aaa aaabbb');
  t.is(String.fromCharCode(...half.heldOut), 'ccc ccc cccddd');
  const withBosToken = await loadTextData(path, { bos: 1, encode: chars.encode }, { heldOutFraction: 0.5 });
  t.deepEqual(Array.from(withBosToken.train), [1, ...Array.from('aaa aaa', (c) => c.charCodeAt(0)), 1, 98, 98, 98]);
});

test('missing, empty and too short files are FormatErrors naming the file', async (t) => {
  const missing = join(tmp, 'nope.txt');
  const check = async (path: string, pattern: RegExp) => {
    const e = await t.throwsAsync(loadTextData(path, tokenizer), { instanceOf: FormatError });
    t.true(e.message.startsWith(path) && pattern.test(e.message), e.message);
  };
  await check(missing, /file not found/);
  await check(textFile(''), /empty/);
  await check(textFile(' \n\n \n'), /empty/);
  await check(textFile('One story without any blank line.'), /no blank line/);
  await check(textFile('Once upon a time there was a dog.\n\n'), /too short: the held-out part has 0 tokens/);
  await t.throwsAsync(loadTextData(STORIES, tokenizer, { heldOutFraction: 1 }), { message: /heldOutFraction/ });
});

// ---- BatchSampler ----

const stream = Int32Array.from({ length: 101 }, (_, i) => i); // token i = i, so a window shows where it came from

test('windows of seq + 1 tokens at stride seq; each epoch covers every window once, in a new order', (t) => {
  const s = new BatchSampler(stream, { batch: 4, seq: 10 }, new Rng(1));
  t.is(s.windowCount, 10); // floor((101 − 1) / 10)
  const epochs: number[][] = [[], []];
  for (let b = 0; b < 5; b++) {
    const { ids, windows, epoch } = s.next();
    t.is(ids.length, 4 * 11);
    windows.forEach((w, r) => t.deepEqual(Array.from(ids.subarray(r * 11, r * 11 + 11)), Array.from({ length: 11 }, (_, i) => w * 10 + i)));
    windows.forEach((w, r) => epochs[b * 4 + r < 10 ? 0 : 1]!.push(w));
    t.is(epoch, b < 2 ? 0 : 1); // batch 2 holds rows 8–11: it ends in epoch 1
  }
  t.deepEqual([...epochs[0]!].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.deepEqual([...epochs[1]!].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.notDeepEqual(epochs[0], epochs[1]);
});

test('the same seed gives the same batches; state()/restore() resumes mid-epoch and across epochs', (t) => {
  const shape = { batch: 3, seq: 7 };
  const a = new BatchSampler(stream, shape, new Rng(5));
  const b = new BatchSampler(stream, shape, new Rng(5));
  const take = (s: BatchSampler, n: number) => Array.from({ length: n }, () => s.next().windows);
  t.deepEqual(take(a, 9), take(b, 9)); // 14 windows per epoch: this crosses two epoch boundaries
  for (const skip of [0, 2, 5]) {
    take(a, skip);
    const saved = JSON.parse(JSON.stringify(a.state())) as ReturnType<BatchSampler['state']>;
    const expected = take(a, 12);
    const resumed = new BatchSampler(stream, shape, new Rng(999));
    resumed.restore(saved);
    t.deepEqual(take(resumed, 12), expected, `after ${skip} more batches`);
  }
  t.notDeepEqual(take(new BatchSampler(stream, shape, new Rng(6)), 3), take(new BatchSampler(stream, shape, new Rng(5)), 3));
});

test('windows are reproducible from their index on the real data; bad shapes are refused', async (t) => {
  const { train } = await data;
  const s = new BatchSampler(train, { batch: 2, seq: 64 }, new Rng(3));
  const { ids, windows } = s.next();
  t.deepEqual(Array.from(ids.subarray(65, 130)), Array.from(train.subarray(windows[1]! * 64, windows[1]! * 64 + 65)));
  t.throws(() => new BatchSampler(Int32Array.of(1, 2, 3), { batch: 1, seq: 3 }, new Rng(0)), { message: /fewer than one window/ });
  t.throws(() => new BatchSampler(stream, { batch: 0, seq: 3 }, new Rng(0)), { message: /batch must be/ });
  t.throws(() => s.restore({ epoch: 0, cursor: s.windowCount + 1, rng: [1, 2, 3, 4] }), { message: /cursor/ });
});
