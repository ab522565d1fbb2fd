// A loaded model: validates feeds against the plan's input specs and runs the plan.
import type { DType, TensorData } from '../formats/dtype.ts';
import { halfToFloat32 } from '../formats/dtype.ts';
import { parseSafetensors } from '../formats/safetensors/read-buffer.ts';
import type { Tensor } from '../formats/tensor.ts';
import { sizeOf } from '../formats/tensor.ts';
import { Interpreter } from './execute.ts';
import { KERNELS } from './kernels/index.ts';
import { loadBytes } from './load-bytes.ts';
import type { Plan, TensorSpec } from './plan.ts';
import { PLAN_FORMAT } from './plan.ts';
import type { WasmFeatures } from './wasm/backend.ts';
import { hasRelaxedSimd, hasSimd128, WasmBackend } from './wasm/backend.ts';
import type { WasmDecodeStep } from './wasm/decode-step.ts';
import { resolveThreads, threadEnvironment } from './wasm/thread-count.ts';
import type { GpuRunOptions, GpuTensor } from './webgpu/backend.ts';
import { isGpuTensor, WebGpuBackend } from './webgpu/backend.ts';
import type { GpuProvider } from './webgpu/device.ts';
import { findGpu, requestDevice } from './webgpu/device.ts';

export type { GpuRunOptions, GpuTensor } from './webgpu/backend.ts';

/** A tensor handed to run(): onnxruntime's `{ data, dims }`. */
export interface Feed {
  readonly data: TensorData;
  readonly dims: readonly number[];
}

export const BACKENDS = ['auto', 'webgpu', 'wasm', 'js'] as const;
export type Backend = (typeof BACKENDS)[number];

export interface LoadOptions {
  /**
   * 'webgpu' runs the bundle's WGSL shaders on a GPU; 'wasm' runs model.wasm's SIMD kernels (the rest on the
   * reference kernels); 'js' only the reference TypeScript kernels. 'auto' (default): WebGPU when a hardware
   * GPU adapter is there (or `gpu` is given), else WASM when the engine has SIMD, else js; `model.backend`
   * says which.
   */
  backend?: Backend;
  /**
   * The WebGPU entry point (anything with `requestAdapter()`), when not `navigator.gpu` or, in Node, the
   * optional `webgpu` package. Given explicitly, it is used even when its adapter is a software one.
   */
  gpu?: { requestAdapter(options?: object): Promise<unknown> };
  /**
   * Threads for the WASM backend's OneBit GEMVs (one token): the output rows of each large layer are split
   * between the calling thread and threads − 1 workers sharing the module's memory. Default 1. In browsers it
   * needs a cross-origin-isolated page; elsewhere the model runs single-threaded and says so via onNote.
   * `model.threads` reports the count in use.
   */
  threads?: number;
  /** Fewest weights (out · in) of a OneBit layer whose GEMV is split between threads (default 2^20). */
  threadMinWeights?: number;
  /** Where notes go (WebGPU: a node that runs on the host and reads its input back; threads unavailable). Default console.warn. */
  onNote?: (message: string) => void;
  /** The bytes of weights.safetensors, when they come from somewhere other than beside model.js. */
  weights?: Uint8Array | ArrayBuffer;
  /** The bytes of model.wasm, when they come from somewhere other than beside model.js. */
  wasm?: Uint8Array | ArrayBuffer;
  /**
   * Where the bundle's files are, by file name (`'weights.safetensors'`, `'model.wasm'`, `'tokenizer.json'`,
   * …), when not beside model.js: e.g. the hashed asset URLs a bundler emitted. Relative URLs resolve
   * against model.js's URL.
   */
  urls?: Readonly<Record<string, string | { readonly href: string }>>;
}

/** The URL of one of the bundle's files: `options.urls[file]`, else beside model.js (`base`). */
export function fileUrl(file: string, base: string | URL, options: LoadOptions = {}): URL {
  const override = options.urls?.[file];
  return new URL(override === undefined ? file : typeof override === 'string' ? override : override.href, base);
}

