// Lookups that respect graph nesting: a subgraph sees its own values, then those of enclosing graphs.
import type { Tensor } from '../../formats/tensor.ts';
import type { IrGraph, IrNode, ValueType } from './graph.ts';
import { isIrGraph } from './graph.ts';

/** A graph together with the graphs enclosing it, innermost first. */
export class GraphScope {
  constructor(readonly graph: IrGraph, readonly parent?: GraphScope) {}

  constant(name: string): Tensor | undefined {
    return this.graph.initializers.get(name) ?? this.parent?.constant(name);
  }

  type(name: string): ValueType | undefined {
    return this.graph.types.get(name) ?? this.parent?.type(name);
  }

  /** The scope of every graph nested in this one (depth-first), this one first. */
  *walk(): Generator<GraphScope> {
    yield this;
    for (const node of this.graph.nodes) for (const g of subgraphsOf(node)) yield* new GraphScope(g, this).walk();
  }
}

export function subgraphsOf(node: IrNode): IrGraph[] {
  const graphs: IrGraph[] = [];
  for (const attr of Object.values(node.attrs)) {
    if (isIrGraph(attr)) graphs.push(attr);
    else if (Array.isArray(attr)) for (const g of attr) if (typeof g === 'object' && isIrGraph(g)) graphs.push(g);
  }
  return graphs;
}

/** How many times each value name is read in `graph`, counting reads from inside its subgraphs. */
export function countReads(graph: IrGraph): Map<string, number> {
  const reads = new Map<string, number>();
  const visit = (g: IrGraph) => {
    for (const node of g.nodes) {
      for (const name of node.inputs) if (name) reads.set(name, (reads.get(name) ?? 0) + 1);
      for (const sub of subgraphsOf(node)) visit(sub);
    }
    for (const o of g.outputs) reads.set(o.name, (reads.get(o.name) ?? 0) + 1);
  };
  visit(graph);
  return reads;
}
