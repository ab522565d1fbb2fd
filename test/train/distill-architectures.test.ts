// Distillation on every decoder template besides LLaMA (which distill.test.ts covers on stories260K): tiny
// random GPT-2 (Conv1D weights stored [in, out], LayerNorm with bias, gelu_new, learned positions, tied head),
// OPT (ReLU, biases, offset positions), Qwen2 (grouped-query attention, q/k/v biases) and Mistral (sliding
// window). Each trains a few steps on TinyStories text with the stories260K tokenizer: the student must come
// closer to the teacher, and the lowered 1-bit graph must compute what the trained student does.
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { float32ToHalf, halfToFloat32 } from '../../formats/dtype.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { tensor } from '../../formats/tensor.ts';
import { importModel } from '../../compiler/import/import-model.ts';
import type { IrGraph, IrModel } from '../../compiler/ir/graph.ts';
import { Tape } from '../../compiler/train/autodiff/tape.ts';
import { loadCheckpoint } from '../../compiler/train/checkpoint.ts';
import { CHECKPOINT, distill } from '../../compiler/train/distill.ts';
import { decoderFeeds } from '../../compiler/train/language-model-feeds.ts';
import { kdLoss } from '../../compiler/train/kd-loss.ts';
import { buildStudent } from '../../compiler/train/student.ts';
import { loadTokenizer } from '../../runtime/tokenizer/tokenizer.ts';
import { tempDir } from '../helpers/cli.ts';
import { f32, randomValues, Rng } from '../helpers/gradcheck.ts';
import { STORIES_DIR, writeHfCheckpoint } from '../helpers/hf-checkpoint.ts';

const VOCAB = 512; // the stories260K tokenizer's
const H = 32;
const LAYERS = 2;
const HEADS = 4;
const POSITIONS = 64;

const dir = tempDir('distill-architectures');
const textFile = join(dir, 'train.txt');
writeFileSync(textFile, readFileSync(new URL('../fixtures/tinystories/valid_sample.txt', import.meta.url), 'utf8').slice(0, 20000));
const quiet = { write: () => true } as unknown as NodeJS.WritableStream;

type Put = (name: string, dims: number[], std?: number, mean?: number) => void;

/** Random weights: std 1/√(the matrix's smaller side) unless given. */
function weights(seed: number, fill: (put: Put) => void): Record<string, Tensor> {
  const rng = new Rng(seed);
  const tensors: Record<string, Tensor> = {};
  fill((name, dims, std, mean = 0) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const s = std ?? 1 / Math.sqrt(dims.length > 1 ? Math.min(...dims) : 1);
    tensors[name] = f32(dims, Float32Array.from(randomValues(rng, n, 'normal', s), (v) => v + mean));
  });
  return tensors;
}

