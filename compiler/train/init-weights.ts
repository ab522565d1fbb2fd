// The initial weights of a OneBit training project (`init/model.safetensors`): the teacher's embeddings,
// norms and untied LM head as float32, and per projection the student's latent weight, g and h by SVID
// (docs ONEBIT.md §2, §3). Written one tensor at a time, each read from the checkpoint only when its turn
// comes; a projection's SVID runs when its latent weight is written and its g, h follow straight after.
import { halfToFloat32 } from '../../formats/dtype.ts';
import { FormatError } from '../../formats/errors.ts';
import type { SafetensorsEntry, SafetensorsWriteEntry } from '../../formats/safetensors/header.ts';
import { writeSafetensors } from '../../formats/safetensors/write-file.ts';
import type { Tensor } from '../../formats/tensor.ts';
import type { HfCheckpoint } from '../import/huggingface/folder.ts';
import { svid } from '../onebit/svid.ts';

export const LATENT_INITS = ['svid', 'sign'] as const;
/** 'svid': the latent weight is W itself (S = sign(W) as SVID); 'sign': sign(W)·0.01, as the reference code. */
export type LatentInit = (typeof LATENT_INITS)[number];

export const PROJECTIONS = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'] as const;

/** One tensor of the init file and where its values come from (`source` names the checkpoint tensor). */
interface Planned {
  entry: SafetensorsWriteEntry;
  source: string;
  kind: 'copy' | 'latent' | 'g' | 'h' | 'teacher';
  /** Decoder layer index, for progress. */
  layer?: number;
}

export interface LayerProgress {
  layer: number;
  layers: number;
  /** Worst SVID relative residual ‖W − S⊙(σuvᵀ)‖/‖W‖ over the layer's projections. */
  worstResidual: number;
  seconds: number;
}

/** The tensors to write, every source tensor checked (present, shape, floating dtype) before anything is written. */
export function planInitWeights(checkpoint: HfCheckpoint, latentInit: LatentInit): Planned[] {
  const { config, weights } = checkpoint;
  const { hiddenSize: H, intermediateSize: I, numHeads, numKvHeads, headDim: d, vocabSize: V } = config;
  const prefix = weights.has('model.embed_tokens.weight') || !weights.has('embed_tokens.weight') ? 'model.' : '';
  const check = (source: string, dims: number[], why: string): void => {
    const where = weights.fileOf(source) ?? weights.source;
    if (!weights.has(source)) throw new FormatError(where, `missing; expected [${dims.join(', ')}] (${why} in ${config.file})`, source);
    const t = weights.get(source);
    if (t.dims.length !== dims.length || t.dims.some((n, i) => n !== dims[i])) {
      throw new FormatError(where, `has dims [${t.dims.join(', ')}], expected [${dims.join(', ')}] (${why} in ${config.file})`, source);
    }
    if (t.dtype !== 'float32' && t.dtype !== 'float16' && t.dtype !== 'bfloat16') {
      throw new FormatError(where, `has dtype ${t.dtype}; expected float32, float16 or bfloat16`, source);
    }
  };
  const plan: Planned[] = [];
  const copy = (name: string, dims: number[], why: string, layer?: number): void => {
    const source = name.startsWith('model.') ? prefix + name.slice('model.'.length) : name;
    check(source, dims, why);
    plan.push({ entry: { name, dtype: 'float32', shape: dims }, source, kind: 'copy', ...(layer !== undefined ? { layer } : {}) });
  };
  const hidden = `hidden_size ${H}`;
  copy('model.embed_tokens.weight', [V, H], `vocab_size ${V}, ${hidden}`);
  const shapes: Record<(typeof PROJECTIONS)[number], [number, number, string]> = {
    'self_attn.q_proj': [numHeads * d, H, `num_attention_heads ${numHeads} × head_dim ${d}, ${hidden}`],
    'self_attn.k_proj': [numKvHeads * d, H, `num_key_value_heads ${numKvHeads} × head_dim ${d}, ${hidden}`],
    'self_attn.v_proj': [numKvHeads * d, H, `num_key_value_heads ${numKvHeads} × head_dim ${d}, ${hidden}`],
    'self_attn.o_proj': [H, numHeads * d, `${hidden}, num_attention_heads ${numHeads} × head_dim ${d}`],
    'mlp.gate_proj': [I, H, `intermediate_size ${I}, ${hidden}`],
    'mlp.up_proj': [I, H, `intermediate_size ${I}, ${hidden}`],
    'mlp.down_proj': [H, I, `${hidden}, intermediate_size ${I}`],
  };
  for (let layer = 0; layer < config.numLayers; layer++) {
    const at = `model.layers.${layer}.`;
    copy(`${at}input_layernorm.weight`, [H], hidden, layer);
    copy(`${at}post_attention_layernorm.weight`, [H], hidden, layer);
    for (const p of PROJECTIONS) {
      const [out, inDim, why] = shapes[p];
      const name = `${at}${p}`;
      const source = `${prefix}layers.${layer}.${p}.weight`;
      check(source, [out, inDim], why);
      plan.push({ entry: { name: `${name}.weight`, dtype: 'float32', shape: [out, inDim] }, source, kind: 'latent', layer });
      plan.push({ entry: { name: `${name}.g`, dtype: 'float32', shape: [inDim] }, source, kind: 'g', layer });
      plan.push({ entry: { name: `${name}.h`, dtype: 'float32', shape: [out] }, source, kind: 'h', layer });
      if (latentInit === 'sign') plan.push({ entry: { name: `${name}.teacher_weight`, dtype: 'float32', shape: [out, inDim] }, source, kind: 'teacher', layer });
    }
  }
  copy('model.norm.weight', [H], hidden);
  if (!config.tieWordEmbeddings) copy('lm_head.weight', [V, H], `vocab_size ${V}, ${hidden} (tie_word_embeddings false)`);
  return plan;
}

