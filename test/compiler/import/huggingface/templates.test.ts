// Architecture templates (compiler/import/huggingface/templates): config + checkpoint → IR with a KV cache, run on
// the reference interpreter. stories260K (a real LlamaForCausalLM) against its recorded reference logits and greedy
// continuation; tiny random Qwen2/Llama/Mistral, OPT and GPT-2 checkpoints against independent forward passes
// written here from the transformers modeling code (plain loops over the weight arrays, no IR). Every model is also
// checked for KV-cache consistency (prompt in pieces, one token at a time, batch of two = the full run).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { openHuggingFaceFolder } from '../../../../compiler/import/huggingface/folder.ts';
import { buildFromConfig, buildGpt2, buildLlama, buildOpt } from '../../../../compiler/import/huggingface/templates/index.ts';
import { formatDiagnostic } from '../../../../compiler/ir/diagnostics.ts';
import type { IrModel } from '../../../../compiler/ir/graph.ts';
import { inferShapes } from '../../../../compiler/ir/infer-shapes.ts';
import { verifyModel } from '../../../../compiler/ir/verify.ts';
import { findLinears } from '../../../../compiler/passes/find-linears.ts';
import { float32ToHalf, halfToFloat32 } from '../../../../formats/dtype.ts';
import type { Tensor } from '../../../../formats/tensor.ts';
import { tensor } from '../../../../formats/tensor.ts';
import { WidenedTensor } from '../../../../formats/widened-tensor.ts';
import { SUPPORTED_OPS } from '../../../../runtime/kernels/index.ts';
import { tempDir } from '../../../helpers/cli.ts';
import { maxAbsDiff } from '../../../helpers/compare.ts';
import { STORIES_DIR, writeHfCheckpoint } from '../../../helpers/hf-checkpoint.ts';
import { Runner } from '../../../helpers/lm-runner.ts';
import { randomNormal, rng } from '../../../helpers/onnx-builder.ts';


function checkBuilt(t: ExecutionContext, model: IrModel, vocab: number, kvHeads: number, headDim: number): void {
  const problems = [...verifyModel(model, { supportedOps: SUPPORTED_OPS }), ...inferShapes(model)];
  t.deepEqual(problems.map(formatDiagnostic), []);
  t.deepEqual(model.graph.types.get('logits'), { dtype: 'float32', shape: ['batch', 'sequence', vocab] });
  t.deepEqual(model.graph.types.get('present.0.key'), { dtype: 'float32', shape: ['batch', kvHeads, 'past_sequence + sequence', headDim] });
  t.deepEqual(model.graph.outputs.map((v) => v.name).slice(0, 3), ['logits', 'present.0.key', 'present.0.value']);
  t.deepEqual(model.graph.inputs.map((v) => v.name).slice(0, 3), ['input_ids', 'past_key_values.0.key', 'past_key_values.0.value']);
}

/** The prompt split in two, one token at a time, and a batch of two sequences all give the full run's logits. */
function checkCache(t: ExecutionContext, runner: Runner, ids: number[], full: Float32Array, split: number, tolerance: number): void {
  const pieces = maxAbsDiff(runner.inPieces(ids, [split, ids.length - split]), full);
  t.true(pieces <= tolerance, `prompt in pieces ${split} + ${ids.length - split}: max abs diff ${pieces}`);
  const single = maxAbsDiff(runner.inPieces(ids, ids.map(() => 1)), full);
  t.true(single <= tolerance, `one token at a time: max abs diff ${single}`);
  const other = [...ids].reverse();
  const both = runner.run([ids, other]);
  const alone = runner.run([other]).logits;
  const batched = maxAbsDiff(both.logits, Float32Array.from([...full, ...alone]));
  t.deepEqual(both.dims, [2, ids.length, full.length / ids.length]);
  t.true(batched <= tolerance, `batch of two: max abs diff ${batched}`);
}

// ---- stories260K ----

const storiesRef = JSON.parse(readFileSync(join(STORIES_DIR, 'reference.json'), 'utf8')) as {
  prompt_ids: number[]; greedy_continuation_ids: number[]; logits_shape: [number, number];
};

