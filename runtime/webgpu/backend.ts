// The WebGPU backend: runs the main graph with the bundle's WGSL shaders, keeping float values on the GPU.
// Weights are uploaded once at load; each run records its dispatches into one command encoder and submits
// once, with every shader's Params for the run written into one uniform buffer. Nodes without a shader run
// on the host with the reference kernels: shape-only ops (Reshape, Shape, …) read just the dims of GPU
// values and never copy data; any other host node reading a GPU value forces a read-back (counted in
// `calls`, and noted once). Outputs are read back together at the end, except those the caller keeps on
// the GPU (a language model's KV cache), which come back as GpuTensor handles to feed to the next run.
import { halfToFloat32 } from '../../formats/dtype.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { sizeOf } from '../../formats/tensor.ts';
import { NodeError } from '../execute.ts';
import type { GraphNode, RuntimeGraph } from '../graph.ts';
import { Attributes } from '../kernel.ts';
import type { KernelContext } from '../kernel.ts';
import { KERNELS } from '../kernels/index.ts';
import type { GpuCall, GpuConstantLayout, WebGpuPlan } from '../plan.ts';
import type { GpuBinding, GpuOperand } from './binder.ts';
import { GPU_BINDERS } from './bind/index.ts';
import { BufferPool } from './buffer-pool.ts';
import type { GpuDevice } from './device.ts';

/** A float32 tensor living on the GPU: returned for outputs kept on the device, accepted as a feed. */
export interface GpuTensor {
  readonly dtype: 'float32';
  readonly dims: readonly number[];
  readonly gpuBuffer: GPUBuffer;
}

export function isGpuTensor(value: unknown): value is GpuTensor {
  return typeof value === 'object' && value !== null && 'gpuBuffer' in value;
}

/** GPU storage shared by a value and the views (Reshape, Unsqueeze, …) of it. */
interface Storage {
  readonly buffer: GPUBuffer;
  refs: number;
  /** False for buffers the caller owns (fed GpuTensors): never returned to the pool by a run. */
  readonly owned: boolean;
}

interface GpuValue { readonly dims: readonly number[]; readonly storage: Storage }
type Value = { readonly host: Tensor } | GpuValue;
/** Part of a GPU value to read back: from element `offset`; `topK` marks (value, index) pairs of a row. */
type Region = GpuValue & { readonly offset?: number; readonly topK?: { readonly k: number; readonly dims: readonly number[] } };

export interface GpuRunOptions {
  /** Outputs to return as GpuTensors instead of reading them back. */
  readonly keepOnDevice?: readonly string[];
  /** Read back only the last row of this output ([..., 1, width]); with topK, only its k largest entries (the rest −∞). */
  readonly lastRow?: { readonly output: string; readonly topK?: number | undefined };
}

const UNIFORM_ALIGN = 256;
/** Ops whose output is their first input with other dims: on the GPU, the same buffer. */
const VIEW_OPS = new Set(['Reshape', 'Squeeze', 'Unsqueeze', 'Flatten', 'Identity']);
/** Ops that read only the dims of their input. */
const SHAPE_OPS = new Set(['Shape', 'Size']);

export class WebGpuBackend {
  /** Dispatches of the last run by call kind, plus 'host' (nodes on the reference kernels) and 'readback'. */
  readonly calls = new Map<string, number>();
  private readonly pool: BufferPool;
  private lostReason: string | undefined;
  private notedReadback = false;
  private zeros = new Float32Array(0);

  private constructor(
    private readonly gpu: GpuDevice,
    private readonly plan: WebGpuPlan,
    private readonly pipelines: readonly GPUComputePipeline[],
    private readonly constantBuffers: ReadonlyMap<string, GPUBuffer>,
    private readonly opset: number,
    private readonly note: (message: string) => void,
  ) {
    this.pool = new BufferPool(gpu.device);
    gpu.device.lost.then((info) => { this.lostReason = info.message || info.reason || 'unknown reason'; });
  }

  /** The adapter, in words. */
  get description(): string {
    return this.gpu.description;
  }

