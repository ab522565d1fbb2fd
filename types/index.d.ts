// Types of `onebitc`: the programmatic compile() API (dist/index.js). Hand-written; test/package/public-types.ts
// checks them against the sources (compiler/index.ts) so they cannot drift apart.

/** Kernels a bundle can carry besides the reference TypeScript ones. */
export type Target = 'wasm' | 'webgpu';
/** Every target: compile()'s default. */
export declare const TARGETS: readonly Target[];

export interface CompileOptions {
  /** The bundle folder to write (replaced atomically; an existing folder only when it is an earlier onebitc bundle). */
  output: string;
  /** Rewrite Linears to OneBit (default true). `false` emits the same bundle with the original weights (the reference). */
  quantize?: boolean;
  /** Globs of node/weight/layer names to keep in full precision (`*` matches across `/` and `.`). */
  keep?: readonly string[];
  /** Quantize the LM head of a checkpoint language model too (the paper keeps it in fp16). */
  quantizeHead?: boolean;
  /** Store full-precision weights as fp16 (widened at load). Default: on for checkpoint language models made 1-bit, off otherwise. */
  fp16?: boolean;
  /** Kernels to generate besides the reference ones (default: all of TARGETS; `[]` gives a reference-only bundle). */
  targets?: readonly Target[];
  /**
   * OneBit kernel of the WASM target per layer: 'exact' (fp32 sums), 'lut' (int8 table lookups for one row: faster,
   * ~1e-4 relative error), or 'auto' (default): lut for layers
   * with out ≥ 512 and in ≥ 128, exact below. Several rows (prefill) run exactly either way.
   */
  kernel?: 'auto' | 'exact' | 'lut';
  /**
   * Knowledge distillation of the 1-bit student from the original model before codegen (the OneBit paper's QAT):
   * checkpoint language models only. Writes checkpoints, log.csv/log.json, curve.svg and heldout.txt into
   * `checkpointDir`; rejects with DistillInterrupted (after a checkpoint) when `signal` aborts.
   */
  distill?: DistillOptions;
  /** Progress of long steps (a step finished; each layer going through SVID), e.g. for a progress bar. */
  onProgress?: (event: ProgressEvent) => void;
  /** 1: log the IR after each step; 2: also the generated plan and WAT. Defaults to the ONEBITC_DEBUG environment variable. */
  debug?: number;
  /** Where debug output goes (default: stderr). */
  log?: (line: string) => void;
}

export type ProgressEvent =
  | { kind: 'step'; step: string }
  | { kind: 'layer'; layer: string; index: number; total: number; out: number; in: number };

/** A problem found in a model: the file, node or value it is about, and what to do. Printed as one line. */
export interface Diagnostic {
  severity: 'error' | 'warning';
  /** The model file, as the caller named it. */
  file?: string;
  /** Set for subgraphs only (If branches, Loop bodies). */
  graph?: string;
  node?: string;
  op?: string;
  value?: string;
  message: string;
  hint?: string;
}

export interface FitFlag {
  readonly code: 'tiny' | 'many-zeros' | 'poor-fit' | 'no-gain-over-naive' | 'dominant-direction' | 'not-converged';
  /** One human-readable line: what was measured and why it matters. */
  readonly message: string;
}

export interface SpectrumEstimate {
  readonly sigma1: number;
  readonly sigma2: number;
  /** σ1/σ2 of the rows used. */
  readonly ratio: number;
  readonly rowsUsed: number;
  readonly sampled: boolean;
}

/** How well one Linear fits 1 bit. */
export interface FitReport {
  readonly out: number;
  readonly in: number;
  readonly weights: number;
  /** Fraction of weights that are exactly 0. */
  readonly zeroFraction: number;
  readonly tiny: boolean;
  /** ‖W − Ŵ‖/‖W‖ with Ŵ = h·S·g as stored. */
  readonly svidRelativeError: number;
  /** ‖W − sign(W)·mean|W|‖/‖W‖, the per-tensor baseline. */
  readonly naiveRelativeError: number;
  readonly spectrumEstimate: SpectrumEstimate;
  readonly svidIterations: number;
  readonly svidConverged: boolean;
  /** Reasons to consider keeping this layer in full precision; empty when none. */
  readonly flags: readonly FitFlag[];
}

/** One Linear the compiler found: converted to OneBit or kept. */
export interface LayerReport {
  /** The layer's name (`model.layers.0.self_attn.q_proj`). */
  layer: string;
  /** Nodes that use this layer's weight. */
  nodes: string[];
  weight: string;
  /** The stored weight is [in, out] (W transposed), as for MatMul. */
  transposed: boolean;
  source: 'MatMul' | 'MatMul+Add' | 'Gemm';
  out: number;
  in: number;
  /** Bytes of the original weight. */
  bytesBefore: number;
  /** Bytes of sign bits + fp16 g and h (0 when kept). */
  bytesAfter: number;
  kept: boolean;
  /** The keep glob that matched. */
  keptBy?: string;
  fit?: FitReport;
}

/** The 1-bit model's outputs against the original's on sample inputs. */
export interface Fidelity {
  /** Cosine similarity of the first output (1 = same direction). */
  cosine: number;
  /** Language models: mean KL(original ‖ 1-bit) of the next-token distributions, nats per token. */
  kl?: number;
  /** Language models: fraction of positions where both pick the same most likely token. */
  top1?: number;
  /** What the models ran on. */
  sample: string;
}