async function stories(): Promise<{ model: IrModel; runner: Runner }> {
  const checkpoint = await openHuggingFaceFolder(STORIES_DIR);
  const model = buildLlama(checkpoint.config, checkpoint.weights, { path: STORIES_DIR });
  return { model, runner: new Runner(model) };
}

test('stories260K: buildLlama verifies, infers logits [batch, sequence, 512] and matches the reference logits', async (t) => {
  const { model, runner } = await stories();
  checkBuilt(t, model, 512, 4, 8);
  // Tied head (tie_word_embeddings): the head's Gemm reads the embedding matrix, stored once; lm_head.weight unused.
  t.false(model.graph.initializers.has('lm_head.weight'));
  const layers = findLinears(model);
  t.is(layers.length, 5 * 7 + 1);
  t.deepEqual(layers.slice(0, 7).map((l) => [l.layer, l.out, l.in, l.transposed]), [
    ['model.layers.0.self_attn.q_proj', 64, 64, false], ['model.layers.0.self_attn.k_proj', 32, 64, false],
    ['model.layers.0.self_attn.v_proj', 32, 64, false], ['model.layers.0.self_attn.o_proj', 64, 64, false],
    ['model.layers.0.mlp.gate_proj', 172, 64, false], ['model.layers.0.mlp.up_proj', 172, 64, false],
    ['model.layers.0.mlp.down_proj', 64, 172, false],
  ]);
  t.deepEqual([layers.at(-1)!.layer, layers.at(-1)!.node.name], ['model.embed_tokens', '/lm_head/Gemm']);

  const ids = storiesRef.prompt_ids;
  const step = runner.run([ids]);
  t.deepEqual(step.dims, [1, ...storiesRef.logits_shape]);
  const bytes = readFileSync(join(STORIES_DIR, 'reference_logits.bin'));
  const expected = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const diff = maxAbsDiff(step.logits, expected);
  t.log(`stories260K logits vs reference: max abs diff ${diff}`);
  t.true(diff <= 1e-4, `max abs diff ${diff}`);
  t.deepEqual(step.presents[0]!.dims, [1, 4, ids.length, 8]);
});

test('stories260K: the KV cache gives the same logits (6 + 4 tokens, one at a time, batch of two)', async (t) => {
  const { runner } = await stories();
  const ids = storiesRef.prompt_ids;
  checkCache(t, runner, ids, runner.run([ids]).logits, 6, 1e-5);
});

test('stories260K: greedy decoding with the cache reproduces the reference continuation (64 tokens)', async (t) => {
  const { runner } = await stories();
  const want = storiesRef.greedy_continuation_ids.slice(0, 64);
  const { ids: got, last: step } = runner.greedy(storiesRef.prompt_ids, want.length);
  t.deepEqual(got, want);
  t.deepEqual(step.presents[0]!.dims, [1, 4, storiesRef.prompt_ids.length + want.length - 1, 8]);
});

// ---- independent reference forward passes (float64 loops over the checkpoint arrays) ----

type Arrays = Record<string, Float32Array>;

/** y[n, out] = x[n, in]·Wᵀ + b with W [out, in] (nn.Linear), or x·W + b with W [in, out] (GPT-2 Conv1D). */
function linear(x: Float64Array, n: number, inF: number, w: Float32Array, outF: number, bias: Float32Array | undefined, layout: 'out,in' | 'in,out' = 'out,in'): Float64Array {
  const y = new Float64Array(n * outF);
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < outF; o++) {
      let sum = bias ? bias[o]! : 0;
      for (let i = 0; i < inF; i++) sum += x[r * inF + i]! * (layout === 'out,in' ? w[o * inF + i]! : w[i * outF + o]!);
      y[r * outF + o] = sum;
    }
  }
  return y;
}

function rmsNormRef(x: Float64Array, width: number, w: Float32Array, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / width; r++) {
    let ms = 0;
    for (let i = 0; i < width; i++) ms += x[r * width + i]! ** 2;
    const inv = 1 / Math.sqrt(ms / width + eps);
    for (let i = 0; i < width; i++) y[r * width + i] = w[i]! * x[r * width + i]! * inv;
  }
  return y;
}

