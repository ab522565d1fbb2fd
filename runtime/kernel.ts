// What a reference kernel is: a pure function from input tensors and attributes to output tensors.
import type { AttrValue, RuntimeGraph } from './graph.ts';
import { isRuntimeGraph } from './graph.ts';
import type { Tensor } from '../formats/tensor.ts';

export interface KernelContext {
  /** Version of the default ONNX domain the model imports (kernels pick the semantics of that opset). */
  readonly opset: number;
  /** How many outputs the node names (Split into equal parts splits into that many). */
  readonly outputCount: number;
  /** Runs a subgraph (If/Loop bodies); names not bound by `feeds` resolve in the enclosing scopes. */
  runSubgraph(graph: RuntimeGraph, feeds: ReadonlyMap<string, Tensor>): Tensor[];
}

/** Inputs are positional; an omitted optional input is `undefined`. */
export type Kernel = (inputs: readonly (Tensor | undefined)[], attrs: Attributes, ctx: KernelContext) => Tensor[];
export type KernelTable = Readonly<Record<string, Kernel>>;

/** A kernel's misuse of its inputs or attributes: the executor adds the node and op to the message. */
export class KernelError extends Error {
  override name = 'KernelError';
}

/** Typed, validated access to a node's attributes. */
export class Attributes {
  constructor(readonly values: Readonly<Record<string, AttrValue>>) {}

  has(name: string): boolean {
    return name in this.values;
  }

  int(name: string, fallback?: number): number {
    const v = this.values[name] ?? fallback;
    if (typeof v !== 'number') throw new KernelError(`attribute '${name}' must be an int`);
    return v;
  }

  float(name: string, fallback?: number): number {
    return this.int(name, fallback);
  }

  ints(name: string, fallback?: number[]): number[] {
    const v = this.values[name] ?? fallback;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'number')) throw new KernelError(`attribute '${name}' must be a list of ints`);
    return v as number[];
  }

  floats(name: string, fallback?: number[]): number[] {
    return this.ints(name, fallback);
  }

  string(name: string, fallback?: string): string {
    const v = this.values[name] ?? fallback;
    if (typeof v !== 'string') throw new KernelError(`attribute '${name}' must be a string`);
    return v;
  }

  strings(name: string, fallback?: string[]): string[] {
    const v = this.values[name] ?? fallback;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new KernelError(`attribute '${name}' must be a list of strings`);
    return v as string[];
  }

  tensor(name: string): Tensor {
    const v = this.values[name];
    if (typeof v !== 'object' || v === null || Array.isArray(v) || isRuntimeGraph(v)) throw new KernelError(`attribute '${name}' must be a tensor`);
    return v;
  }

  optionalTensor(name: string): Tensor | undefined {
    return this.has(name) ? this.tensor(name) : undefined;
  }

  graph(name: string): RuntimeGraph {
    const v = this.values[name];
    if (!isRuntimeGraph(v)) throw new KernelError(`attribute '${name}' must be a graph`);
    return v;
  }
}

/** Returns input `index`, or fails with a message naming it when a required input is missing. */
export function required(inputs: readonly (Tensor | undefined)[], index: number): Tensor {
  const t = inputs[index];
  if (!t) throw new KernelError(`input ${index} is required`);
  return t;
}
