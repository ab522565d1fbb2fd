// Types of a loaded onebitc model, as a `?onebit` import (onebitc/client) gives it without knowing the model.
// Importing a compiled bundle's model.js directly gives exact names and dims instead (its model.d.ts).
// Checked against runtime/ by test/package/public-types.ts.

export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int8' | 'int16' | 'int32' | 'int64'
  | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'bool' | 'string';

export type TensorData = Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array | string[];

/** A feed of run(): onnxruntime's `{ data, dims }` (float16/bfloat16 as Uint16Array bits). */
export interface Feed {
  readonly data: TensorData;
  readonly dims: readonly number[];
}

/** A result of run(). */
export interface Tensor {
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: TensorData;
}

/** An input or output of the model: symbolic dims (`'batch'`) are strings. */
export interface TensorSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: readonly (number | string)[];
}

export interface LoadOptions {
  /**
   * 'webgpu' (the bundle's WGSL shaders on a GPU), 'wasm' (model.wasm's SIMD kernels), 'js' (reference kernels),
   * or 'auto' (default: the fastest the engine and the bundle support; `model.backend` says which).
   */
  backend?: 'auto' | 'webgpu' | 'wasm' | 'js';
  /** The bytes of weights.safetensors, instead of fetching them. */
  weights?: Uint8Array | ArrayBuffer;
  /** The bytes of model.wasm, instead of fetching them. */
  wasm?: Uint8Array | ArrayBuffer;
  /** Where the bundle's files are, by file name (the plugin fills these in with the emitted assets' URLs; entries given here win). */
  urls?: Readonly<Record<string, string | { readonly href: string }>>;
  /** The WebGPU entry point when not navigator.gpu (in Node: the `webgpu` package's create([])); given explicitly, a software adapter is used too. */
  gpu?: { requestAdapter(options?: object): Promise<unknown> };
  /** Where notes go (WebGPU: a node that reads a GPU value back; threads unavailable); default console.warn. */
  onNote?: (message: string) => void;
  /**
   * Threads for the WASM backend's OneBit GEMVs (one token), the calling one included: each large layer's rows
   * are split between workers sharing model.wasm's memory. Default 1. Browsers need a cross-origin-isolated page
   * (else single-threaded, with a note). `model.threads` reports the count in use.
   */
  threads?: number;
  /** Fewest weights (out · in) of a OneBit layer whose GEMV is split between threads (default 2^20). */
  threadMinWeights?: number;
}

export interface GenerateOptions {
  /** Most tokens to generate (default 256). */
  maxTokens?: number;
  /** 0 (default) is greedy; higher values flatten the distribution. */
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Seed of the sampler: the same seed gives the same text. */
  seed?: number;
  /** Stop before any of these strings (not emitted). */
  stop?: readonly string[];
  /** Stop at EOS (default true). */
  stopOnEos?: boolean;
  /** EOS ids to use instead of the tokenizer's. */
  eos?: number | readonly number[];
  /** Longest context, prompt included (default: the model's). */
  maxContext?: number;
  /** Called with each generated token id. */
  onToken?(id: number): void;
}

export interface PerplexityOptions {
  /** Tokens per chunk, BOS included (default 512). */
  contextLength?: number;
  /** Score only the first N chunks. */
  maxChunks?: number;
  maxContext?: number;
  onProgress?(progress: { readonly chunk: number; readonly chunks: number; readonly tokens: number; readonly totalTokens: number; readonly seconds: number }): void;
}

export interface PerplexityResult {
  readonly perplexity: number;
  /** Mean negative log-likelihood per scored token, in nats. */
  readonly nll: number;
  readonly tokens: number;
  readonly chunks: number;
  readonly seconds: number;
  readonly method: string;
}

/** A loaded model. */
export interface Model {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** The backend that runs the model. */
  readonly backend: 'webgpu' | 'wasm' | 'js';
  /** Threads running the WASM kernels (1 on other backends, or when no layer is large enough to split). */
  readonly threads: number;
  /** Runs the model; feeds are checked against `inputs` (names, dtypes, ranks, dims). */
  run(feeds: Readonly<Record<string, Feed>>): Promise<Record<string, Tensor>>;
  /** Releases the weights; the model cannot run afterwards. */
  dispose(): void;
}

/** What a language model (a bundle with tokenizer.json) adds. */
export interface LanguageModelMethods {
  readonly tokenizer: { encode(text: string): readonly number[]; readonly bos?: number | undefined };
  /** Streams generated text (greedy by default). */
  generate(prompt: string | readonly number[], options?: GenerateOptions): AsyncGenerator<string>;
  /** The generated ids (EOS excluded). */
  generateIds(prompt: string | readonly number[], options?: GenerateOptions): Promise<number[]>;
  /** Perplexity of a text: chunks of BOS + whole paragraphs, a fresh context per chunk. */
  perplexity(text: string, options?: PerplexityOptions): Promise<PerplexityResult>;
}

/**
 * The module a `?onebit` import gives (default export; the same members are named exports). `load()` returns
 * a Model; for a language model (a folder with tokenizer.json, or an ONNX model with one beside it) it also
 * has generate/generateIds/perplexity.
 */
export interface OnebitModule {
  load(options?: LoadOptions): Promise<Model & LanguageModelMethods>;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** The bundle's files by name → their (hashed asset) URLs. */
  readonly urls: Readonly<Record<string, string>>;
  /** The bundle's manifest.json (onebitc version, inputs, outputs, targets, sizes before/after, layers). */
  readonly manifest: {
    readonly onebitc: string;
    readonly source: string;
    readonly targets: readonly string[];
    readonly quantized: boolean;
    readonly files: Readonly<Record<string, { readonly bytes: number }>>;
    readonly size: { readonly before: number; readonly after: number };
    readonly layers: readonly { readonly name: string; readonly out: number; readonly in: number; readonly bytesBefore: number; readonly bytesAfter: number; readonly kept: boolean }[];
  };
}
