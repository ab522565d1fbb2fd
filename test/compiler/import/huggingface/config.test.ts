import test from 'ava';
import type { ExecutionContext } from 'ava';
import { FormatError } from '../../../../formats/errors.ts';
import { SUPPORTED_ARCHITECTURES, parseHfConfig } from '../../../../compiler/import/huggingface/config.ts';
import { readStoriesConfig } from '../../../helpers/hf-checkpoint.ts';

const FILE = '/models/x/config.json';

/** One FormatError line starting with the file and holding every part. */
function fails(t: ExecutionContext, json: unknown, ...parts: (string | RegExp)[]): void {
  const e = t.throws(() => parseHfConfig(json, FILE), { instanceOf: FormatError })!;
  t.false(e.message.includes('\n'), e.message);
  t.true(e.message.startsWith(`${FILE}: `), e.message);
  for (const p of parts) {
    if (typeof p === 'string') t.true(e.message.includes(p), `${e.message} should include ${p}`);
    else t.regex(e.message, p);
  }
}

// Real configs (transformers' to_json_string, trimmed of keys onebitc ignores).
const MISTRAL = {
  architectures: ['MistralForCausalLM'], model_type: 'mistral', hidden_size: 4096, intermediate_size: 14336,
  num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, vocab_size: 32000, max_position_embeddings: 32768,
  rms_norm_eps: 1e-5, rope_theta: 10000.0, sliding_window: 4096, hidden_act: 'silu', tie_word_embeddings: false,
  bos_token_id: 1, eos_token_id: 2, torch_dtype: 'bfloat16',
};
const QWEN2 = {
  architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24,
  num_attention_heads: 14, num_key_value_heads: 2, vocab_size: 151936, max_position_embeddings: 32768, rms_norm_eps: 1e-6,
  rope_theta: 1000000.0, sliding_window: 32768, use_sliding_window: false, max_window_layers: 21, hidden_act: 'silu',
  tie_word_embeddings: true, bos_token_id: 151643, eos_token_id: 151643, torch_dtype: 'bfloat16', rope_scaling: null,
};
const OPT = {
  architectures: ['OPTForCausalLM'], model_type: 'opt', hidden_size: 768, ffn_dim: 3072, num_hidden_layers: 12,
  num_attention_heads: 12, vocab_size: 50272, max_position_embeddings: 2048, do_layer_norm_before: true,
  word_embed_proj_dim: 768, activation_function: 'relu', enable_bias: true, layer_norm_elementwise_affine: true,
  bos_token_id: 2, eos_token_id: 2, pad_token_id: 1, torch_dtype: 'float16', _remove_final_layer_norm: false,
};
const GPT2 = {
  architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: 768, n_layer: 12, n_head: 12, n_inner: null,
  n_positions: 1024, n_ctx: 1024, vocab_size: 50257, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new',
  bos_token_id: 50256, eos_token_id: 50256, scale_attn_weights: true,
};

test('stories260K (Llama): every field', (t) => {
  const c = parseHfConfig(readStoriesConfig(), FILE);
  const { raw, ...fields } = c;
  t.is(raw.model_type, 'llama');
  t.deepEqual(fields, {
    file: FILE, architecture: 'LlamaForCausalLM', family: 'llama', modelType: 'llama', torchDtype: 'float32',
    hiddenSize: 64, intermediateSize: 172, numLayers: 5, numHeads: 8, numKvHeads: 4, headDim: 8, vocabSize: 512,
    maxPositionEmbeddings: 512, norm: 'rms', normEps: 1e-5, positions: 'rope', ropeTheta: 10000, positionOffset: 0,
    tieWordEmbeddings: true, qkvBias: false, attnOutBias: false, mlpBias: false, hiddenAct: 'silu',
    bosTokenId: 1, eosTokenIds: [2],
  });
});

test('Llama defaults: kv heads = heads, head_dim = hidden/heads, rope_theta 10000, untied, no bias; attention_bias and mlp_bias honoured', (t) => {
  const base = { architectures: ['LlamaForCausalLM'], hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 100 };
  const c = parseHfConfig(base, FILE);
  t.like(c, { numKvHeads: 4, headDim: 16, ropeTheta: 10000, tieWordEmbeddings: false, qkvBias: false, attnOutBias: false, mlpBias: false, hiddenAct: 'silu', eosTokenIds: [], maxPositionEmbeddings: 2048 });
  t.is(c.bosTokenId, undefined);
  t.like(parseHfConfig({ ...base, attention_bias: true, mlp_bias: true, head_dim: null, eos_token_id: [2, 7] }, FILE),
    { qkvBias: true, attnOutBias: true, mlpBias: true, headDim: 16, eosTokenIds: [2, 7] });
  t.like(parseHfConfig({ ...base, head_dim: 32 }, FILE), { headDim: 32 });
});

test('Mistral and Qwen2: the llama graph with their own settings', (t) => {
  t.like(parseHfConfig(MISTRAL, FILE), { family: 'llama', numKvHeads: 8, headDim: 128, slidingWindow: 4096, qkvBias: false, tieWordEmbeddings: false, torchDtype: 'bfloat16' });
  t.like(parseHfConfig(QWEN2, FILE), { family: 'llama', numKvHeads: 2, headDim: 64, ropeTheta: 1e6, qkvBias: true, attnOutBias: false, mlpBias: false, tieWordEmbeddings: true, normEps: 1e-6 });
  t.is(parseHfConfig(QWEN2, FILE).slidingWindow, undefined);
  fails(t, { ...QWEN2, use_sliding_window: true }, "key 'use_sliding_window'", 'not supported');
});