function layerNormRef(x: Float64Array, width: number, w: Float32Array, b: Float32Array, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / width; r++) {
    let mean = 0;
    for (let i = 0; i < width; i++) mean += x[r * width + i]!;
    mean /= width;
    let variance = 0;
    for (let i = 0; i < width; i++) variance += (x[r * width + i]! - mean) ** 2;
    variance /= width;
    for (let i = 0; i < width; i++) y[r * width + i] = ((x[r * width + i]! - mean) / Math.sqrt(variance + eps)) * w[i]! + b[i]!;
  }
  return y;
}

const act: Record<string, (x: number) => number> = {
  silu: (x) => x / (1 + Math.exp(-x)),
  relu: (x) => Math.max(0, x),
  gelu_new: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
};
const mapped = (x: Float64Array, f: (v: number) => number): Float64Array => x.map(f);
const added = (a: Float64Array, b: Float64Array): Float64Array => a.map((v, i) => v + b[i]!);

/** transformers' rotate-half RoPE at positions 0..n-1: x·cos + rotate_half(x)·sin, rotate_half(x) = [-x2, x1]. */
function ropeRef(x: Float64Array, n: number, heads: number, d: number, theta: number): Float64Array {
  const y = new Float64Array(x.length);
  const half = d / 2;
  for (let p = 0; p < n; p++) {
    for (let h = 0; h < heads; h++) {
      const base = p * heads * d + h * d;
      for (let i = 0; i < half; i++) {
        const angle = p / theta ** ((2 * i) / d);
        const [x1, x2] = [x[base + i]!, x[base + half + i]!];
        y[base + i] = x1 * Math.cos(angle) - x2 * Math.sin(angle);
        y[base + half + i] = x2 * Math.cos(angle) + x1 * Math.sin(angle);
      }
    }
  }
  return y;
}

/** Causal softmax(q·kᵀ·scale)·v; query head h reads kv head ⌊h / (heads / kvHeads)⌋ (repeat_kv). */
function attentionRef(q: Float64Array, k: Float64Array, v: Float64Array, n: number, heads: number, kvHeads: number, d: number, scale: number, window?: number): Float64Array {
  const out = new Float64Array(n * heads * d);
  for (let h = 0; h < heads; h++) {
    const kh = Math.floor(h / (heads / kvHeads));
    for (let i = 0; i < n; i++) {
      const visible = Array.from({ length: n }, (_, j) => j).filter((j) => j <= i && (window === undefined || j > i - window));
      const scores = visible.map((j) => {
        let s = 0;
        for (let e = 0; e < d; e++) s += q[i * heads * d + h * d + e]! * k[j * kvHeads * d + kh * d + e]!;
        return s * scale;
      });
      const max = Math.max(...scores);
      const exps = scores.map((s) => Math.exp(s - max));
      const total = exps.reduce((a, b) => a + b, 0);
      visible.forEach((j, m) => {
        for (let e = 0; e < d; e++) out[i * heads * d + h * d + e] += (exps[m]! / total) * v[j * kvHeads * d + kh * d + e]!;
      });
    }
  }
  return out;
}

function embedRows(table: Float32Array, width: number, rows: number[]): Float64Array {
  const x = new Float64Array(rows.length * width);
  rows.forEach((r, p) => { for (let i = 0; i < width; i++) x[p * width + i] = table[r * width + i]!; });
  return x;
}

interface LlamaSpec { hidden: number; inter: number; layers: number; heads: number; kvHeads: number; headDim: number; vocab: number; eps: number; theta: number; qkvBias: boolean; oBias: boolean; mlpBias: boolean; tied: boolean; window?: number }

