// Incremental decoding over Model.run(): prefill the prompt once, then one token per step, feeding the
// `present.{i}.key/.value` outputs back as `past_key_values.{i}.key/.value`. Models without cache inputs
// (input_ids → logits only) recompute the whole context each step. A model with a fused decode step (model.wasm's
// decode_step: the whole token in one WASM call over a cache in WASM memory) runs append() through it instead,
// token by token (a long fresh context: one graph run, its cache copied in), until its cache is full; then the
// graph path takes over (its cache rebuilt by one run).
import type { Tensor } from '../../formats/tensor.ts';
import type { Feed } from '../model.ts';
import type { TensorSpec } from '../plan.ts';

/** What decoding needs of a model: the generated module's Model satisfies it. */
export interface LanguageModel {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  run(feeds: Readonly<Record<string, Feed>>, options?: RunOptions): Promise<Record<string, Tensor>>;
  /** The backend running the model: on 'webgpu' the KV cache stays on the GPU between steps. */
  readonly backend?: string;
  /** Frees a tensor kept on the device by run() (keepOnDevice). */
  release?(t: Tensor | Feed): void;
  /** A one-call-per-token decoder with its own KV cache (model.wasm's fused decode step), when the model has one. */
  fusedDecoder?(): FusedDecoder | undefined;
  /** Facts about the model from the compiler (e.g. the context it was trained for), when the plan has them. */
  readonly metadata?: LanguageModelMeta | undefined;
}

/** What a step asks of Model.run beyond the feeds (backends that cannot honour it ignore it). */
export interface RunOptions {
  /** Outputs to keep on the GPU (returned as handles that can be fed back). */
  readonly keepOnDevice?: readonly string[];
  /** Read back only the last row of this output, or only its topK largest entries (the rest −∞). */
  readonly lastRow?: { readonly output: string; readonly topK?: number | undefined };
}

/** Runs tokens at positions start, start + 1, … over a KV cache it keeps; returns the last logits (a view, valid until the next run). */
export interface FusedDecoder {
  /** Longest context its cache holds. */
  readonly contextLength: number;
  /** From this many tokens a fresh context goes through one graph run, its presents copied in with loadCache. */
  readonly prefillFrom: number;
  /** Fills positions [0, n) of one layer's key or value cache from a present [kvHeads, n, headDim]. */
  loadCache(layer: number, kind: 'key' | 'value', present: Float32Array, n: number): void;
  /** The session whose context the cache holds (another one re-runs its context first). */
  owner: unknown;
  run(ids: ArrayLike<number>, start: number): Float32Array;
}

export interface LanguageModelMeta {
  /** Longest context (prompt + generated tokens) the model supports. */
  readonly maxContext?: number | undefined;
  /** End-of-sequence ids (e.g. generation_config.json's), used by generate() over the tokenizer's. */
  readonly eos?: readonly number[] | undefined;
}

export interface DecodeSessionOptions {
  /**
   * How many of the largest logits the caller's sampler looks at (1 for greedy; undefined: all). On WebGPU
   * only those are read back; the other entries of the returned row are −∞.
   */
  candidates?: number;
  /** Default: `meta.maxContext`, then `model.metadata.maxContext`, then 2048. */
  maxContext?: number;
  meta?: LanguageModelMeta;
}

export const DEFAULT_MAX_CONTEXT = 2048;

const PAST = /^past_key_values\.(\d+)\.(key|value)$/;
const PRESENT = (layer: string, kind: string) => `present.${layer}.${kind}`;

interface CacheSlot {
  readonly input: TensorSpec;
  readonly output: string;
  /** The zero-length tensor fed as past before the first step. */
  readonly empty: Feed;
  readonly heads: number;
  readonly headDim: number;
}

type IntArray = BigInt64Array | Int32Array;

function intArray(spec: TensorSpec, length: number): IntArray {
  if (spec.dtype === 'int64') return new BigInt64Array(length);
  if (spec.dtype === 'int32') return new Int32Array(length);
  throw new Error(`input '${spec.name}' is ${spec.dtype}; decoding feeds it as int64 or int32`);
}

function emptyOf(spec: TensorSpec, dims: number[]): Feed {
  switch (spec.dtype) {
    case 'float32': return { data: new Float32Array(0), dims };
    case 'float16': case 'bfloat16': return { data: new Uint16Array(0), dims };
    case 'float64': return { data: new Float64Array(0), dims };
    default: throw new Error(`cache input '${spec.name}' is ${spec.dtype}; expected a float type`);
  }
}

