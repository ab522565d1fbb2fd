// Hugging Face `config.json` (+ `generation_config.json`) → a typed, validated HfConfig for the architectures the
// importer has graph templates for. Every problem is one FormatError line naming the file and the key.
import { FormatError } from '../../../formats/errors.ts';

const ARCHITECTURES = [
  'LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM', 'OPTForCausalLM', 'GPT2LMHeadModel', 'BitLlamaForCausalLMInf',
] as const;
export type HfArchitecture = (typeof ARCHITECTURES)[number];
export const SUPPORTED_ARCHITECTURES: readonly HfArchitecture[] = ARCHITECTURES;

/**
 * The graph template an architecture uses: Mistral and Qwen2 are the llama graph with other settings, and so is
 * BitLlamaForCausalLMInf (model_type 'bitllama', the OneBit authors' released 1-bit checkpoints; `oneBit` set).
 */
export type HfFamily = 'llama' | 'opt' | 'gpt2';
export const FAMILY: Readonly<Record<HfArchitecture, HfFamily>> = Object.freeze({
  LlamaForCausalLM: 'llama', MistralForCausalLM: 'llama', Qwen2ForCausalLM: 'llama', OPTForCausalLM: 'opt', GPT2LMHeadModel: 'gpt2',
  BitLlamaForCausalLMInf: 'llama',
});

/** The post-LayerNorm epsilon of the OneBit release's BitLinear (nn.LayerNorm's default; not in config.json). */
export const BITLLAMA_POST_NORM_EPS = 1e-5;

/** Activations the importer can build (`gelu_new` = `gelu_pytorch_tanh`: the tanh approximation). */
export const SUPPORTED_ACTIVATIONS = ['silu', 'relu', 'gelu', 'gelu_new', 'gelu_pytorch_tanh'] as const;
export type HfActivation = (typeof SUPPORTED_ACTIVATIONS)[number];

export interface HfConfig {
  /** The config.json path, for messages. */
  file: string;
  architecture: HfArchitecture;
  family: HfFamily;
  /** `model_type` as written (e.g. 'llama'), when present. */
  modelType?: string;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  /** Grouped-query attention: heads % kvHeads === 0. Equal to numHeads for OPT and GPT-2. */
  numKvHeads: number;
  /** Per-head size; q projection has numHeads·headDim outputs (may differ from hiddenSize for llama-family). */
  headDim: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  /** RMSNorm for the llama family, LayerNorm (with bias) for OPT and GPT-2. */
  norm: 'rms' | 'layer';
  normEps: number;
  /** RoPE (llama family; rope_scaling must be null) or learned absolute position embeddings (OPT, GPT-2). */
  positions: 'rope' | 'learned';
  /** RoPE base; only meaningful when positions === 'rope' (10000 otherwise). */
  ropeTheta: number;
  /** Row offset of position 0 in a learned position table: 2 for OPT, 0 for GPT-2 and RoPE models. */
  positionOffset: number;
  tieWordEmbeddings: boolean;
  /** Bias on the q, k, v projections (llama attention_bias; always for Qwen2, OPT enable_bias, GPT-2). */
  qkvBias: boolean;
  /** Bias on the attention output projection (llama attention_bias; not Qwen2; OPT enable_bias; GPT-2). */
  attnOutBias: boolean;
  /** Bias on the MLP projections (llama mlp_bias; OPT enable_bias; GPT-2). */
  mlpBias: boolean;
  /** `hidden_act` (llama family) or `activation_function` (OPT, GPT-2). */
  hiddenAct: HfActivation;
  /** Mistral's `sliding_window` when set: attention looks back at most this many positions. */
  slidingWindow?: number;
  bosTokenId?: number;
  /** Every end-of-sequence id (config's eos_token_id, overridden by generation_config.json when it has one). */
  eosTokenIds: number[];
  padTokenId?: number;
  /** `torch_dtype` (or newer `dtype`) as written: 'float32', 'float16', 'bfloat16', … */
  torchDtype?: string;
  /**
   * Set for a checkpoint whose projections are already OneBit linears (BitLlamaForCausalLMInf): every q, k, v,
   * o, gate, up, down projection is `<p>.weight` int8 [out, in/8] packed signs, `<p>.weight_scale` (h) and
   * `<p>.input_factor` (g), followed by a LayerNorm without affine parameters with epsilon `postNormEps`.
   */
  oneBit?: { postNormEps: number };
  /** The parsed config.json, for anything not lifted into fields. */
  raw: Readonly<Record<string, unknown>>;
}

/** The generation_config.json to merge (its bos/eos/pad ids win over config.json's). */
export interface HfGenerationConfig {
  json: unknown;
  file: string;
}

