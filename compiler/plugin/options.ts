// The build plugin's options: per-model compile options (plugin config, `models` entries, import query), how
// they merge, and their validation. One place for the option names, so errors can list the valid ones.
import type { CompileResult, Target } from '../compile.ts';
import { TARGETS } from '../compile.ts';

/** How one model is compiled: the CLI's options, by the same names as `compile()`'s. */
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

/** What the plugin reports for each model it provides (for logs, tests and tooling). */
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

/** The options compile() gets, normalised: the cache key is computed from exactly these. */
export interface ResolvedModelOptions {
  quantize: boolean;
  keep: string[];
  quantizeHead: boolean;
  fp16: boolean | null;
  /** compile()'s `targets` ([] for reference kernels only). */
  targets: Target[];
  /** Distillation (data as given; the plugin resolves a file against the root), or null. */
  distill: PluginDistillOptions | null;
}

const MODEL_KEYS = ['quantize', 'keep', 'quantizeHead', 'fp16', 'target', 'distill'] as const;
const PLUGIN_KEYS = [...MODEL_KEYS, 'models', 'cacheDir', 'onCompile', 'log'] as const;
const TARGET_NAMES: readonly string[] = [...TARGETS, 'js'];
/** Query spellings: the option names, plus the CLI's kebab-case (`quantize-head`). */
const QUERY_KEYS: Record<string, (typeof MODEL_KEYS)[number]> = {
  quantize: 'quantize', keep: 'keep', quantizeHead: 'quantizeHead', 'quantize-head': 'quantizeHead', fp16: 'fp16', target: 'target', distill: 'distill',
};

export class PluginOptionError extends Error {
  override name = 'PluginOptionError';
}

const DISTILL_NUMBERS = ['steps', 'lr', 'alpha', 'seq', 'batch', 'seed', 'warmup', 'clip', 'temperature'] as const;
const DISTILL_CHOICES = { ste: ['tanh', 'clip'], latentInit: ['weight', 'sign'] } as const;
const DISTILL_KEYS: readonly string[] = ['data', ...DISTILL_NUMBERS, ...Object.keys(DISTILL_CHOICES), 'postNorm'];

function checkDistill(value: unknown, where: string): void {
  if (typeof value === 'string') {
    if (value === '') throw new PluginOptionError(`${where}: distill needs a text file or 'self:N'`);
    return;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PluginOptionError(`${where}: distill must be a text file, 'self:N', or an object with data and training options`);
  const d = value as Record<string, unknown>;
  for (const key of Object.keys(d)) if (!DISTILL_KEYS.includes(key)) throw new PluginOptionError(`${where}: unknown distill option "${key}". Should be one of: ${DISTILL_KEYS.join(', ')}`);
  if (typeof d['data'] !== 'string' || d['data'] === '') throw new PluginOptionError(`${where}: distill.data must name a text file or 'self:N'`);
  for (const key of DISTILL_NUMBERS) {
    if (d[key] !== undefined && (typeof d[key] !== 'number' || !Number.isFinite(d[key]))) throw new PluginOptionError(`${where}: distill.${key} must be a number, got ${JSON.stringify(d[key])}`);
  }
  for (const [key, choices] of Object.entries(DISTILL_CHOICES)) {
    if (d[key] !== undefined && !(choices as readonly unknown[]).includes(d[key])) throw new PluginOptionError(`${where}: distill.${key} must be one of: ${choices.join(', ')}`);
  }
  if (d['postNorm'] !== undefined && typeof d['postNorm'] !== 'boolean') throw new PluginOptionError(`${where}: distill.postNorm must be true or false`);
}

/** Checks options given as JavaScript (any shape): unknown names list the valid ones. */
function checkModelOptions(options: Readonly<Record<string, unknown>>, where: string, allowed: readonly string[] = MODEL_KEYS): void {
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) throw new PluginOptionError(`${where}: unknown option "${key}". Should be one of: ${allowed.join(', ')}`);
  }
  if (options['distill'] !== undefined) checkDistill(options['distill'], where);
  for (const key of ['quantize', 'quantizeHead', 'fp16'] as const) {
    const v = options[key];
    if (v !== undefined && typeof v !== 'boolean') throw new PluginOptionError(`${where}: ${key} must be true or false, got ${JSON.stringify(v)}`);
  }
  const keep = options['keep'];
  if (keep !== undefined && typeof keep !== 'string' && !(Array.isArray(keep) && keep.every((k) => typeof k === 'string'))) {
    throw new PluginOptionError(`${where}: keep must be a glob or a list of globs`);
  }
  const target = options['target'];
  if (target !== undefined) {
    const list: unknown[] = Array.isArray(target) ? target : [target];
    const bad = list.find((t) => typeof t !== 'string' || !TARGET_NAMES.includes(t));
    if (bad !== undefined || list.length === 0) {
      throw new PluginOptionError(`${where}: unsupported target ${JSON.stringify(bad ?? target)}. Should be one of: ${TARGET_NAMES.join(', ')}`);
    }
  }
}

