// The WASM backend: instantiates model.wasm over one linear memory (constants placed at load, straight from
// the weights; scratch; the activation arena), plans the arena once per set of symbol values, and runs the
// nodes the compiler gave a WASM kernel. Values of the arena are Float32Array/BigInt64Array views of memory.
import { DTYPE_BYTES, halfToFloat32 } from '../../formats/dtype.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { sizeOf } from '../../formats/tensor.ts';
import { evaluateDim } from '../dims.ts';
import type { ExecutionHooks } from '../execute.ts';
import type { GraphNode } from '../graph.ts';
import type { WasmDecodePlan, WasmPlan } from '../plan.ts';
import { bindCall } from './bindings.ts';
import { placeDecodeConstants, WasmDecodeStep } from './decode-step.ts';
import { relayoutSigns, relayoutSignsLut } from './onebit-layout.ts';
import { chunkUnits, MIN_SPLIT_WEIGHTS, splitUnits } from './row-split.ts';
import { withSharedMemoryImport } from './shared-memory.ts';
import { ThreadPool } from './thread-pool.ts';

const PAGE = 65536;
const MAX_LAYOUTS = 8;

/** A WebAssembly module using one SIMD128 instruction (i32x4.splat): validates only where SIMD is there. */
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 17, 11]);

export function hasSimd128(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
}

/**
 * A module whose one function computes i8x16.relaxed_swizzle(i32x4.splat 0, i32x4.splat 0): validates only
 * where the engine has relaxed SIMD (browsers; Node 20 with --experimental-wasm-relaxed-simd).
 */
const RELAXED_SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0,
  10, 15, 1, 13, 0, 65, 0, 253, 17, 65, 0, 253, 17, 253, 128, 2, 11]);

let relaxedSimd: boolean | undefined;

/** Whether the engine runs relaxed SIMD (memoised). */
export function hasRelaxedSimd(): boolean {
  relaxedSimd ??= typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE) && WebAssembly.validate(RELAXED_SIMD_PROBE);
  return relaxedSimd;
}

export interface ArenaLayout {
  /** Byte offset of each arena value. */
  offsets: Map<string, number>;
  bytes: Map<string, number>;
}

/** The WebAssembly features the loaded module uses: plain SIMD128 (model.wasm) or relaxed SIMD too (model.relaxed.wasm). */
export type WasmFeatures = 'simd128' | 'relaxed-simd';

export interface WasmThreadOptions {
  /** Threads running the split GEMVs, the calling one included (1: no workers, unshared memory). */
  threads?: number;
  /** Fewest weights (out · in) of a layer whose GEMV is split (default MIN_SPLIT_WEIGHTS). */
  minSplitWeights?: number;
  /** Told when threads were asked but cannot be used here (no shared memory, workers failed to start). */
  onNote?: (message: string) => void;
}

export class WasmBackend {
  /** Kernel calls made by the last run, by kind (proof of which path ran); '<kind>:threads' counts GEMVs split between threads. */
  readonly calls = new Map<string, number>();
  private readonly layouts = new Map<string, ArenaLayout>();
  /** model.wasm's fused decode step, when the compiler emitted one (LLaMA-family models). */
  readonly decodeStep: WasmDecodeStep | undefined;

  private constructor(
    private readonly plan: WasmPlan,
    readonly memory: WebAssembly.Memory,
    private readonly exports: Record<string, (...args: number[]) => number | undefined>,
    readonly features: WasmFeatures,
    private readonly pool?: ThreadPool,
    /** Kernel export → its tiles, for the layers whose one-token GEMV is split between the pool's threads. */
    private readonly splits: ReadonlyMap<string, number> = new Map(),
  ) {
    const decode = plan.decode;
    this.decodeStep = decode ? new WasmDecodeStep(decode, memory, this.decodeStepFunction(decode), this.calls) : undefined;
  }

  /**
   * model.wasm's decode_step, or, when some of its projections are split between threads, the same parts
   * called from here: its segments in order, each split projection through runSplit.
   */
  private decodeStepFunction(decode: WasmDecodePlan): (token: number, pos: number) => number {
    const whole = this.exports[decode.fn] as (token: number, pos: number) => number;
    const parts = decode.steps ?? [];
    if (!this.pool || !parts.some((p) => 'fn' in p && this.splits.has(p.fn))) return whole;
    const run = parts.map((p) => {
      if ('segment' in p) return this.exports[p.segment]! as (token: number, pos: number) => number;
      const tiles = this.splits.get(p.fn);
      const fn = this.exports[p.fn]!;
      return (_token: number, pos: number): number => {
        const y = p.y + pos * p.yPerPos;
        if (tiles) {
          this.runSplit(p.fn, tiles, p.x, y);
          this.calls.set('decode-step:threads', (this.calls.get('decode-step:threads') ?? 0) + 1);
        } else fn(p.x, y, 1);
        return 0;
      };
    });
    return (token, pos) => {
      for (const part of run) {
        const status = part(token, pos);
        if (status !== 0) return status;
      }
      return 0;
    };
  }

