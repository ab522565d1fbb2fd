// Graph-building helpers shared by the architecture templates (llama.ts, opt.ts, gpt2.ts).
//
// A GraphBuilder collects nodes, constants and graph I/O; a Scope names nodes the way PyTorch's ONNX exporter
// does (`/model/layers.0/self_attn/q_proj/Gemm`, outputs `<node>_output_0`). Weights keep their checkpoint names
// (so find-linears names layers `model.layers.0.self_attn.q_proj`) and are read through expectTensor: only
// dims and dtype are looked at while building; F16/BF16 weights become WidenedTensor views (float32 to the
// graph, half-precision storage, widened only when their data is read). Packed 1-bit signs of a OneBit
// checkpoint (int8) become SignBitsTensor views: the same bytes as uint8, no copy.
//
// The causal-LM frame (CausalLm) holds what every decoder shares: the KV-cache I/O in the Optimum /
// transformers.js layout, positions past_sequence + [0, sequence) and the causal mask, both computed in-graph
// from the shapes of the inputs, and the attention block (multi-head or grouped-query) with its present outputs.
import type { DType } from '../../../../formats/dtype.ts';
import { ONNX_DATA_TYPE } from '../../../../formats/dtype.ts';
import { FormatError } from '../../../../formats/errors.ts';
import type { Tensor } from '../../../../formats/tensor.ts';
import { tensor } from '../../../../formats/tensor.ts';
import type { HalfTensor } from '../../../../formats/widened-tensor.ts';
import { WidenedTensor } from '../../../../formats/widened-tensor.ts';
import type { Dim, IrAttr, IrModel, IrNode, ValueInfo, ValueType } from '../../../ir/graph.ts';
import { dimAdd } from '../../../ir/shape-rules/dims.ts';
import type { HfActivation, HfConfig } from '../config.ts';
import { expectTensor } from '../expect-tensor.ts';
import type { WeightSource } from '../folder.ts';

/** Default-domain opset of the built graphs (LayerNormalization needs 17). */
export const OPSET = 17;
export const ONEBITC_DOMAIN = 'ai.onebitc';

/** torch.finfo(torch.float32).min: what Hugging Face adds to masked attention scores. */
export const MASKED = -3.4028234663852886e38;

/**
 * An int8 (or uint8) tensor seen as uint8 without a copy: `data` is a Uint8Array view of the source's bytes,
 * read (lazily, on each access) from the source. OneBit checkpoints store packed signs as int8 in exactly the
 * bit order of OneBitLinear (byte k of row o = columns 8k…8k+7, LSB first, bit 1 = −1).
 */
export class SignBitsTensor implements Tensor<'uint8'> {
  readonly dtype = 'uint8' as const;
  readonly dims: readonly number[];

  constructor(readonly source: Tensor<'int8'> | Tensor<'uint8'>) {
    this.dims = source.dims;
  }

  get data(): Uint8Array {
    const d = this.source.data;
    return d instanceof Uint8Array ? d : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  }
}

/** What a OneBit projection of a checkpoint becomes: OneBitLinear's constant inputs. */
export interface OneBitWeights {
  /** uint8 [out, ceil(in/8)] packed signs. */
  sign: string;
  /** float [in], input side. */
  g: string;
  /** float [out], output side. */
  h: string;
  in: number;
  out: number;
}

export class GraphBuilder {
  readonly nodes: IrNode[] = [];
  readonly initializers = new Map<string, Tensor>();
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  private readonly nodeNames = new Set<string>();
  private readonly constants = new Map<string, string>();

  constructor(readonly weights: WeightSource, readonly config: HfConfig) {}

  scope(path: string): Scope {
    return new Scope(this, path);
  }

  input(name: string, dtype: DType, shape: Dim[]): string {
    this.inputs.push({ name, dtype, shape });
    return name;
  }

