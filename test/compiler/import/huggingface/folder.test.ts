import test from 'ava';
import type { ExecutionContext } from 'ava';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { float32ToHalf, halfToFloat32 } from '../../../../formats/dtype.ts';
import { FormatError } from '../../../../formats/errors.ts';
import { FileTensor } from '../../../../formats/safetensors/file-tensor.ts';
import type { Tensor } from '../../../../formats/tensor.ts';
import { openHuggingFaceFolder } from '../../../../compiler/import/huggingface/folder.ts';
import { STORIES_DIR, readStoriesConfig, readStoriesTensors, writeHfCheckpoint } from '../../../helpers/hf-checkpoint.ts';

const tmp = mkdtempSync(join(tmpdir(), 'onebitc-hf-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
const fresh = () => mkdtempSync(join(tmp, 'case-'));

const STORIES = STORIES_DIR.replace(/\/$/, '');
const EAGER = readStoriesTensors();
const SAMPLE = ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.2.mlp.down_proj.weight', 'model.layers.4.post_attention_layernorm.weight', 'model.norm.weight', 'lm_head.weight'];

async function rejects(t: ExecutionContext, input: string, ...parts: (string | RegExp)[]): Promise<void> {
  const e = await t.throwsAsync(openHuggingFaceFolder(input), { instanceOf: FormatError });
  if (!e) return;
  t.false(e.message.includes('\n'), e.message);
  for (const p of parts) {
    if (typeof p === 'string') t.true(e.message.includes(p), `${e.message}\n  should include: ${p}`);
    else t.regex(e.message, p);
  }
}

const storiesCheckpoint = (dir: string, extra: Partial<Parameters<typeof writeHfCheckpoint>[1]> = {}) =>
  writeHfCheckpoint(dir, { config: readStoriesConfig(), tensors: EAGER, ...extra });

test('opens the stories260K fixture folder: config, tokenizer files, lazy tensors equal to the eager reader', async (t) => {
  const hf = await openHuggingFaceFolder(STORIES);
  t.is(hf.dir, STORIES);
  t.like(hf.config, { architecture: 'LlamaForCausalLM', hiddenSize: 64, intermediateSize: 172, numLayers: 5, numHeads: 8, numKvHeads: 4, headDim: 8, vocabSize: 512, tieWordEmbeddings: true, bosTokenId: 1, eosTokenIds: [2] });
  t.is(hf.config.file, join(STORIES, 'config.json'));
  t.deepEqual(hf.files, {
    tokenizer: join(STORIES, 'tokenizer.json'), tokenizerConfig: join(STORIES, 'tokenizer_config.json'),
    generationConfig: join(STORIES, 'generation_config.json'), specialTokensMap: join(STORIES, 'special_tokens_map.json'),
  });
  t.is(hf.weights.source, join(STORIES, 'model.safetensors'));
  t.deepEqual(hf.weights.files, [join(STORIES, 'model.safetensors')]);
  t.deepEqual(hf.weights.names().sort(), Object.keys(EAGER).sort());
  t.false(hf.weights.has('model.layers.5.mlp.up_proj.weight'));
  for (const name of SAMPLE) {
    const ft = hf.weights.get(name);
    t.true(ft instanceof FileTensor);
    t.is(ft.dtype, 'float32');
    t.deepEqual([...ft.dims], [...EAGER[name]!.dims]);
    t.deepEqual(ft.data, EAGER[name]!.data, name);
  }
  t.throws(() => hf.weights.get('nope'), { instanceOf: FormatError, message: /model\.safetensors: tensor 'nope': no such tensor/ });
});

for (const [dtype, half] of [['F16', 'float16'], ['BF16', 'bfloat16']] as const) {
  test(`stories260K re-saved as ${dtype}: dtype kept, values equal after widening`, async (t) => {
    const dir = fresh();
    await storiesCheckpoint(dir, { dtype, tokenizerFrom: STORIES });
    const hf = await openHuggingFaceFolder(dir);
    t.truthy(hf.files.tokenizer);
    t.is(hf.files.generationConfig, undefined);
    for (const name of SAMPLE) {
      const ft = hf.weights.get(name);
      t.is(ft.dtype, half);
      t.is(ft.byteLength, EAGER[name]!.data.length * 2);
      const words = ft.data as Uint16Array;
      t.true(words instanceof Uint16Array);
      const expected = float32ToHalf(half, EAGER[name]!.data as Float32Array);
      t.deepEqual(words, expected, name);
      const widened = halfToFloat32(half, words);
      const original = EAGER[name]!.data as Float32Array;
      const tol = half === 'float16' ? 1e-3 : 8e-3;
      t.true(widened.every((v, i) => Math.abs(v - original[i]!) <= tol * Math.abs(original[i]!) + 1e-7), name);
    }
  });
}

test('stories260K in 3 shards with an index; generation_config.json is read', async (t) => {
  const dir = fresh();
  const written = await storiesCheckpoint(dir, { shards: 3, generationConfig: { bos_token_id: 1, eos_token_id: [2, 5] } });
  t.is(written.files.length, 3);
  const hf = await openHuggingFaceFolder(dir);
  t.is(hf.weights.source, join(dir, 'model.safetensors.index.json'));
  t.deepEqual(hf.weights.files.map((f) => basename(f)), ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']);
  t.deepEqual(hf.weights.names().sort(), Object.keys(EAGER).sort());
  t.deepEqual(hf.config.eosTokenIds, [2, 5]);
  for (const name of Object.keys(EAGER)) {
    t.is(basename(hf.weights.fileOf(name)!), written.weightMap[name]!);
    t.deepEqual(hf.weights.get(name).data, EAGER[name]!.data, name);
  }
});

test('a single .safetensors file with config.json beside it; tied checkpoints simply lack lm_head', async (t) => {
  const dir = fresh();
  const { ['lm_head.weight']: _head, ...tied } = EAGER;
  await storiesCheckpoint(dir, { tensors: tied });
  renameSync(join(dir, 'model.safetensors'), join(dir, 'weights-tied.safetensors'));
  const file = join(dir, 'weights-tied.safetensors');
  const hf = await openHuggingFaceFolder(file);
  t.is(hf.dir, dir);
  t.is(hf.weights.source, file);
  t.false(hf.weights.has('lm_head.weight'));
  t.true(hf.config.tieWordEmbeddings);
  t.deepEqual(hf.weights.get('model.embed_tokens.weight').data, EAGER['model.embed_tokens.weight']!.data);
  // The folder itself has no model.safetensors: the error says what it found.
  await rejects(t, dir, `${dir}: no model.safetensors or model.safetensors.index.json`, 'found weights-tied.safetensors');
});

test('bad folders: missing config.json, invalid JSON, unknown architecture, missing key, rope_scaling, no weights', async (t) => {
  const noConfig = fresh();
  copyFileSync(join(STORIES, 'model.safetensors'), join(noConfig, 'model.safetensors'));
  await rejects(t, noConfig, `${noConfig}: no config.json; expected a Hugging Face model folder`, 'model.safetensors');
  await rejects(t, join(noConfig, 'model.safetensors'), `${join(noConfig, 'model.safetensors')}: no config.json beside it`);
  await rejects(t, join(tmp, 'nowhere'), 'nowhere: no such file or folder');
  await rejects(t, join(STORIES, 'tokenizer.json'), 'tokenizer.json: expected a Hugging Face model folder');

  const cases: [string, string, (string | RegExp)[]][] = [
    ['invalid', '{"architectures": ["LlamaForCausalLM"],', ['config.json: is not valid JSON (', 'expected a Hugging Face config.json']],
    ['unknown', JSON.stringify({ ...readStoriesConfig(), architectures: ['FooForCausalLM'] }),
      ["config.json: architecture 'FooForCausalLM' is not supported; supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, OPTForCausalLM, GPT2LMHeadModel, BitLlamaForCausalLMInf"]],
    ['nokey', JSON.stringify({ ...readStoriesConfig(), num_hidden_layers: undefined }), ["config.json: missing key 'num_hidden_layers'"]],
    ['noarch', JSON.stringify({ ...readStoriesConfig(), architectures: undefined }), ["config.json: missing key 'architectures'"]],
    ['rope', JSON.stringify({ ...readStoriesConfig(), rope_scaling: { rope_type: 'llama3', factor: 8 } }), ["config.json: key 'rope_scaling'", 'not supported']],
  ];
  for (const [name, text, parts] of cases) {
    const dir = join(fresh(), name);
    await storiesCheckpoint(dir);
    writeFileSync(join(dir, 'config.json'), text);
    await rejects(t, dir, join(dir, 'config.json'), ...parts);
  }

  const torch = fresh();
  writeFileSync(join(torch, 'config.json'), JSON.stringify(readStoriesConfig()));
  writeFileSync(join(torch, 'pytorch_model.bin'), 'x');
  await rejects(t, torch, 'pytorch_model.bin: file has 1 bytes, too small for a zip archive');
});

test('bad shards: missing shard, truncated shard, tensor missing from its shard, tensor in two shards, shard outside the folder', async (t) => {
  const make = async () => {
    const dir = fresh();
    const w = await storiesCheckpoint(dir, { shards: 3 });
    return { dir, index: join(dir, 'model.safetensors.index.json'), w };
  };
  const shard2 = 'model-00002-of-00003.safetensors';

  {
    const { dir, index, w } = await make();
    unlinkSync(join(dir, shard2));
    const first = Object.keys(w.weightMap).find((n) => w.weightMap[n] === shard2)!;
    await rejects(t, dir, `${index}: tensor '${first}': shard '${shard2}' not found in ${dir}`);
  }
  {
    const { dir } = await make();
    const path = join(dir, shard2);
    truncateSync(path, statSync(path).size - 100);
    await rejects(t, dir, `${path}: tensor '`, 'run past the end of the data section');
  }
  {
    const { dir, index } = await make();
    const json = JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> };
    json.weight_map['model.norm.weight'] = 'model-00001-of-00003.safetensors'; // it is in shard 3
    writeFileSync(index, JSON.stringify(json));
    await rejects(t, dir, `${index}: tensor 'model.norm.weight': listed in shard 'model-00001-of-00003.safetensors', but that shard has no such tensor (it is in 'model-00003-of-00003.safetensors')`);
  }
  {
    const { dir, index, w } = await make();
    // Rewrite shard 2 with one of shard 1's tensors added.
    const dup = Object.keys(w.weightMap).find((n) => w.weightMap[n] === 'model-00001-of-00003.safetensors')!;
    const tensors: Record<string, Tensor> = { [dup]: EAGER[dup]! };
    for (const n of Object.keys(w.weightMap)) if (w.weightMap[n] === shard2) tensors[n] = EAGER[n]!;
    const other = fresh();
    await writeHfCheckpoint(other, { config: {}, tensors });
    copyFileSync(join(other, 'model.safetensors'), join(dir, shard2));
    await rejects(t, dir, `${join(dir, shard2)}: tensor '${dup}': also in shard 'model-00001-of-00003.safetensors'`);
    t.truthy(index);
  }
  {
    const { dir, index } = await make();
    const json = JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> };
    json.weight_map['model.norm.weight'] = '../model-00003-of-00003.safetensors';
    writeFileSync(index, JSON.stringify(json));
    await rejects(t, dir, `${index}: tensor 'model.norm.weight': shard '../model-00003-of-00003.safetensors' is outside the model folder`);
  }
  {
    const { dir, index } = await make();
    writeFileSync(index, JSON.stringify({ metadata: {} }));
    await rejects(t, dir, `${index}: key 'weight_map' is missing`);
    writeFileSync(index, '{');
    await rejects(t, dir, `${index}: is not valid JSON`);
  }
});
