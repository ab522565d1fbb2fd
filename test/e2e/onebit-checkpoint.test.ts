// A checkpoint trained with the OneBit authors' code (official BitLlama format, pytorch_model.bin) compiled by
// the CLI and run from the bundle: the independent reference logits, the greedy continuation through
// generate() with the KV cache, eval, and a hostile pickle refused without running anything.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import type { Tensor } from '../../formats/tensor.ts';
import { maxAbsDiff } from '../helpers/compare.ts';
import { ROOT, onebitc, runBundle, tempDir } from '../helpers/cli.ts';

const FIXTURE = join(ROOT, 'test/fixtures/onebit-stories260K');
const reference = JSON.parse(readFileSync(join(FIXTURE, 'reference/reference.json'), 'utf8')) as { prompt_ids: number[]; greedy_continuation_ids: number[]; check32_ids: number[] };
const floats = (file: string) => new Float32Array(readFileSync(join(FIXTURE, 'reference', file)).buffer.slice(0));

function feeds(ids: number[]): Record<string, Tensor> {
  const f: Record<string, Tensor> = { input_ids: { dtype: 'int64', dims: [1, ids.length], data: BigInt64Array.from(ids.map(BigInt)) } };
  for (let i = 0; i < 5; i++) for (const kind of ['key', 'value']) f[`past_key_values.${i}.${kind}`] = { dtype: 'float32', dims: [1, 4, 0, 8], data: new Float32Array(0) };
  return f;
}

test('the official-format checkpoint: reference logits within 1e-4, greedy continuation, eval', async (t) => {
  const out = join(tempDir('bitllama'), 'bundle');
  const r = onebitc(FIXTURE, '-o', out);
  t.is(r.code, 0, r.stderr);
  t.notRegex(r.stderr, /SVID alone/); // trained with distillation already: no SVID warning
  for (const [ids, file] of [[reference.prompt_ids, 'logits_prompt.bin'], [[...reference.prompt_ids, ...reference.greedy_continuation_ids], 'logits_prompt_plus_greedy32.bin'], [reference.check32_ids, 'logits_check32.bin']] as const) {
    const logits = runBundle(out, feeds([...ids]))['logits']!.data as Float32Array;
    const diff = maxAbsDiff(logits, floats(file));
    t.log(`${file}: max |Δ| ${diff.toExponential(2)}`);
    t.true(diff <= 1e-4, file);
  }
  const { load } = await import(pathToFileURL(join(out, 'model.js')).href);
  const model = await load();
  t.deepEqual(await model.generateIds(reference.prompt_ids, { maxTokens: 32, stopOnEos: false }), reference.greedy_continuation_ids);
  t.deepEqual([...model.wasmCalls], [['decode-step', 1]]); // decoding: model.wasm's fused step, its OneBit kernels inside
  const ppl = await model.perplexity(readFileSync(join(ROOT, 'test/fixtures/tinystories/valid_sample.txt'), 'utf8'), { maxChunks: 4 });
  t.log(`perplexity on the first 4 chunks: ${ppl.perplexity.toFixed(3)}`);
  t.true(ppl.perplexity > 1 && ppl.perplexity < 100);
});

test('a pickle naming os.system is refused with one line, and nothing runs', (t) => {
  const dir = join(tempDir('hostile'), 'model');
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), readFileSync(join(FIXTURE, 'config.json')));
  const marker = join(dir, 'pwned');
  // protocol 2: GLOBAL os system, the shell command as a 1-tuple, REDUCE, STOP — stored in a zip as torch.save does
  const cmd = Buffer.from(`touch ${marker}`);
  const pickle = Buffer.concat([Buffer.from([0x80, 2]), Buffer.from('cos\nsystem\n'), Buffer.from([0x58]), Buffer.from(Uint32Array.of(cmd.length).buffer), cmd, Buffer.from([0x85, 0x52, 0x2e])]);
  writeFileSync(join(dir, 'pytorch_model.bin'), storedZip([['archive/data.pkl', pickle]]));
  const out = join(tempDir('hostile-out'), 'bundle');
  const r = onebitc(dir, '-o', out);
  t.is(r.code, 1);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.regex(r.stderr, /pytorch_model\.bin: .*os\.system.*not allowed/);
  t.false(existsSync(marker));
  t.false(existsSync(out));
});

/** A zip with STORED entries (what torch.save writes), enough for the reader's tests. */
function storedZip(entries: [string, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const n = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt32LE(data.length, 18); local.writeUInt32LE(data.length, 22); local.writeUInt16LE(n.length, 26);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0); dir.writeUInt16LE(20, 4); dir.writeUInt16LE(20, 6); dir.writeUInt32LE(data.length, 20); dir.writeUInt32LE(data.length, 24); dir.writeUInt16LE(n.length, 28); dir.writeUInt32LE(offset, 42);
    parts.push(local, n, data);
    central.push(dir, n);
    offset += 30 + n.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(entries.length, 8); end.writeUInt16LE(entries.length, 10); end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cd, end]);
}
