// OPTForCausalLM (pre-norm: do_layer_norm_before true, word_embed_proj_dim == hidden_size) → IR with an explicit
// KV cache. Follows transformers' modeling_opt.py:
//   x = embed_tokens[input_ids] + embed_positions[past_sequence + i + 2]   (OPT's learned positions start at row 2)
//   per layer: h = LayerNorm(x); q = q_proj(h)·headDim^-0.5, k, v = Linear(h); k, v appended to the cache;
//              softmax(q·kᵀ + causal mask)·v; x += out_proj(·); x += fc2(relu(fc1(LayerNorm(x))))
//   logits = final_layer_norm(x)·embed_tokensᵀ (tied head; lm_head.weight when untied).
import type { IrModel } from '../../../ir/graph.ts';
import type { HfConfig } from '../config.ts';
import type { WeightSource } from '../folder.ts';
import { CausalLm, detectPrefix, GraphBuilder } from './builder.ts';

/** nn.LayerNorm's default epsilon, which OPT uses everywhere. */
const OPT_LAYER_NORM_EPS = 1e-5;

export function buildOpt(config: HfConfig, weights: WeightSource, source: { path: string }): IrModel {
  const { hiddenSize: H, intermediateSize: F, numHeads: heads, headDim: d, vocabSize: V } = config;
  const b = new GraphBuilder(weights, config);
  const p = detectPrefix(weights, ['model.decoder.', 'decoder.'], 'embed_tokens.weight');
  const why = (what: string) => `${what} in ${config.file}`;
  const w = (name: string, dims: number[], reason: string) => b.weight(`${p}${name}`, dims, why(reason));
  const hidden = `hidden_size ${H}`;
  const eps = OPT_LAYER_NORM_EPS;

  const lm = new CausalLm(b, '/model/decoder', config.numLayers, heads, d);
  const dec = b.scope('/model/decoder');
  const embedTokens = w('embed_tokens.weight', [V, H], `vocab_size ${V}, ${hidden}`);
  const tokens = lm.embed(dec.child('embed_tokens'), embedTokens);
  const offset = config.positionOffset; // 2
  const positionTable = w('embed_positions.weight', [config.maxPositionEmbeddings + offset, H], `max_position_embeddings ${config.maxPositionEmbeddings} + ${offset}, ${hidden}`);
  const pe = dec.child('embed_positions');
  const positions = pe.gather(positionTable, pe.add(lm.positions, pe.int(offset)));
  let x = lm.flatten(dec, dec.add(tokens, positions), H);

  const hiddenStates: string[] = [];
  for (let i = 0; i < config.numLayers; i++) {
    const layer = dec.child(`layers.${i}`);
    const at = `layers.${i}.`;
    const attn = layer.child('self_attn');
    const proj = (name: string, out: number, inF: number, bias: boolean, reason: string) => ({
      weight: w(`${at}${name}.weight`, [out, inF], reason),
      bias: bias ? w(`${at}${name}.bias`, [out], reason) : undefined,
    });
    const norm = (name: string) => ({ weight: w(`${at}${name}.weight`, [H], hidden), bias: w(`${at}${name}.bias`, [H], hidden) });
    const q = proj('self_attn.q_proj', H, H, config.qkvBias, hidden);
    const k = proj('self_attn.k_proj', H, H, config.qkvBias, hidden);
    const v = proj('self_attn.v_proj', H, H, config.qkvBias, hidden);
    const o = proj('self_attn.out_proj', H, H, config.attnOutBias, hidden);
    const fc1 = proj('fc1', F, H, config.mlpBias, `ffn_dim ${F}, ${hidden}`);
    const fc2 = proj('fc2', H, F, config.mlpBias, `${hidden}, ffn_dim ${F}`);
    const ln1 = norm('self_attn_layer_norm');
    const ln2 = norm('final_layer_norm');

    const h = layer.child('self_attn_layer_norm').layerNorm(x, ln1.weight, ln1.bias, eps);
    const query = attn.mul(attn.linear('q_proj', h, q.weight, q.bias), attn.float(d ** -0.5));
    const context = lm.attention(attn, query, attn.linear('k_proj', h, k.weight, k.bias), attn.linear('v_proj', h, v.weight, v.bias),
      { layer: i, heads, kvHeads: heads, headDim: d });
    x = layer.add(x, attn.linear('out_proj', context, o.weight, o.bias));

    const h2 = layer.child('final_layer_norm').layerNorm(x, ln2.weight, ln2.bias, eps);
    const act = layer.child('activation_fn').activation(layer.linear('fc1', h2, fc1.weight, fc1.bias), config.hiddenAct);
    x = layer.add(x, layer.linear('fc2', act, fc2.weight, fc2.bias));
    hiddenStates.push(x);
  }

  const normed = dec.child('final_layer_norm').layerNorm(x, w('final_layer_norm.weight', [H], hidden), w('final_layer_norm.bias', [H], hidden), eps);
  const tied = config.tieWordEmbeddings || !weights.has('lm_head.weight');
  lm.head(normed, tied ? embedTokens : b.weight('lm_head.weight', [V, H], why(`vocab_size ${V}, ${hidden}`)), V);
  return { ...b.model(source), hiddenStates };
}
