// The reference interpreter: runs a RuntimeGraph node by node with the plain TypeScript kernels.
import type { Tensor } from '../formats/tensor.ts';
import type { GraphNode, RuntimeGraph } from './graph.ts';
import { isRuntimeGraph } from './graph.ts';
import type { KernelContext, KernelTable } from './kernel.ts';
import { Attributes } from './kernel.ts';

/** A failure while running one node: names the node and op, as every runtime error should. */
export class NodeError extends Error {
  override name = 'NodeError';
  constructor(readonly node: string, readonly op: string, detail: string) {
    super(`node '${node}' (${op}): ${detail}`);
  }
}

/** Values visible to a graph: its own, then those of the graphs that enclose it. */
class Scope {
  private readonly values = new Map<string, Tensor>();
  constructor(private readonly parent?: Scope) {}
  get(name: string): Tensor | undefined {
    return this.values.get(name) ?? this.parent?.get(name);
  }
  set(name: string, value: Tensor): void {
    this.values.set(name, value);
  }
  delete(name: string): void {
    this.values.delete(name);
  }
}

/** Names a node reads, including the outer-scope values its subgraphs read. */
function readsOf(node: GraphNode): string[] {
  const reads = node.inputs.filter((n) => n !== '');
  for (const attr of Object.values(node.attrs)) {
    const graphs = isRuntimeGraph(attr) ? [attr] : Array.isArray(attr) ? attr.filter(isRuntimeGraph) : [];
    for (const g of graphs) reads.push(...freeVariables(g));
  }
  return reads;
}

const freeVariableCache = new WeakMap<RuntimeGraph, string[]>();
function freeVariables(graph: RuntimeGraph): string[] {
  let free = freeVariableCache.get(graph);
  if (free) return free;
  const defined = new Set<string>([...graph.inputs, ...Object.keys(graph.initializers ?? {})]);
  const found = new Set<string>();
  for (const node of graph.nodes) {
    for (const r of readsOf(node)) if (!defined.has(r)) found.add(r);
    for (const o of node.outputs) defined.add(o);
  }
  for (const o of graph.outputs) if (!defined.has(o)) found.add(o);
  free = [...found];
  freeVariableCache.set(graph, free);
  return free;
}

/** For each node index, the values whose last reader it is (freed right after it runs). */
const lastUseCache = new WeakMap<RuntimeGraph, string[][]>();
function lastUses(graph: RuntimeGraph): string[][] {
  let result = lastUseCache.get(graph);
  if (result) return result;
  const last = new Map<string, number>();
  graph.nodes.forEach((node, i) => { for (const r of readsOf(node)) last.set(r, i); });
  for (const o of graph.outputs) last.set(o, Infinity);
  result = graph.nodes.map(() => []);
  for (const [name, i] of last) if (i !== Infinity) result[i]!.push(name);
  lastUseCache.set(graph, result);
  return result;
}

/** How an accelerator (the WASM backend) takes part in running the main graph. */
export interface ExecutionHooks {
  /** Runs the node and returns its outputs, or undefined to let the reference kernel run it. */
  runNode(node: GraphNode, inputs: readonly (Tensor | undefined)[]): Tensor[] | undefined;
  /** Sees every value bound in the main graph (feeds and node outputs); returns what to keep instead. */
  placeValue(name: string, value: Tensor): Tensor;
}

export class Interpreter {
  constructor(
    private readonly kernels: KernelTable,
    private readonly opset: number,
  ) {}

  /**
   * Runs `graph` with `feeds` bound to its inputs; `outer` supplies constants and enclosing values; `hooks`
   * (main graph only) let an accelerator run nodes and place values.
   */
  run(graph: RuntimeGraph, feeds: ReadonlyMap<string, Tensor>, outer?: Scope, hooks?: ExecutionHooks): Tensor[] {
    const scope = new Scope(outer);
    for (const [name, t] of Object.entries(graph.initializers ?? {})) scope.set(name, t);
    for (const [name, t] of feeds) scope.set(name, hooks ? hooks.placeValue(name, t) : t);
    const frees = lastUses(graph);
    graph.nodes.forEach((node, i) => {
      this.runNode(node, scope, hooks);
      for (const name of frees[i]!) if (!feeds.has(name)) scope.delete(name);
    });
    return graph.outputs.map((name) => {
      const t = scope.get(name);
      if (!t) throw new Error(`graph '${graph.name}': output '${name}' was never computed`);
      return t;
    });
  }

  /** A scope holding the top-level constants, to pass as `outer` to run(). */
  static constants(values: ReadonlyMap<string, Tensor>): Scope {
    const scope = new Scope();
    for (const [name, t] of values) scope.set(name, t);
    return scope;
  }

  private runNode(node: GraphNode, scope: Scope, hooks: ExecutionHooks | undefined): void {
    const kernel = this.kernels[node.op];
    if (!kernel) throw new NodeError(node.name, node.op, 'no kernel for this op');
    const inputs = node.inputs.map((name) => {
      if (name === '') return undefined;
      const t = scope.get(name);
      if (!t) throw new NodeError(node.name, node.op, `input '${name}' is not defined`);
      return t;
    });
    const ctx: KernelContext = {
      opset: this.opset,
      outputCount: node.outputs.length,
      runSubgraph: (graph, feeds) => this.run(graph, feeds, scope),
    };
    let outputs: Tensor[];
    try {
      outputs = hooks?.runNode(node, inputs) ?? kernel(inputs, new Attributes(node.attrs), ctx);
    } catch (e) {
      if (e instanceof NodeError) throw e;
      throw new NodeError(node.name, node.op, e instanceof Error ? e.message : String(e));
    }
    node.outputs.forEach((name, i) => {
      if (name === '') return;
      const t = outputs[i];
      if (!t) throw new NodeError(node.name, node.op, `kernel produced no output ${i} ('${name}')`);
      scope.set(name, hooks ? hooks.placeValue(name, t) : t);
    });
  }
}