type Json = Record<string, unknown>;
/** The fields each architecture's reader fills in. */
type Settings = Omit<HfConfig, 'bosTokenId' | 'eosTokenIds' | 'padTokenId' | 'file' | 'architecture' | 'family' | 'raw' | 'modelType' | 'torchDtype'>;

/** `model_type` each architecture's checkpoints are known to write, where the template depends on it. */
const MODEL_TYPE: Partial<Record<HfArchitecture, string>> = { BitLlamaForCausalLMInf: 'bitllama' };

class Reader {
  constructor(readonly json: Json, readonly file: string, readonly arch: string) {}

  fail(key: string, detail: string): never {
    throw new FormatError(this.file, `key '${key}' ${detail}`);
  }

  private lookup(keys: readonly string[]): [string, unknown] | undefined {
    for (const k of keys) if (Object.prototype.hasOwnProperty.call(this.json, k) && this.json[k] !== null && this.json[k] !== undefined) return [k, this.json[k]];
    return undefined;
  }

  private missing(keys: readonly string[], what: string): never {
    const alt = keys.length > 1 ? ` (or ${keys.slice(1).map((k) => `'${k}'`).join(', ')})` : '';
    throw new FormatError(this.file, `missing key '${keys[0]}'${alt}: ${what}, required for ${this.arch}`);
  }

  /** A positive integer under any of `keys` (the first is the name shown); `fallback` when absent or null. */
  int(keys: string | readonly string[], what: string, fallback?: number, min = 1): number {
    const list = typeof keys === 'string' ? [keys] : keys;
    const found = this.lookup(list);
    if (!found) {
      if (fallback === undefined) this.missing(list, what);
      return fallback;
    }
    const [k, v] = found;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) this.fail(k, `is ${show(v)}; expected ${what} as an integer ≥ ${min}`);
    return v;
  }

  /** A positive finite number. */
  positive(keys: string | readonly string[], what: string, fallback?: number): number {
    const list = typeof keys === 'string' ? [keys] : keys;
    const found = this.lookup(list);
    if (!found) {
      if (fallback === undefined) this.missing(list, what);
      return fallback;
    }
    const [k, v] = found;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) this.fail(k, `is ${show(v)}; expected ${what} as a positive number`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const found = this.lookup([key]);
    if (!found) return fallback;
    if (typeof found[1] !== 'boolean') this.fail(key, `is ${show(found[1])}; expected true or false`);
    return found[1];
  }

  string(keys: string | readonly string[]): string | undefined {
    const list = typeof keys === 'string' ? [keys] : keys;
    const found = this.lookup(list);
    if (!found) return undefined;
    if (typeof found[1] !== 'string') this.fail(found[0], `is ${show(found[1])}; expected a string`);
    return found[1];
  }

  activation(key: string, fallback: HfActivation): HfActivation {
    const found = this.lookup([key]);
    if (!found) return fallback;
    let v = found[1];
    if (v === 'swish') v = 'silu';
    if (typeof v !== 'string' || !(SUPPORTED_ACTIVATIONS as readonly string[]).includes(v)) {
      this.fail(key, `is ${show(found[1])}: activation not supported; supported: ${SUPPORTED_ACTIVATIONS.join(', ')}`);
    }
    return v as HfActivation;
  }

  /** Refuses a key whose value differs from the one the graph template implements. */
  only(key: string, expected: unknown, why: string): void {
    const found = this.lookup([key]);
    if (found && found[1] !== expected) this.fail(key, `is ${show(found[1])}: not supported (${why}); only ${show(expected)} is`);
  }
}

function show(v: unknown): string {
  const s = v === undefined ? 'undefined' : JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A token id list: a number, a list of numbers, or null/absent (→ []). */
function tokenIds(value: unknown, key: string, file: string): number[] {
  if (value === null || value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  for (const id of list) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
      throw new FormatError(file, `key '${key}' is ${show(value)}; expected a token id (a non-negative integer) or a list of them`);
    }
  }
  return list as number[];
}

function singleTokenId(value: unknown, key: string, file: string): number | undefined {
  if (Array.isArray(value)) throw new FormatError(file, `key '${key}' is ${show(value)}; expected a single token id`);
  return tokenIds(value, key, file)[0];
}