  output(name: string, dtype: DType, shape: Dim[]): void {
    this.outputs.push({ name, dtype, shape });
  }

  /**
   * The checkpoint tensor `name`, which must have exactly `dims`, as a float32 constant of the same name.
   * `why` says where the expected dims come from (for the error message).
   */
  weight(name: string, dims: readonly number[], why: string): string {
    if (!this.initializers.has(name)) {
      const t = expectTensor(this.weights, name, dims, { why });
      this.initializers.set(name, t.dtype === 'float32' ? t : new WidenedTensor(t as unknown as HalfTensor));
    }
    return name;
  }

  /**
   * The packed signs `name` (int8 or uint8 [out, ceil(in/8)] in the checkpoint) as a uint8 constant of the same
   * name: a SignBitsTensor view, nothing read now.
   */
  signs(name: string, out: number, inDim: number, why: string): string {
    if (!this.initializers.has(name)) {
      const dims = [out, Math.ceil(inDim / 8)];
      const where = fileOf(this.weights, name);
      if (!this.weights.has(name)) throw new FormatError(where, `missing; expected packed 1-bit signs [${dims.join(', ')}] (${why})`, name);
      const t = this.weights.get(name) as Tensor;
      if (t.dims.length !== 2 || t.dims[0] !== dims[0] || t.dims[1] !== dims[1]) {
        throw new FormatError(where, `has dims [${t.dims.join(', ')}], expected packed 1-bit signs [${dims.join(', ')}] = [out, in/8] (${why})`, name);
      }
      if (t.dtype !== 'int8' && t.dtype !== 'uint8') {
        throw new FormatError(where, `has dtype ${t.dtype}, expected int8 (packed 1-bit signs of a OneBit checkpoint)`, name);
      }
      this.initializers.set(name, new SignBitsTensor(t as Tensor<'int8'>));
    }
    return name;
  }

  /**
   * A OneBit projection of the checkpoint (the OneBit release's format): `<p>.weight` int8 [out, in/8] packed
   * signs, `<p>.input_factor` [in] = g and `<p>.weight_scale` [out] = h, float32 kept as float32 (F16/BF16
   * widened views otherwise).
   */
  oneBit(prefix: string, out: number, inDim: number, why: string): OneBitWeights {
    return {
      sign: this.signs(`${prefix}.weight`, out, inDim, why),
      g: this.weight(`${prefix}.input_factor`, [inDim], why),
      h: this.weight(`${prefix}.weight_scale`, [out], why),
      in: inDim, out,
    };
  }

