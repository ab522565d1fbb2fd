// The compiler's graph IR: ONNX-shaped (named values, nodes in topological order) plus inferred types.
import type { DecoderSpec } from './decoder-spec.ts';
import type { DType } from '../../formats/dtype.ts';
import type { Tensor } from '../../formats/tensor.ts';

/** A dimension: a size, or a symbol such as 'batch' or 'sequence' that is fixed only at run time. */
export type Dim = number | string;

/** dtype plus shape; `shape` undefined means the rank itself is unknown. */
export interface ValueType {
  dtype: DType;
  shape?: Dim[];
}

export interface ValueInfo extends ValueType {
  name: string;
}

export type IrAttr = number | string | number[] | string[] | Tensor | IrGraph | IrGraph[];

export interface IrNode {
  /** Unique within the model; derived from the source graph (ONNX node name or its first output). */
  name: string;
  /** ONNX op type (`MatMul`) or one of ours (`OneBitLinear`). */
  op: string;
  /** '' for the default ONNX domain. */
  domain: string;
  /** Value names; '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attrs: Record<string, IrAttr>;
}

export interface IrGraph {
  name: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  nodes: IrNode[];
  /** Constant tensors by value name (ONNX initializers and folded `Constant` nodes). */
  initializers: Map<string, Tensor>;
  /** Inferred (or declared) type of every value known so far, inputs and outputs included. */
  types: Map<string, ValueType>;
}

export interface IrModel {
  graph: IrGraph;
  /** Opset version per domain ('' is the default ONNX domain). */
  opsets: Record<string, number>;
  /** Where the model came from: shown in diagnostics and in the bundle's header. */
  source: { path: string; format: 'onnx' | 'safetensors' | 'pytorch'; producer?: string };
  /** Set by the LLaMA-family template: the decoder's layout, for the WASM target's fused decode step. */
  decoder?: DecoderSpec;
  /** Set by the checkpoint templates: the residual stream after each decoder layer, for distillation's hidden-state loss. */
  hiddenStates?: string[];
}

export function isIrGraph(value: IrAttr | undefined): value is IrGraph {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'nodes' in value;
}

export function defaultOpset(model: IrModel): number {
  return model.opsets[''] ?? model.opsets['ai.onnx'] ?? 1;
}

/** Every graph of the model: the main graph first, then subgraphs depth-first. */
export function* allGraphs(graph: IrGraph): Generator<IrGraph> {
  yield graph;
  for (const node of graph.nodes) {
    for (const attr of Object.values(node.attrs)) {
      if (isIrGraph(attr)) yield* allGraphs(attr);
      else if (Array.isArray(attr)) for (const g of attr) if (typeof g === 'object') yield* allGraphs(g as IrGraph);
    }
  }
}