/**
 * One sequence (batch 1) being decoded. `append(ids)` adds tokens to the context and returns the logits of
 * the last one; `logitsFor(ids)` scores a fresh sequence without touching the session's context.
 */
export class DecodeSession {
  readonly maxContext: number;
  /** 'cache': past/present tensors are fed back; 'recompute': the whole context runs each step. */
  readonly mode: 'cache' | 'recompute';
  /** Vocabulary size when the logits' last dim is fixed. */
  readonly vocabSize: number | undefined;
  private readonly idsSpec: TensorSpec;
  private readonly maskSpec: TensorSpec | undefined;
  private readonly positionSpec: TensorSpec | undefined;
  private readonly logitsName: string;
  private readonly logitsRank: number;
  private readonly cache: readonly CacheSlot[];
  // Preallocated for maxContext tokens: the context's ids, a mask of ones, positions 0, 1, 2, ...
  private readonly ids: IntArray;
  private readonly mask: Float32Array | Uint8Array | IntArray | undefined;
  private readonly positions: IntArray | undefined;
  private past: Map<string, Feed> | undefined;
  /** The KV cache, preallocated for maxContext tokens: [kv_heads, position, head_dim] per cache input. */
  private readonly cacheBuffers: Map<string, Float32Array>;
  private count = 0;
  /** The model's fused decode step, used instead of run() for append() while the context fits its cache. */
  private fused: FusedDecoder | undefined;
  /** WebGPU: presents stay on the GPU and are fed back as the next step's past. */
  private readonly onDevice: boolean;
  private readonly candidates: number | undefined;

  constructor(private readonly model: LanguageModel, options: DecodeSessionOptions = {}) {
    const maxContext = options.maxContext ?? options.meta?.maxContext ?? model.metadata?.maxContext ?? DEFAULT_MAX_CONTEXT;
    if (!Number.isInteger(maxContext) || maxContext < 1) throw new RangeError(`maxContext must be a positive integer, got ${maxContext}`);
    this.maxContext = maxContext;
    const idsSpec = model.inputs.find((s) => s.name === 'input_ids');
    if (!idsSpec) throw new Error(`not a language model: no 'input_ids' input (the inputs are: ${model.inputs.map((s) => s.name).join(', ')})`);
    if (idsSpec.dims.length !== 2) throw new Error(`input 'input_ids' must be [batch, sequence], got [${idsSpec.dims.join(', ')}]`);
    this.idsSpec = idsSpec;
    this.maskSpec = model.inputs.find((s) => s.name === 'attention_mask');
    this.positionSpec = model.inputs.find((s) => s.name === 'position_ids');

    const logits = model.outputs.find((s) => s.name === 'logits') ?? model.outputs.find((s) => !s.name.startsWith('present'));
    if (!logits) throw new Error(`not a language model: no 'logits' output (the outputs are: ${model.outputs.map((s) => s.name).join(', ')})`);
    if (logits.dims.length !== 3 && logits.dims.length !== 2) throw new Error(`output '${logits.name}' must be [batch, sequence, vocab] or [batch, vocab], got [${logits.dims.join(', ')}]`);
    this.logitsName = logits.name;
    this.logitsRank = logits.dims.length;
    const vocab = logits.dims[logits.dims.length - 1];
    this.vocabSize = typeof vocab === 'number' ? vocab : undefined;

    const cache: CacheSlot[] = [];
    const known = new Set(['input_ids', 'attention_mask', 'position_ids']);
    for (const spec of model.inputs) {
      if (known.has(spec.name)) continue;
      const m = PAST.exec(spec.name);
      if (!m) throw new Error(`input '${spec.name}' is not one decoding can feed (input_ids, attention_mask, position_ids, past_key_values.{i}.key/.value)`);
      const output = PRESENT(m[1]!, m[2]!);
      if (!model.outputs.some((s) => s.name === output)) throw new Error(`cache input '${spec.name}' has no matching output '${output}'`);
      const [, heads, , headDim] = spec.dims;
      if (spec.dims.length !== 4 || typeof heads !== 'number' || typeof headDim !== 'number') {
        throw new Error(`cache input '${spec.name}' must be [batch, kv_heads, past_sequence, head_dim] with fixed kv_heads and head_dim, got [${spec.dims.join(', ')}]`);
      }
      cache.push({ input: spec, output, empty: emptyOf(spec, [1, heads, 0, headDim]), heads, headDim });
    }
    this.cache = cache;
    this.mode = cache.length ? 'cache' : 'recompute';
    this.candidates = options.candidates;
    this.onDevice = model.backend === 'webgpu' && typeof model.release === 'function' && cache.every((c) => c.input.dtype === 'float32');
    this.fused = this.mode === 'cache' && !this.onDevice ? model.fusedDecoder?.() : undefined;
    this.cacheBuffers = new Map(cache.filter((c) => c.input.dtype === 'float32' && !this.onDevice).map((c) => [c.input.name, new Float32Array(c.heads * maxContext * c.headDim)]));

    this.ids = intArray(idsSpec, maxContext);
    if (this.maskSpec) {
      const s = this.maskSpec;
      const mask = s.dtype === 'float32' ? new Float32Array(maxContext) : s.dtype === 'bool' ? new Uint8Array(maxContext) : intArray(s, maxContext);
      if (mask instanceof BigInt64Array) mask.fill(1n);
      else mask.fill(1);
      this.mask = mask;
    }
    if (this.positionSpec) {
      const p = intArray(this.positionSpec, maxContext);
      if (p instanceof BigInt64Array) for (let i = 0; i < maxContext; i++) p[i] = BigInt(i);
      else for (let i = 0; i < maxContext; i++) p[i] = i;
      this.positions = p;
    }
  }