  static async create(gpu: GpuDevice, plan: WebGpuPlan, shaders: readonly string[], graph: RuntimeGraph, constants: ReadonlyMap<string, Tensor>, opset: number, note: (message: string) => void): Promise<WebGpuBackend> {
    const { device } = gpu;
    device.pushErrorScope('validation');
    const pipelines = await Promise.all(shaders.map(async (code, i) => {
      const shape = shapeOfShader(plan, i);
      const entries: GPUBindGroupLayoutEntry[] = [];
      if (shape.uniform) entries.push({ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
      for (let k = 0; k < shape.inputs; k++) entries.push({ binding: 1 + k, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } });
      for (let k = 0; k < shape.outputs; k++) entries.push({ binding: 1 + shape.inputs + k, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } });
      const layout = device.createPipelineLayout({ bindGroupLayouts: [device.createBindGroupLayout({ entries })] });
      const module = device.createShaderModule({ code });
      try {
        return await device.createComputePipelineAsync({ layout, compute: { module, entryPoint: 'main' } });
      } catch (e) {
        const info = await module.getCompilationInfo();
        const first = info.messages.find((m) => m.type === 'error');
        throw new Error(`shader ${i} (${code.split('\n', 1)[0]!.replace(/^\/\/ */, '')}) does not compile on this GPU: ${first ? `${first.lineNum}:${first.linePos} ${first.message}` : (e as Error).message}`);
      }
    }));
    const constantBuffers = new Map<string, GPUBuffer>();
    for (const [name, { layout, call }] of constantLayouts(plan, graph)) {
      const t = constants.get(name);
      if (!t) throw new Error(`constant '${name}' is missing from the weights`);
      const bytes = layout === 'f32' ? asFloat32(t) : layout === 'onebit-rows32' ? signRows32(t, call.sizes['out']!, call.sizes['in']!) : bytesOf(t);
      constantBuffers.set(name, upload(device, bytes, GPUBufferUsage.STORAGE));
    }
    const error = await device.popErrorScope();
    if (error) throw new Error(`WebGPU rejected the bundle's shaders or weights: ${error.message}`);
    return new WebGpuBackend(gpu, plan, pipelines, constantBuffers, opset, note);
  }

  /**
   * Runs `graph` (the plan's main graph). Feeds may be GpuTensors from an earlier run; outputs named in
   * `keep` come back as GpuTensors (release them with release()), the others as host tensors.
   */
  async run(graph: RuntimeGraph, feeds: ReadonlyMap<string, Tensor | GpuTensor>, constants: ReadonlyMap<string, Tensor>, options: GpuRunOptions = {}): Promise<(Tensor | GpuTensor)[]> {
    const keep = new Set(options.keepOnDevice ?? []);
    if (this.lostReason !== undefined) throw new Error(`the GPU device was lost (${this.lostReason}); load the model again, or load it with { backend: 'wasm' }`);
    const { device } = this.gpu;
    this.calls.clear();
    const values = new Map<string, Value>();
    for (const [name, t] of feeds) {
      values.set(name, isGpuTensor(t) ? { dims: t.dims, storage: { buffer: t.gpuBuffer, refs: 1, owned: false } } : { host: t });
    }
    const run = new RunEncoder(device);
    device.pushErrorScope('validation');
    try {
      const frees = lastUses(graph);
      for (let i = 0; i < graph.nodes.length; i++) {
        const node = graph.nodes[i]!;
        const call = this.plan.calls[node.name];
        let outputs: Value[] | undefined;
        try {
          outputs = call ? this.dispatch(node, call, values, constants, run) : undefined;
          outputs ??= await this.runOnHost(node, values, constants, run);
        } catch (e) {
          if (e instanceof NodeError) throw e;
          throw new NodeError(node.name, node.op, e instanceof Error ? e.message : String(e));
        }
        node.outputs.forEach((name, k) => {
          if (name === '') return;
          const v = outputs![k];
          if (!v) throw new NodeError(node.name, node.op, `produced no output ${k} ('${name}')`);
          if ('storage' in v) v.storage.refs++;
          values.set(name, v);
        });
        for (const v of outputs) if ('storage' in v && v.storage.refs === 0 && v.storage.owned) this.pool.release(v.storage.buffer);
        for (const name of frees[i]!) this.drop(values, name, feeds);
      }
      const results = graph.outputs.map((name) => {
        const v = values.get(name) ?? (constants.has(name) ? { host: constants.get(name)! } : undefined);
        if (!v) throw new Error(`graph '${graph.name}': output '${name}' was never computed`);
        return v;
      });
      const kept = results.map((v, i) => ('storage' in v && keep.has(graph.outputs[i]!) ? this.keepOnDevice(v, run) : undefined));
      const regions = results.map((v, i): Region | undefined => (kept[i] || !('storage' in v) ? undefined : graph.outputs[i] === options.lastRow?.output ? this.lastRow(v, options.lastRow.topK, run) : v));
      const read = await run.readBack(regions);
      const host = read.map((t, i) => {
        const topK = regions[i]?.topK;
        if (!t || !topK) return t;
        this.pool.release(regions[i]!.storage.buffer);
        return sparseRow(t, topK, this.plan.topK!.vocab);
      });
      for (const name of new Set(graph.outputs)) if (!keep.has(name)) this.drop(values, name, feeds);
      return results.map((v, i) => kept[i] ?? host[i] ?? (v as { host: Tensor }).host);
    } finally {
      run.finish();
      const error = await device.popErrorScope();
      if (error) throw new Error(`WebGPU validation error while running the model: ${error.message}`);
    }
  }

