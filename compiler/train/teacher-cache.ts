// The frozen teacher's outputs per training window, kept across epochs (the teacher's forward pass is a third
// of a step): logits and hidden states of each window, up to a memory budget.
import type { Tensor } from '../../formats/tensor.ts';
import type { IrGraph } from '../ir/graph.ts';
import { Tape } from './autodiff/tape.ts';
import { decoderFeeds } from './language-model-feeds.ts';

export interface TeacherOutputs {
  /** [rows·seq, vocab] */
  logits: Float32Array;
  /** Per layer, [rows·seq, hidden]. */
  hidden: Float32Array[];
}

/** Default budget: 2 GiB of cached teacher outputs (stories260K on the TinyStories sample needs 1.15 GB). */
export const TEACHER_CACHE_BYTES = 2 ** 31;

export class TeacherCache {
  private readonly cache = new Map<number, TeacherOutputs>();
  private bytes = 0;
  private readonly tape: Tape;
  private readonly none = new Map<string, Tensor>();

  constructor(private readonly graph: IrGraph, private readonly hiddenStates: readonly string[], private readonly budget = TEACHER_CACHE_BYTES) {
    this.tape = new Tape(graph);
  }

  /** Teacher outputs for `rows` windows of `seq` tokens (`ids` row-major), by window index for the cache. */
  outputs(ids: Int32Array, windows: readonly number[], seq: number): TeacherOutputs {
    const cached = windows.map((w) => this.cache.get(w));
    if (cached.every((c) => c !== undefined)) return concat(cached as TeacherOutputs[]);
    const values = this.tape.run(decoderFeeds(this.graph, ids, windows.length), this.none).values;
    const logits = values.get('logits')!.data as Float32Array;
    const hidden = this.hiddenStates.map((h) => values.get(h)!.data as Float32Array);
    const vocab = logits.length / (windows.length * seq);
    const width = (hidden[0]?.length ?? 0) / (windows.length * seq);
    windows.forEach((w, r) => {
      const perWindow = seq * (vocab + width * hidden.length) * 4;
      if (this.cache.has(w) || this.bytes + perWindow > this.budget) return;
      this.cache.set(w, { logits: logits.slice(r * seq * vocab, (r + 1) * seq * vocab), hidden: hidden.map((h) => h.slice(r * seq * width, (r + 1) * seq * width)) });
      this.bytes += perWindow;
    });
    return { logits, hidden };
  }
}

function concat(parts: TeacherOutputs[]): TeacherOutputs {
  const join = (arrays: Float32Array[]) => {
    const out = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
    let at = 0;
    for (const a of arrays) { out.set(a, at); at += a.length; }
    return out;
  };
  return { logits: join(parts.map((p) => p.logits)), hidden: parts[0]!.hidden.map((_, l) => join(parts.map((p) => p.hidden[l]!))) };
}
