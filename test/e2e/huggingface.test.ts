// Hugging Face folders through the CLI: the stories260K checkpoint against the independent reference logits
// and greedy continuation, the same weights saved as F16/BF16/sharded/untied against the F32 single file,
// the paper's defaults for 1-bit LMs, and bad checkpoints.
import { existsSync, readdirSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import type { Tensor } from '../../formats/tensor.ts';
import { maxAbsDiff, relativeL2 } from '../helpers/compare.ts';
import { onebitc, runBundle, tempDir } from '../helpers/cli.ts';
import { readStoriesConfig, readStoriesTensors, STORIES_DIR, writeHfCheckpoint } from '../helpers/hf-checkpoint.ts';

const reference = JSON.parse(readFileSync(join(STORIES_DIR, 'reference.json'), 'utf8')) as { prompt_ids: number[]; greedy_continuation_ids: number[] };
const referenceLogits = new Float32Array(readFileSync(join(STORIES_DIR, 'reference_logits.bin')).buffer.slice(0));

/** The prompt with an empty KV cache for every layer (batch 1, 4 kv heads, head_dim 8). */
function promptFeeds(): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = { input_ids: { dtype: 'int64', dims: [1, reference.prompt_ids.length], data: BigInt64Array.from(reference.prompt_ids.map(BigInt)) } };
  for (let i = 0; i < 5; i++) {
    for (const kind of ['key', 'value']) feeds[`past_key_values.${i}.${kind}`] = { dtype: 'float32', dims: [1, 4, 0, 8], data: new Float32Array(0) };
  }
  return feeds;
}

function compileFolder(t: import('ava').ExecutionContext, input: string, ...flags: string[]): string {
  const out = join(tempDir('hf-out'), 'bundle');
  const r = onebitc(input, '-o', out, ...flags);
  t.is(r.code, 0, r.stderr);
  return out;
}

const logitsOf = (bundle: string) => runBundle(bundle, promptFeeds())['logits']!.data as Float32Array;

test('stories260K folder, --no-quantize: reference logits within 1e-4 and the reference greedy continuation', async (t) => {
  const out = compileFolder(t, STORIES_DIR, '--no-quantize');
  t.true(existsSync(join(out, 'tokenizer.json')));
  const diff = maxAbsDiff(logitsOf(out), referenceLogits);
  t.log(`max |Δ| vs reference_logits.bin ${diff.toExponential(2)}`);
  t.true(diff <= 1e-4);
  const { load } = await import(pathToFileURL(join(out, 'model.js')).href);
  const model = await load();
  const ids = await model.generateIds(reference.prompt_ids, { maxTokens: 64, stopOnEos: false });
  t.deepEqual(ids, reference.greedy_continuation_ids.slice(0, 64));
});

test('1-bit by default: every projection OneBit (≤ 1/20 of its fp32 bytes plus the vectors), head kept, fp16 storage', (t) => {
  const out = join(tempDir('hf-out'), 'bundle');
  const r = onebitc(STORIES_DIR, '-o', out);
  t.is(r.code, 0, r.stderr);
  // SVID alone: the measured fidelity, and a warning that says how the paper recovers quality
  const fidelity = /fidelity \(1-bit vs original outputs on \d+ tokens of a built-in English sample\): cosine ([\d.]+), KL ([\d.]+) nats\/token, top-1 agreement (\d+)%/.exec(r.stdout);
  t.truthy(fidelity, r.stdout);
  t.true(Number(fidelity![2]) > 1); // far from the original: SVID alone
  t.regex(r.stderr, /warning: SVID alone .* knowledge distillation/);
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { layers: { name: string; out: number; in: number; bytesBefore: number; bytesAfter: number; kept: boolean }[] };
  const converted = manifest.layers.filter((l) => !l.kept);
  t.is(converted.length, 35); // 5 layers × q, k, v, o, gate, up, down
  t.deepEqual(manifest.layers.filter((l) => l.kept).map((l) => l.name), ['model.embed_tokens']); // the tied head
  for (const l of converted) t.true(l.bytesAfter <= l.bytesBefore / 20 + 2 * (l.in + l.out), l.name);
  const header = readFileSync(join(out, 'weights.safetensors'));
  const json = JSON.parse(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString()) as Record<string, { dtype: string }>;
  t.is(json['model.embed_tokens.weight']!.dtype, 'F16');
  t.is(json['model.norm.weight']!.dtype, 'F16');
  const withHead = compileFolder(t, STORIES_DIR, '--quantize-head');
  const m2 = JSON.parse(readFileSync(join(withHead, 'manifest.json'), 'utf8')) as { layers: { kept: boolean }[] };
  t.true(m2.layers.every((l) => !l.kept));
});

