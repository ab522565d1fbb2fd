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
  /** Byte size of everything below the activation arena: reserved page, constants, scratch. */
  readonly arenaBase: number;
  /** Constants placed in linear memory at load, converted as `as` says. */
  readonly constants: readonly WasmConstant[];
  /** Nodes (of the main graph) that a WASM kernel runs, by node name. */
  readonly calls: Readonly<Record<string, WasmCall>>;
  /** Values living in the arena: each in a slot shared with values whose lifetimes do not overlap. */
  readonly values: Readonly<Record<string, { readonly slot: number; readonly dtype: 'float32' | 'int64'; readonly dims: readonly (number | string)[] }>>;
  readonly slots: number;
}

export interface WasmConstant {
  readonly name: string;
  readonly offset: number;
  readonly bytes: number;
  /**
   * 'f32': as float32 (float16/float32 sources); 'f32-transposed': a 2-D [out, in] weight as float32 [in, out];
   * 'onebit-signs': sign bits re-laid-out for the kernel.
   */
  readonly as: 'f32' | 'f32-transposed' | 'onebit-signs';
  readonly out?: number;
  readonly in?: number;
}

export type WasmCallKind = 'onebit-linear' | 'matmul-const' | 'matmul' | 'binary' | 'unary' | 'softmax' | 'reduce-mean' | 'rms-norm' | 'layer-norm' | 'gather' | 'transpose';

export interface WasmCall {
  readonly kind: WasmCallKind;
  /** Export of model.wasm to call. */
  readonly fn: string;
  /** Byte offsets of the node's constant inputs (by input index); the other inputs are arena values. */
  readonly constants: Readonly<Record<number, number>>;
  /** Sizes the kernel was specialised to (e.g. in/out, width, k/n). */
  readonly sizes: Readonly<Record<string, number>>;
}