/** modeling_llama.py LlamaForCausalLM.forward (eager), positions 0..n-1. */
function llamaRef(s: LlamaSpec, w: Arrays, ids: number[]): Float64Array {
  const n = ids.length;
  const { hidden: H, heads, kvHeads, headDim: d } = s;
  let x = embedRows(w['model.embed_tokens.weight']!, H, ids);
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}.`;
    const h = rmsNormRef(x, H, w[`${p}input_layernorm.weight`]!, s.eps);
    const proj = (name: string, inp: Float64Array, inF: number, outF: number, bias: boolean) => linear(inp, n, inF, w[`${p}${name}.weight`]!, outF, bias ? w[`${p}${name}.bias`] : undefined);
    const q = ropeRef(proj('self_attn.q_proj', h, H, heads * d, s.qkvBias), n, heads, d, s.theta);
    const k = ropeRef(proj('self_attn.k_proj', h, H, kvHeads * d, s.qkvBias), n, kvHeads, d, s.theta);
    const v = proj('self_attn.v_proj', h, H, kvHeads * d, s.qkvBias);
    const ctx = attentionRef(q, k, v, n, heads, kvHeads, d, d ** -0.5, s.window);
    x = added(x, proj('self_attn.o_proj', ctx, heads * d, H, s.oBias));
    const h2 = rmsNormRef(x, H, w[`${p}post_attention_layernorm.weight`]!, s.eps);
    const gate = mapped(proj('mlp.gate_proj', h2, H, s.inter, s.mlpBias), act['silu']!);
    const up = proj('mlp.up_proj', h2, H, s.inter, s.mlpBias);
    x = added(x, proj('mlp.down_proj', gate.map((g, i) => g * up[i]!), s.inter, H, s.mlpBias));
  }
  x = rmsNormRef(x, H, w['model.norm.weight']!, s.eps);
  return linear(x, n, H, w[s.tied ? 'model.embed_tokens.weight' : 'lm_head.weight']!, s.vocab, undefined);
}

interface OptSpec { hidden: number; ffn: number; layers: number; heads: number; vocab: number }

/** modeling_opt.py OPTForCausalLM.forward (pre-norm, all-ones attention mask), positions 0..n-1. */
function optRef(s: OptSpec, w: Arrays, ids: number[]): Float64Array {
  const n = ids.length;
  const { hidden: H, heads } = s;
  const d = H / heads;
  const P = 'model.decoder.';
  // OPTLearnedPositionalEmbedding: position_ids = cumsum(mask)·mask − 1, looked up at position_ids + offset 2.
  let x = added(embedRows(w[`${P}embed_tokens.weight`]!, H, ids), embedRows(w[`${P}embed_positions.weight`]!, H, ids.map((_, i) => i + 2)));
  for (let l = 0; l < s.layers; l++) {
    const p = `${P}layers.${l}.`;
    const proj = (name: string, inp: Float64Array, inF: number, outF: number) => linear(inp, n, inF, w[`${p}${name}.weight`]!, outF, w[`${p}${name}.bias`]);
    const h = layerNormRef(x, H, w[`${p}self_attn_layer_norm.weight`]!, w[`${p}self_attn_layer_norm.bias`]!, 1e-5);
    const q = proj('self_attn.q_proj', h, H, H).map((v) => v * d ** -0.5);
    const ctx = attentionRef(q, proj('self_attn.k_proj', h, H, H), proj('self_attn.v_proj', h, H, H), n, heads, heads, d, 1);
    x = added(x, proj('self_attn.out_proj', ctx, H, H));
    const h2 = layerNormRef(x, H, w[`${p}final_layer_norm.weight`]!, w[`${p}final_layer_norm.bias`]!, 1e-5);
    x = added(x, proj('fc2', mapped(proj('fc1', h2, H, s.ffn), act['relu']!), s.ffn, H));
  }
  x = layerNormRef(x, H, w[`${P}final_layer_norm.weight`]!, w[`${P}final_layer_norm.bias`]!, 1e-5);
  return linear(x, n, H, w[`${P}embed_tokens.weight`]!, s.vocab, undefined);
}

interface Gpt2Spec { hidden: number; layers: number; heads: number; vocab: number; eps: number }

/** modeling_gpt2.py GPT2LMHeadModel.forward (eager), positions 0..n-1; checkpoint keys without 'transformer.'. */
function gpt2Ref(s: Gpt2Spec, w: Arrays, ids: number[]): Float64Array {
  const n = ids.length;
  const { hidden: H, heads } = s;
  const d = H / heads;
  let x = added(embedRows(w['wte.weight']!, H, ids), embedRows(w['wpe.weight']!, H, ids.map((_, i) => i)));
  for (let l = 0; l < s.layers; l++) {
    const p = `h.${l}.`;
    const conv1d = (name: string, inp: Float64Array, inF: number, outF: number) => linear(inp, n, inF, w[`${p}${name}.weight`]!, outF, w[`${p}${name}.bias`], 'in,out');
    const h = layerNormRef(x, H, w[`${p}ln_1.weight`]!, w[`${p}ln_1.bias`]!, s.eps);
    const qkv = conv1d('attn.c_attn', h, H, 3 * H);
    const part = (k: number) => Float64Array.from({ length: n * H }, (_, i) => qkv[Math.floor(i / H) * 3 * H + k * H + (i % H)]!);
    const ctx = attentionRef(part(0), part(1), part(2), n, heads, heads, d, 1 / Math.sqrt(d));
    x = added(x, conv1d('attn.c_proj', ctx, H, H));
    const h2 = layerNormRef(x, H, w[`${p}ln_2.weight`]!, w[`${p}ln_2.bias`]!, s.eps);
    x = added(x, conv1d('mlp.c_proj', mapped(conv1d('mlp.c_fc', h2, H, 4 * H), act['gelu_new']!), 4 * H, H));
  }
  x = layerNormRef(x, H, w['ln_f.weight']!, w['ln_f.bias']!, s.eps);
  return linear(x, n, H, w['wte.weight']!, s.vocab, undefined);
}

// ---- random checkpoints ----

let seed = 1;
const normal = (dims: number[], std = 0.3) => randomNormal(dims.reduce((a, b) => a * b, 1), std, seed++);
const around1 = (n: number) => normal([n], 0.1).map((v) => 1 + v);
const promptIds = (count: number, vocab: number, s: number) => { const r = rng(s); return Array.from({ length: count }, () => Math.floor(r() * vocab)); };

/** The arrays the model sees: rounded through F16/BF16 when the checkpoint is written at half precision. */
function asStored(arrays: Arrays, dtype: 'F32' | 'F16' | 'BF16'): Arrays {
  if (dtype === 'F32') return arrays;
  const half = dtype === 'F16' ? 'float16' : 'bfloat16';
  return Object.fromEntries(Object.entries(arrays).map(([k, v]) => [k, halfToFloat32(half, float32ToHalf(half, v))]));
}

async function checkpoint(name: string, config: object, arrays: Arrays, dtype: 'F32' | 'F16' | 'BF16' = 'F32', dims: Record<string, number[]> = {}) {
  const tensors = Object.fromEntries(Object.entries(arrays).map(([k, v]) => [k, tensor('float32', dims[k] ?? [v.length], v) as Tensor]));
  const dir = join(tempDir(`templates-${name}`), name);
  await writeHfCheckpoint(dir, { config, tensors, dtype });
  return { dir, checkpoint: await openHuggingFaceFolder(dir), stored: asStored(arrays, dtype) };
}

function llamaArrays(s: LlamaSpec): { arrays: Arrays; dims: Record<string, number[]> } {
  const arrays: Arrays = {};
  const dims: Record<string, number[]> = {};
  const put = (name: string, shape: number[], values?: Float32Array) => { arrays[name] = values ?? normal(shape); dims[name] = shape; };
  const { hidden: H, heads, kvHeads, headDim: d, inter: I } = s;
  put('model.embed_tokens.weight', [s.vocab, H], normal([s.vocab, H], 1));
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}.`;
    put(`${p}input_layernorm.weight`, [H], around1(H));
    for (const [proj, out] of [['q_proj', heads * d], ['k_proj', kvHeads * d], ['v_proj', kvHeads * d]] as const) {
      put(`${p}self_attn.${proj}.weight`, [out, H]);
      if (s.qkvBias) put(`${p}self_attn.${proj}.bias`, [out]);
    }
    put(`${p}self_attn.o_proj.weight`, [H, heads * d]);
    if (s.oBias) put(`${p}self_attn.o_proj.bias`, [H]);
    put(`${p}post_attention_layernorm.weight`, [H], around1(H));
    for (const [proj, shape] of [['gate_proj', [I, H]], ['up_proj', [I, H]], ['down_proj', [H, I]]] as const) {
      put(`${p}mlp.${proj}.weight`, [...shape]);
      if (s.mlpBias) put(`${p}mlp.${proj}.bias`, [shape[0]]);
    }
  }
  put('model.norm.weight', [H], around1(H));
  if (!s.tied) put('lm_head.weight', [s.vocab, H]);
  return { arrays, dims };
}