test('OPT: LayerNorm, learned positions offset by 2, relu, tied, biases', (t) => {
  t.like(parseHfConfig(OPT, FILE), {
    family: 'opt', hiddenSize: 768, intermediateSize: 3072, numHeads: 12, numKvHeads: 12, headDim: 64, norm: 'layer', normEps: 1e-5,
    positions: 'learned', positionOffset: 2, tieWordEmbeddings: true, qkvBias: true, attnOutBias: true, mlpBias: true, hiddenAct: 'relu',
    bosTokenId: 2, eosTokenIds: [2], padTokenId: 1,
  });
  t.like(parseHfConfig({ ...OPT, enable_bias: false }, FILE), { qkvBias: false, mlpBias: false });
  fails(t, { ...OPT, do_layer_norm_before: false }, "key 'do_layer_norm_before'", 'not supported', 'opt-350m');
  fails(t, { ...OPT, word_embed_proj_dim: 512 }, "key 'word_embed_proj_dim'", 'not supported', 'project_in');
  fails(t, { ...OPT, ffn_dim: undefined }, "missing key 'ffn_dim'", 'OPTForCausalLM');
});

test('GPT-2: n_* keys, n_inner null = 4·n_embd, gelu_new, tied; hidden_size aliases accepted', (t) => {
  t.like(parseHfConfig(GPT2, FILE), {
    family: 'gpt2', hiddenSize: 768, intermediateSize: 3072, numLayers: 12, numHeads: 12, numKvHeads: 12, headDim: 64,
    maxPositionEmbeddings: 1024, norm: 'layer', normEps: 1e-5, positions: 'learned', positionOffset: 0,
    tieWordEmbeddings: true, qkvBias: true, mlpBias: true, hiddenAct: 'gelu_new', bosTokenId: 50256, eosTokenIds: [50256],
  });
  const { n_embd: _e, ...noEmbd } = GPT2;
  t.like(parseHfConfig({ ...noEmbd, hidden_size: 768 }, FILE), { hiddenSize: 768 });
  fails(t, noEmbd, "missing key 'n_embd' (or 'hidden_size')", 'GPT2LMHeadModel');
  fails(t, { ...GPT2, activation_function: 'mish' }, "key 'activation_function'", 'not supported', 'gelu_new');
  fails(t, { ...GPT2, scale_attn_by_inverse_layer_idx: true }, "key 'scale_attn_by_inverse_layer_idx'", 'not supported');
});

test('generation_config.json wins for bos/eos/pad; eos may be a list', (t) => {
  const c = parseHfConfig(readStoriesConfig(), FILE, { file: '/models/x/generation_config.json', json: { bos_token_id: 1, eos_token_id: [2, 3], pad_token_id: 0 } });
  t.like(c, { bosTokenId: 1, eosTokenIds: [2, 3], padTokenId: 0 });
  const e = t.throws(() => parseHfConfig(readStoriesConfig(), FILE, { file: '/models/x/generation_config.json', json: { eos_token_id: 'x' } }), { instanceOf: FormatError })!;
  t.regex(e.message, /^\/models\/x\/generation_config\.json: key 'eos_token_id' is "x"; expected a token id/);
});

test('unknown architecture: one line listing the supported ones', (t) => {
  const e = t.throws(() => parseHfConfig({ ...readStoriesConfig(), architectures: ['FooForCausalLM'] }, 'config.json'), { instanceOf: FormatError })!;
  t.is(e.message, "config.json: architecture 'FooForCausalLM' is not supported; supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, OPTForCausalLM, GPT2LMHeadModel, BitLlamaForCausalLMInf");
  t.is(SUPPORTED_ARCHITECTURES.length, 6);
});

test('bad configs: one line naming the file and the key', (t) => {
  const stories = readStoriesConfig();
  const without = (key: string) => Object.fromEntries(Object.entries(stories).filter(([k]) => k !== key));
  fails(t, [1, 2], 'expected a JSON object');
  fails(t, without('architectures'), "missing key 'architectures'", 'LlamaForCausalLM');
  fails(t, { ...stories, architectures: 'LlamaForCausalLM' }, "key 'architectures'", 'non-empty list');
  for (const key of ['hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'vocab_size']) {
    fails(t, without(key), `missing key '${key}'`, 'required for LlamaForCausalLM');
  }
  fails(t, { ...stories, hidden_size: 64.5 }, "key 'hidden_size' is 64.5", 'integer');
  fails(t, { ...stories, num_key_value_heads: 3 }, "key 'num_key_value_heads' is 3", 'multiple');
  fails(t, { ...stories, rms_norm_eps: -1 }, "key 'rms_norm_eps' is -1");
  fails(t, { ...stories, rope_scaling: { type: 'linear', factor: 2 } }, "key 'rope_scaling'", 'not supported', 'linear');
  fails(t, { ...stories, tie_word_embeddings: 'yes' }, "key 'tie_word_embeddings'", 'true or false');
  fails(t, { ...stories, hidden_act: 'gelu_fast' }, "key 'hidden_act'", 'not supported');
  fails(t, { ...stories, eos_token_id: 9999 }, "key 'eos_token_id'", 'vocab_size 512');
  fails(t, { ...stories, bos_token_id: [1, 2] }, "key 'bos_token_id'", 'single token id');
});