test('the same weights as F16, BF16, three shards with an index, and an untied head give the F32 logits', async (t) => {
  const tensors = readStoriesTensors();
  const config = readStoriesConfig();
  const f32 = logitsOf(compileFolder(t, STORIES_DIR, '--no-quantize'));
  const variants: [string, Parameters<typeof writeHfCheckpoint>[1], number][] = [
    ['F16', { config, tensors, dtype: 'F16', tokenizerFrom: STORIES_DIR }, 2e-3],
    ['BF16', { config, tensors, dtype: 'BF16', tokenizerFrom: STORIES_DIR }, 1.5e-2],
    ['3 shards', { config, tensors, shards: 3, tokenizerFrom: STORIES_DIR }, 1e-6],
    ['untied head', { config: { ...config, tie_word_embeddings: false }, tensors: { ...tensors, 'lm_head.weight': tensors['model.embed_tokens.weight']! }, tokenizerFrom: STORIES_DIR }, 1e-6],
  ];
  for (const [name, options, tolerance] of variants) {
    const dir = join(tempDir('hf-variant'), 'ckpt');
    await writeHfCheckpoint(dir, options);
    const err = relativeL2(logitsOf(compileFolder(t, dir, '--no-quantize')), f32);
    t.log(`${name}: relative L2 vs F32 single file ${err.toExponential(2)}`);
    t.true(err <= tolerance, name);
  }
});

function expectFailure(t: import('ava').ExecutionContext, input: string, pattern: RegExp) {
  const out = join(tempDir('hf-bad'), 'bundle');
  const r = onebitc(input, '-o', out);
  t.is(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0]!, pattern);
  t.false(existsSync(out));
  t.deepEqual(readdirSync(dirname(out)), []);
}

test('bad checkpoints: one clear line each, no bundle', async (t) => {
  const tensors = readStoriesTensors();
  const config = readStoriesConfig();
  const write = async (options: Partial<Parameters<typeof writeHfCheckpoint>[1]>) => {
    const dir = join(tempDir('hf-bad-ckpt'), 'ckpt');
    await writeHfCheckpoint(dir, { config, tensors, ...options });
    return dir;
  };
  const noConfig = await write({});
  rmSync(join(noConfig, 'config.json'));
  expectFailure(t, noConfig, /config\.json/);
  expectFailure(t, await write({ config: { ...config, architectures: ['FooForCausalLM'] } }), /'FooForCausalLM' is not supported; supported: LlamaForCausalLM/);
  const { 'model.layers.2.mlp.up_proj.weight': _dropped, ...missing } = tensors;
  expectFailure(t, await write({ tensors: missing }), /model\.layers\.2\.mlp\.up_proj\.weight/);
  expectFailure(t, await write({ tensors: { ...tensors, 'model.layers.1.self_attn.q_proj.weight': { dtype: 'float32', dims: [64, 63], data: new Float32Array(64 * 63) } } }), /model\.layers\.1\.self_attn\.q_proj\.weight.*\[64, 63\]/);
  const sharded = await write({ shards: 3 });
  const index = JSON.parse(readFileSync(join(sharded, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
  const victim = Object.values(index.weight_map)[0]!;
  rmSync(join(sharded, victim));
  expectFailure(t, sharded, new RegExp(victim.replace('.', '\\.')));
  const truncated = await write({ shards: 3 });
  const shard = Object.values((JSON.parse(readFileSync(join(truncated, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> }).weight_map).at(-1)!;
  truncateSync(join(truncated, shard), 1000);
  expectFailure(t, truncated, new RegExp(shard.replace('.', '\\.')));
});
