// Options of the onebitc build plugin, shared by onebitc/vite, onebitc/rollup, onebitc/rolldown and
// onebitc/esbuild (compiler/plugin/options.ts; checked by test/package/public-types.ts).
import type { CompileResult, Target } from './index.js';

/** How one model is compiled: the CLI's options, by compile()'s names. */
export interface ModelOptions {
  /** Rewrite every Linear to OneBit (default true). `false` compiles the original weights (the reference). */
  quantize?: boolean;
  /** Globs of node/weight/layer names to keep in full precision (`*` matches across `/` and `.`). */
  keep?: string | readonly string[];
  /** Quantize the LM head of a checkpoint language model too (the paper keeps it in fp16). */
  quantizeHead?: boolean;
  /** Store full-precision weights as fp16 (default: on for checkpoint language models made 1-bit). */
  fp16?: boolean;
  /**
   * Kernels to generate besides the reference ones, like the CLI's `--target`: `'wasm'` (WASM-SIMD),
   * `'webgpu'` (WGSL shaders), or `'js'` alone for reference kernels only. Default: compile()'s (all targets).
   */
  target?: Target | 'js' | readonly (Target | 'js')[];
  /**
   * Knowledge distillation before codegen, as the CLI's `--distill`: a text file (relative to the project root;
   * its last 10 % held out) or `'self:N'`, or the data with the training options. Training runs once; its
   * bundle is cached by the model, the options and the data's content.
   */
  distill?: string | PluginDistillOptions;
}

/** The CLI's distillation options, by compile()'s names. */
export interface PluginDistillOptions {
  data: string;
  steps?: number;
  lr?: number;
  alpha?: number;
  seq?: number;
  batch?: number;
  seed?: number;
  warmup?: number;
  clip?: number;
  temperature?: number;
  ste?: 'tanh' | 'clip';
  postNorm?: boolean;
  latentInit?: 'weight' | 'sign';
}

/** What the plugin reports for each model it provides. */
export interface CompileEvent {
  /** The model's short name (`stories260K`): folder name, or file name without extension. */
  name: string;
  /** Absolute path of the model file or folder. */
  input: string;
  /** The compiled bundle in the cache. */
  outDir: string;
  /** True when the bundle came from the cache and nothing was compiled. */
  cached: boolean;
  /** Seconds spent compiling (0 when cached). */
  seconds: number;
  /** compile()'s result, when it ran. */
  result?: CompileResult;
}

export interface OnebitPluginOptions extends ModelOptions {
  /**
   * Options per model, by the import's path relative to the project root (`'models/stories260K'`,
   * `'models/classifier.onnx'`) or by the model's name (`'stories260K'`, `'classifier'`). They override the
   * top-level options; the import's query (`?onebit&keep=lm_head`) overrides both.
   */
  models?: Readonly<Record<string, ModelOptions>>;
  /** Where compiled bundles are kept, by content hash (default `<root>/node_modules/.cache/onebitc`). */
  cacheDir?: string;
  /** Called once per model and build: compiled or taken from the cache. */
  onCompile?: (event: CompileEvent) => void;
  /** Where the plugin's lines go (`onebitc: compiled stories260K in 1.2 s`); `false` silences them. Default: the bundler's logger. */
  log?: ((line: string) => void) | false;
}
