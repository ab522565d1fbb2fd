// GPT2LMHeadModel → IR with an explicit KV cache. Follows transformers' modeling_gpt2.py (eager attention):
//   x = wte[input_ids] + wpe[past_sequence + i]
//   per layer: q, k, v = split(c_attn(ln_1(x))); k, v appended to the cache; softmax(q·kᵀ / √headDim + causal mask)·v;
//              x += attn.c_proj(·); x += mlp.c_proj(gelu_new(mlp.c_fc(ln_2(x))))
//   logits = ln_f(x)·wteᵀ (tied head; lm_head.weight when untied).
// GPT-2's Conv1D stores its weight [in, out]: each is a Gemm with transB=0 on the weight as stored (no copy).
import type { IrModel } from '../../../ir/graph.ts';
import type { HfConfig } from '../config.ts';
import type { WeightSource } from '../folder.ts';
import { CausalLm, detectPrefix, GraphBuilder } from './builder.ts';

export function buildGpt2(config: HfConfig, weights: WeightSource, source: { path: string }): IrModel {
  const { hiddenSize: H, intermediateSize: F, numHeads: heads, headDim: d, vocabSize: V, normEps: eps } = config;
  const b = new GraphBuilder(weights, config);
  const p = detectPrefix(weights, ['transformer.', ''], 'wte.weight');
  const why = (what: string) => `${what} in ${config.file}`;
  const w = (name: string, dims: number[], reason: string) => b.weight(`${p}${name}`, dims, why(reason));
  const hidden = `n_embd ${H}`;

  const lm = new CausalLm(b, '/transformer', config.numLayers, heads, d);
  const t = b.scope('/transformer');
  const wte = w('wte.weight', [V, H], `vocab_size ${V}, ${hidden}`);
  const wpe = w('wpe.weight', [config.maxPositionEmbeddings, H], `n_positions ${config.maxPositionEmbeddings}, ${hidden}`);
  const tokens = lm.embed(t.child('wte'), wte);
  const positions = t.child('wpe').gather(wpe, lm.positions);
  let x = lm.flatten(t, t.add(tokens, positions), H);

  const hiddenStates: string[] = [];
  for (let i = 0; i < config.numLayers; i++) {
    const block = t.child(`h.${i}`);
    const at = `h.${i}.`;
    const attn = block.child('attn');
    const mlp = block.child('mlp');
    const conv1d = (name: string, inF: number, out: number, reason: string) => ({
      weight: w(`${at}${name}.weight`, [inF, out], reason),
      bias: w(`${at}${name}.bias`, [out], reason),
    });
    const norm = (name: string) => ({ weight: w(`${at}${name}.weight`, [H], hidden), bias: w(`${at}${name}.bias`, [H], hidden) });
    const cAttn = conv1d('attn.c_attn', H, 3 * H, `${hidden}, 3 × ${hidden}`);
    const cProj = conv1d('attn.c_proj', H, H, hidden);
    const cFc = conv1d('mlp.c_fc', H, F, `${hidden}, n_inner ${F}`);
    const mProj = conv1d('mlp.c_proj', F, H, `n_inner ${F}, ${hidden}`);
    const ln1 = norm('ln_1');
    const ln2 = norm('ln_2');

    const h = block.child('ln_1').layerNorm(x, ln1.weight, ln1.bias, eps);
    const [q, k, v] = attn.split(attn.linear('c_attn', h, cAttn.weight, cAttn.bias, 0), [H, H, H], 1) as [string, string, string];
    const context = lm.attention(attn, q, k, v, { layer: i, heads, kvHeads: heads, headDim: d, scale: { divide: Math.sqrt(d) } });
    x = block.add(x, attn.linear('c_proj', context, cProj.weight, cProj.bias, 0));

    const h2 = block.child('ln_2').layerNorm(x, ln2.weight, ln2.bias, eps);
    const act = mlp.child('act').activation(mlp.linear('c_fc', h2, cFc.weight, cFc.bias, 0), config.hiddenAct);
    x = block.add(x, mlp.linear('c_proj', act, mProj.weight, mProj.bias, 0));
    hiddenStates.push(x);
  }

  const normed = t.child('ln_f').layerNorm(x, w('ln_f.weight', [H], hidden), w('ln_f.bias', [H], hidden), eps);
  const tied = config.tieWordEmbeddings || !weights.has('lm_head.weight');
  lm.head(normed, tied ? wte : b.weight('lm_head.weight', [V, H], why(`vocab_size ${V}, ${hidden}`)), V);
  return { ...b.model(source), hiddenStates };
}
