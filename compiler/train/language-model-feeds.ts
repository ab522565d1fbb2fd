// Feeds of a decoder graph built by the checkpoint templates: input_ids [batch, sequence] and an empty (or
// given) KV cache per layer.
import type { Tensor } from '../../formats/tensor.ts';
import { tensor } from '../../formats/tensor.ts';
import type { IrGraph } from '../ir/graph.ts';

const PAST = /^past_key_values\.(\d+)\.(key|value)$/;

export function decoderFeeds(graph: IrGraph, ids: ArrayLike<number>, batch: number, past?: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
  const feeds = new Map<string, Tensor>();
  feeds.set('input_ids', tensor('int64', [batch, ids.length / batch], BigInt64Array.from(Array.from(ids, (v) => BigInt(v)))));
  for (const input of graph.inputs) {
    const m = PAST.exec(input.name);
    if (!m) continue;
    const given = past?.get(`present.${m[1]}.${m[2]}`);
    if (given) { feeds.set(input.name, given); continue; }
    const [, heads, , headDim] = input.shape ?? [];
    if (typeof heads !== 'number' || typeof headDim !== 'number') throw new Error(`graph input '${input.name}': KV cache dims must be fixed, got [${input.shape?.join(', ')}]`);
    feeds.set(input.name, tensor('float32', [batch, heads, 0, headDim], new Float32Array(0)));
  }
  return feeds;
}

/** Whether `graph` is a decoder with input_ids and logits (what distillation trains). */
export function isDecoderGraph(graph: IrGraph): boolean {
  return graph.inputs.some((i) => i.name === 'input_ids') && graph.outputs.some((o) => o.name === 'logits');
}
