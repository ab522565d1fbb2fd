// Part of `npm run bench`: a LLaMA-7B-shaped checkpoint (2 decoder layers at hidden 4096 /
// intermediate 11008, vocab 32000, F16, random weights written here) compiled in a child process; reports
// compile time and peak RSS against the largest tensor (the compiler streams: the target is < 2×).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tensor } from '../formats/tensor.ts';
import { formatBytes } from '../compiler/inspect.ts';
import { writeHfCheckpoint } from '../test/helpers/hf-checkpoint.ts';
import { randomNormal } from '../test/helpers/onnx-builder.ts';

const HIDDEN = 4096;
const INTERMEDIATE = 11008;
const VOCAB = 32000;
const LAYERS = 2;

/** A float32 tensor whose data is generated on each access (the writer reads it once). */
function generated(dims: number[], seed: number, std = 0.02): Tensor {
  return { dtype: 'float32', dims, get data() { return randomNormal(dims[0]! * (dims[1] ?? 1), std, seed); } } as Tensor;
}

export async function compile7bShaped(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'onebitc-7b-'));
  try {
    const tensors: Record<string, Tensor> = { 'model.embed_tokens.weight': generated([VOCAB, HIDDEN], 1) };
    let seed = 2;
    for (let l = 0; l < LAYERS; l++) {
      const p = `model.layers.${l}`;
      for (const name of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) tensors[`${p}.self_attn.${name}.weight`] = generated([HIDDEN, HIDDEN], seed++);
      tensors[`${p}.mlp.gate_proj.weight`] = generated([INTERMEDIATE, HIDDEN], seed++);
      tensors[`${p}.mlp.up_proj.weight`] = generated([INTERMEDIATE, HIDDEN], seed++);
      tensors[`${p}.mlp.down_proj.weight`] = generated([HIDDEN, INTERMEDIATE], seed++);
      tensors[`${p}.input_layernorm.weight`] = { dtype: 'float32', dims: [HIDDEN], data: new Float32Array(HIDDEN).fill(1) };
      tensors[`${p}.post_attention_layernorm.weight`] = { dtype: 'float32', dims: [HIDDEN], data: new Float32Array(HIDDEN).fill(1) };
    }
    tensors['model.norm.weight'] = { dtype: 'float32', dims: [HIDDEN], data: new Float32Array(HIDDEN).fill(1) };
    tensors['lm_head.weight'] = generated([VOCAB, HIDDEN], seed++);
    const config = {
      architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: HIDDEN, intermediate_size: INTERMEDIATE,
      num_hidden_layers: LAYERS, num_attention_heads: 32, num_key_value_heads: 32, vocab_size: VOCAB,
      max_position_embeddings: 4096, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false,
      bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu', torch_dtype: 'float16',
    };
    const t0 = performance.now();
    await writeHfCheckpoint(join(dir, 'ckpt'), { config, tensors, dtype: 'F16' });
    const largest = VOCAB * HIDDEN * 2;
    console.log(`\nLLaMA-7B-shaped checkpoint (${LAYERS} layers, F16): written in ${((performance.now() - t0) / 1000).toFixed(1)} s; largest tensor ${formatBytes(largest)}`);
    const script = `
      import { compile } from './compiler/compile.ts';
      const t0 = performance.now();
      const r = await compile(${JSON.stringify(join(dir, 'ckpt'))}, { output: ${JSON.stringify(join(dir, 'out'))}, log: () => {} });
      console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, maxRss: process.resourceUsage().maxRSS * 1024, before: r.sizeBefore, after: r.sizeAfter }));`;
    const child = spawnSync(process.execPath, ['--import', './scripts/ts-loader.js', '--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (child.status !== 0) throw new Error(`compile failed: ${child.stderr}`);
    const r = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { seconds: number; maxRss: number; before: number; after: number };
    console.log('| compile time | peak RSS | peak RSS ÷ largest tensor | weights before → after |');
    console.log('|---|---|---|---|');
    console.log(`| ${r.seconds.toFixed(1)} s | ${formatBytes(r.maxRss)} | ${(r.maxRss / largest).toFixed(2)}× | ${formatBytes(r.before)} → ${formatBytes(r.after)} |`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
