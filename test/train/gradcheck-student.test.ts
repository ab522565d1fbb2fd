// A whole distillation step checked end to end on a tiny random LLaMA (hidden 16, 2 layers, 4 query heads over
// 2 kv heads, intermediate 24, vocab 32): teacher and student tapes in float64 on a batch of 2×6 tokens, the KD
// loss with α = 1 over every layer's hidden state, backward, and central finite differences of the whole loss
// for sampled entries of g, h and the RMSNorm weights. The latent weights go through sign(), so their gradients
// are checked against finite differences of the same student with every OneBitTrain rewritten as plain ops over a
// dense sign matrix S, times the tanh STE's factor. Last, plain SGD on all parameters lowers the loss.
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { Tensor } from '../../formats/tensor.ts';
import { importModel } from '../../compiler/import/import-model.ts';
import type { IrAttr, IrGraph, IrModel, IrNode } from '../../compiler/ir/graph.ts';
import type { FloatDType, Floats } from '../../compiler/train/autodiff/floats.ts';
import { ONEBIT_TRAIN_OP } from '../../compiler/train/autodiff/onebit-train.ts';
import { Tape } from '../../compiler/train/autodiff/tape.ts';
import { kdLoss } from '../../compiler/train/kd-loss.ts';
import { decoderFeeds } from '../../compiler/train/language-model-feeds.ts';
import type { Student } from '../../compiler/train/student.ts';
import { buildStudent } from '../../compiler/train/student.ts';
import { tempDir } from '../helpers/cli.ts';
import { centralDifference, f32, f64, randomValues, Rng, sampleIndices } from '../helpers/gradcheck.ts';
import { writeHfCheckpoint } from '../helpers/hf-checkpoint.ts';

const H = 16;
const I = 24;
const HEADS = 4;
const KV_HEADS = 2;
const VOCAB = 32;
const LAYERS = 2;
const BATCH = 2;
const SEQUENCE = 6;
const ALPHA = 1;
const STEP = 1e-5;
const RTOL = 1e-5;
/** Relative floor: errors are measured against |reference| + FLOOR · (largest |reference| of the kind). */
const FLOOR = 1e-4;

async function tinyLlama(): Promise<string> {
  const dir = join(tempDir('gradcheck-student'), 'hf');
  const rng = new Rng(7);
  const t = (dims: number[], std: number, mean = 0): Tensor => {
    const n = dims.reduce((a, b) => a * b, 1);
    return f32(dims, Float32Array.from(randomValues(rng, n, 'normal', std), (v) => v + mean));
  };
  const d = H / HEADS;
  const tensors: Record<string, Tensor> = { 'model.embed_tokens.weight': t([VOCAB, H], 1) };
  for (let l = 0; l < LAYERS; l++) {
    const p = `model.layers.${l}`;
    for (const [name, out, inDim] of [['self_attn.q_proj', HEADS * d, H], ['self_attn.k_proj', KV_HEADS * d, H], ['self_attn.v_proj', KV_HEADS * d, H],
      ['self_attn.o_proj', H, HEADS * d], ['mlp.gate_proj', I, H], ['mlp.up_proj', I, H], ['mlp.down_proj', H, I]] as const) {
      tensors[`${p}.${name}.weight`] = t([out, inDim], 1 / Math.sqrt(inDim));
    }
    tensors[`${p}.input_layernorm.weight`] = t([H], 0.3, 1);
    tensors[`${p}.post_attention_layernorm.weight`] = t([H], 0.3, 1);
  }
  tensors['model.norm.weight'] = t([H], 0.3, 1);
  tensors['lm_head.weight'] = t([VOCAB, H], 1 / Math.sqrt(H));
  await writeHfCheckpoint(dir, {
    config: {
      architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: H, intermediate_size: I, num_hidden_layers: LAYERS,
      num_attention_heads: HEADS, num_key_value_heads: KV_HEADS, vocab_size: VOCAB, max_position_embeddings: 64, rms_norm_eps: 1e-6,
      rope_theta: 10000, tie_word_embeddings: false, hidden_act: 'silu', bos_token_id: 1, eos_token_id: 2,
    },
    tensors,
  });
  return dir;
}

