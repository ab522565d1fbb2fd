// Opening a checkpoint reads headers only: a >200 MB synthetic folder costs next to nothing until a tensor's data
// is touched, and touching one tensor reads only that tensor.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tensor } from '../../../../formats/tensor.ts';
import { openHuggingFaceFolder } from '../../../../compiler/import/huggingface/folder.ts';
import { writeHfCheckpoint } from '../../../helpers/hf-checkpoint.ts';

const tmp = mkdtempSync(join(tmpdir(), 'onebitc-hf-mem-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

const ROWS = 2048;
const COLS = 2048; // 16 MiB of F32 per matrix
const LAYERS = 4; // 4 × 4 matrices + embedding: ~272 MiB

/** A tensor whose data is made when read: the writer holds one at a time. */
function lazyMatrix(rows: number, cols: number, seed: number): Tensor<'float32'> {
  return {
    dtype: 'float32', dims: [rows, cols],
    get data() {
      const a = new Float32Array(rows * cols);
      for (let i = 0; i < a.length; i += 4096) a[i] = seed + i;
      return a;
    },
  };
}

const config = {
  architectures: ['LlamaForCausalLM'], hidden_size: COLS, intermediate_size: ROWS, num_hidden_layers: LAYERS,
  num_attention_heads: 16, vocab_size: 4096, max_position_embeddings: 512, rms_norm_eps: 1e-5, tie_word_embeddings: true,
};

function tensors(): Record<string, Tensor> {
  const out: Record<string, Tensor> = { 'model.embed_tokens.weight': lazyMatrix(4096, COLS, 1) };
  for (let l = 0; l < LAYERS; l++) {
    for (const [i, p] of ['self_attn.q_proj', 'self_attn.o_proj', 'mlp.up_proj', 'mlp.down_proj'].entries()) {
      out[`model.layers.${l}.${p}.weight`] = lazyMatrix(ROWS, COLS, l * 10 + i);
    }
  }
  return out;
}

for (const shards of [1, 3]) {
  test.serial(`opening a ${shards === 1 ? 'single-file' : `${shards}-shard`} folder of > 200 MB reads only headers`, async (t) => {
    const dir = join(tmp, `s${shards}`);
    const written = await writeHfCheckpoint(dir, { config, tensors: tensors(), shards });
    const total = Object.keys(written.weightMap).length;
    t.is(total, 1 + 4 * LAYERS);
    (globalThis as { gc?: () => void }).gc?.();
    const before = process.memoryUsage();
    const hf = await openHuggingFaceFolder(dir);
    const names = hf.weights.names();
    const dims = names.map((n) => hf.weights.get(n).dims); // dims are free
    const after = process.memoryUsage();
    const bytes = names.reduce((n, name) => n + hf.weights.get(name).byteLength, 0);
    t.true(bytes > 200 * 2 ** 20, `${bytes} bytes`);
    t.is(dims.length, total);
    const grewRss = after.rss - before.rss;
    const grewBuffers = after.arrayBuffers - before.arrayBuffers;
    t.log(`rss +${(grewRss / 2 ** 20).toFixed(1)} MiB, arrayBuffers +${grewBuffers} B for ${(bytes / 2 ** 20).toFixed(0)} MiB of weights`);
    t.true(grewRss < 20 * 2 ** 20, `rss grew by ${(grewRss / 2 ** 20).toFixed(1)} MiB opening ${(bytes / 2 ** 20).toFixed(0)} MiB of weights`);
    t.true(grewBuffers < 2 ** 20, `array buffers grew by ${grewBuffers} bytes`);

    // Touching one tensor reads that tensor only, and the right values.
    const q = hf.weights.get('model.layers.2.self_attn.q_proj.weight').data as Float32Array;
    t.is(q.length, ROWS * COLS);
    t.is(q[0], 20);
    t.is(q[4096], 20 + 4096);
    t.is(q[1], 0);
    const touched = process.memoryUsage();
    t.true(touched.arrayBuffers - before.arrayBuffers < 2 * ROWS * COLS * 4, 'one tensor in memory, not the checkpoint');
  });
}