function llamaConfig(arch: string, s: LlamaSpec): object {
  return {
    architectures: [arch], hidden_size: s.hidden, intermediate_size: s.inter, num_hidden_layers: s.layers,
    num_attention_heads: s.heads, num_key_value_heads: s.kvHeads, head_dim: s.headDim, vocab_size: s.vocab,
    max_position_embeddings: 64, rms_norm_eps: s.eps, rope_theta: s.theta, tie_word_embeddings: s.tied, hidden_act: 'silu',
    ...(arch === 'LlamaForCausalLM' ? { attention_bias: s.qkvBias, mlp_bias: s.mlpBias } : {}),
    ...(s.window !== undefined ? { sliding_window: s.window } : {}),
  };
}

const llamaCases: { title: string; arch: string; spec: LlamaSpec; dtype: 'F32' | 'F16' | 'BF16' }[] = [
  {
    title: 'Qwen2 style: GQA (4 heads, 2 kv heads), q/k/v biases, untied head',
    arch: 'Qwen2ForCausalLM', dtype: 'F32',
    spec: { hidden: 16, inter: 24, layers: 2, heads: 4, kvHeads: 2, headDim: 4, vocab: 50, eps: 1e-6, theta: 10000, qkvBias: true, oBias: false, mlpBias: false, tied: false },
  },
  {
    title: 'Llama: 4 heads sharing 1 kv head, head_dim 8 ≠ hidden/heads, attention and MLP biases, tied head without lm_head.weight, BF16 weights',
    arch: 'LlamaForCausalLM', dtype: 'BF16',
    spec: { hidden: 16, inter: 20, layers: 2, heads: 4, kvHeads: 1, headDim: 8, vocab: 50, eps: 1e-5, theta: 500, qkvBias: true, oBias: true, mlpBias: true, tied: true },
  },
  {
    title: 'Mistral: multi-head attention with a sliding window of 3',
    arch: 'MistralForCausalLM', dtype: 'F32',
    spec: { hidden: 16, inter: 24, layers: 2, heads: 4, kvHeads: 4, headDim: 4, vocab: 50, eps: 1e-5, theta: 10000, qkvBias: false, oBias: false, mlpBias: false, tied: false, window: 3 },
  },
];