const ARRAY_NAMES: Record<DType, string> = {
  float32: 'Float32Array', float64: 'Float64Array', float16: 'Uint16Array', bfloat16: 'Uint16Array',
  int8: 'Int8Array', int16: 'Int16Array', int32: 'Int32Array', int64: 'BigInt64Array',
  uint8: 'Uint8Array', uint16: 'Uint16Array', uint32: 'Uint32Array', uint64: 'BigUint64Array', bool: 'Uint8Array', string: 'Array',
};

export class Model {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** The backend that runs this model. */
  readonly backend: Exclude<Backend, 'auto'>;
  private constants: ReadonlyMap<string, Tensor> | undefined;
  private readonly interpreter: Interpreter;

  constructor(private readonly plan: Plan, constants: ReadonlyMap<string, Tensor>, private readonly wasm?: WasmBackend, private readonly webgpu?: WebGpuBackend) {
    this.inputs = plan.inputs;
    this.outputs = plan.outputs;
    this.constants = constants;
    this.backend = webgpu ? 'webgpu' : wasm ? 'wasm' : 'js';
    this.interpreter = new Interpreter(KERNELS, plan.opset);
  }

  /** WASM kernel calls of the last run, by kind ('js-fallback' counts nodes whose shapes the kernel did not take). */
  get wasmCalls(): ReadonlyMap<string, number> {
    return this.wasm?.calls ?? new Map();
  }

  /**
   * model.wasm's fused decode step (WASM backend, bundles of LLaMA-family checkpoints): DecodeSession decodes
   * through it instead of run() while the context fits the step's KV cache. undefined otherwise.
   */
  fusedDecoder(): WasmDecodeStep | undefined {
    return this.wasm?.decodeStep;
  }

  /** WebAssembly features of the loaded kernels: 'relaxed-simd' when model.relaxed.wasm runs (WASM backend only). */
  get wasmFeatures(): WasmFeatures | undefined {
    return this.wasm?.features;
  }

  /** Threads running the WASM kernels (1 on other backends, or when no layer is large enough to split). */
  get threads(): number {
    return this.wasm?.threads ?? 1;
  }

  /** WebGPU dispatches of the last run, by kind; 'host' counts nodes run on the host, 'readback' those that read a GPU value back. */
  get gpuCalls(): ReadonlyMap<string, number> {
    return this.webgpu?.calls ?? new Map();
  }

  /** The GPU adapter, in words (WebGPU backend only). */
  get gpu(): string | undefined {
    return this.webgpu?.description;
  }

  /**
   * Runs the model. Feeds are checked against `inputs` (names, dtypes, ranks, fixed and symbolic dims).
   * WebGPU: outputs named in `keepOnDevice` stay on the GPU and come back as GpuTensor handles, which can be
   * fed to a later run (a KV cache) and are freed with `release()`; `lastRow` reads back only the last row
   * of one output, or with `topK` only its k largest entries (the rest −∞: what a sampler needs). Other
   * backends ignore both.
   */
  async run(feeds: Readonly<Record<string, Feed | GpuTensor>>, options: GpuRunOptions = {}): Promise<Record<string, Tensor>> {
    if (!this.constants) throw new Error(`${this.plan.model}: run() after dispose()`);
    const bound = new Map<string, Tensor | GpuTensor>();
    const symbols = new Map<string, { value: number; from: string }>();
    for (const spec of this.inputs) bound.set(spec.name, this.checkFeed(spec, feeds[spec.name], symbols));
    const unknown = Object.keys(feeds).filter((name) => !this.inputs.some((s) => s.name === name));
    if (unknown.length) throw new Error(`${this.plan.model}: unknown input '${unknown[0]}'; the inputs are: ${this.inputs.map((s) => s.name).join(', ')}`);
    if (this.webgpu) {
      const results = await this.webgpu.run(this.plan.graph, bound, this.constants, options);
      return Object.fromEntries(this.outputs.map((spec, i) => [spec.name, results[i] as Tensor]));
    }
    if ([...bound.values()].some(isGpuTensor)) throw new Error(`${this.plan.model}: GPU tensors can only be fed to a model on the WebGPU backend`);
    const values = new Map([...symbols].map(([k, v]) => [k, v.value]));
    const hooks = this.wasm?.hooks(values);
    const results = this.interpreter.run(this.plan.graph, bound as Map<string, Tensor>, Interpreter.constants(this.constants), hooks);
    // Results must outlive the next run: copy any that live in WASM memory.
    const own = (t: Tensor) => ((t.data as ArrayBufferView).buffer === this.wasm?.memory.buffer ? { ...t, data: (t.data as Float32Array).slice() } as Tensor : t);
    return Object.fromEntries(this.outputs.map((spec, i) => [spec.name, own(results[i]!)]));
  }

