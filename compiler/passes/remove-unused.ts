// Drops nodes whose outputs nobody reads and initializers nobody reads (after rewrites and folding).
import type { IrGraph, IrModel } from '../ir/graph.ts';
import { countReads, subgraphsOf } from '../ir/scope.ts';

export function removeUnused(model: IrModel): number {
  let removed = 0;
  for (;;) {
    const reads = countReads(model.graph);
    const before = removed;
    const prune = (graph: IrGraph) => {
      graph.nodes = graph.nodes.filter((node) => {
        const used = node.outputs.some((o) => o && reads.has(o)) || node.op === 'If' && node.outputs.length === 0;
        if (!used) removed++;
        return used;
      });
      for (const [name] of graph.initializers) if (!reads.has(name)) { graph.initializers.delete(name); graph.types.delete(name); }
      for (const node of graph.nodes) for (const g of subgraphsOf(node)) prune(g);
    };
    prune(model.graph);
    if (removed === before) return removed;
  }
}
