// The plan: what the compiler hands the runtime for one model (emitted into model.js).
import type { DType } from '../formats/dtype.ts';
import type { RuntimeGraph } from './graph.ts';

/** Bumped on any incompatible change of Plan; a runtime refuses plans of another version. */
export const PLAN_FORMAT = 1;

export interface TensorSpec {
  readonly name: string;
  readonly dtype: DType;
  /** Sizes, or symbol names (`'batch'`) bound at run time. */
  readonly dims: readonly (number | string)[];
}

export interface Plan {
  readonly format: number;
  /** File name of the source model (for messages). */
  readonly model: string;
  /** Default-domain ONNX opset the graph was written against. */
  readonly opset: number;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** The main graph; its constants are the tensors of `weights` plus its own inline `initializers`. */
  readonly graph: RuntimeGraph;
  /**
   * The safetensors file beside model.js holding the constants; `widen` names the ones stored at half
   * precision that the graph uses as float32 (widened once at load).
   */
  readonly weights: { readonly file: string; readonly bytes: number; readonly widen?: readonly string[] };
  readonly wasm?: WasmPlan;
  /** Present when the bundle has WGSL kernels (shaders.json beside model.js). */
  readonly webgpu?: WebGpuPlan;
  /** Present for language models whose tokenizer the bundle ships. */
  readonly lm?: LmPlan;
}

export interface LmPlan {
  /** tokenizer.json beside model.js. */
  readonly tokenizer: string;
  readonly bos?: number;
  readonly eos: readonly number[];
  /** Longest context the model supports (max_position_embeddings). */
  readonly contextLength: number;
  /** The graph takes and returns a KV cache (past_key_values.{i}.key/value → present.{i}.key/value). */
  readonly cache: boolean;
}

/** How the bundle's model.wasm runs part of the graph (absent when the bundle has no WASM target). */
export interface WasmPlan {
  readonly file: string;
  /**
   * The same module built with relaxed SIMD in its LUT kernels (same exports, same memory layout), loaded
   * instead of `file` where the engine has relaxed SIMD; absent when no kernel gains from it.
   */
  readonly relaxedFile?: string;
  /** Byte size of everything below the activation arena: reserved page, constants, scratch. */
  readonly arenaBase: number;
  /** Constants placed in linear memory at load, converted as `as` says. */
  readonly constants: readonly WasmConstant[];
  /** Nodes (of the main graph) that a WASM kernel runs, by node name. */
  readonly calls: Readonly<Record<string, WasmCall>>;
  /** Values living in the arena: each in a slot shared with values whose lifetimes do not overlap. */
  readonly values: Readonly<Record<string, { readonly slot: number; readonly dtype: 'float32' | 'int64'; readonly dims: readonly (number | string)[] }>>;
  readonly slots: number;
  /** The fused decode step of a LLaMA-family model (runtime/wasm/decode-step.ts), when the compiler emitted one. */
  readonly decode?: WasmDecodePlan;
}

/**
 * `fn(token, pos)` runs one token through the whole model inside model.wasm: embedding, every layer with its
 * KV cache in linear memory (capacity `contextLength` positions: max_position_embeddings, capped), the LM head into `logits`. Returns 0, or 1
 * for a token outside the vocabulary, 2 for a position outside the cache. Its memory region lies below
 * arenaBase; the runtime fills the parts computed at load (`folded`, `rope`) before the first step.
 */
export interface WasmDecodePlan {
  readonly fn: string;
  readonly contextLength: number;
  readonly vocab: number;
  readonly hidden: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Byte offsets of each layer's key and value cache, f32[contextLength, kvHeads, headDim] each. */
  readonly cache: readonly { readonly key: number; readonly value: number }[];
  /** Byte offset of the logits, f32[vocab]. */
  readonly logits: number;
  /** f32[length] at `offset` = g ⊙ norm: a OneBit projection's g with the RMSNorm weight before it folded in. */
  readonly folded: readonly { readonly offset: number; readonly g: string; readonly norm: string; readonly length: number }[];
  /** cos and sin of position × inverse frequency, f32[contextLength, inverseFrequencies.length] each. */
  readonly rope: { readonly cos: number; readonly sin: number; readonly inverseFrequencies: readonly number[] };
  /**
   * fn's parts in order, for a runtime with threads: exported segments `(token, pos) → status`, and the OneBit
   * projections between them, `fn(x, y + pos·yPerPos, 1)`, which it may split between threads instead.
   */
  readonly steps?: readonly WasmDecodeStepPart[];
}