function float32Of(t: Tensor): Float32Array {
  if (t.dtype === 'float32') return t.data as Float32Array;
  return halfToFloat32(t.dtype as 'float16' | 'bfloat16', t.data as Uint16Array);
}

/** sign(W)·0.01 with sign(0) = +1. */
function scaledSigns(w: Float32Array): Float32Array {
  return w.map((x) => (x >= 0 ? 0.01 : -0.01));
}

/** Writes the planned tensors to `path`; `onLayer` after each decoder layer's last tensor. */
export async function writeInitWeights(
  path: string, checkpoint: HfCheckpoint, plan: readonly Planned[], latentInit: LatentInit, onLayer: (p: LayerProgress) => void,
): Promise<void> {
  const layers = checkpoint.config.numLayers;
  let pending: { g: Float32Array; h: Float32Array } | undefined;
  let worst = 0;
  let started = performance.now();
  const produce = (entry: SafetensorsEntry, index: number): Float32Array => {
    const item = plan[index]!;
    const values = (): Float32Array => float32Of(checkpoint.weights.get(item.source));
    let data: Float32Array;
    if (item.kind === 'latent') {
      const w = values();
      const [out, inDim] = entry.shape as [number, number];
      const result = svid(w, out, inDim);
      pending = { g: halfToFloat32('float16', result.g), h: halfToFloat32('float16', result.h) };
      worst = Math.max(worst, result.relativeResidual);
      data = latentInit === 'svid' ? w : scaledSigns(w);
    } else if (item.kind === 'g' || item.kind === 'h') {
      data = pending![item.kind];
    } else {
      data = values();
    }
    const next = plan[index + 1];
    if (item.layer !== undefined && next?.layer !== item.layer) {
      onLayer({ layer: item.layer, layers, worstResidual: worst, seconds: (performance.now() - started) / 1000 });
      worst = 0;
      started = performance.now();
    }
    return data;
  };
  await writeSafetensors(path, plan.map((p) => p.entry), produce, { metadata: { format: 'pt', producer: 'onebitc export-training' } });
}