  /**
   * The region of an output to read back when only its last row is wanted: that row, or the k (value,
   * index) pairs the top-k shader picks from it.
   */
  private lastRow(v: GpuValue, topK: number | undefined, run: RunEncoder): Region {
    const width = v.dims.at(-1) ?? 1;
    const rows = width ? sizeOf(v.dims) / width : 0;
    const dims = [...v.dims.slice(0, -2).map(() => 1), ...(v.dims.length >= 2 ? [1] : []), width];
    const offset = Math.max(0, rows - 1) * width;
    const plan = this.plan.topK;
    if (topK === undefined || !plan || topK > plan.maxK || topK < 1 || width !== plan.vocab || rows === 0) return { dims, storage: v.storage, offset };
    const pairs = this.pool.acquire(2 * topK * 4);
    run.dispatch(this.pipelines[plan.shader]!, [offset, topK], [v.storage.buffer, pairs], [1]);
    this.calls.set('top-k', (this.calls.get('top-k') ?? 0) + 1);
    return { dims: [2 * topK], storage: { buffer: pairs, refs: 0, owned: true }, topK: { k: topK, dims } };
  }

  /** Returns a kept output's buffer for reuse (after the last run that reads it was submitted). */
  release(t: GpuTensor): void {
    this.pool.release(t.gpuBuffer);
  }

  dispose(): void {
    for (const b of this.constantBuffers.values()) b.destroy();
    this.pool.destroy();
    this.gpu.device.destroy();
  }

  private drop(values: Map<string, Value>, name: string, feeds: ReadonlyMap<string, unknown>): void {
    const v = values.get(name);
    values.delete(name);
    if (!v || !('storage' in v) || feeds.has(name)) return;
    if (--v.storage.refs === 0 && v.storage.owned) this.pool.release(v.storage.buffer);
  }

  /** A GPU output the caller keeps: its own buffer (copied when it is a view or a fed buffer). */
  private keepOnDevice(v: GpuValue, run: RunEncoder): GpuTensor {
    const bytes = sizeOf(v.dims) * 4;
    if (v.storage.owned && v.storage.refs === 1) {
      v.storage.refs = Infinity; // not returned to the pool by this run
      return { dtype: 'float32', dims: v.dims, gpuBuffer: v.storage.buffer };
    }
    const copy = this.pool.acquire(bytes);
    run.copy(v.storage.buffer, copy, bytes);
    return { dtype: 'float32', dims: v.dims, gpuBuffer: copy };
  }