for (const c of llamaCases) {
  test(`llama template, ${c.title}: matches an independent forward pass; cache consistent`, async (t) => {
    const { arrays, dims } = llamaArrays(c.spec);
    const { dir, checkpoint: ck, stored } = await checkpoint(c.arch, llamaConfig(c.arch, c.spec), arrays, c.dtype, dims);
    const model = buildFromConfig(ck.config, ck.weights, { path: dir });
    checkBuilt(t, model, c.spec.vocab, c.spec.kvHeads, c.spec.headDim);
    const inits = model.graph.initializers;
    t.is(inits.get('model.layers.0.self_attn.q_proj.weight') instanceof WidenedTensor, c.dtype !== 'F32');
    t.is(inits.get('model.layers.0.self_attn.q_proj.weight')!.dtype, 'float32');
    t.is(inits.has('lm_head.weight'), !c.spec.tied);
    const linears = findLinears(model);
    t.is(linears.length, 7 * c.spec.layers + 1);
    t.true(linears.every((l) => !l.transposed && l.node.op === 'Gemm'));

    const ids = promptIds(7, c.spec.vocab, 11);
    const runner = new Runner(model);
    const full = runner.run([ids]).logits;
    const diff = maxAbsDiff(full, llamaRef(c.spec, stored, ids));
    t.log(`max abs diff vs reference: ${diff}`);
    t.true(diff <= 1e-4, `max abs diff ${diff}`);
    checkCache(t, runner, ids, full, 4, 1e-5);
  });
}