  /** Threads that run this model's kernels (1 without a pool). */
  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  /**
   * `wasm` is plan.file, or plan.relaxedFile with features 'relaxed-simd'. With threads > 1 the memory is shared
   * and the module's memory import declared shared (shared-memory.ts); workers start only when some layer is
   * big enough to split.
   */
  static async create(plan: WasmPlan, wasm: Uint8Array, constants: ReadonlyMap<string, Tensor>, features: WasmFeatures = 'simd128', threading: WasmThreadOptions = {}): Promise<WasmBackend> {
    if (!hasSimd128()) throw new Error('this JavaScript engine lacks WebAssembly SIMD128, which model.wasm needs; load with { backend: \'js\' }');
    const threads = threading.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be an integer ≥ 1, got ${threads}`);
    const minWeights = threading.minSplitWeights ?? MIN_SPLIT_WEIGHTS;
    const splits = new Map<string, number>();
    if (threads > 1) {
      for (const call of Object.values(plan.calls)) {
        const { in: inDim, out } = call.sizes as { in: number; out: number };
        const units = call.kind === 'onebit-lut' || call.kind === 'onebit-linear' ? splitUnits(out, inDim, minWeights) : undefined;
        if (units) splits.set(call.fn, units);
      }
      // the fused decode step's OneBit projections (some are copies reading a folded g)
      for (const part of plan.decode?.steps ?? []) {
        if (!('fn' in part)) continue;
        const units = splitUnits(part.out, part.in, minWeights);
        if (units) splits.set(part.fn, units);
      }
    }
    const note = (why: string, e: unknown) => threading.onNote?.(`threads: ${threads} asked, but ${why} (${(e as Error)?.message ?? e}): running single-threaded`);
    const limits = { initial: Math.ceil(plan.arenaBase / PAGE) + 1, maximum: 65536 };
    let shared = splits.size > 0;
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ ...limits, shared });
    } catch (e) {
      if (!shared) throw e;
      note('a shared WebAssembly memory could not be created', e);
      shared = false;
      splits.clear();
      memory = new WebAssembly.Memory(limits);
    }
    for (const c of plan.constants) {
      const t = constants.get(c.name);
      if (!t) throw new Error(`${plan.file}: constant '${c.name}' is missing from the weights`);
      const target = new Uint8Array(memory.buffer, c.offset, c.bytes);
      if (c.as === 'onebit-signs' || c.as === 'onebit-signs-lut') {
        target.set((c.as === 'onebit-signs' ? relayoutSigns : relayoutSignsLut)(t.data as Uint8Array, c.out!, c.in!));
        continue;
      }
      const values = t.dtype === 'float16' || t.dtype === 'bfloat16' ? halfToFloat32(t.dtype, t.data as Uint16Array) : (t.data as Float32Array);
      const placed = new Float32Array(memory.buffer, c.offset, values.length);
      if (c.as === 'f32') placed.set(values);
      else {
        const [rows, cols] = t.dims as [number, number];
        for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) placed[k * rows + r] = values[r * cols + k]!;
      }
    }
    if (plan.decode) placeDecodeConstants(plan.decode, memory, constants);
    const module = await WebAssembly.compile((shared ? withSharedMemoryImport(wasm) : wasm) as Uint8Array<ArrayBuffer>);
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const exports = instance.exports as unknown as WasmBackend['exports'];
    // only kernels that export their parts split (a module from an older onebitc has none)
    for (const fn of splits.keys()) if (!exports[`${fn}$tables`] || !exports[`${fn}$rows`]) splits.delete(fn);
    let pool: ThreadPool | undefined;
    if (shared && splits.size > 0) {
      try {
        pool = await ThreadPool.create(module, memory, exports, [...splits.keys()].map((fn) => `${fn}$rows`), threads);
      } catch (e) {
        note('the worker threads could not start', e); // the shared memory still serves the calling thread alone
        splits.clear();
      }
    }
    return new WasmBackend(plan, memory, exports, features, pool, splits);
  }

  /** Stops the worker threads, if any. */
  dispose(): void {
    this.pool?.dispose();
  }

  /**
   * One token through a split OneBit layer (exact or LUT): the calling thread builds the tables, all threads
   * run chunks of 16-row units, and the post-norm (which needs the whole row) runs after the join.
   */
  private runSplit(fn: string, tiles: number, x: number, y: number): void {
    this.exports[`${fn}$tables`]!(x);
    this.pool!.run(`${fn}$rows`, y, tiles, chunkUnits(tiles, this.pool!.threads));
    this.exports[`${fn}$postnorm`]?.(y, 1);
  }

  /** The arena layout for these symbol values (cached), growing memory once when it needs more. */
  prepare(symbols: ReadonlyMap<string, number>): ArenaLayout {
    const key = [...symbols].map(([k, v]) => `${k}=${v}`).join(',');
    let layout = this.layouts.get(key);
    if (!layout) {
      const slotBytes = new Array<number>(this.plan.slots).fill(0);
      const bytes = new Map<string, number>();
      for (const [name, v] of Object.entries(this.plan.values)) {
        const dims = v.dims.map((d) => evaluateDim(d, symbols));
        if (dims.some((d) => d === undefined)) throw new Error(`${this.plan.file}: cannot size '${name}' [${v.dims.join(', ')}] from the inputs`);
        const n = sizeOf(dims as number[]) * DTYPE_BYTES[v.dtype];
        bytes.set(name, n);
        slotBytes[v.slot] = Math.max(slotBytes[v.slot]!, Math.ceil(n / 16) * 16);
      }
      const slotOffsets: number[] = [];
      let end = this.plan.arenaBase;
      for (const b of slotBytes) { slotOffsets.push(end); end += b; }
      const offsets = new Map(Object.entries(this.plan.values).map(([name, v]) => [name, slotOffsets[v.slot]!]));
      layout = { offsets, bytes };
      // Decoding sees a new context length every step: keep only the most recent layouts.
      if (this.layouts.size >= MAX_LAYOUTS) this.layouts.delete(this.layouts.keys().next().value!);
      this.layouts.set(key, layout);
      if (end > this.memory.buffer.byteLength) this.memory.grow(Math.ceil((end - this.memory.buffer.byteLength) / PAGE));
    }
    return layout;
  }

  /** Hooks for one run of the main graph with these symbol values. */
  hooks(symbols: ReadonlyMap<string, number>): ExecutionHooks {
    const layout = this.prepare(symbols);
    const buffer = this.memory.buffer; // memory only grows in prepare(), so this stays valid for the run
    this.calls.clear();
    const count = (kind: string) => this.calls.set(kind, (this.calls.get(kind) ?? 0) + 1);
    const view = (name: string, dtype: 'float32' | 'int64', dims: readonly number[]): Tensor => {
      const offset = layout.offsets.get(name)!;
      const length = sizeOf(dims);
      if (length * DTYPE_BYTES[dtype] > layout.bytes.get(name)!) {
        throw new Error(`'${name}' has dims [${dims.join(', ')}], more than the ${layout.bytes.get(name)} bytes planned for it`);
      }
      return dtype === 'int64'
        ? { dtype, dims, data: new BigInt64Array(buffer, offset, length) }
        : { dtype, dims, data: new Float32Array(buffer, offset, length) };
    };
    return {
      runNode: (node: GraphNode, inputs) => {
        const call = this.plan.calls[node.name];
        if (!call) return undefined;
        const pointer = (i: number) => call.constants[i] ?? layout.offsets.get(node.inputs[i]!)!;
        const bound = bindCall(call, node, inputs, pointer);
        if (!bound) { count('js-fallback'); return undefined; }
        const out = node.outputs[0]!;
        const y = view(out, 'float32', bound.dims);
        const yPtr = layout.offsets.get(out)!;
        const tiles = this.splits.get(call.fn);
        const args = bound.args(yPtr);
        if (tiles !== undefined && !bound.calls && args[2] === 1) {
          this.runSplit(call.fn, tiles, args[0]!, yPtr);
          count(`${call.kind}:threads`);
          count(call.kind);
          return [y];
        }
        for (const args of bound.calls ? bound.calls(yPtr) : [bound.args(yPtr)]) {
          const status = this.exports[call.fn]!(...args);
          if (typeof status === 'number' && status !== 0) throw new Error(bound.failure?.(status) ?? `kernel ${call.fn} failed (${status})`);
        }
        count(call.kind);
        return [y];
      },
      placeValue: (name, value) => {
        const planned = this.plan.values[name];
        const inMemory = (value.data as ArrayBufferView).buffer === buffer;
        if (!planned) return inMemory ? { ...value, data: (value.data as Float32Array).slice() } as Tensor : value;
        const offset = layout.offsets.get(name)!;
        if (inMemory && (value.data as ArrayBufferView).byteOffset === offset) return value;
        const placed = view(name, planned.dtype, value.dims);
        (placed.data as Float32Array).set(value.data as Float32Array);
        return placed;
      },
    };
  }
}
