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
  /** Knowledge distillation is not implemented in this version: setting it fails with a clear message. */
  distill?: never;
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

const DISTILL_MESSAGE = 'distill is not implemented in this version of onebitc (it compiles by SVID only); remove the option';

/** Checks options given as JavaScript (any shape): unknown names list the valid ones. */
function checkModelOptions(options: Readonly<Record<string, unknown>>, where: string, allowed: readonly string[] = MODEL_KEYS): void {
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) throw new PluginOptionError(`${where}: unknown option "${key}". Should be one of: ${allowed.filter((k) => k !== 'distill').join(', ')}`);
  }
  if (options['distill'] !== undefined) throw new PluginOptionError(`${where}: ${DISTILL_MESSAGE}`);
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
    if (!key) throw new PluginOptionError(`${where}: unknown query option "${rawKey}". Should be one of: onebit, ${Object.keys(QUERY_KEYS).filter((k) => k !== 'distill').join(', ')}`);
    if (key === 'distill') throw new PluginOptionError(`${where}: ${DISTILL_MESSAGE}`);
    if (key === 'keep') keep.push(value);
    else if (key === 'target') options.target = value.split(',').map((t) => t.trim());
    else options[key] = parseBoolean(rawKey, value, where);
  }
  if (keep.length) options.keep = keep;
  checkModelOptions(options, where);
  return options as ModelOptions;
}

/** Merges option layers (later wins; `keep` lists add up) and fills in the defaults. */
export function resolveModelOptions(...layers: readonly (ModelOptions | undefined)[]): ResolvedModelOptions {
  const resolved: ResolvedModelOptions = { quantize: true, keep: [], quantizeHead: false, fp16: null, targets: [...TARGETS] };
  for (const layer of layers) {
    if (!layer) continue;
    if (layer.quantize !== undefined) resolved.quantize = layer.quantize;
    if (layer.keep !== undefined) resolved.keep.push(...(typeof layer.keep === 'string' ? [layer.keep] : layer.keep));
    if (layer.quantizeHead !== undefined) resolved.quantizeHead = layer.quantizeHead;
    if (layer.fp16 !== undefined) resolved.fp16 = layer.fp16;
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