test('OPT template: matches an independent forward pass (offset-2 learned positions, scaled q, ReLU, tied head); cache consistent', async (t) => {
  const s: OptSpec = { hidden: 16, ffn: 32, layers: 2, heads: 4, vocab: 50 };
  const maxPos = 32;
  const arrays: Arrays = {};
  const dims: Record<string, number[]> = {};
  const put = (name: string, shape: number[], values?: Float32Array) => { arrays[`model.decoder.${name}`] = values ?? normal(shape); dims[`model.decoder.${name}`] = shape; };
  const H = s.hidden;
  put('embed_tokens.weight', [s.vocab, H], normal([s.vocab, H], 1));
  put('embed_positions.weight', [maxPos + 2, H], normal([maxPos + 2, H], 0.5));
  for (let l = 0; l < s.layers; l++) {
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) { put(`layers.${l}.self_attn.${proj}.weight`, [H, H]); put(`layers.${l}.self_attn.${proj}.bias`, [H]); }
    for (const ln of ['self_attn_layer_norm', 'final_layer_norm']) { put(`layers.${l}.${ln}.weight`, [H], around1(H)); put(`layers.${l}.${ln}.bias`, [H], normal([H], 0.1)); }
    put(`layers.${l}.fc1.weight`, [s.ffn, H]); put(`layers.${l}.fc1.bias`, [s.ffn]);
    put(`layers.${l}.fc2.weight`, [H, s.ffn]); put(`layers.${l}.fc2.bias`, [H]);
  }
  put('final_layer_norm.weight', [H], around1(H)); put('final_layer_norm.bias', [H], normal([H], 0.1));
  const config = {
    architectures: ['OPTForCausalLM'], model_type: 'opt', hidden_size: H, ffn_dim: s.ffn, num_hidden_layers: s.layers, num_attention_heads: s.heads,
    vocab_size: s.vocab, max_position_embeddings: maxPos, do_layer_norm_before: true, word_embed_proj_dim: H, activation_function: 'relu',
    enable_bias: true, tie_word_embeddings: true,
  };
  const { dir, checkpoint: ck, stored } = await checkpoint('opt', config, arrays, 'F32', dims);
  const model = buildOpt(ck.config, ck.weights, { path: dir });
  checkBuilt(t, model, s.vocab, s.heads, H / s.heads);
  const linears = findLinears(model);
  t.deepEqual(linears.slice(0, 6).map((l) => l.layer), ['q_proj', 'k_proj', 'v_proj', 'out_proj', 'fc1', 'fc2'].map((n) => `model.decoder.layers.0.${n.endsWith('proj') ? `self_attn.${n}` : n}`));
  t.is(linears.at(-1)!.layer, 'model.decoder.embed_tokens');

  const ids = promptIds(7, s.vocab, 12);
  const runner = new Runner(model);
  const full = runner.run([ids]).logits;
  const diff = maxAbsDiff(full, optRef(s, stored, ids));
  t.log(`max abs diff vs reference: ${diff}`);
  t.true(diff <= 1e-4, `max abs diff ${diff}`);
  checkCache(t, runner, ids, full, 4, 1e-5);
});

