// Held-out perplexity of a decoder graph (teacher or student) on token windows: exp(mean next-token NLL).
import type { Tensor } from '../../formats/tensor.ts';
import type { IrGraph } from '../ir/graph.ts';
import { Tape } from './autodiff/tape.ts';
import { DistillError } from './distill-errors.ts';
import { decoderFeeds } from './language-model-feeds.ts';

export interface PerplexityOptions {
  /** Tokens per window (each window predicts its tokens 1..seq from the ones before). */
  seq: number;
  /** Windows per forward pass. */
  batch?: number;
  /** Evaluate at most this many windows (evenly spread), for quick checks during training. */
  maxWindows?: number;
}

export function perplexity(graph: IrGraph, params: ReadonlyMap<string, Tensor>, tokens: Int32Array, options: PerplexityOptions): { perplexity: number; nll: number; tokens: number } {
  const window = options.seq + 1;
  let starts = Array.from({ length: Math.floor((tokens.length - 1) / options.seq) }, (_, i) => i * options.seq).filter((s) => s + window <= tokens.length);
  if (starts.length === 0) throw new DistillError(`held-out text has ${tokens.length} tokens: fewer than one window of ${window}`);
  if (options.maxWindows !== undefined && starts.length > options.maxWindows) {
    const every = starts.length / options.maxWindows;
    starts = Array.from({ length: options.maxWindows }, (_, i) => starts[Math.floor(i * every)]!);
  }
  const batch = options.batch ?? 8;
  const tape = new Tape(graph);
  let nll = 0;
  let count = 0;
  for (let b = 0; b < starts.length; b += batch) {
    const group = starts.slice(b, b + batch);
    const ids = new Int32Array(group.length * options.seq);
    group.forEach((s, r) => ids.set(tokens.subarray(s, s + options.seq), r * options.seq));
    const logits = tape.run(decoderFeeds(graph, ids, group.length), params).values.get('logits')!;
    const vocab = logits.dims.at(-1)!;
    const data = logits.data as Float32Array;
    group.forEach((s, r) => {
      for (let t = 0; t < options.seq; t++) {
        const base = (r * options.seq + t) * vocab;
        let max = -Infinity;
        for (let v = 0; v < vocab; v++) max = Math.max(max, data[base + v]!);
        let sum = 0;
        for (let v = 0; v < vocab; v++) sum += Math.exp(data[base + v]! - max);
        nll += max + Math.log(sum) - data[base + tokens[s + t + 1]!]!;
        count++;
      }
    });
  }
  return { perplexity: Math.exp(nll / count), nll: nll / count, tokens: count };
}
