// Part of `npm run bench`: a LLaMA-7B-shaped checkpoint (2 decoder layers at hidden 4096 /
// intermediate 11008, vocab 32000, F16, random weights written here) compiled in a child process; reports
// compile time and peak RSS against the largest tensor (the compiler streams: the target is < 2×).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Tensor } from '../formats/tensor.ts';
import { formatBytes } from '../compiler/inspect.ts';
import { note, table } from './report.ts';
import { STORIES_DIR, writeHfCheckpoint } from '../test/helpers/hf-checkpoint.ts';
import { randomNormal } from '../test/helpers/onnx-builder.ts';

const HIDDEN = 4096;
const INTERMEDIATE = 11008;
const VOCAB = 32000;
const LAYERS = 2;

/** A float32 tensor whose data is generated on each access (the writer reads it once). */
function generated(dims: number[], seed: number, std = 0.02): Tensor {
  return { dtype: 'float32', dims, get data() { return randomNormal(dims[0]! * (dims[1] ?? 1), std, seed); } } as Tensor;
}

const PROJECTIONS: [string, number, number][] = [
  ['self_attn.q_proj', HIDDEN, HIDDEN], ['self_attn.k_proj', HIDDEN, HIDDEN], ['self_attn.v_proj', HIDDEN, HIDDEN], ['self_attn.o_proj', HIDDEN, HIDDEN],
  ['mlp.gate_proj', INTERMEDIATE, HIDDEN], ['mlp.up_proj', INTERMEDIATE, HIDDEN], ['mlp.down_proj', HIDDEN, INTERMEDIATE],
];

/** Random packed signs, as the official OneBit checkpoints store them: int8 [out, in/8]. */
function signs(out: number, inDim: number, seed: number): Tensor {
  return { dtype: 'int8', dims: [out, inDim / 8], get data() { return Int8Array.from(randomNormal(out * inDim / 8, 100, seed), (v) => Math.max(-128, Math.min(127, Math.round(v)))); } } as Tensor;
}

/**
 * The tensors (generated on access) and config.json of a LLaMA-7B-shaped checkpoint: `kind` 'llama' F16 Linear
 * weights, 'bitllama' the official OneBit format.
 */
export function checkpoint7bShaped(kind: 'llama' | 'bitllama'): { tensors: Record<string, Tensor>; config: object } {
  const tensors: Record<string, Tensor> = { 'model.embed_tokens.weight': generated([VOCAB, HIDDEN], 1) };
  const ones = () => ({ dtype: 'float32', dims: [HIDDEN], data: new Float32Array(HIDDEN).fill(1) }) as Tensor;
  let seed = 2;
  for (let l = 0; l < LAYERS; l++) {
    const p = `model.layers.${l}`;
    for (const [name, out, inDim] of PROJECTIONS) {
      if (kind === 'llama') { tensors[`${p}.${name}.weight`] = generated([out, inDim], seed++); continue; }
      tensors[`${p}.${name}.weight`] = signs(out, inDim, seed++);
      tensors[`${p}.${name}.weight_scale`] = generated([out], seed++, 0.05);
      tensors[`${p}.${name}.input_factor`] = generated([inDim], seed++, 0.05);
    }
    tensors[`${p}.input_layernorm.weight`] = ones();
    tensors[`${p}.post_attention_layernorm.weight`] = ones();
  }
  tensors['model.norm.weight'] = ones();
  tensors['lm_head.weight'] = generated([VOCAB, HIDDEN], seed++);
  const config = {
    architectures: [kind === 'llama' ? 'LlamaForCausalLM' : 'BitLlamaForCausalLMInf'], model_type: kind, hidden_size: HIDDEN,
    intermediate_size: INTERMEDIATE, num_hidden_layers: LAYERS, num_attention_heads: 32, num_key_value_heads: 32, vocab_size: VOCAB,
    max_position_embeddings: 4096, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false,
    bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu', torch_dtype: kind === 'llama' ? 'float16' : 'float32',
  };
  return { tensors, config };
}

/**
 * `kind` 'llama': an F16 LlamaForCausalLM checkpoint made 1-bit by SVID. 'bitllama': a checkpoint in the official
 * OneBit format (int8 signs, float32 vectors, embeddings and head), compiled as it is, and its bundle run.
 */
export async function compile7bShaped(kind: 'llama' | 'bitllama' = 'llama'): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'onebitc-7b-'));
  try {
    const { tensors, config } = checkpoint7bShaped(kind);
    const dtype = kind === 'llama' ? 'F16' : 'F32';
    const t0 = performance.now();
    // a tokenizer makes it a language-model bundle (generate); its vocabulary is not the model's: only ids are used
    await writeHfCheckpoint(join(dir, 'ckpt'), { config, tensors, dtype, tokenizerFrom: STORIES_DIR });
    const largest = VOCAB * HIDDEN * (kind === 'llama' ? 2 : 4);
    note(`\n${kind === 'llama' ? 'LLaMA' : 'OneBit (bitllama)'}-7B-shaped checkpoint (${LAYERS} layers, ${dtype}): written in ${((performance.now() - t0) / 1000).toFixed(1)} s; largest tensor ${formatBytes(largest)}`);
    const script = `
      import { compile } from './compiler/compile.ts';
      const t0 = performance.now();
      const r = await compile(${JSON.stringify(join(dir, 'ckpt'))}, { output: ${JSON.stringify(join(dir, 'out'))}, log: () => {} });
      console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, maxRss: process.resourceUsage().maxRSS * 1024, before: r.sizeBefore, after: r.sizeAfter }));`;
    const child = spawnSync(process.execPath, ['--import', './scripts/ts-loader.js', '--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (child.status !== 0) throw new Error(`compile failed: ${child.stderr}`);
    const r = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { seconds: number; maxRss: number; before: number; after: number };
    table(`${kind === 'llama' ? 'LLaMA' : 'OneBit (bitllama)'}-7B-shaped checkpoint compiled`, ['compile time', 'peak RSS', 'peak RSS ÷ largest tensor', 'weights before → after'],
      [[`${r.seconds.toFixed(1)} s`, formatBytes(r.maxRss), `${(r.maxRss / largest).toFixed(2)}×`, `${formatBytes(r.before)} → ${formatBytes(r.after)}`]]);
    if (kind === 'bitllama') runBundle(join(dir, 'out'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Loads the bundle in a fresh process and generates a few tokens (random weights: the text is noise). */
function runBundle(bundle: string): void {
  const script = `
    const { load } = await import(${JSON.stringify(pathToFileURL(join(bundle, 'model.js')).href)});
    const t0 = performance.now();
    const m = await load();
    const loaded = performance.now();
    const ids = await m.generateIds([1, 2, 3, 4], { maxTokens: 8, stopOnEos: false });
    console.log(JSON.stringify({ load: (loaded - t0) / 1000, perToken: (performance.now() - loaded) / 1000 / ids.length, tokens: ids.length, backend: m.backend, maxRss: process.resourceUsage().maxRSS * 1024 }));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`the bundle failed to run: ${child.stderr}`);
  const r = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { load: number; perToken: number; tokens: number; backend: string; maxRss: number };
  note(`bundle run (${r.backend}): loaded in ${r.load.toFixed(1)} s, ${r.tokens} tokens at ${(r.perToken * 1000).toFixed(0)} ms/token, peak RSS ${formatBytes(r.maxRss)}`);
}
