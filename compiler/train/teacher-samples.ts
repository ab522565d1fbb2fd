// `--distill self:N`: training text sampled from the teacher itself, as the paper does. Batches of sequences
// start at BOS and are decoded token by token through the graph's KV cache, sampling from the teacher's full
// distribution (temperature 1); finished sequences are concatenated into one token stream.
import type { Tensor } from '../../formats/tensor.ts';
import type { IrGraph } from '../ir/graph.ts';
import { Tape } from './autodiff/tape.ts';
import { decoderFeeds } from './language-model-feeds.ts';
import type { Rng } from './rng.ts';

export interface TeacherSampleOptions {
  /** Tokens per sampled sequence, BOS included. */
  length: number;
  bos: number;
  /** Sequences decoded side by side. */
  batch?: number;
  rng: Rng;
  onProgress?: (done: number, total: number) => void;
}

export function sampleFromTeacher(graph: IrGraph, total: number, options: TeacherSampleOptions): Int32Array {
  const out = new Int32Array(total);
  const batch = options.batch ?? 32;
  const tape = new Tape(graph);
  const none = new Map<string, Tensor>();
  let filled = 0;
  while (filled < total) {
    const rows = Array.from({ length: batch }, () => [options.bos]);
    let past: Map<string, Tensor> | undefined;
    let next = rows.map((r) => r[0]!);
    for (let t = 1; t < options.length; t++) {
      const values = tape.run(decoderFeeds(graph, next, batch, past), none).values;
      const logits = values.get('logits')!.data as Float32Array;
      const vocab = logits.length / batch;
      next = rows.map((row, r) => {
        const id = sample(logits, r * vocab, vocab, options.rng);
        row.push(id);
        return id;
      });
      past = new Map([...values].filter(([name]) => name.startsWith('present.')));
    }
    for (const row of rows) {
      const n = Math.min(row.length, total - filled);
      out.set(row.slice(0, n), filled);
      filled += n;
      if (filled === total) break;
    }
    options.onProgress?.(filled, total);
  }
  return out;
}

function sample(logits: Float32Array, base: number, vocab: number, rng: Rng): number {
  let max = -Infinity;
  for (let v = 0; v < vocab; v++) max = Math.max(max, logits[base + v]!);
  let sum = 0;
  for (let v = 0; v < vocab; v++) sum += Math.exp(logits[base + v]! - max);
  let u = rng.next() * sum;
  for (let v = 0; v < vocab; v++) {
    u -= Math.exp(logits[base + v]! - max);
    if (u <= 0) return v;
  }
  return vocab - 1;
}