  /** append() runs the model's fused decode step (one WASM call per token) rather than the graph. */
  get usesFusedStep(): boolean {
    return this.fused !== undefined;
  }

  /** Tokens in the context. */
  get length(): number {
    return this.count;
  }

  /** The context's ids. */
  get tokens(): number[] {
    return Array.from(this.ids.subarray(0, this.count), Number);
  }

  /** Empties the context. */
  reset(): void {
    this.count = 0;
    this.releasePast();
    this.past = undefined;
  }

  /**
   * Adds `ids` to the context (the prompt, then one token per step) and returns the logits that follow the
   * last of them (a view into the model's output).
   */
  async append(ids: readonly number[]): Promise<Float32Array> {
    if (ids.length === 0) throw new Error('append() needs at least one token');
    const total = this.count + ids.length;
    this.checkContext(total);
    this.write(this.ids, this.count, ids);
    let start = this.mode === 'cache' ? this.count : 0;
    if (this.fused) {
      if (total <= this.fused.contextLength) return this.appendFused(ids, total);
      // Beyond the step's cache: the whole context runs through the graph once, then its own cache goes on.
      this.fused = undefined;
      start = 0;
    }
    const feeds = this.feeds(this.ids.subarray(start, total), start, this.mode === 'cache' ? this.pastFeeds() : undefined);
    const out = await this.model.run(feeds, this.onDevice ? this.deviceOptions() : undefined);
    if (this.mode === 'cache') {
      this.releasePast(); // the run that read it has been submitted: later work is ordered after it
      this.past = this.presents(out, total);
    }
    this.count = total;
    const rows = this.rows(out, this.onDevice ? 1 : total - start);
    return rows[rows.length - 1]!;
  }

  /**
   * Logits after each of `ids` (row i predicts ids[i + 1]), from one forward pass of a fresh context (empty
   * cache); the session's own context is left as it was.
   */
  async logitsFor(ids: readonly number[]): Promise<Float32Array[]> {
    if (ids.length === 0) return [];
    this.checkContext(ids.length);
    if (this.logitsRank !== 3) throw new Error(`output '${this.logitsName}' has only the last position's logits; scoring needs [batch, sequence, vocab]`);
    const buffer = intArray(this.idsSpec, ids.length);
    this.write(buffer, 0, ids);
    const empty = this.mode === 'cache' ? new Map(this.cache.map((c) => [c.input.name, c.empty])) : undefined;
    const out = await this.model.run(this.feeds(buffer, 0, empty));
    return this.rows(out, ids.length);
  }

  private async appendFused(ids: readonly number[], total: number): Promise<Float32Array> {
    const fused = this.fused!;
    // The cache is the model's: when another session used it since, this context runs again first.
    const fresh = fused.owner !== this || this.count === 0;
    if (fresh && total >= fused.prefillFrom) {
      // A long fresh context: one graph run (GEMMs over all its rows), its presents copied into the step's cache.
      const out = await this.model.run(this.feeds(this.ids.subarray(0, total), 0, new Map(this.cache.map((c) => [c.input.name, c.empty]))));
      const presents = this.presents(out, total);
      for (const c of this.cache) {
        const [, layer, kind] = PAST.exec(c.input.name)!;
        fused.loadCache(Number(layer), kind as 'key' | 'value', presents.get(c.input.name)!.data as Float32Array, total);
      }
      fused.owner = this;
      this.count = total;
      return this.rows(out, total).at(-1)!;
    }
    if (fused.owner !== this && this.count > 0) fused.run(this.tokens, 0);
    fused.owner = this;
    const logits = fused.run(ids, this.count);
    this.count = total;
    return logits;
  }