/** Validates config.json (and generation_config.json when given) for one of the supported architectures. */
export function parseHfConfig(json: unknown, file: string, generation?: HfGenerationConfig): HfConfig {
  if (!isObject(json)) throw new FormatError(file, `is ${Array.isArray(json) ? 'a JSON array' : show(json)}; expected a JSON object (a Hugging Face config.json)`);

  const archs = json.architectures;
  if (archs === undefined || archs === null) {
    throw new FormatError(file, `missing key 'architectures': expected e.g. ["LlamaForCausalLM"]; supported: ${SUPPORTED_ARCHITECTURES.join(', ')}`);
  }
  if (!Array.isArray(archs) || archs.length === 0 || !archs.every((a) => typeof a === 'string')) {
    throw new FormatError(file, `key 'architectures' is ${show(archs)}; expected a non-empty list of names such as ["LlamaForCausalLM"]`);
  }
  const architecture = (archs as string[]).find((a): a is HfArchitecture => (SUPPORTED_ARCHITECTURES as readonly string[]).includes(a));
  if (!architecture) {
    const names = (archs as string[]).map((a) => `'${a}'`).join(', ');
    throw new FormatError(file, `architecture ${names} is not supported; supported: ${SUPPORTED_ARCHITECTURES.join(', ')}`);
  }

  const r = new Reader(json, file, architecture);
  const family = FAMILY[architecture];
  const modelType = r.string('model_type');
  const expectedType = MODEL_TYPE[architecture];
  if (expectedType !== undefined && modelType !== undefined && modelType !== expectedType) {
    r.fail('model_type', `is ${show(modelType)}, but architecture '${architecture}' is model_type ${show(expectedType)}`);
  }
  const torchDtype = r.string(['torch_dtype', 'dtype']);

  let cfg: Settings;
  if (family === 'llama') cfg = llamaFamily(r, architecture);
  else if (family === 'opt') cfg = opt(r);
  else cfg = gpt2(r);

  if (cfg.numHeads % cfg.numKvHeads !== 0) {
    r.fail('num_key_value_heads', `is ${cfg.numKvHeads}; num_attention_heads (${cfg.numHeads}) must be a multiple of it`);
  }

  let bosTokenId = singleTokenId(json.bos_token_id, 'bos_token_id', file);
  let eosTokenIds = tokenIds(json.eos_token_id, 'eos_token_id', file);
  let padTokenId = singleTokenId(json.pad_token_id, 'pad_token_id', file);
  if (generation) {
    const g = generation.json;
    if (!isObject(g)) throw new FormatError(generation.file, `is ${show(g)}; expected a JSON object (a Hugging Face generation_config.json)`);
    if (g.bos_token_id !== undefined && g.bos_token_id !== null) bosTokenId = singleTokenId(g.bos_token_id, 'bos_token_id', generation.file);
    if (g.eos_token_id !== undefined && g.eos_token_id !== null) eosTokenIds = tokenIds(g.eos_token_id, 'eos_token_id', generation.file);
    if (g.pad_token_id !== undefined && g.pad_token_id !== null) padTokenId = singleTokenId(g.pad_token_id, 'pad_token_id', generation.file);
  }
  for (const [key, id] of [['bos_token_id', bosTokenId], ...eosTokenIds.map((id) => ['eos_token_id', id] as const), ['pad_token_id', padTokenId]] as const) {
    if (id !== undefined && id >= cfg.vocabSize) r.fail(key, `holds token id ${id}, outside the vocabulary (vocab_size ${cfg.vocabSize})`);
  }

  const out: HfConfig = { file, architecture, family, ...cfg, eosTokenIds, raw: json };
  if (modelType !== undefined) out.modelType = modelType;
  if (torchDtype !== undefined) out.torchDtype = torchDtype;
  if (bosTokenId !== undefined) out.bosTokenId = bosTokenId;
  if (padTokenId !== undefined) out.padTokenId = padTokenId;
  return out;
}