export type WasmDecodeStepPart =
  | { readonly segment: string }
  | { readonly fn: string; readonly x: number; readonly y: number; readonly yPerPos: number; readonly in: number; readonly out: number };

export interface WasmConstant {
  readonly name: string;
  readonly offset: number;
  readonly bytes: number;
  /**
   * 'f32': as float32 (float16/float32 sources); 'f32-transposed': a 2-D [out, in] weight as float32 [in, out];
   * 'onebit-signs': sign bits re-laid-out for the exact kernel; 'onebit-signs-lut': for the LUT kernel
   * (runtime/wasm/onebit-layout.ts).
   */
  readonly as: 'f32' | 'f32-transposed' | 'onebit-signs' | 'onebit-signs-lut';
  readonly out?: number;
  readonly in?: number;
}

/** 'onebit-linear': the exact OneBit kernel; 'onebit-lut': the table-lookup one (int8 tables, approximate). */
export type WasmCallKind = 'onebit-linear' | 'onebit-lut' | 'matmul-const' | 'matmul' | 'binary' | 'unary' | 'softmax' | 'reduce-mean' | 'rms-norm' | 'layer-norm' | 'gather' | 'transpose';

export interface WasmCall {
  readonly kind: WasmCallKind;
  /** Export of model.wasm to call. */
  readonly fn: string;
  /** Byte offsets of the node's constant inputs (by input index); the other inputs are arena values. */
  readonly constants: Readonly<Record<number, number>>;
  /** Sizes the kernel was specialised to (e.g. in/out, width, k/n). */
  readonly sizes: Readonly<Record<string, number>>;
}

/** How the bundle's WGSL shaders run part of the graph on WebGPU. */
export interface WebGpuPlan {
  /** shaders.json beside model.js: `{ format, shaders: string[] }`, WGSL sources indexed by GpuCall.shader. */
  readonly file: string;
  /** Nodes (of the main graph) that a shader runs, by node name. */
  readonly calls: Readonly<Record<string, GpuCall>>;
  /**
   * Language models: the shader picking the k largest logits of the last position (Params offset, k; input
   * the logits, output k (value, index) pairs), for k ≤ maxK.
   */
  readonly topK?: { readonly shader: number; readonly output: string; readonly vocab: number; readonly maxK: number };
}

/**
 * How a constant input is uploaded: as float32 (fp16 widened), as its bytes read as u32 words, or (OneBit
 * signs [out, ceil(in/8)] bytes) with each row padded to whole u32 words (GpuCall.sizes in/out).
 */
export type GpuConstantLayout = 'f32' | 'u32-bytes' | 'onebit-rows32';

export interface GpuCall {
  /** Which runtime binder sizes the call (runtime/webgpu/bind/). */
  readonly kind: string;
  /** Index of the shader in shaders.json (entry point `main`). */
  readonly shader: number;
  /**
   * Input indexes bound as storage buffers, in binding order after the uniform (binding 0); the outputs
   * follow. Inputs not listed are read by the binder only (e.g. a Slice's starts).
   */
  readonly bindings: readonly number[];
  /** Constant inputs (by index) and how they are uploaded; the other bound inputs are run-time values. */
  readonly constants: Readonly<Record<number, GpuConstantLayout>>;
  /** Output bindings (after the inputs); the node's first `outputs` outputs. */
  readonly outputs: number;
  /** The u32 fields of the shader's `Params` uniform, in order: names of values the binder computes. */
  readonly params: readonly string[];
  /** Workgroups per axis: ceil(binder value / divisor). */
  readonly dispatch: readonly (readonly [string, number])[];
  /** Sizes and choices the shader was specialised to (the binder checks the run's shapes against them). */
  readonly sizes: Readonly<Record<string, number>>;
}