function gpt2(): { config: object; tensors: Record<string, Tensor> } {
  const tensors = weights(1, (put) => {
    put('wte.weight', [VOCAB, H], 0.5);
    put('wpe.weight', [POSITIONS, H], 0.2);
    for (let l = 0; l < LAYERS; l++) {
      const p = `h.${l}.`;
      for (const ln of ['ln_1', 'ln_2']) { put(`${p}${ln}.weight`, [H], 0.1, 1); put(`${p}${ln}.bias`, [H], 0.1); }
      put(`${p}attn.c_attn.weight`, [H, 3 * H]); put(`${p}attn.c_attn.bias`, [3 * H], 0.1);
      put(`${p}attn.c_proj.weight`, [H, H]); put(`${p}attn.c_proj.bias`, [H], 0.1);
      put(`${p}mlp.c_fc.weight`, [H, 4 * H]); put(`${p}mlp.c_fc.bias`, [4 * H], 0.1);
      put(`${p}mlp.c_proj.weight`, [4 * H, H]); put(`${p}mlp.c_proj.bias`, [H], 0.1);
    }
    put('ln_f.weight', [H], 0.1, 1); put('ln_f.bias', [H], 0.1);
  });
  return {
    config: { architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: H, n_head: HEADS, n_layer: LAYERS, n_positions: POSITIONS, vocab_size: VOCAB, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', bos_token_id: 1, eos_token_id: 2 },
    tensors,
  };
}

function opt(): { config: object; tensors: Record<string, Tensor> } {
  const ffn = 64;
  const tensors = weights(2, (put) => {
    const d = (name: string, dims: number[], std?: number, mean?: number) => put(`model.decoder.${name}`, dims, std, mean);
    d('embed_tokens.weight', [VOCAB, H], 0.5);
    d('embed_positions.weight', [POSITIONS + 2, H], 0.2);
    for (let l = 0; l < LAYERS; l++) {
      for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) { d(`layers.${l}.self_attn.${proj}.weight`, [H, H]); d(`layers.${l}.self_attn.${proj}.bias`, [H], 0.1); }
      for (const ln of ['self_attn_layer_norm', 'final_layer_norm']) { d(`layers.${l}.${ln}.weight`, [H], 0.1, 1); d(`layers.${l}.${ln}.bias`, [H], 0.1); }
      d(`layers.${l}.fc1.weight`, [ffn, H]); d(`layers.${l}.fc1.bias`, [ffn], 0.1);
      d(`layers.${l}.fc2.weight`, [H, ffn]); d(`layers.${l}.fc2.bias`, [H], 0.1);
    }
    d('final_layer_norm.weight', [H], 0.1, 1); d('final_layer_norm.bias', [H], 0.1);
  });
  return {
    config: {
      architectures: ['OPTForCausalLM'], model_type: 'opt', hidden_size: H, ffn_dim: ffn, num_hidden_layers: LAYERS, num_attention_heads: HEADS,
      vocab_size: VOCAB, max_position_embeddings: POSITIONS, do_layer_norm_before: true, word_embed_proj_dim: H, activation_function: 'relu',
      enable_bias: true, tie_word_embeddings: true, bos_token_id: 1, eos_token_id: 2,
    },
    tensors,
  };
}

function llamaFamily(arch: 'Qwen2ForCausalLM' | 'MistralForCausalLM', kvHeads: number, biases: boolean, window?: number): { config: object; tensors: Record<string, Tensor> } {
  const inter = 48;
  const d = H / HEADS;
  const tensors = weights(3, (put) => {
    put('model.embed_tokens.weight', [VOCAB, H], 0.5);
    for (let l = 0; l < LAYERS; l++) {
      const p = `model.layers.${l}.`;
      put(`${p}input_layernorm.weight`, [H], 0.1, 1);
      put(`${p}post_attention_layernorm.weight`, [H], 0.1, 1);
      for (const [proj, out] of [['q_proj', HEADS * d], ['k_proj', kvHeads * d], ['v_proj', kvHeads * d]] as const) {
        put(`${p}self_attn.${proj}.weight`, [out, H]);
        if (biases) put(`${p}self_attn.${proj}.bias`, [out], 0.1);
      }
      put(`${p}self_attn.o_proj.weight`, [H, HEADS * d]);
      put(`${p}mlp.gate_proj.weight`, [inter, H]); put(`${p}mlp.up_proj.weight`, [inter, H]); put(`${p}mlp.down_proj.weight`, [H, inter]);
    }
    put('model.norm.weight', [H], 0.1, 1);
    put('lm_head.weight', [VOCAB, H]);
  });
  return {
    config: {
      architectures: [arch], hidden_size: H, intermediate_size: inter, num_hidden_layers: LAYERS, num_attention_heads: HEADS,
      num_key_value_heads: kvHeads, vocab_size: VOCAB, max_position_embeddings: POSITIONS, rms_norm_eps: 1e-6, rope_theta: 10000,
      tie_word_embeddings: false, hidden_act: 'silu', bos_token_id: 1, eos_token_id: 2, ...(window !== undefined ? { sliding_window: window } : {}),
    },
    tensors,
  };
}

const cases = [
  { name: 'GPT-2', make: gpt2, linears: 4 * LAYERS },
  { name: 'OPT', make: opt, linears: 6 * LAYERS },
  { name: 'Qwen2 (GQA, q/k/v biases)', make: () => llamaFamily('Qwen2ForCausalLM', 2, true), linears: 7 * LAYERS },
  { name: 'Mistral (sliding window 8)', make: () => llamaFamily('MistralForCausalLM', HEADS, false, 8), linears: 7 * LAYERS },
];