/** manifest.json of a bundle. */
export interface Manifest {
  format: 'onebitc-bundle';
  formatVersion: 1;
  onebitc: string;
  source: string;
  targets: string[];
  quantized: boolean;
  inputs: unknown;
  outputs: unknown;
  files: Record<string, { bytes: number }>;
  size: { before: number; after: number };
  layers: { name: string; out: number; in: number; bytesBefore: number; bytesAfter: number; kept: boolean; trained?: boolean }[];
}

export interface CompileResult {
  outDir: string;
  layers: LayerReport[];
  /** Bytes of all constants before (as imported) and after (weights.safetensors data). */
  sizeBefore: number;
  sizeAfter: number;
  warnings: Diagnostic[];
  manifest: Manifest;
  /** Absent when nothing was converted or the model is too large to run twice at compile time. */
  fidelity?: Fidelity;
  /** The input is a language model (the bundle can generate). */
  languageModel: boolean;
  /** OneBit layers that came trained in the checkpoint (official OneBit format) or from distillation, not from SVID. */
  trainedOneBitLayers: number;
  /** What distillation did, when `distill` was given. */
  distill?: DistillSummary;
}

export interface DistillOptions {
  /** A UTF-8 text file (paragraphs separated by blank lines; the last 10 % held out), or `self:N` for N tokens sampled from the teacher. */
  data: string;
  /** Folder for checkpoints, the training log, its plot and the held-out text. */
  checkpointDir: string;
  /** Continue from the checkpoint in checkpointDir (the other options must be the same). */
  resume?: boolean;
  /** Optimizer steps (default 1000). */
  steps?: number;
  /** Peak learning rate (default 4e-3 up to 100M parameters, else 4e-4). */
  lr?: number;
  /** Linear warm-up steps before the cosine decay (default 5 % of the steps, at most 200). */
  warmup?: number;
  /** Weight of the hidden-state MSE term (default 1). */
  alpha?: number;
  /** Tokens per training window (default 256). */
  seq?: number;
  /** Windows per step (default 16). */
  batch?: number;
  seed?: number;
  /** Global gradient-norm clip (default 1). */
  clip?: number;
  /** Straight-through estimator of sign: 'tanh' (1.001 − tanh², default) or 'clip' (identity where |w| ≤ 1). */
  ste?: 'tanh' | 'clip';
  /** The paper's LayerNorm without affine parameters after each 1-bit linear (default true). */
  postNorm?: boolean;
  /** Latent weights start as W itself ('weight', default) or sign(W)·0.01 ('sign'). */
  latentInit?: 'weight' | 'sign';
  /** Softmax temperature of the cross-entropy term (default 1). */
  temperature?: number;
  /** Steps between checkpoints (default a tenth of the steps, at most 100). */
  checkpointEvery?: number;
  /** Steps between held-out perplexity checks on 16 windows (default a tenth of the steps). */
  evalEvery?: number;
  /** Stop with a checkpoint once this step is reached. */
  stopAtStep?: number;
  /** Aborting stops after the current step, with a checkpoint. */
  signal?: AbortSignal;
  /** Progress output (a bar on a TTY, plain lines otherwise). Default process.stderr. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface DistillSummary {
  steps: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  /** Held-out perplexity of the teacher, of the student before training and after. */
  heldOut: { tokens: number; teacher: number; initial: number; final: number } | undefined;
  /** The options in effect, defaults filled in. */
  options: Required<Omit<DistillOptions, 'signal' | 'stream' | 'stopAtStep' | 'resume'>> & Pick<DistillOptions, 'stopAtStep' | 'resume'>;
}

/**
 * Compiles a model — a `.onnx` file, a Hugging Face folder, or a `.safetensors` file with config.json beside
 * it — into a bundle folder (model.js, model.d.ts, model.wasm, weights.safetensors, manifest.json, and the
 * tokenizer files of a language model). The same pipeline as the `onebitc` command.
 * Rejects with a CompileError (diagnostics), a FormatError (a file that cannot be read as what it claims to
 * be) or a BundleWriteError (the output folder); their messages name the file.
 */
export declare function compile(input: string, options: CompileOptions): Promise<CompileResult>;

/** What `onebitc inspect` prints for a model (inputs, outputs, op counts, every Linear) or a bundle. */
export declare function inspect(path: string): Promise<string>;

/** Errors found in the model; `diagnostics` has all of them, `message` one line each. */
export declare class CompileError extends Error {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[]);
}

/** A file that cannot be read as what it claims to be; the message names the file (and the tensor). */
export declare class FormatError extends Error {
  readonly file: string;
  readonly detail: string;
  readonly tensor?: string;
  constructor(file: string, detail: string, tensor?: string);
}

/** The bundle folder could not be written (or is not ours to replace). */
export declare class BundleWriteError extends Error {}

/** The version written into every bundle's manifest. */
export declare const ONEBITC_VERSION: string;

/** Types of loaded models (what a bundle's load() or a `?onebit` import's load() gives). */
export type { DType, Feed, GenerateOptions, LanguageModelMethods, LoadOptions, Model, OnebitModule, PerplexityOptions, PerplexityResult, Tensor, TensorData, TensorSpec } from './model.js';
