// Training-only pass: MatMul(q, kᵀ) → [Mul|Div by a constant scalar] → Add(mask) → Softmax(last axis) →
// MatMul(·, v) becomes one FusedAttention node (autodiff/attention.ts). Returns a new graph sharing the
// original's constants; the original (which the bundle is compiled from) is left as it is.
import type { IrGraph, IrNode } from '../ir/graph.ts';
import { floatScalar } from '../ir/constant-values.ts';
import { ATTENTION_OP } from './autodiff/attention.ts';
import { TRAIN_DOMAIN } from './student.ts';

export function fuseAttention(graph: IrGraph): IrGraph {
  const producer = new Map<string, IrNode>();
  const readers = new Map<string, number>();
  for (const node of graph.nodes) {
    for (const o of node.outputs) producer.set(o, node);
    for (const i of node.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
  }
  for (const o of graph.outputs) readers.set(o.name, (readers.get(o.name) ?? 0) + 1);
  const only = (name: string) => readers.get(name) === 1;
  const consumers = new Map<string, IrNode>();
  for (const node of graph.nodes) for (const i of node.inputs) consumers.set(i, node);

  const removed = new Set<IrNode>();
  const replacement = new Map<IrNode, IrNode>();
  for (const softmax of graph.nodes) {
    if (softmax.op !== 'Softmax' || softmax.domain !== '' || (softmax.attrs['axis'] ?? -1) !== -1) continue;
    const out = consumers.get(softmax.outputs[0]!);
    if (!out || out.op !== 'MatMul' || out.inputs[0] !== softmax.outputs[0] || !only(softmax.outputs[0]!)) continue;
    const add = producer.get(softmax.inputs[0]!);
    if (!add || add.op !== 'Add' || !only(add.outputs[0]!)) continue;
    for (const side of [0, 1]) {
      const chain = scoresChain(graph, producer, only, add.inputs[side]!);
      if (!chain) continue;
      const fused: IrNode = {
        name: `${chain.scores.name}/FusedAttention`, op: ATTENTION_OP, domain: TRAIN_DOMAIN,
        inputs: [chain.scores.inputs[0]!, chain.scores.inputs[1]!, out.inputs[1]!, add.inputs[1 - side]!],
        outputs: [out.outputs[0]!, `${softmax.outputs[0]}::fused`], attrs: { scale: chain.scale },
      };
      for (const n of [chain.scores, chain.scaling, add, softmax, out]) if (n) removed.add(n);
      replacement.set(out, fused);
      break;
    }
  }
  const nodes = graph.nodes.flatMap((n) => (replacement.has(n) ? [replacement.get(n)!] : removed.has(n) ? [] : [n]));
  return { ...graph, nodes };
}

/** MatMul(q, kᵀ), optionally scaled by a constant: the scores the mask is added to. */
function scoresChain(graph: IrGraph, producer: Map<string, IrNode>, only: (name: string) => boolean, value: string): { scores: IrNode; scaling?: IrNode; scale: number } | undefined {
  const node = producer.get(value);
  if (!node || !only(value)) return undefined;
  if (node.op === 'MatMul') return { scores: node, scale: 1 };
  if (node.op !== 'Mul' && node.op !== 'Div') return undefined;
  const scores = producer.get(node.inputs[0]!);
  const c = floatScalar(graph.initializers.get(node.inputs[1]!));
  if (!scores || scores.op !== 'MatMul' || !only(node.inputs[0]!) || c === undefined) return undefined;
  return { scores, scaling: node, scale: node.op === 'Mul' ? c : 1 / c };
}