interface Setup {
  teacher: IrModel;
  student: Student;
  hiddenStates: string[];
  feeds: Map<string, Tensor>;
  teacherLogits: Floats;
  teacherHidden: Floats[];
}

let setup: Promise<Setup> | undefined;

/** The checkpoint, the teacher's float64 outputs and the student (built once for every test). */
function getSetup(): Promise<Setup> {
  setup ??= (async () => {
    const { model, headWeight } = await importModel(await tinyLlama());
    if (!headWeight || !model.hiddenStates) throw new Error('expected a head weight and hidden states from the LLaMA template');
    const student = buildStudent(model, { keep: (s) => s.weight === headWeight });
    const rng = new Rng(11);
    const ids = Array.from({ length: BATCH * SEQUENCE }, () => rng.int(VOCAB));
    const feeds = decoderFeeds(model.graph, ids, BATCH);
    const teacher = new Tape(model.graph, { dtype: 'float64' }).run(feeds, new Map());
    const data = (name: string) => teacher.values.get(name)!.data as Floats;
    return { teacher: model, student, hiddenStates: model.hiddenStates, feeds, teacherLogits: data('logits'), teacherHidden: model.hiddenStates.map(data) };
  })();
  return setup;
}

type Params = Map<string, Float64Array>;

function tensorsOf(s: Setup, graphParams: Map<string, { dims: readonly number[] }>, values: Params, dtype: FloatDType): Map<string, Tensor> {
  return new Map([...values].map(([name, v]) => {
    const dims = graphParams.get(name)!.dims;
    return [name, dtype === 'float64' ? f64(dims, v) : f32(dims, v)];
  }));
}

interface Step { loss: number; grads: Map<string, Floats> }

/** Student forward, KD loss against the teacher's float64 outputs, and (optionally) backward. */
function step(s: Setup, graph: IrGraph, dims: Map<string, { dims: readonly number[] }>, values: Params, dtype: FloatDType, backward: boolean): Step {
  const tape = new Tape(graph, { dtype }).run(s.feeds, tensorsOf(s, dims, values, dtype));
  const studentLogits = tape.values.get('logits')!.data as Floats;
  const studentHidden = s.hiddenStates.map((name) => tape.values.get(name)!.data as Floats);
  const parts = kdLoss({ teacherLogits: s.teacherLogits, studentLogits, vocab: VOCAB, teacherHidden: s.teacherHidden, studentHidden, hidden: H, alpha: ALPHA });
  if (!backward) return { loss: parts.loss, grads: new Map() };
  const seeds = new Map<string, Floats>([['logits', parts.logitsGrad]]);
  s.hiddenStates.forEach((name, i) => {
    // the last hidden state also feeds the head: both gradients meet there
    const prior = seeds.get(name);
    seeds.set(name, prior ? prior.map((v, j) => v + parts.hiddenGrads[i]![j]!) as Floats : parts.hiddenGrads[i]!);
  });
  return { loss: parts.loss, grads: tape.backward(seeds, values.keys()) };
}

function float64Params(student: Student): Params {
  return new Map([...student.params].map(([name, t]) => [name, Float64Array.from(t.data)]));
}

/**
 * The student with every OneBitTrain node rewritten as plain ops: y = LN((x ⊙ g)·Sᵀ ⊙ h + bias) with the sign
 * matrix S = sign(W) a dense parameter `<layer>.signs`, LayerNormalization with unit scale and zero bias.
 */