  private checkContext(total: number): void {
    if (total > this.maxContext) {
      throw new Error(`context of ${total} tokens exceeds the maximum ${this.maxContext}; shorten the prompt, lower maxTokens, or raise maxContext (if the model supports it)`);
    }
  }

  private write(target: IntArray, at: number, ids: readonly number[]): void {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || (this.vocabSize !== undefined && id >= this.vocabSize)) {
        throw new RangeError(`token id ${id} is not in the vocabulary${this.vocabSize !== undefined ? ` (0..${this.vocabSize - 1})` : ''}`);
      }
      if (target instanceof BigInt64Array) target[at + i] = BigInt(id);
      else target[at + i] = id;
    }
  }

  private pastFeeds(): Map<string, Feed> {
    return this.past ?? new Map(this.cache.map((c) => [c.input.name, c.empty]));
  }

  /** Feeds for `ids` placed after `past` tokens. */
  private feeds(ids: IntArray, past: number, cache: Map<string, Feed> | undefined): Record<string, Feed> {
    const n = ids.length;
    const feeds: Record<string, Feed> = { input_ids: { data: ids, dims: [1, n] } };
    if (this.maskSpec) feeds['attention_mask'] = { data: this.mask!.subarray(0, past + n), dims: [1, past + n] };
    if (this.positionSpec) feeds['position_ids'] = { data: this.positions!.subarray(past, past + n), dims: [1, n] };
    if (cache) for (const [name, feed] of cache) feeds[name] = feed;
    return feeds;
  }

  /** The present tensors of a run, checked, as the next step's past. */
  private presents(out: Record<string, Tensor>, total: number): Map<string, Feed> {
    const next = new Map<string, Feed>();
    for (const c of this.cache) {
      const t = out[c.output];
      if (!t) throw new Error(`the model returned no '${c.output}'`);
      const [b, h, s, d] = t.dims;
      if (t.dims.length !== 4 || b !== 1 || h !== c.heads || s !== total || d !== c.headDim) {
        throw new Error(`output '${c.output}' is [${t.dims.join(', ')}]; expected [1, ${c.heads}, ${total}, ${c.headDim}] (past + new tokens)`);
      }
      // Kept in the preallocated buffer (the run's own arrays are let go); fed back as a view of its prefix.
      const buffer = this.cacheBuffers.get(c.input.name);
      if (this.onDevice) {
        next.set(c.input.name, t as unknown as Feed); // a GpuTensor handle
      } else if (buffer && t.data instanceof Float32Array) {
        buffer.set(t.data);
        next.set(c.input.name, { data: buffer.subarray(0, t.data.length), dims: t.dims });
      } else {
        next.set(c.input.name, { data: t.data, dims: t.dims });
      }
    }
    return next;
  }

  /** WebGPU: keep the presents on the GPU; read back only what the sampler needs of the last logits row. */
  private deviceOptions(): RunOptions {
    return { keepOnDevice: this.cache.map((c) => c.output), lastRow: { output: this.logitsName, topK: this.candidates } };
  }

  /** Frees the GPU-resident past of the previous step. */
  private releasePast(): void {
    if (!this.onDevice || !this.past) return;
    for (const c of this.cache) {
      const t = this.past.get(c.input.name);
      if (t && t !== c.empty) this.model.release!(t);
    }
  }

  /** The logits rows of a run over `n` new tokens (views, no copies). */
  private rows(out: Record<string, Tensor>, n: number): Float32Array[] {
    const t = out[this.logitsName];
    if (!t) throw new Error(`the model returned no '${this.logitsName}'`);
    if (!(t.data instanceof Float32Array)) throw new Error(`output '${this.logitsName}' is ${t.dtype}; expected float32`);
    const vocab = t.dims[t.dims.length - 1]!;
    const positions = t.dims.length === 3 ? t.dims[1]! : 1;
    if (t.dims[0] !== 1 || (t.dims.length === 3 && positions !== n)) {
      throw new Error(`output '${this.logitsName}' is [${t.dims.join(', ')}]; expected [1, ${n}, vocab]`);
    }
    const rows: Float32Array[] = [];
    for (let i = 0; i < positions; i++) rows.push(t.data.subarray(i * vocab, (i + 1) * vocab));
    return rows;
  }
}