  /** Encodes the node's shader, or returns undefined when this run's shapes are outside what it was made for. */
  private dispatch(node: GraphNode, call: GpuCall, values: Map<string, Value>, constants: ReadonlyMap<string, Tensor>, run: RunEncoder): Value[] | undefined {
    const operands = node.inputs.map((name): GpuOperand | undefined => {
      if (name === '') return undefined;
      const v = values.get(name);
      if (v) return 'host' in v ? { dtype: v.host.dtype, dims: v.host.dims, host: v.host } : { dtype: 'float32', dims: v.dims };
      const c = constants.get(name);
      if (!c) throw new Error(`input '${name}' is not defined`);
      return { dtype: c.dtype, dims: c.dims, host: c };
    });
    const binder = GPU_BINDERS[call.kind];
    if (!binder) throw new Error(`this runtime has no binder for WebGPU call kind '${call.kind}' (bundle from a newer onebitc?)`);
    const binding: GpuBinding | undefined = binder(operands, call, new Attributes(node.attrs));
    if (!binding) return undefined;
    const buffers = call.bindings.map((index) => {
      const name = node.inputs[index]!;
      if (call.constants[index]) return this.constantBuffers.get(name)!;
      const v = values.get(name);
      if (v && 'storage' in v) return v.storage.buffer;
      return run.upload(hostBytes(v ? v.host : constants.get(name)!));
    });
    const outputs = binding.outputs.map((dims) => ({ dims, storage: { buffer: this.pool.acquire(sizeOf(dims) * 4), refs: 0, owned: true } }));
    const params = call.params.map((p) => {
      const value = binding.values[p];
      if (value === undefined) throw new Error(`binder '${call.kind}' gave no value for param '${p}'`);
      return value;
    });
    const workgroups = call.dispatch.map(([name, per]) => Math.ceil(binding.values[name]! / per));
    if (workgroups.some((w) => w > 65535)) return undefined; // beyond one dispatch: the host runs it
    if (outputs.some((o) => sizeOf(o.dims) > 0) && workgroups.every((w) => w > 0)) {
      run.dispatch(this.pipelines[call.shader]!, params, [...buffers, ...outputs.map((o) => o.storage.buffer)], workgroups);
    }
    this.calls.set(call.kind, (this.calls.get(call.kind) ?? 0) + 1);
    return outputs;
  }

  private async runOnHost(node: GraphNode, values: Map<string, Value>, constants: ReadonlyMap<string, Tensor>, run: RunEncoder): Promise<Value[]> {
    const kernel = KERNELS[node.op];
    if (!kernel) throw new Error('no kernel for this op');
    this.calls.set('host', (this.calls.get('host') ?? 0) + 1);
    const view = VIEW_OPS.has(node.op) || SHAPE_OPS.has(node.op);
    const inputs: (Tensor | undefined)[] = [];
    for (const [i, name] of node.inputs.entries()) {
      if (name === '') { inputs.push(undefined); continue; }
      const v = values.get(name);
      if (!v) {
        const c = constants.get(name);
        if (!c) throw new Error(`input '${name}' is not defined`);
        inputs.push(c);
      } else if ('host' in v) {
        inputs.push(v.host);
      } else if (view && i === 0) {
        inputs.push({ dtype: 'float32', dims: v.dims, data: this.placeholder(sizeOf(v.dims)) });
      } else {
        if (!this.notedReadback) {
          this.notedReadback = true;
          this.note(`WebGPU: node '${node.name}' (${node.op}) runs on the host and reads its input back from the GPU (slow); such nodes are counted as 'readback' in model.gpuCalls`);
        }
        this.calls.set('readback', (this.calls.get('readback') ?? 0) + 1);
        inputs.push((await run.readBack([v]))[0]!);
      }
    }
    const ctx: KernelContext = {
      opset: this.opset,
      outputCount: node.outputs.length,
      runSubgraph: () => { throw new Error('subgraphs (If/Loop) are not run by the WebGPU backend; load with { backend: \'wasm\' }'); },
    };
    const outputs = kernel(inputs, new Attributes(node.attrs), ctx);
    const source = values.get(node.inputs[0]!);
    if (VIEW_OPS.has(node.op) && source && 'storage' in source) return [{ dims: outputs[0]!.dims, storage: source.storage }];
    return outputs.map((host) => ({ host }));
  }

  /** Zeros standing in for a GPU value's data, for kernels that only look at dims. */
  private placeholder(n: number): Float32Array {
    if (this.zeros.length < n) this.zeros = new Float32Array(Math.max(n, 2 * this.zeros.length));
    return this.zeros.subarray(0, n);
  }
}

/** Records one run: compute dispatches in order, uploads, copies; submitted before any read-back. */
class RunEncoder {
  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private uniformData: Uint32Array = new Uint32Array(0);
  private uniformUsed = 0; // bytes
  private readonly pendingBinds: { pipeline: GPUComputePipeline; offset: number; size: number; buffers: GPUBuffer[]; workgroups: number[] }[] = [];
  private readonly transient: GPUBuffer[] = [];

  constructor(private readonly device: GPUDevice) {}