function llamaFamily(r: Reader, arch: HfArchitecture): Settings {
  const hiddenSize = r.int('hidden_size', 'the hidden size');
  const intermediateSize = r.int('intermediate_size', 'the MLP width');
  const numLayers = r.int('num_hidden_layers', 'the number of layers');
  const numHeads = r.int('num_attention_heads', 'the number of attention heads');
  const numKvHeads = r.int('num_key_value_heads', 'the number of key/value heads', numHeads);
  if (!r.json.head_dim && hiddenSize % numHeads !== 0) {
    r.fail('hidden_size', `is ${hiddenSize}, not a multiple of num_attention_heads (${numHeads}); set head_dim`);
  }
  const headDim = r.int('head_dim', 'the per-head size', hiddenSize / numHeads);
  const vocabSize = r.int('vocab_size', 'the vocabulary size');
  const maxPositionEmbeddings = r.int('max_position_embeddings', 'the context length', 2048);
  const normEps = r.positive('rms_norm_eps', 'the RMSNorm epsilon', 1e-6);
  const ropeTheta = r.positive('rope_theta', 'the RoPE base', 10000);
  const scaling = r.json.rope_scaling;
  if (scaling !== undefined && scaling !== null) {
    r.fail('rope_scaling', `is ${show(scaling)}: RoPE scaling is not supported; only null (plain RoPE) is`);
  }
  r.only('partial_rotary_factor', 1, 'RoPE over part of each head');
  const hiddenAct = r.activation('hidden_act', 'silu');
  const out: Settings = {
    hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, vocabSize, maxPositionEmbeddings,
    norm: 'rms', normEps, positions: 'rope', ropeTheta, positionOffset: 0,
    tieWordEmbeddings: r.bool('tie_word_embeddings', false),
    qkvBias: false, attnOutBias: false, mlpBias: false, hiddenAct,
  };
  if (arch === 'LlamaForCausalLM') {
    const bias = r.bool('attention_bias', false);
    out.qkvBias = bias;
    out.attnOutBias = bias;
    out.mlpBias = r.bool('mlp_bias', false);
  } else if (arch === 'BitLlamaForCausalLMInf') {
    // The OneBit release: projections without bias (BitLinear), post-LayerNorm eps fixed by its code.
    r.only('attention_bias', false, 'biases on the 1-bit attention projections');
    r.only('mlp_bias', false, 'biases on the 1-bit MLP projections');
    out.oneBit = { postNormEps: BITLLAMA_POST_NORM_EPS };
  } else if (arch === 'Qwen2ForCausalLM') {
    out.qkvBias = true; // Qwen2's q/k/v projections always have a bias; o_proj and the MLP never do.
    r.only('use_sliding_window', false, 'sliding-window attention in some Qwen2 layers');
  } else {
    const window = r.json.sliding_window;
    if (window !== undefined && window !== null) out.slidingWindow = r.int('sliding_window', 'the attention window');
  }
  return out;
}

function opt(r: Reader): Settings {
  const hiddenSize = r.int('hidden_size', 'the hidden size');
  const numHeads = r.int('num_attention_heads', 'the number of attention heads');
  if (hiddenSize % numHeads !== 0) r.fail('hidden_size', `is ${hiddenSize}, not a multiple of num_attention_heads (${numHeads})`);
  r.only('do_layer_norm_before', true, 'post-norm OPT layers, as in opt-350m');
  const proj = r.int('word_embed_proj_dim', 'the embedding size', hiddenSize);
  if (proj !== hiddenSize) {
    r.fail('word_embed_proj_dim', `is ${proj}, not hidden_size (${hiddenSize}): embedding projections (project_in/project_out, as in opt-350m) are not supported`);
  }
  r.only('_remove_final_layer_norm', false, 'OPT without a final layer norm');
  r.only('layer_norm_elementwise_affine', true, 'layer norms without weight and bias');
  const bias = r.bool('enable_bias', true);
  return {
    hiddenSize,
    intermediateSize: r.int('ffn_dim', 'the MLP width'),
    numLayers: r.int('num_hidden_layers', 'the number of layers'),
    numHeads, numKvHeads: numHeads, headDim: hiddenSize / numHeads,
    vocabSize: r.int('vocab_size', 'the vocabulary size'),
    maxPositionEmbeddings: r.int('max_position_embeddings', 'the context length', 2048),
    norm: 'layer', normEps: 1e-5, positions: 'learned', ropeTheta: 10000, positionOffset: 2,
    tieWordEmbeddings: r.bool('tie_word_embeddings', true),
    qkvBias: bias, attnOutBias: bias, mlpBias: bias,
    hiddenAct: r.activation('activation_function', 'relu'),
  };
}

function gpt2(r: Reader): Settings {
  const hiddenSize = r.int(['n_embd', 'hidden_size'], 'the hidden size');
  const numHeads = r.int(['n_head', 'num_attention_heads'], 'the number of attention heads');
  if (hiddenSize % numHeads !== 0) r.fail('n_embd', `is ${hiddenSize}, not a multiple of n_head (${numHeads})`);
  r.only('scale_attn_weights', true, 'unscaled attention scores');
  r.only('scale_attn_by_inverse_layer_idx', false, 'attention scaled by 1/layer');
  return {
    hiddenSize,
    intermediateSize: r.int(['n_inner', 'intermediate_size'], 'the MLP width', 4 * hiddenSize),
    numLayers: r.int(['n_layer', 'num_hidden_layers'], 'the number of layers'),
    numHeads, numKvHeads: numHeads, headDim: hiddenSize / numHeads,
    vocabSize: r.int('vocab_size', 'the vocabulary size'),
    maxPositionEmbeddings: r.int(['n_positions', 'max_position_embeddings'], 'the context length'),
    norm: 'layer', normEps: r.positive('layer_norm_epsilon', 'the LayerNorm epsilon', 1e-5),
    positions: 'learned', ropeTheta: 10000, positionOffset: 0,
    tieWordEmbeddings: r.bool('tie_word_embeddings', true),
    qkvBias: true, attnOutBias: true, mlpBias: true,
    hiddenAct: r.activation('activation_function', 'gelu_new'),
  };
}
