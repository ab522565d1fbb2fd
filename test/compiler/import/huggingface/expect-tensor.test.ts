import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '../../../../formats/errors.ts';
import { expectTensor } from '../../../../compiler/import/huggingface/expect-tensor.ts';
import { openHuggingFaceFolder } from '../../../../compiler/import/huggingface/folder.ts';
import { STORIES_DIR, readStoriesConfig, readStoriesTensors, writeHfCheckpoint } from '../../../helpers/hf-checkpoint.ts';

const tmp = mkdtempSync(join(tmpdir(), 'onebitc-hf-expect-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
const MODEL = join(STORIES_DIR, 'model.safetensors');

test('returns the lazy tensor when present with the expected dims and a float dtype', async (t) => {
  const hf = await openHuggingFaceFolder(STORIES_DIR);
  const q = expectTensor(hf.weights, 'model.layers.0.self_attn.q_proj.weight', [64, 64]);
  t.is(q.dtype, 'float32');
  t.deepEqual(q.data, readStoriesTensors()['model.layers.0.self_attn.q_proj.weight']!.data);
  t.deepEqual([...expectTensor(hf.weights, 'model.layers.0.self_attn.k_proj.weight', [32, 64], 'config.json').dims], [32, 64]);
});

test('missing tensor: one line naming the file and the tensor (and a near miss)', async (t) => {
  const hf = await openHuggingFaceFolder(STORIES_DIR);
  const e = t.throws(() => expectTensor(hf.weights, 'model.layers.5.mlp.up_proj.weight', [172, 64]), { instanceOf: FormatError })!;
  t.is(e.message, `${MODEL}: tensor 'model.layers.5.mlp.up_proj.weight': missing; expected [172, 64]`);
  const near = t.throws(() => expectTensor(hf.weights, 'embed_tokens.weight', [512, 64], { file: 'weights.safetensors' }), { instanceOf: FormatError })!;
  t.is(near.message, "weights.safetensors: tensor 'embed_tokens.weight': missing; expected [512, 64] (the checkpoint has 'model.embed_tokens.weight')");
});

test('wrong shape: one line naming the shard, the tensor, actual and expected dims', async (t) => {
  const dir = join(tmp, 'sharded');
  await writeHfCheckpoint(dir, { config: readStoriesConfig(), tensors: readStoriesTensors(), shards: 2 });
  const hf = await openHuggingFaceFolder(dir);
  const name = 'model.layers.4.mlp.down_proj.weight';
  const e = t.throws(() => expectTensor(hf.weights, name, [172, 64], { why: 'intermediate_size 172, hidden_size 64' }), { instanceOf: FormatError })!;
  t.is(e.message, `${hf.weights.fileOf(name)}: tensor '${name}': has dims [64, 172], expected [172, 64] (intermediate_size 172, hidden_size 64)`);
  t.throws(() => expectTensor(hf.weights, 'model.norm.weight', [64, 1]), { message: /tensor 'model\.norm\.weight': has dims \[64\], expected \[64, 1\]/ });
  // Sharded: a missing tensor names the index.
  t.throws(() => expectTensor(hf.weights, 'lm_head.bias', [512]), { message: `${join(dir, 'model.safetensors.index.json')}: tensor 'lm_head.bias': missing; expected [512]` });
});

test('dtype must be F32, F16 or BF16', async (t) => {
  const dir = join(tmp, 'int');
  await writeHfCheckpoint(dir, {
    config: readStoriesConfig(),
    tensors: { 'model.norm.weight': { dtype: 'int32', dims: [64], data: new Int32Array(64) }, 'x.f16': { dtype: 'float16', dims: [2], data: new Uint16Array(2) } },
  });
  const hf = await openHuggingFaceFolder(dir);
  t.is(expectTensor(hf.weights, 'x.f16', [2]).dtype, 'float16');
  const e = t.throws(() => expectTensor(hf.weights, 'model.norm.weight', [64]), { instanceOf: FormatError })!;
  t.is(e.message, `${join(dir, 'model.safetensors')}: tensor 'model.norm.weight': has dtype int32, expected float32, float16 or bfloat16 (F32, F16, BF16)`);
});
