// The driver of model.wasm's fused decode step (plan.wasm.decode): fills the parts of its region computed at
// load (folded g ⊙ norm-weight vectors, RoPE tables), then runs tokens through `decode_step(token, pos)` one
// call each and hands back the logits as a view of linear memory — nothing allocated per token.
import { halfToFloat32 } from '../../formats/dtype.ts';
import type { Tensor } from '../../formats/tensor.ts';
import type { WasmDecodePlan } from '../plan.ts';

function floats(t: Tensor | undefined, name: string): Float32Array {
  if (!t) throw new Error(`decode step: constant '${name}' is missing from the weights`);
  return t.dtype === 'float16' || t.dtype === 'bfloat16' ? halfToFloat32(t.dtype, t.data as Uint16Array) : (t.data as Float32Array);
}

/** Writes the folded g vectors and the cos/sin tables (rounded as the graph's float32 Mul and Cos/Sin). */
export function placeDecodeConstants(plan: WasmDecodePlan, memory: WebAssembly.Memory, constants: ReadonlyMap<string, Tensor>): void {
  for (const f of plan.folded) {
    const g = floats(constants.get(f.g), f.g);
    const w = floats(constants.get(f.norm), f.norm);
    const out = new Float32Array(memory.buffer, f.offset, f.length);
    for (let i = 0; i < f.length; i++) out[i] = g[i]! * w[i]!;
  }
  const freqs = plan.rope.inverseFrequencies;
  const half = freqs.length;
  const cos = new Float32Array(memory.buffer, plan.rope.cos, plan.contextLength * half);
  const sin = new Float32Array(memory.buffer, plan.rope.sin, plan.contextLength * half);
  for (let p = 0; p < plan.contextLength; p++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * freqs[i]!);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
}

/**
 * One KV cache in linear memory, shared by whoever decodes with this model: `owner` says whose tokens it
 * holds (a DecodeSession re-runs its context when another one used the cache since).
 */
export class WasmDecodeStep {
  /** Longest context the cache holds. */
  readonly contextLength: number;
  /**
   * From this many tokens, a fresh context is better run as one graph pass (its GEMMs read each weight once for
   * all rows) with the cache copied in (loadCache), than token by token: ~8k token × hidden, at least 2.
   */
  readonly prefillFrom: number;
  owner: unknown;
  private logits: Float32Array;

  constructor(
    private readonly plan: WasmDecodePlan,
    private readonly memory: WebAssembly.Memory,
    private readonly step: (token: number, pos: number) => number,
    private readonly calls: Map<string, number>,
  ) {
    this.contextLength = plan.contextLength;
    this.prefillFrom = Math.max(2, Math.ceil(8192 / plan.hidden));
    this.logits = new Float32Array(memory.buffer, plan.logits, plan.vocab);
  }

  /** Fills positions [0, n) of one layer's key or value cache from a graph run's present, [kvHeads, n, headDim] (batch 1). */
  loadCache(layer: number, kind: 'key' | 'value', present: Float32Array, n: number): void {
    const { kvHeads, headDim: d, cache } = this.plan;
    if (n > this.contextLength || present.length !== kvHeads * n * d || !cache[layer]) {
      throw new Error(`decode step: cannot load ${present.length} values as ${n} positions of layer ${layer}'s ${kind} cache`);
    }
    const target = new Float32Array(this.memory.buffer, cache[layer][kind], n * kvHeads * d);
    for (let h = 0; h < kvHeads; h++) {
      for (let p = 0; p < n; p++) target.set(present.subarray((h * n + p) * d, (h * n + p + 1) * d), (p * kvHeads + h) * d);
    }
  }

  /**
   * Runs `ids` at positions start, start + 1, … (the cache below `start` must hold this context) and returns
   * the logits after the last: a view of linear memory, valid until the next call.
   */
  run(ids: ArrayLike<number>, start: number): Float32Array {
    if (start + ids.length > this.contextLength) {
      throw new Error(`context of ${start + ids.length} tokens exceeds the decode step's KV cache of ${this.contextLength} positions`);
    }
    this.calls.clear();
    for (let i = 0; i < ids.length; i++) {
      const status = this.step(ids[i]!, start + i);
      if (status === 1) throw new RangeError(`token id ${ids[i]} is not in the vocabulary (0..${this.plan.vocab - 1})`);
      if (status !== 0) throw new Error(`decode step failed at position ${start + i} (status ${status})`);
    }
    this.calls.set('decode-step', ids.length);
    // memory.grow (a graph run with a longer input) detaches the old buffer
    if (this.logits.buffer !== this.memory.buffer) this.logits = new Float32Array(this.memory.buffer, this.plan.logits, this.plan.vocab);
    return this.logits;
  }
}