function denseSignGraph(graph: IrGraph): IrGraph {
  const nodes: IrNode[] = [];
  const initializers = new Map(graph.initializers);
  for (const node of graph.nodes) {
    if (node.op !== ONEBIT_TRAIN_OP) { nodes.push(node); continue; }
    const [x, latent, g, h, bias] = node.inputs as [string, string, string, string, string | undefined];
    const out = node.attrs['out'] as number;
    const [y, signed] = node.outputs as [string, string];
    const at = (what: string) => `${node.name}::dense::${what}`;
    const n = (op: string, inputs: string[], output: string, attrs: Record<string, IrAttr> = {}): IrNode => ({ name: output, op, domain: '', inputs, outputs: [output], attrs });
    const eps = node.attrs['post_norm_eps'] as number | undefined;
    nodes.push(
      n('Mul', [x, g], at('xg')), n('Transpose', [signsName(latent)], at('st'), { perm: [1, 0] }), n('MatMul', [at('xg'), at('st')], signed),
      n('Mul', [signed, h], bias || eps !== undefined ? at('sh') : y),
    );
    if (bias) nodes.push(n('Add', [at('sh'), bias], eps !== undefined ? at('z') : y));
    if (eps !== undefined) {
      initializers.set(at('ones'), f32([out], new Float32Array(out).fill(1)));
      initializers.set(at('zeros'), f32([out], new Float32Array(out)));
      nodes.push(n('LayerNormalization', [bias ? at('z') : at('sh'), at('ones'), at('zeros')], y, { axis: -1, epsilon: eps }));
    }
  }
  return { ...graph, nodes, initializers };
}

const signsName = (latent: string) => `${latent}::signs`;

function paramDims(student: Student, extra: Map<string, { dims: readonly number[] }> = new Map()): Map<string, { dims: readonly number[] }> {
  return new Map([...[...student.params].map(([name, t]) => [name, { dims: t.dims }] as const), ...extra]);
}

function check(t: ExecutionContext, what: string, entries: { name: string; i: number; analytic: number; reference: number }[]): void {
  const max = Math.max(...entries.map((e) => Math.abs(e.reference)));
  t.true(max > 0, `${what}: some non-zero gradient`);
  let worst = { e: 0, at: '' };
  for (const e of entries) {
    const err = Math.abs(e.analytic - e.reference) / (Math.abs(e.reference) + FLOOR * max);
    if (!(err <= worst.e)) worst = { e: err, at: `${e.name}[${e.i}]: analytic ${e.analytic}, finite difference ${e.reference}` };
  }
  t.log(`${what}: ${entries.length} entries, worst relative error ${worst.e.toExponential(2)}`);
  t.true(worst.e <= RTOL, `${what}: worst relative error ${worst.e.toExponential(2)} at ${worst.at}`);
}

test.serial('the student has OneBitTrain layers for every projection but the head, and trains the norms', async (t) => {
  const s = await getSetup();
  t.is(s.student.layers.length, 7 * LAYERS);
  t.true(s.student.layers.every((l) => l.postNorm && !l.layer.includes('lm_head')));
  const norms = [...s.student.params.keys()].filter((n) => n.endsWith('layernorm.weight') || n === 'model.norm.weight');
  t.is(norms.length, 2 * LAYERS + 1);
  t.is(s.hiddenStates.length, LAYERS);
});

test.serial('full student step (float64): dL/dg, dL/dh and the RMSNorm weights = central differences of teacher + student + KD loss', async (t) => {
  const s = await getSetup();
  const graph = s.student.model.graph;
  const dims = paramDims(s.student);
  const values = float64Params(s.student);
  const { loss, grads } = step(s, graph, dims, values, 'float64', true);
  t.true(Number.isFinite(loss) && loss > 0);
  const loss64 = () => step(s, graph, dims, values, 'float64', false).loss;
  const rng = new Rng(21);
  const kinds: Record<string, string[]> = {
    g: s.student.layers.filter((_, i) => i % 3 === 0).map((l) => l.g),
    h: s.student.layers.filter((_, i) => i % 3 === 1).map((l) => l.h),
    'RMSNorm weight': [...values.keys()].filter((n) => n.endsWith('layernorm.weight') || n === 'model.norm.weight'),
  };
  for (const [kind, names] of Object.entries(kinds)) {
    t.true(names.length >= 3, `${kind}: several tensors`);
    const per = Math.ceil(40 / names.length);
    const entries = names.flatMap((name) => {
      const v = values.get(name)!;
      const g = grads.get(name);
      if (!g) throw new Error(`${name}: no gradient`);
      return sampleIndices(rng, v.length, per).map((i) => ({ name, i, analytic: g[i]!, reference: centralDifference(v, i, STEP, loss64) }));
    });
    t.true(entries.length >= 40);
    check(t, kind, entries);
  }
});

