// The fused decode step on small random checkpoints shaped like the big ones: grouped-query attention
// (8 query heads over 2 kv heads, head_dim 16 or 128), norm weights away from 1 (so folding them into g matters),
// untied head; LLaMA 1-bit with the exact and the LUT kernel, --no-quantize, Mistral's sliding window and
// Qwen2's q/k/v biases. Oracle: the same bundle's per-node graph path with the KV cache, step by step.
import { join } from 'node:path';
import test from 'ava';
import type { Tensor } from '../../formats/tensor.ts';
import { tempDir } from '../helpers/cli.ts';
import { STORIES_DIR, writeHfCheckpoint } from '../helpers/hf-checkpoint.ts';
import { randomNormal } from '../helpers/onnx-builder.ts';
import type { CompileOptions } from '../../compiler/compile.ts';
import { DECODE_MAX_POSITIONS } from '../../compiler/codegen/wasm/decode-step.ts';
import { compileAndLoad, decodeBoth } from './decode-step-helpers.ts';

const H = 128;
const I = 256;
const HEADS = 8;
const KV_HEADS = 2;
const VOCAB = 512;
const LAYERS = 2;
const PROMPT = [1, 300, 42, 7, 411, 99, 256, 3, 18, 77];

async function checkpoint(architecture: 'LlamaForCausalLM' | 'MistralForCausalLM' | 'Qwen2ForCausalLM', extra: object = {}, d = H / HEADS): Promise<string> {
  const dir = join(tempDir('decode-step-gqa'), 'hf');
  let seed = 1;
  const f32 = (dims: number[], std: number, mean = 0): Tensor => {
    const data = randomNormal(dims.reduce((a, b) => a * b, 1), std, seed++);
    for (let i = 0; i < data.length; i++) data[i]! += mean;
    return { dtype: 'float32', dims, data } as Tensor;
  };
  const tensors: Record<string, Tensor> = { 'model.embed_tokens.weight': f32([VOCAB, H], 1) };
  for (let l = 0; l < LAYERS; l++) {
    const p = `model.layers.${l}`;
    for (const [name, out, inDim] of [['self_attn.q_proj', HEADS * d, H], ['self_attn.k_proj', KV_HEADS * d, H], ['self_attn.v_proj', KV_HEADS * d, H],
      ['self_attn.o_proj', H, HEADS * d], ['mlp.gate_proj', I, H], ['mlp.up_proj', I, H], ['mlp.down_proj', H, I]] as const) {
      tensors[`${p}.${name}.weight`] = f32([out, inDim], 1 / Math.sqrt(inDim));
      if (architecture === 'Qwen2ForCausalLM' && /[qkv]_proj/.test(name)) tensors[`${p}.${name}.bias`] = f32([out], 0.1);
    }
    tensors[`${p}.input_layernorm.weight`] = f32([H], 0.3, 1);
    tensors[`${p}.post_attention_layernorm.weight`] = f32([H], 0.3, 1);
  }
  tensors['model.norm.weight'] = f32([H], 0.3, 1);
  tensors['lm_head.weight'] = f32([VOCAB, H], 1 / Math.sqrt(H));
  await writeHfCheckpoint(dir, {
    config: {
      architectures: [architecture], model_type: architecture.replace('ForCausalLM', '').toLowerCase(), hidden_size: H, intermediate_size: I,
      num_hidden_layers: LAYERS, num_attention_heads: HEADS, num_key_value_heads: KV_HEADS, head_dim: d, vocab_size: VOCAB, max_position_embeddings: 128,
      rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: false, hidden_act: 'silu', bos_token_id: 1, eos_token_id: 2, ...extra,
    },
    tensors, tokenizerFrom: STORIES_DIR,
  });
  return dir;
}

const cases: [string, () => Promise<string>, Omit<CompileOptions, 'output'>, number][] = [
  ['LLaMA GQA, 1-bit, exact kernel', () => checkpoint('LlamaForCausalLM'), { kernel: 'exact' }, 1e-5],
  // the LUT GEMV quantises its input to int8 tables: folding the norm weight into g moves values across rounding steps
  ['LLaMA GQA, 1-bit, LUT kernel', () => checkpoint('LlamaForCausalLM'), { kernel: 'lut' }, 2e-3],
  ['LLaMA GQA, --no-quantize', () => checkpoint('LlamaForCausalLM'), { quantize: false }, 1e-5],
  // head_dim 128 as LLaMA-7B's: more than 16 vectors per head, so attention keeps q and the output in memory
  ['LLaMA GQA, head_dim 128, 1-bit', () => checkpoint('LlamaForCausalLM', {}, 128), { kernel: 'exact' }, 1e-5],
  ['Mistral, sliding window of 6 over 40 positions, 1-bit', () => checkpoint('MistralForCausalLM', { sliding_window: 6 }), { kernel: 'exact' }, 1e-5],
  ['Qwen2 (q/k/v bias), 1-bit', () => checkpoint('Qwen2ForCausalLM'), { kernel: 'exact' }, 1e-5],
  ['Qwen2 (q/k/v bias), --no-quantize', () => checkpoint('Qwen2ForCausalLM'), { quantize: false }, 1e-5],
];

for (const [name, write, options, tolerance] of cases) {
  test.serial(`${name}: fused-step logits match the graph path at each of 30 steps`, async (t) => {
    const { model } = await compileAndLoad(await write(), options);
    const r = await decodeBoth(model, PROMPT, 30);
    t.log(`worst relative L2: ${r.worst.toExponential(2)}`);
    t.true(r.worst <= tolerance);
    if (tolerance <= 1e-5) t.deepEqual(r.fused, r.graph);
    t.deepEqual([...r.calls.at(-1)!], [['decode-step', 1]]);
  });
}

test.serial('a long max_position_embeddings: the step caches at most DECODE_MAX_POSITIONS positions (its cache is allocated at every load)', async (t) => {
  const { model } = await compileAndLoad(await checkpoint('LlamaForCausalLM', { max_position_embeddings: 1 << 20 }), { quantize: false });
  t.is(model.fusedDecoder()!.contextLength, DECODE_MAX_POSITIONS);
});

test.serial('a prompt of prefillFrom tokens or more runs as one graph pass with its presents copied into the step\'s cache; the steps after match the graph path', async (t) => {
  const { model } = await compileAndLoad(await checkpoint('LlamaForCausalLM'), { kernel: 'exact' });
  const from = model.fusedDecoder()!.prefillFrom;
  t.is(from, 8192 / H);
  const prompt = Array.from({ length: from + 10 }, (_, i) => ((i * 53) % 500) + 3);
  const r = await decodeBoth(model, prompt, 20);
  t.log(`worst relative L2: ${r.worst.toExponential(2)}`);
  t.true(r.worst <= 1e-5);
  t.deepEqual(r.fused, r.graph);
  t.is(r.calls[0]!.get('decode-step'), undefined); // the prompt: graph kernels
  t.true((r.calls[0]!.get('onebit-linear') ?? 0) > 0);
  for (const calls of r.calls.slice(1)) t.deepEqual([...calls], [['decode-step', 1]]);
});