/** KL(teacher ‖ student) of the next-token distributions and the hidden-state term of the KD loss, on one batch. */
function distance(teacher: IrModel, student: IrGraph, params: ReadonlyMap<string, Tensor>, ids: number[]): { kl: number; mse: number } {
  const hidden = teacher.hiddenStates!;
  const run = (graph: IrGraph, p: ReadonlyMap<string, Tensor>) => new Tape(graph).run(decoderFeeds(graph, ids, 2), p).values;
  const [tv, sv] = [run(teacher.graph, new Map()), run(student, params)];
  const outputs = (v: Map<string, Tensor>) => ({ logits: v.get('logits')!.data as Float32Array, hidden: hidden.map((h) => v.get(h)!.data as Float32Array) });
  const [tOut, sOut] = [outputs(tv), outputs(sv)];
  const loss = (s: typeof sOut) => kdLoss({ teacherLogits: tOut.logits, studentLogits: s.logits, vocab: VOCAB, teacherHidden: tOut.hidden, studentHidden: s.hidden, hidden: H, alpha: 1 });
  const entropy = loss(tOut).ce; // the cross-entropy of the teacher with itself
  const l = loss(sOut);
  return { kl: l.ce - entropy, mse: l.mse };
}

for (const c of cases) {
  test(`${c.name}: distillation brings the student closer to the teacher, and the lowered graph computes the trained student`, async (t) => {
    const folder = join(dir, c.name.split(' ')[0]!.toLowerCase());
    await writeHfCheckpoint(folder, { ...c.make(), tokenizerFrom: STORIES_DIR });
    const imported = await importModel(folder);
    const tokenizer = loadTokenizer(imported.lm!.tokenizer, JSON.parse(imported.lm!.tokenizerConfig!) as object);
    const input = { teacher: imported.model, tokenizer, contextLength: POSITIONS, headWeight: imported.headWeight! };
    const run = `${folder}.distill`;
    const { model } = await distill(input, { data: textFile, checkpointDir: run, steps: 40, batch: 2, seq: 32, warmup: 2, evalEvery: 40, checkpointEvery: 100, stream: quiet });
    t.is(model.graph.nodes.filter((n) => n.op === 'OneBitLinear').length, c.linears);

    const student = buildStudent(imported.model, { keep: (s) => s.weight === imported.headWeight });
    const { tensors } = await loadCheckpoint(join(run, CHECKPOINT));
    const trained = new Map([...student.params].map(([name, t0]) => [name, tensor('float32', t0.dims, tensors.get(`param/${name}`)!.data as Float32Array)] as const));

    // A random teacher makes text perplexity meaningless: what must fall is the distance to the teacher, on a
    // fixed batch of held-out windows.
    const ids = tokenizer.encode(readFileSync(textFile, 'utf8').slice(-3000)).slice(0, 64);
    const before = distance(imported.model, student.model.graph, student.params, ids);
    const after = distance(imported.model, student.model.graph, trained, ids);
    t.log(`on a fixed batch: KL ${before.kl.toFixed(3)} → ${after.kl.toFixed(3)}, hidden-state term ${before.mse.toFixed(3)} → ${after.mse.toFixed(3)}`);
    t.true(after.kl < 0.8 * before.kl && after.mse < 0.8 * before.mse);

    // The trained student on the tape (g and h rounded to fp16, as the bundle stores them) against the lowered
    // graph, whose OneBitLinear nodes run the runtime's reference kernel on the packed signs.
    const halves = new Set(student.layers.flatMap((l) => [l.g, l.h]));
    const stored = new Map([...trained].map(([name, v]) => [name, halves.has(name) ? tensor('float32', v.dims, halfToFloat32('float16', float32ToHalf('float16', v.data))) : v] as const));
    const prompt = tokenizer.encode('Once upon a time, there was a little girl');
    const want = new Tape(student.model.graph).run(decoderFeeds(student.model.graph, prompt, 1), stored).values.get('logits')!.data as Float32Array;
    const got = new Tape(model.graph).run(decoderFeeds(model.graph, prompt, 1), new Map()).values.get('logits')!.data as Float32Array;
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < want.length; i++) { worst = Math.max(worst, Math.abs(want[i]! - got[i]!)); scale = Math.max(scale, Math.abs(want[i]!)); }
    t.log(`lowered vs trained student: max |Δ logits| ${worst.toExponential(2)} (largest |logit| ${scale.toFixed(1)})`);
    t.true(worst <= 1e-4 * Math.max(1, scale));
  });
}
