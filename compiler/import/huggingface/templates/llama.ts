// LlamaForCausalLM (and MistralForCausalLM, Qwen2ForCausalLM: the same graph with other settings) → IR with an
// explicit KV cache. Follows transformers' modeling_llama.py (eager attention):
//   x = embed_tokens[input_ids]
//   per layer: h = RMSNorm(x); q, k, v = Linear(h); rotate-half RoPE on q, k; k, v appended to the cache;
//              softmax(q·kᵀ·headDim^-0.5 + causal mask)·v; x += o_proj(·); x += down(silu(gate(RMSNorm(x))) ⊙ up(·))
//   logits = lm_head(RMSNorm(x)), lm_head = embed_tokens when tied.
// BitLlamaForCausalLMInf (config.oneBit, the OneBit release): the same graph with every q, k, v, o, gate, up, down
// projection already 1-bit, built directly as OneBitLinear(x, sign, g, h) {in, out, post_norm_eps} (the signs
// are the checkpoint's int8 bytes seen as uint8, g = input_factor, h = weight_scale); lm_head untied, full
// precision. These nodes are not MatMul/Gemm, so find-linears (and SVID) never touch them.
import type { DecoderLayerSpec } from '../../../ir/decoder-spec.ts';
import type { IrModel } from '../../../ir/graph.ts';
import type { HfConfig } from '../config.ts';
import type { WeightSource } from '../folder.ts';
import type { OneBitWeights, Scope } from './builder.ts';
import { CausalLm, detectPrefix, GraphBuilder, ropeInverseFrequencies } from './builder.ts';

type Projection = { weight: string; bias: string | undefined } | OneBitWeights;

export function buildLlama(config: HfConfig, weights: WeightSource, source: { path: string }): IrModel {
  const { hiddenSize: H, intermediateSize: I, numHeads: heads, numKvHeads: kvHeads, headDim: d, vocabSize: V, normEps: eps } = config;
  const b = new GraphBuilder(weights, config);
  const p = detectPrefix(weights, ['model.', ''], 'embed_tokens.weight');
  const why = (what: string) => `${what} in ${config.file}`;
  const w = (name: string, dims: number[], reason: string) => b.weight(`${p}${name}`, dims, why(reason));
  const hidden = `hidden_size ${H}`;

  const lm = new CausalLm(b, '/model', config.numLayers, kvHeads, d, config.slidingWindow);
  const m = b.scope('/model');
  const embedTokens = w('embed_tokens.weight', [V, H], `vocab_size ${V}, ${hidden}`);
  const embedded = lm.embed(m.child('embed_tokens'), embedTokens);
  let x = lm.flatten(m, embedded, H);
  const inverseFrequencies = ropeInverseFrequencies(config.ropeTheta, d);
  const rope = lm.rotary(inverseFrequencies);
  const layers: DecoderLayerSpec[] = [];
  const hiddenStates: string[] = [];
  const node = (output: string) => b.producer(output);

  for (let i = 0; i < config.numLayers; i++) {
    const layer = m.child(`layers.${i}`);
    const at = `layers.${i}.`;
    const attn = layer.child('self_attn');
    const mlp = layer.child('mlp');
    const proj = (name: string, out: number, inF: number, bias: boolean, reason: string): Projection => (config.oneBit
      ? b.oneBit(`${p}${at}${name}`, out, inF, why(reason))
      : { weight: w(`${at}${name}.weight`, [out, inF], reason), bias: bias ? w(`${at}${name}.bias`, [out], reason) : undefined });
    const linear = (scope: Scope, name: string, input: string, pr: Projection): string => ('sign' in pr
      ? scope.oneBitLinear(name, input, pr, config.oneBit?.postNormEps)
      : scope.linear(name, input, pr.weight, pr.bias));
    const qShape = `num_attention_heads ${heads} × head_dim ${d}, ${hidden}`;
    const kvShape = `num_key_value_heads ${kvHeads} × head_dim ${d}, ${hidden}`;
    const q = proj('self_attn.q_proj', heads * d, H, config.qkvBias, qShape);
    const k = proj('self_attn.k_proj', kvHeads * d, H, config.qkvBias, kvShape);
    const v = proj('self_attn.v_proj', kvHeads * d, H, config.qkvBias, kvShape);
    const o = proj('self_attn.o_proj', H, heads * d, config.attnOutBias, qShape);
    const gate = proj('mlp.gate_proj', I, H, config.mlpBias, `intermediate_size ${I}, ${hidden}`);
    const up = proj('mlp.up_proj', I, H, config.mlpBias, `intermediate_size ${I}, ${hidden}`);
    const down = proj('mlp.down_proj', H, I, config.mlpBias, `${hidden}, intermediate_size ${I}`);

    const h = layer.child('input_layernorm').rmsNorm(x, w(`${at}input_layernorm.weight`, [H], hidden), eps);
    const [qOut, kOut, vOut] = [linear(attn, 'q_proj', h, q), linear(attn, 'k_proj', h, k), linear(attn, 'v_proj', h, v)];
    const context = lm.attention(attn, qOut, kOut, vOut, { layer: i, heads, kvHeads, headDim: d, rope, scale: { multiply: d ** -0.5 } });
    const oOut = linear(attn, 'o_proj', context, o);
    x = layer.add(x, oOut);

    const h2 = layer.child('post_attention_layernorm').rmsNorm(x, w(`${at}post_attention_layernorm.weight`, [H], hidden), eps);
    const [gateOut, upOut] = [linear(mlp, 'gate_proj', h2, gate), linear(mlp, 'up_proj', h2, up)];
    const gated = mlp.mul(mlp.child('act_fn').activation(gateOut, config.hiddenAct), upOut);
    const downOut = linear(mlp, 'down_proj', gated, down);
    x = layer.add(x, downOut);
    hiddenStates.push(x);
    layers.push({
      inputNorm: node(h), postNorm: node(h2),
      q: node(qOut), k: node(kOut), v: node(vOut), o: node(oOut), gate: node(gateOut), up: node(upOut), down: node(downOut),
    });
  }

  const normed = m.child('norm').rmsNorm(x, w('norm.weight', [H], hidden), eps);
  // Tied (or no lm_head.weight in the checkpoint): the head reads the embedding matrix itself, [vocab, hidden] = [out, in].
  const tied = config.tieWordEmbeddings || !weights.has('lm_head.weight');
  const head = tied ? embedTokens : b.weight('lm_head.weight', [V, H], why(`vocab_size ${V}, ${hidden}`));
  const headNode = lm.head(normed, head, V);
  const model = b.model(source);
  model.hiddenStates = hiddenStates;
  // The fused decode step covers the SiLU MLP (LLaMA, Mistral, Qwen2); other activations keep the graph path.
  if (config.hiddenAct === 'silu') {
    model.decoder = {
      embed: node(embedded), layers, finalNorm: node(normed), head: headNode,
      hidden: H, intermediate: I, vocab: V, heads, kvHeads, headDim: d,
      ropeInverseFrequencies: Array.from(inverseFrequencies), scale: d ** -0.5,
      ...(config.slidingWindow !== undefined ? { slidingWindow: config.slidingWindow } : {}),
      contextLength: config.maxPositionEmbeddings,
    };
  }
  return model;
}