/** Validates the plugin's own options once, when the plugin is created. */
export function checkPluginOptions(options: OnebitPluginOptions): void {
  checkModelOptions(options as Record<string, unknown>, 'onebitc plugin options', PLUGIN_KEYS);
  for (const [name, entry] of Object.entries(options.models ?? {})) {
    if (typeof entry !== 'object' || entry === null) throw new PluginOptionError(`onebitc plugin options: models['${name}'] must be an object of options`);
    checkModelOptions(entry as Record<string, unknown>, `onebitc plugin options: models['${name}']`);
  }
}

function parseBoolean(key: string, value: string, where: string): boolean {
  if (value === '' || value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new PluginOptionError(`${where}: ${key}=${value} must be true or false`);
}

/**
 * The options in an import's query: `onebit&keep=lm_head&keep=*down_proj*&quantize=false&target=js`
 * (a key without a value is true: `&fp16`). `where` names the import for error messages.
 */
export function parseQuery(query: string, where: string): ModelOptions {
  const params = new URLSearchParams(query);
  const options: { -readonly [K in keyof ModelOptions]?: unknown } = {};
  const keep: string[] = [];
  for (const [rawKey, value] of params) {
    if (rawKey === 'onebit') continue;
    const key = QUERY_KEYS[rawKey];
    if (!key) throw new PluginOptionError(`${where}: unknown query option "${rawKey}". Should be one of: onebit, ${Object.keys(QUERY_KEYS).join(', ')}`);
    if (key === 'keep') keep.push(value);
    else if (key === 'distill') options.distill = value;
    else if (key === 'target') options.target = value.split(',').map((t) => t.trim());
    else options[key] = parseBoolean(rawKey, value, where);
  }
  if (keep.length) options.keep = keep;
  checkModelOptions(options, where);
  return options as ModelOptions;
}

/** Merges option layers (later wins; `keep` lists add up) and fills in the defaults. */
export function resolveModelOptions(...layers: readonly (ModelOptions | undefined)[]): ResolvedModelOptions {
  const resolved: ResolvedModelOptions = { quantize: true, keep: [], quantizeHead: false, fp16: null, targets: [...TARGETS], distill: null };
  for (const layer of layers) {
    if (!layer) continue;
    if (layer.quantize !== undefined) resolved.quantize = layer.quantize;
    if (layer.keep !== undefined) resolved.keep.push(...(typeof layer.keep === 'string' ? [layer.keep] : layer.keep));
    if (layer.quantizeHead !== undefined) resolved.quantizeHead = layer.quantizeHead;
    if (layer.fp16 !== undefined) resolved.fp16 = layer.fp16;
    // A string (the query's `distill=file`) names the data and keeps the training options of the layers below.
    if (layer.distill !== undefined) resolved.distill = { ...resolved.distill, ...(typeof layer.distill === 'string' ? { data: layer.distill } : layer.distill) };
    if (layer.target !== undefined) {
      const list: readonly string[] = typeof layer.target === 'string' ? [layer.target] : layer.target;
      // As the CLI: 'js' (the reference kernels, always there) adds nothing; 'js' alone means no other target.
      resolved.targets = TARGETS.filter((t) => list.includes(t));
    }
  }
  resolved.keep = [...new Set(resolved.keep)].sort(); // a set of globs: one cache key whatever the order
  return resolved;
}

/** The `models` entry for an import: by path relative to the root (`./` and a trailing `/` optional), file name or model name. */
export function modelEntry(models: OnebitPluginOptions['models'], keys: { relative: string; base: string; name: string }): ModelOptions | undefined {
  if (!models) return undefined;
  const normal = (key: string) => key.replace(/^\.\//, '').replace(/\/+$/, '');
  const wanted = [keys.relative, keys.base, keys.name];
  for (const want of wanted) {
    const hit = Object.keys(models).find((key) => normal(key) === want);
    if (hit !== undefined) return models[hit];
  }
  return undefined;
}
