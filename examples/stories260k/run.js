// Runs a compiled stories260K bundle with the low-level API only — model.run() on token ids, argmax of the
// last logits — and checks the greedy continuation against the fixture's fp32 reference.
// Usage: node examples/stories260k/run.js <bundle-dir> [max-new-tokens]
// (Each step re-runs the whole sequence; model.generate() in examples/node-story uses the KV cache and the
// tokenizer instead. Token decoding here is the minimal SentencePiece rule — '▁' is a space, <0xNN> is a
// byte — enough for this model's vocabulary.)
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [bundleDir = 'out', maxNew = '20'] = process.argv.slice(2);
const here = new URL('../../test/fixtures/stories260K/', import.meta.url);
const reference = JSON.parse(readFileSync(new URL('reference.json', here), 'utf8'));
const vocab = JSON.parse(readFileSync(new URL('tokenizer.json', here), 'utf8')).model.vocab;
const pieces = Object.fromEntries(Object.entries(vocab).map(([piece, id]) => [id, piece]));

function decode(ids) {
  const bytes = [];
  for (const id of ids) {
    const piece = pieces[id] ?? '';
    const byte = /^<0x([0-9A-F]{2})>$/.exec(piece);
    if (byte) bytes.push(parseInt(byte[1], 16));
    else if (!/^<.*>$/.test(piece)) bytes.push(...Buffer.from(piece.replaceAll('▁', ' ')));
  }
  return Buffer.from(bytes).toString('utf8');
}

const { load } = await import(pathToFileURL(resolve(bundleDir, 'model.js')).href);
const model = await load();
const ids = [...reference.prompt_ids];
process.stdout.write(decode(ids).trimStart());
const started = performance.now();
for (let step = 0; step < Number(maxNew); step++) {
  const { logits } = await model.run({ input_ids: { data: BigInt64Array.from(ids.map(BigInt)), dims: [1, ids.length] } });
  const vocabSize = logits.dims[2];
  const last = logits.data.subarray((ids.length - 1) * vocabSize, ids.length * vocabSize);
  let next = 0;
  for (let i = 1; i < vocabSize; i++) if (last[i] > last[next]) next = i;
  if (next === 2) break; // </s>
  process.stdout.write(decode([ids.at(-1), next]).slice(decode([ids.at(-1)]).length));
  ids.push(next);
}
const seconds = (performance.now() - started) / 1000;
const generated = ids.slice(reference.prompt_ids.length);
let same = 0;
while (same < generated.length && generated[same] === reference.greedy_continuation_ids[same]) same++;
process.stdout.write(`\n\n(${generated.length} tokens in ${seconds.toFixed(2)} s with the ${model.backend} backend; ` +
  `the first ${same} match the fp32 model's greedy continuation)\n`);
if (same < generated.length) {
  process.stdout.write('(A tiny model initialised by SVID alone, without distillation, loses most of its quality: the OneBit paper\n' +
    ' recovers it with knowledge distillation. Compile with --no-quantize to compare with the original weights.)\n');
}