test.serial('full student step (float64): dL/dW = dL/dS (central differences on the dense-sign student) ⊙ (1.001 − tanh²(W))', async (t) => {
  const s = await getSetup();
  const values = float64Params(s.student);
  const { loss, grads } = step(s, s.student.model.graph, paramDims(s.student), values, 'float64', true);

  const dense = denseSignGraph(s.student.model.graph);
  t.false(dense.nodes.some((n) => n.op === ONEBIT_TRAIN_OP));
  const denseValues: Params = new Map([...values].filter(([name]) => !s.student.layers.some((l) => l.latent === name)));
  const extra = new Map<string, { dims: readonly number[] }>();
  for (const l of s.student.layers) {
    denseValues.set(signsName(l.latent), Float64Array.from(values.get(l.latent)!, (v) => (v < 0 ? -1 : 1)));
    extra.set(signsName(l.latent), { dims: [l.out, l.in] });
  }
  const denseDims = paramDims(s.student, extra);
  const denseLoss = () => step(s, dense, denseDims, denseValues, 'float64', false).loss;
  t.true(Math.abs(denseLoss() - loss) <= 1e-12 * Math.abs(loss), 'the dense-sign student computes the same loss');

  const rng = new Rng(31);
  const layers = s.student.layers.filter((_, i) => i % 2 === 0);
  const per = Math.ceil(40 / layers.length);
  const entries = layers.flatMap((l) => {
    const w = values.get(l.latent)!;
    const signs = denseValues.get(signsName(l.latent))!;
    const dW = grads.get(l.latent);
    if (!dW) throw new Error(`${l.latent}: no gradient`);
    return sampleIndices(rng, w.length, per).map((i) => ({
      name: l.latent, i, analytic: dW[i]!, reference: centralDifference(signs, i, STEP, denseLoss) * (1.001 - Math.tanh(w[i]!) ** 2),
    }));
  });
  t.true(entries.length >= 40);
  check(t, 'latent W', entries);
});

test.serial('plain SGD on every parameter (float32, the training dtype) lowers the KD loss', async (t) => {
  const s = await getSetup();
  const graph = s.student.model.graph;
  const dims = paramDims(s.student);
  const values = new Map([...s.student.params].map(([name, p]) => [name, Float64Array.from(p.data)]));
  const names = [...values.keys()];
  const losses: number[] = [];
  const lr = 0.05;
  for (let k = 0; k < 6; k++) {
    const { loss, grads } = step(s, graph, dims, values, 'float32', true);
    losses.push(loss);
    t.deepEqual(names.filter((n) => !grads.has(n)), [], 'every parameter gets a gradient');
    for (const [name, v] of values) {
      const g = grads.get(name)!;
      for (let i = 0; i < v.length; i++) v[i] = Math.fround(v[i]! - lr * g[i]!);
    }
  }
  losses.push(step(s, graph, dims, values, 'float32', false).loss);
  t.log(`losses: ${losses.map((l) => l.toFixed(4)).join(' → ')}`);
  t.true(losses.every(Number.isFinite));
  t.true(losses.at(-1)! < 0.95 * losses[0]!, `loss ${losses[0]} → ${losses.at(-1)}`);
});
