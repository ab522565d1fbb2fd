// Recognises the RMSNorm that PyTorch exports for Llama-style models and replaces it by one RMSNorm node:
//   Pow(x, 2) → ReduceMean(last axis, keepdims) → Add(eps) → Sqrt → Div(1, ·) | Reciprocal → Mul(x, ·) [→ Mul(weight, ·)]
// (also x / Sqrt(...) directly). Every intermediate value must have no other reader.
import { floatScalar, smallInts } from '../ir/constant-values.ts';
import type { IrGraph, IrModel, IrNode } from '../ir/graph.ts';
import { defaultOpset } from '../ir/graph.ts';
import { countReads, GraphScope } from '../ir/scope.ts';

export const RMS_NORM_OP = 'RMSNorm';
export const ONEBITC_DOMAIN = 'ai.onebitc';

const scalar = floatScalar;

export function fuseRmsNorm(model: IrModel): number {
  const reads = countReads(model.graph);
  const opset = defaultOpset(model);
  let fused = 0;
  for (const scope of new GraphScope(model.graph).walk()) {
    const graph = scope.graph;
    const producers = new Map<string, IrNode>();
    const consumer = new Map<string, IrNode>();
    for (const n of graph.nodes) {
      for (const o of n.outputs) producers.set(o, n);
      for (const i of n.inputs) if (i) consumer.set(i, n);
    }
    /** The only reader of `value`, if it has exactly one and it is an `op` node. */
    const onlyReader = (value: string, ...ops: string[]) => {
      const n = consumer.get(value);
      return reads.get(value) === 1 && n && n.domain === '' && ops.includes(n.op) ? n : undefined;
    };
    const other = (n: IrNode, value: string) => (n.inputs[0] === value ? n.inputs[1]! : n.inputs[0]!);

    for (const pow of [...graph.nodes]) {
      if (pow.op !== 'Pow' || pow.domain !== '' || scalar(scope.constant(pow.inputs[1]!)) !== 2) continue;
      const x = pow.inputs[0]!;
      const shape = scope.type(x)?.shape;
      if (scope.type(x)?.dtype !== 'float32' || !shape?.length) continue;
      const mean = onlyReader(pow.outputs[0]!, 'ReduceMean');
      if (!mean || !isLastAxisKeepDims(mean, scope, shape.length, opset)) continue;
      const add = onlyReader(mean.outputs[0]!, 'Add');
      const eps = add && scalar(scope.constant(other(add, mean.outputs[0]!)));
      if (!add || eps === undefined) continue;
      const sqrt = onlyReader(add.outputs[0]!, 'Sqrt');
      if (!sqrt) continue;
      const chain: IrNode[] = [pow, mean, add, sqrt];
      let normalized: string | undefined;
      const next = onlyReader(sqrt.outputs[0]!, 'Div', 'Reciprocal');
      if (next?.op === 'Div' && next.inputs[0] === x && next.inputs[1] === sqrt.outputs[0]) {
        chain.push(next);
        normalized = next.outputs[0];
      } else if (next && (next.op === 'Reciprocal' || (next.inputs[1] === sqrt.outputs[0] && scalar(scope.constant(next.inputs[0]!)) === 1))) {
        const mul = onlyReader(next.outputs[0]!, 'Mul');
        if (mul && other(mul, next.outputs[0]!) === x) {
          chain.push(next, mul);
          normalized = mul.outputs[0];
        }
      }
      if (!normalized) continue;
      const inputs = [x];
      let output = normalized;
      const scale = onlyReader(normalized, 'Mul');
      const weight = scale && scope.constant(other(scale, normalized));
      if (scale && weight?.dtype === 'float32' && weight.dims.length === 1 && weight.dims[0] === shape.at(-1)) {
        chain.push(scale);
        inputs.push(other(scale, normalized));
        output = scale.outputs[0]!;
      }
      replaceChain(graph, chain, { name: `${pow.name}/rms_norm`, op: RMS_NORM_OP, domain: ONEBITC_DOMAIN, inputs, outputs: [output], attrs: { epsilon: eps, axis: -1 } });
      fused++;
    }
  }
  return fused;
}

function isLastAxisKeepDims(mean: IrNode, scope: GraphScope, rank: number, opset: number): boolean {
  if (mean.attrs['keepdims'] === 0) return false;
  const axes = opset >= 18 && mean.inputs[1] ? smallInts(scope.constant(mean.inputs[1])) : mean.attrs['axes'];
  return Array.isArray(axes) && axes.length === 1 && (axes[0] === -1 || axes[0] === rank - 1);
}

/** Puts `fused` where the last node of `chain` was and removes the chain. */
function replaceChain(graph: IrGraph, chain: IrNode[], fused: IrNode): void {
  const last = Math.max(...chain.map((n) => graph.nodes.indexOf(n)));
  graph.nodes[last] = fused;
  const drop = new Set(chain);
  graph.nodes = graph.nodes.filter((n) => !drop.has(n));
  for (const n of chain) for (const o of n.outputs) if (o !== fused.outputs[0]) graph.types.delete(o);
}