  /** A small constant, stored once per distinct value; named after its value (`/model/constants/int64[4]_0_2_1_3`). */
  constant(t: Tensor, hint?: string): string {
    const values = Array.from(t.data as ArrayLike<number | bigint>, (v) => String(v));
    const label = hint ?? `${t.dtype}${t.dims.length ? `[${t.dims.join(',')}]` : ''}_${values.join('_')}`;
    const key = `${t.dtype}|${t.dims.join(',')}|${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `/model/constants/${label}`;
      for (let k = 1; this.initializers.has(name); k++) name = `/model/constants/${label}_${k}`;
      this.initializers.set(name, t);
      this.constants.set(key, name);
    }
    return name;
  }

  /** The name of the node writing value `output`. */
  producer(output: string): string {
    const node = this.nodes.find((n) => n.outputs.includes(output));
    if (!node) throw new Error(`no node writes '${output}'`);
    return node.name;
  }

  /** A node name not used yet: `base`, else `base_1`, `base_2` … (as PyTorch's exporter numbers repeats). */
  uniqueNodeName(base: string): string {
    let name = base;
    for (let k = 1; this.nodeNames.has(name); k++) name = `${base}_${k}`;
    this.nodeNames.add(name);
    return name;
  }

  model(source: { path: string }): IrModel {
    const types = new Map<string, ValueType>();
    for (const v of [...this.inputs, ...this.outputs]) types.set(v.name, { dtype: v.dtype, ...(v.shape ? { shape: [...v.shape] } : {}) });
    for (const [name, t] of this.initializers) types.set(name, { dtype: t.dtype, shape: [...t.dims] });
    return {
      graph: { name: 'main_graph', inputs: this.inputs, outputs: this.outputs, nodes: this.nodes, initializers: this.initializers, types },
      opsets: { '': OPSET, [ONEBITC_DOMAIN]: 1 },
      source: { path: source.path, format: 'safetensors', producer: `${this.config.architecture} (onebitc template)` },
    };
  }
}

export interface NodeOptions {
  /** Node name inside the scope (default: the op type). */
  name?: string;
  /** Output value names (default: `<node>_output_<i>`), or how many outputs to make. */
  outputs?: string[] | number;
  domain?: string;
}

/** Makes nodes named under one module path, e.g. `/model/layers.0/self_attn`. */
export class Scope {
  constructor(readonly b: GraphBuilder, readonly path: string) {}

  child(name: string): Scope {
    return new Scope(this.b, `${this.path}/${name}`);
  }

  node(op: string, inputs: string[], attrs: Record<string, IrAttr> = {}, options: NodeOptions = {}): string[] {
    const name = this.b.uniqueNodeName(`${this.path}/${options.name ?? op}`);
    const outputs = Array.isArray(options.outputs) ? options.outputs
      : Array.from({ length: options.outputs ?? 1 }, (_, i) => `${name}_output_${i}`);
    this.b.nodes.push({ name, op, domain: options.domain ?? '', inputs, outputs, attrs });
    return outputs;
  }

  /** A one-output node; `output` names its value (graph outputs such as `logits`). */
  op(op: string, inputs: string[], attrs: Record<string, IrAttr> = {}, output?: string): string {
    return this.node(op, inputs, attrs, output ? { outputs: [output] } : {})[0]!;
  }

  // ---- constants ----

  ints(values: readonly number[]): string {
    return this.b.constant(tensor('int64', [values.length], BigInt64Array.from(values, BigInt)));
  }

  int(value: number): string {
    return this.b.constant(tensor('int64', [], BigInt64Array.of(BigInt(value))));
  }

  float(value: number): string {
    return this.b.constant(tensor('float32', [], Float32Array.of(value)));
  }

  floats(values: Float32Array, hint: string): string {
    return this.b.constant(tensor('float32', [values.length], values), hint);
  }

  // ---- ops ----

  add(a: string, b: string, output?: string): string { return this.op('Add', [a, b], {}, output); }
  sub(a: string, b: string): string { return this.op('Sub', [a, b]); }
  mul(a: string, b: string): string { return this.op('Mul', [a, b]); }
  div(a: string, b: string): string { return this.op('Div', [a, b]); }
  matmul(a: string, b: string): string { return this.op('MatMul', [a, b]); }
  reshape(x: string, shape: string, output?: string): string { return this.op('Reshape', [x, shape], {}, output); }
  transpose(x: string, perm: number[]): string { return this.op('Transpose', [x], { perm }); }
  unsqueeze(x: string, axes: number[]): string { return this.op('Unsqueeze', [x, this.ints(axes)]); }
  concat(xs: string[], axis: number, output?: string): string { return this.op('Concat', xs, { axis }, output); }
  gather(data: string, indices: string, axis = 0): string { return this.op('Gather', [data, indices], { axis }); }
  shape(x: string): string { return this.op('Shape', [x]); }
  cast(x: string, to: DType): string { return this.op('Cast', [x], { to: ONNX_DATA_TYPE[to] }); }
  softmax(x: string, axis = -1): string { return this.op('Softmax', [x], { axis }); }
  split(x: string, sizes: number[], axis: number): string[] {
    return this.node('Split', [x, this.ints(sizes)], { axis }, { outputs: sizes.length });
  }

  /**
   * A OneBit linear as `OneBitLinear(x, sign, g, h) {in, out, post_norm_eps?}` (domain ai.onebitc, node
   * `<scope>/<name>/OneBitLinear`); with `postNormEps` its output is LayerNorm-ed without affine parameters.
   */
  oneBitLinear(name: string, x: string, w: OneBitWeights, postNormEps?: number): string {
    const attrs: Record<string, IrAttr> = { in: w.in, out: w.out, ...(postNormEps !== undefined ? { post_norm_eps: postNormEps } : {}) };
    return this.child(name).node('OneBitLinear', [x, w.sign, w.g, w.h], attrs, { domain: ONEBITC_DOMAIN })[0]!;
  }

  /** A Linear as `Gemm(x, W, bias?)`: W [out, in] as stored by nn.Linear (transB=1), or [in, out] (GPT-2's Conv1D, transB=0). */
  linear(name: string, x: string, weight: string, bias: string | undefined, transB: 0 | 1 = 1): string {
    return this.child(name).op('Gemm', bias ? [x, weight, bias] : [x, weight], { transB });
  }

  rmsNorm(x: string, weight: string, epsilon: number): string {
    return this.node('RMSNorm', [x, weight], { epsilon, axis: -1 }, { domain: ONEBITC_DOMAIN })[0]!;
  }

  layerNorm(x: string, weight: string, bias: string, epsilon: number): string {
    return this.op('LayerNormalization', [x, weight, bias], { axis: -1, epsilon });
  }

  /** The MLP activation, from ONNX ops of opset 17 (Gelu is only an op from opset 20). */
  activation(x: string, kind: HfActivation): string {
    switch (kind) {
      case 'silu': return this.mul(x, this.op('Sigmoid', [x]));
      case 'relu': return this.op('Relu', [x]);
      case 'gelu': // 0.5·x·(1 + erf(x/√2))
        return this.mul(this.mul(x, this.float(0.5)), this.add(this.op('Erf', [this.div(x, this.float(Math.SQRT2))]), this.float(1)));
      case 'gelu_new':
      case 'gelu_pytorch_tanh': { // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        const cube = this.mul(this.mul(x, x), x);
        const inner = this.mul(this.add(x, this.mul(cube, this.float(0.044715))), this.float(Math.sqrt(2 / Math.PI)));
        return this.mul(this.mul(x, this.float(0.5)), this.add(this.op('Tanh', [inner]), this.float(1)));
      }
    }
  }
}

/** The file to name in a message about tensor `name`: the tensor's own file, else the source's. */
function fileOf(weights: WeightSource, name: string): string {
  const own = weights.has(name) ? (weights.get(name) as { file?: unknown }).file : undefined;
  if (typeof own === 'string') return own;
  const s = (weights as { source?: unknown }).source;
  return typeof s === 'string' ? s : '<weights>';
}

/** Which of `prefixes` the checkpoint uses (checked with `probe`, a tensor every checkpoint of the family has). */
export function detectPrefix(weights: WeightSource, prefixes: readonly string[], probe: string): string {
  return prefixes.find((p) => weights.has(`${p}${probe}`)) ?? prefixes[0]!;
}

/** RoPE inverse frequencies 1 / theta^(2i/d), i < d/2, rounded as PyTorch computes them in float32. */
export function ropeInverseFrequencies(theta: number, headDim: number): Float32Array {
  const f = Math.fround;
  return Float32Array.from({ length: headDim / 2 }, (_, i) => f(1 / f(theta ** f((2 * i) / headDim))));
}

export interface AttentionOptions {
  layer: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Rotate-half RoPE tables [sequence, headDim/2] (from CausalLm.rotary). */
  rope?: { cos: string; sin: string };
  /** What scales the scores before the mask: multiply (Llama: headDim^-0.5), divide (GPT-2: √headDim), none (OPT scales q). */
  scale?: { multiply: number } | { divide: number };
}

/**
 * The parts every decoder-only model shares. Inputs: `input_ids` int64 [batch, sequence] and per layer
 * `past_key_values.{i}.key|value` float32 [batch, kv_heads, past_sequence, head_dim]; outputs: `logits` float32
 * [batch, sequence, vocab] then `present.{i}.key|value` [batch, kv_heads, past_sequence + sequence, head_dim].
 */
export class CausalLm {
  readonly ids: string;
  /** Shape(input_ids): [batch, sequence]. */
  readonly idsShape: string;
  /** int64 [sequence]: past_sequence + [0, sequence). */
  readonly positions: string;
  /** float32 [sequence, past_sequence + sequence]: 0 where query i may attend key j (j ≤ past + i), MASKED elsewhere. */
  readonly mask: string;
  private readonly s: Scope;
  private readonly shapes = new Map<string, string>();
  private readonly presents: string[] = [];

  constructor(readonly b: GraphBuilder, rootPath: string, readonly layers: number, readonly kvHeads: number, readonly headDim: number, slidingWindow?: number) {
    this.s = b.scope(rootPath);
    const s = this.s;
    this.ids = b.input('input_ids', 'int64', ['batch', 'sequence']);
    for (let i = 0; i < layers; i++) {
      for (const kind of ['key', 'value']) b.input(`past_key_values.${i}.${kind}`, 'float32', ['batch', kvHeads, 'past_sequence', headDim]);
    }
    this.idsShape = s.shape(this.ids);
    const sequence = s.gather(this.idsShape, s.int(1));
    const past = s.gather(s.shape(this.past(0).key), s.int(2));
    const total = s.add(past, sequence);
    this.positions = s.op('Range', [past, total, s.int(1)]);
    const keys = s.unsqueeze(s.op('Range', [s.int(0), total, s.int(1)]), [0]); // [1, total]
    const queries = s.unsqueeze(this.positions, [1]); // [sequence, 1]
    let allowed = s.op('LessOrEqual', [keys, queries]);
    if (slidingWindow !== undefined) {
      // Mistral: key j is visible from query position p iff p - window < j ≤ p.
      allowed = s.op('And', [allowed, s.op('Greater', [keys, s.sub(queries, s.int(slidingWindow))])]);
    }
    this.mask = s.op('Where', [allowed, s.float(0), s.float(MASKED)]);
  }

  past(layer: number): { key: string; value: string } {
    return { key: `past_key_values.${layer}.key`, value: `past_key_values.${layer}.value` };
  }

  /** Token embeddings of input_ids, [batch, sequence, width]. */
  embed(scope: Scope, table: string): string {
    return scope.gather(table, this.ids);
  }

  /** [batch, sequence, width] → [batch·sequence, width]. */
  flatten(scope: Scope, x: string, width: number): string {
    return scope.reshape(x, scope.ints([-1, width]));
  }

  /** Concat(Shape(input_ids), tail): a target shape [batch, sequence, ...tail], built once per tail. */
  shapeWith(tail: number[]): string {
    const key = tail.join(',');
    let name = this.shapes.get(key);
    if (!name) {
      name = this.s.concat([this.idsShape, this.s.ints(tail)], 0);
      this.shapes.set(key, name);
    }
    return name;
  }

  /** cos and sin of positions × inverse frequencies: [sequence, headDim/2] each (rotate-half RoPE). */
  rotary(inverseFrequencies: Float32Array): { cos: string; sin: string } {
    const s = this.s.child('rotary_emb');
    const freqs = s.mul(s.unsqueeze(s.cast(this.positions, 'float32'), [1]), s.floats(inverseFrequencies, 'inv_freq'));
    return { cos: s.op('Cos', [freqs]), sin: s.op('Sin', [freqs]) };
  }

  /**
   * Scaled dot-product attention with the KV cache. q2d [batch·sequence, heads·headDim], k2d and v2d
   * [batch·sequence, kvHeads·headDim] → [batch·sequence, heads·headDim]; writes present.{layer}.key|value.
   * Grouped-query attention: q is viewed as [batch, kvHeads, groups, sequence, headDim] (query head h uses kv
   * head ⌊h / groups⌋, as Hugging Face's repeat_kv) and the cache as [batch, kvHeads, 1, …], so MatMul broadcasts
   * the kv heads over the groups without copying them.
   */
  attention(s: Scope, q2d: string, k2d: string, v2d: string, o: AttentionOptions): string {
    const { heads, kvHeads, headDim: d, layer } = o;
    const groups = heads / kvHeads;
    const grouped = groups > 1;
    let q = grouped
      ? s.transpose(s.reshape(q2d, this.shapeWith([kvHeads, groups, d])), [0, 2, 3, 1, 4])
      : s.transpose(s.reshape(q2d, this.shapeWith([heads, d])), [0, 2, 1, 3]);
    let k = s.transpose(s.reshape(k2d, this.shapeWith([kvHeads, d])), [0, 2, 1, 3]);
    const v = s.transpose(s.reshape(v2d, this.shapeWith([kvHeads, d])), [0, 2, 1, 3]);
    if (o.rope) {
      q = rotateHalf(s.child('rotary_q'), q, o.rope, d);
      k = rotateHalf(s.child('rotary_k'), k, o.rope, d);
    }
    const past = this.past(layer);
    const key = s.concat([past.key, k], 2, `present.${layer}.key`);
    const value = s.concat([past.value, v], 2, `present.${layer}.value`);
    this.presents.push(key, value);
    let keyT = s.transpose(key, [0, 1, 3, 2]);
    let values = value;
    if (grouped) {
      keyT = s.unsqueeze(keyT, [2]);
      values = s.unsqueeze(value, [2]);
    }
    let scores = s.matmul(q, keyT);
    if (o.scale && 'multiply' in o.scale) scores = s.mul(scores, s.float(o.scale.multiply));
    else if (o.scale) scores = s.div(scores, s.float(o.scale.divide));
    const probs = s.softmax(s.add(scores, this.mask), -1);
    const context = s.matmul(probs, values);
    const merged = grouped ? s.transpose(context, [0, 3, 1, 2, 4]) : s.transpose(context, [0, 2, 1, 3]);
    return s.reshape(merged, s.ints([-1, heads * d]));
  }

  /**
   * The LM head and the outputs: logits = Gemm(x, weight [vocab, width], transB=1) (node `/lm_head/Gemm`) reshaped to
   * [batch, sequence, vocab]; declares `logits` then every present.{i}.key|value. Returns the Gemm's node name.
   */
  head(x: string, weight: string, vocab: number): string {
    const s = this.b.scope('/lm_head');
    const gemm = s.op('Gemm', [x, weight], { transB: 1 });
    s.reshape(gemm, this.shapeWith([vocab]), 'logits');
    this.b.output('logits', 'float32', ['batch', 'sequence', vocab]);
    const total = dimAdd('past_sequence', 'sequence');
    for (const name of this.presents) this.b.output(name, 'float32', ['batch', this.kvHeads, total, this.headDim]);
    return this.b.producer(gemm);
  }
}

/** x·cos + rotate_half(x)·sin with rotate_half(x) = [-x2, x1]: [x1·cos − x2·sin, x2·cos + x1·sin]. */
function rotateHalf(s: Scope, x: string, rope: { cos: string; sin: string }, headDim: number): string {
  const half = headDim / 2;
  const [x1, x2] = s.split(x, [half, half], -1) as [string, string];
  const first = s.sub(s.mul(x1, rope.cos), s.mul(x2, rope.sin));
  const second = s.add(s.mul(x2, rope.cos), s.mul(x1, rope.sin));
  return s.concat([first, second], -1);
}