  /** Frees a GpuTensor returned by run() (keepOnDevice) once no later run needs it. */
  release(t: GpuTensor | Tensor | Feed): void {
    if (isGpuTensor(t)) this.webgpu?.release(t);
  }

  /** Releases the weights (and the GPU device); the model cannot run afterwards. */
  dispose(): void {
    this.constants = undefined;
    this.webgpu?.dispose();
    this.wasm?.dispose();
  }

  private checkFeed(spec: TensorSpec, feed: Feed | GpuTensor | undefined, symbols: Map<string, { value: number; from: string }>): Tensor | GpuTensor {
    const where = `${this.plan.model}: input '${spec.name}'`;
    if (!feed) throw new Error(`${where} is missing (expected ${spec.dtype} [${spec.dims.join(', ')}])`);
    const onGpu = isGpuTensor(feed);
    if (onGpu && spec.dtype !== 'float32') throw new Error(`${where} is ${spec.dtype}; a GpuTensor feed must be float32`);
    const expected = ARRAY_NAMES[spec.dtype];
    const actual = onGpu ? 'Float32Array' : Array.isArray(feed.data) ? 'Array' : (feed.data as object)?.constructor?.name;
    if (actual !== expected) throw new Error(`${where} must be a ${expected} (${spec.dtype}), got ${actual ?? typeof (feed as Feed).data}`);
    const dims = [...feed.dims];
    if (dims.length !== spec.dims.length) throw new Error(`${where} must have rank ${spec.dims.length} [${spec.dims.join(', ')}], got [${dims.join(', ')}]`);
    spec.dims.forEach((d, i) => {
      const n = dims[i]!;
      if (!Number.isInteger(n) || n < 0) throw new Error(`${where}: dim ${i} is ${n}, not a size`);
      if (typeof d === 'number') {
        if (n !== d) throw new Error(`${where}: dim ${i} must be ${d}, got ${n}`);
      } else {
        const seen = symbols.get(d);
        if (seen && seen.value !== n) throw new Error(`${where}: dim ${i} ('${d}') is ${n} but '${d}' is ${seen.value} in ${seen.from}`);
        symbols.set(d, { value: n, from: `input '${spec.name}'` });
      }
    });
    if (onGpu) return feed;
    if (feed.data.length !== sizeOf(dims)) throw new Error(`${where} has ${feed.data.length} elements but dims [${dims.join(', ')}] need ${sizeOf(dims)}`);
    return { dtype: spec.dtype, dims, data: feed.data } as Tensor;
  }
}

/** Widens the constants stored at half precision that the graph uses as float32 (plan.weights.widen). */
export function widenStoredConstants(plan: Plan, constants: Map<string, Tensor>): void {
  for (const name of plan.weights.widen ?? []) {
    const t = constants.get(name);
    if (t?.dtype !== 'float16' && t?.dtype !== 'bfloat16') throw new Error(`${plan.weights.file}: '${name}' should be stored as float16 or bfloat16`);
    constants.set(name, { dtype: 'float32', dims: t.dims, data: halfToFloat32(t.dtype, t.data as Uint16Array) });
  }
}

