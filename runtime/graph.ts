// The graph the runtime executes: ONNX semantics, names as edges. The compiler emits it as the plan.
import type { Tensor } from '../formats/tensor.ts';

/** An attribute value. ONNX ints become numbers (int64 attribute values beyond 2^53 lose precision). */
export type AttrValue = number | string | number[] | string[] | Tensor | RuntimeGraph | RuntimeGraph[];

export interface GraphNode {
  readonly name: string;
  /** ONNX op type (`MatMul`) or one of ours (`OneBitLinear`). */
  readonly op: string;
  /** Value names; '' marks an omitted optional input. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, AttrValue>>;
}

export interface RuntimeGraph {
  readonly name: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly nodes: readonly GraphNode[];
  /** Constants owned by this graph (subgraphs carry theirs inline; the top graph's come from weights). */
  readonly initializers?: Readonly<Record<string, Tensor>>;
}

export function isRuntimeGraph(value: AttrValue | undefined): value is RuntimeGraph {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'nodes' in value;
}