  dispatch(pipeline: GPUComputePipeline, params: readonly number[], buffers: GPUBuffer[], workgroups: number[]): void {
    const size = Math.max(16, Math.ceil(params.length / 4) * 16);
    const offset = this.uniformUsed;
    if (params.length) {
      this.ensureUniformData(offset + size);
      params.forEach((p, i) => { this.uniformData[offset / 4 + i] = p >>> 0; });
      this.uniformUsed = offset + Math.ceil(size / UNIFORM_ALIGN) * UNIFORM_ALIGN;
    }
    this.pendingBinds.push({ pipeline, offset: params.length ? offset : -1, size, buffers, workgroups });
  }

  /** A buffer holding these bytes, for the current encoder only. */
  upload(bytes: Uint8Array): GPUBuffer {
    const buffer = upload(this.device, bytes, GPUBufferUsage.STORAGE);
    this.transient.push(buffer);
    return buffer;
  }

  copy(from: GPUBuffer, to: GPUBuffer, bytes: number): void {
    this.flushBinds();
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(from, 0, to, 0, Math.ceil(bytes / 4) * 4);
  }

  /** Submits what was recorded, then reads back the given GPU values (undefined entries are skipped). */
  async readBack(values: readonly (Region | Value | undefined)[]): Promise<(Tensor | undefined)[]> {
    const sizes = values.map((v) => (v && 'storage' in v ? sizeOf(v.dims) * 4 : 0));
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total === 0) {
      this.submit();
      return values.map((v) => (v && 'storage' in v ? { dtype: 'float32', dims: v.dims, data: new Float32Array(0) } as Tensor : undefined));
    }
    this.flushBinds();
    this.endPass();
    const staging = this.device.createBuffer({ size: Math.ceil(total / 4) * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    let at = 0;
    const offsets = sizes.map((n, i) => {
      const v = values[i];
      const here = at;
      if (n && v && 'storage' in v) this.commandEncoder().copyBufferToBuffer(v.storage.buffer, 4 * ((v as Region).offset ?? 0), staging, here, n);
      at += n;
      return here;
    });
    this.submit();
    await staging.mapAsync(GPUMapMode.READ);
    const all = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    return values.map((v, i) => (v && 'storage' in v ? { dtype: 'float32', dims: v.dims, data: all.subarray(offsets[i]! / 4, offsets[i]! / 4 + sizes[i]! / 4) } as Tensor : undefined));
  }

  /** Submits anything left and frees the run's temporary buffers. */
  finish(): void {
    this.submit();
  }

  private submit(): void {
    this.flushBinds();
    this.endPass();
    if (this.encoder) this.device.queue.submit([this.encoder.finish()]);
    this.encoder = undefined;
    for (const b of this.transient.splice(0)) b.destroy();
  }

  /** Writes the uniforms of the recorded dispatches and encodes them. */
  private flushBinds(): void {
    if (!this.pendingBinds.length) return;
    let uniform: GPUBuffer | undefined;
    if (this.uniformUsed) {
      uniform = this.device.createBuffer({ size: this.uniformUsed, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      this.device.queue.writeBuffer(uniform, 0, this.uniformData.buffer, 0, this.uniformUsed);
      this.transient.push(uniform);
    }
    this.pass ??= this.commandEncoder().beginComputePass();
    for (const b of this.pendingBinds.splice(0)) {
      const entries: GPUBindGroupEntry[] = [];
      if (b.offset >= 0) entries.push({ binding: 0, resource: { buffer: uniform!, offset: b.offset, size: b.size } });
      b.buffers.forEach((buffer, i) => entries.push({ binding: 1 + i, resource: { buffer } }));
      this.pass.setPipeline(b.pipeline);
      this.pass.setBindGroup(0, this.device.createBindGroup({ layout: b.pipeline.getBindGroupLayout(0), entries }));
      this.pass.dispatchWorkgroups(b.workgroups[0] ?? 1, b.workgroups[1] ?? 1, b.workgroups[2] ?? 1);
    }
    this.uniformUsed = 0;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }

  private commandEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private ensureUniformData(bytes: number): void {
    if (this.uniformData.byteLength >= bytes) return;
    const grown = new Uint32Array(Math.max(bytes, 2 * this.uniformData.byteLength, 4096) / 4);
    grown.set(this.uniformData);
    this.uniformData = grown;
  }
}

/** A top-k result (k value/index pairs) as a row of −∞ with the k entries set. */
function sparseRow(pairs: Tensor, topK: { k: number; dims: readonly number[] }, vocab: number): Tensor {
  const values = pairs.data as Float32Array;
  const indices = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const row = new Float32Array(vocab).fill(-Infinity);
  for (let j = 0; j < topK.k; j++) {
    const index = indices[2 * j + 1]!;
    if (index < vocab) row[index] = values[2 * j]!;
  }
  return { dtype: 'float32', dims: topK.dims, data: row };
}

/** The binding shape of shader `index` (from any call that uses it, or the top-k shader). */
function shapeOfShader(plan: WebGpuPlan, index: number): { uniform: boolean; inputs: number; outputs: number } {
  if (plan.topK?.shader === index) return { uniform: true, inputs: 1, outputs: 1 };
  const call = Object.values(plan.calls).find((c) => c.shader === index);
  if (!call) throw new Error(`shaders.json: shader ${index} is used by no call`);
  return { uniform: call.params.length > 0, inputs: call.bindings.length, outputs: call.outputs };
}

/** Every constant the calls bind, with its upload layout (and a call that binds it, for sizes). */
function constantLayouts(plan: WebGpuPlan, graph: RuntimeGraph): Map<string, { layout: GpuConstantLayout; call: GpuCall }> {
  const layouts = new Map<string, { layout: GpuConstantLayout; call: GpuCall }>();
  for (const node of graph.nodes) {
    const call = plan.calls[node.name];
    if (!call) continue;
    for (const [index, layout] of Object.entries(call.constants)) {
      const name = node.inputs[Number(index)]!;
      const seen = layouts.get(name);
      if (seen && seen.layout !== layout) throw new Error(`constant '${name}' is bound both as ${seen.layout} and as ${layout}`);
      layouts.set(name, { layout, call });
    }
  }
  return layouts;
}

function bytesOf(t: Tensor): Uint8Array {
  const d = t.data as Uint8Array;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** OneBit sign bytes [out, ceil(in/8)] with each row padded to whole u32 words (zero bits). */
function signRows32(t: Tensor, out: number, inDim: number): Uint8Array {
  const rowBytes = Math.ceil(inDim / 8);
  const stride = Math.ceil(inDim / 32) * 4;
  const src = t.data as Uint8Array;
  if (src.length !== out * rowBytes) throw new Error(`OneBit signs have ${src.length} bytes; [${out}, ${rowBytes}] expected`);
  if (stride === rowBytes) return src;
  const dst = new Uint8Array(out * stride);
  for (let o = 0; o < out; o++) dst.set(src.subarray(o * rowBytes, (o + 1) * rowBytes), o * stride);
  return dst;
}

function asFloat32(t: Tensor): Uint8Array {
  const f = t.dtype === 'float16' || t.dtype === 'bfloat16' ? halfToFloat32(t.dtype, t.data as Uint16Array) : t.data as Float32Array;
  return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
}

/** A host tensor as the bytes a shader reads: float32 as is, integers as i32, bool/uint8 as u32. */
function hostBytes(t: Tensor): Uint8Array {
  let data: Float32Array | Int32Array | Uint32Array;
  if (t.dtype === 'float32') data = t.data as Float32Array;
  else if (t.dtype === 'float16' || t.dtype === 'bfloat16') data = halfToFloat32(t.dtype, t.data as Uint16Array);
  else if (t.dtype === 'int64' || t.dtype === 'uint64') data = Int32Array.from(t.data as BigInt64Array, (v) => Number(v));
  else if (t.dtype === 'int32') data = t.data as Int32Array;
  else data = Uint32Array.from(t.data as ArrayLike<number>);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function upload(device: GPUDevice, bytes: Uint8Array, usage: number): GPUBuffer {
  const size = Math.max(4, Math.ceil(bytes.byteLength / 4) * 4);
  const buffer = device.createBuffer({ size, usage: usage | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(bytes);
  buffer.unmap();
  return buffer;
}

/** For each node index, the values whose last reader it is. */
function lastUses(graph: RuntimeGraph): string[][] {
  const last = new Map<string, number>();
  graph.nodes.forEach((node, i) => {
    for (const o of node.outputs) if (o) last.set(o, i); // a value nobody reads is freed as soon as it is made
    for (const r of node.inputs) if (r) last.set(r, i);
  });
  for (const o of graph.outputs) last.delete(o);
  const result: string[][] = graph.nodes.map(() => []);
  for (const [name, i] of last) result[i]!.push(name);
  return result;
}