export async function loadModel(plan: Plan, base: string | URL, options: LoadOptions = {}): Promise<Model> {
  if (plan.format !== PLAN_FORMAT) {
    throw new Error(`${plan.model}: plan format ${plan.format} is not supported by this runtime (expects ${PLAN_FORMAT}); recompile with the same onebitc version`);
  }
  const backend = options.backend ?? 'auto';
  if (!(BACKENDS as readonly string[]).includes(backend)) {
    throw new Error(`Unsupported backend "${backend}". This bundle supports: ${BACKENDS.join(', ')}.`);
  }
  const bytes = options.weights
    ? options.weights instanceof Uint8Array ? options.weights : new Uint8Array(options.weights)
    : await loadBytes(fileUrl(plan.weights.file, base, options));
  const constants = new Map<string, Tensor>(Object.entries(plan.graph.initializers ?? {}));
  for (const [name, t] of parseSafetensors(bytes, plan.weights.file)) constants.set(name, t);
  widenStoredConstants(plan, constants);
  const graph = { ...plan.graph, initializers: {} };
  const model = { ...plan, graph };
  if (backend === 'webgpu' || (backend === 'auto' && plan.webgpu)) {
    const webgpu = await createWebGpu(plan, base, constants, options, backend === 'webgpu');
    if (webgpu) return new Model(model, constants, undefined, webgpu);
  }
  let wasm: WasmBackend | undefined;
  if (backend === 'wasm' && !plan.wasm) throw new Error(`${plan.model}: this bundle has no WASM target; backends: ${availableBackends(plan)}`);
  if (plan.wasm && (backend === 'wasm' || (backend === 'auto' && hasSimd128()))) {
    // model.relaxed.wasm where the engine has relaxed SIMD (and the file can be fetched), else model.wasm
    let features: WasmFeatures = 'simd128';
    let module: Uint8Array | undefined = options.wasm ? new Uint8Array(options.wasm) : undefined;
    if (!module && plan.wasm.relaxedFile && hasRelaxedSimd()) {
      module = await loadBytes(fileUrl(plan.wasm.relaxedFile, base, options)).catch(() => undefined);
      if (module) features = 'relaxed-simd';
    }
    module ??= await loadBytes(fileUrl(plan.wasm.file, base, options));
    const { threads, note } = resolveThreads(options.threads, threadEnvironment());
    const onNote = options.onNote ?? ((m: string) => console.warn(`${plan.model}: ${m}`));
    if (note) onNote(note);
    wasm = await WasmBackend.create(plan.wasm, module, constants, features, {
      threads, onNote, ...(options.threadMinWeights !== undefined ? { minSplitWeights: options.threadMinWeights } : {}),
    });
  }
  return new Model(model, constants, wasm);
}

function availableBackends(plan: Plan): string {
  return ['auto', ...(plan.webgpu ? ['webgpu'] : []), ...(plan.wasm ? ['wasm'] : []), 'js'].join(', ');
}

/**
 * The WebGPU backend, or undefined under 'auto' when there is no (hardware, unless `options.gpu` was given)
 * adapter. Asked for explicitly, a missing GPU is an error.
 */
async function createWebGpu(plan: Plan, base: string | URL, constants: ReadonlyMap<string, Tensor>, options: LoadOptions, required: boolean): Promise<WebGpuBackend | undefined> {
  const fail = (why: string): undefined => {
    if (required) throw new Error(`${plan.model}: backend 'webgpu': ${why}`);
    return undefined;
  };
  if (!plan.webgpu) return fail(`this bundle has no WebGPU target (compiled with --target ${plan.wasm ? 'wasm' : 'js'}); backends: ${availableBackends(plan)}`);
  const provider = await findGpu(options.gpu as GpuProvider | undefined);
  if (!provider) return fail('no WebGPU here (no navigator.gpu; in Node, install the optional `webgpu` package or pass { gpu })');
  const largest = Math.max(0, ...[...constants.values()].map((t) => sizeOf(t.dims) * 4));
  const gpu = await requestDevice(provider, largest, { allowSoftware: required || options.gpu !== undefined });
  if (!gpu) return fail('no GPU adapter was found');
  const shaders = await loadShaders(fileUrl(plan.webgpu.file, base, options), plan.webgpu.file);
  return WebGpuBackend.create(gpu, plan.webgpu, shaders, plan.graph, constants, plan.opset, options.onNote ?? ((m) => console.warn(`${plan.model}: ${m}`)));
}

async function loadShaders(url: URL, file: string): Promise<string[]> {
  const parsed = JSON.parse(new TextDecoder().decode(await loadBytes(url))) as { format?: number; shaders?: unknown };
  if (parsed.format !== 1 || !Array.isArray(parsed.shaders)) throw new Error(`${file}: not a onebitc shaders file of format 1`);
  return parsed.shaders as string[];
}