test('GPT-2 template: matches an independent forward pass (Conv1D [in, out] weights, gelu_new, tied head, F16, keys without "transformer."); cache consistent', async (t) => {
  const s: Gpt2Spec = { hidden: 16, layers: 2, heads: 4, vocab: 50, eps: 1e-5 };
  const nPos = 32;
  const H = s.hidden;
  const arrays: Arrays = {};
  const dims: Record<string, number[]> = {};
  const put = (name: string, shape: number[], values?: Float32Array) => { arrays[name] = values ?? normal(shape); dims[name] = shape; };
  put('wte.weight', [s.vocab, H], normal([s.vocab, H], 1));
  put('wpe.weight', [nPos, H], normal([nPos, H], 0.5));
  for (let l = 0; l < s.layers; l++) {
    const p = `h.${l}.`;
    for (const ln of ['ln_1', 'ln_2']) { put(`${p}${ln}.weight`, [H], around1(H)); put(`${p}${ln}.bias`, [H], normal([H], 0.1)); }
    put(`${p}attn.bias`, [1, 1, nPos, nPos], new Float32Array(nPos * nPos).fill(1)); // the causal-mask buffer old checkpoints carry
    put(`${p}attn.c_attn.weight`, [H, 3 * H]); put(`${p}attn.c_attn.bias`, [3 * H]);
    put(`${p}attn.c_proj.weight`, [H, H]); put(`${p}attn.c_proj.bias`, [H]);
    put(`${p}mlp.c_fc.weight`, [H, 4 * H]); put(`${p}mlp.c_fc.bias`, [4 * H]);
    put(`${p}mlp.c_proj.weight`, [4 * H, H]); put(`${p}mlp.c_proj.bias`, [H]);
  }
  put('ln_f.weight', [H], around1(H)); put('ln_f.bias', [H], normal([H], 0.1));
  const config = { architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: H, n_head: s.heads, n_layer: s.layers, n_positions: nPos, vocab_size: s.vocab, layer_norm_epsilon: s.eps, activation_function: 'gelu_new' };
  const { dir, checkpoint: ck, stored } = await checkpoint('gpt2', config, arrays, 'F16', dims);
  const model = buildGpt2(ck.config, ck.weights, { path: dir });
  checkBuilt(t, model, s.vocab, s.heads, H / s.heads);
  t.false(model.graph.initializers.has('h.0.attn.bias'));
  t.true(model.graph.initializers.get('h.0.attn.c_attn.weight') instanceof WidenedTensor);
  const linears = findLinears(model);
  t.deepEqual(linears.slice(0, 4).map((l) => [l.layer, l.out, l.in, l.transposed]), [
    ['h.0.attn.c_attn', 3 * H, H, true], ['h.0.attn.c_proj', H, H, true], ['h.0.mlp.c_fc', 4 * H, H, true], ['h.0.mlp.c_proj', H, 4 * H, true],
  ]);
  t.deepEqual([linears.at(-1)!.layer, linears.at(-1)!.transposed], ['wte', false]);

  const ids = promptIds(7, s.vocab, 13);
  const runner = new Runner(model);
  const full = runner.run([ids]).logits;
  const diff = maxAbsDiff(full, gpt2Ref(s, stored, ids));
  t.log(`max abs diff vs reference: ${diff}`);
  t.true(diff <= 1e-4, `max abs diff ${diff}`);
  checkCache(t, runner, ids, full, 4, 1e-5);
});

test('a missing or misshapen weight is one error naming the tensor, the file and the expected dims', async (t) => {
  const spec = llamaCases[0]!.spec;
  const { arrays, dims } = llamaArrays(spec);
  delete arrays['model.layers.1.self_attn.k_proj.bias'];
  const missing = await checkpoint('missing', llamaConfig('Qwen2ForCausalLM', spec), arrays, 'F32', dims);
  const e1 = t.throws(() => buildFromConfig(missing.checkpoint.config, missing.checkpoint.weights, { path: missing.dir }));
  t.regex(e1!.message, /model\.safetensors: tensor 'model\.layers\.1\.self_attn\.k_proj\.bias': missing; expected \[8\]/);

  const again = llamaArrays(spec);
  again.dims['model.layers.0.mlp.up_proj.weight'] = [spec.hidden, spec.inter];
  const wrong = await checkpoint('wrong', llamaConfig('Qwen2ForCausalLM', spec), again.arrays, 'F32', again.dims);
  const e2 = t.throws(() => buildFromConfig(wrong.checkpoint.config, wrong.checkpoint.weights, { path: wrong.dir }));
  t.regex(e2!.message, /tensor 'model\.layers\.0\.mlp\.up_proj\.weight': has dims \[16, 24\], expected \[24, 16\] \(intermediate_size 24, hidden_size 16 in .*config\.json\)/);
});
