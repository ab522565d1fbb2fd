// A copy of a model's graph structure (nodes, attributes, subgraphs, maps) sharing the constant tensors
// themselves: passes that rewrite the copy leave the original untouched.
import type { IrAttr, IrGraph, IrModel } from './graph.ts';
import { isIrGraph } from './graph.ts';

export function cloneModel(model: IrModel): IrModel {
  return { ...model, opsets: { ...model.opsets }, source: { ...model.source }, graph: cloneGraph(model.graph) };
}

function cloneGraph(g: IrGraph): IrGraph {
  return {
    name: g.name,
    inputs: g.inputs.map((v) => ({ ...v, ...(v.shape ? { shape: [...v.shape] } : {}) })),
    outputs: g.outputs.map((v) => ({ ...v, ...(v.shape ? { shape: [...v.shape] } : {}) })),
    nodes: g.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attrs: Object.fromEntries(Object.entries(n.attrs).map(([k, v]) => [k, cloneAttr(v)])) })),
    initializers: new Map(g.initializers),
    types: new Map([...g.types].map(([k, t]) => [k, { ...t, ...(t.shape ? { shape: [...t.shape] } : {}) }])),
  };
}

function cloneAttr(v: IrAttr): IrAttr {
  if (isIrGraph(v)) return cloneGraph(v);
  if (Array.isArray(v) && v.length && typeof v[0] === 'object') return (v as IrGraph[]).map(cloneGraph);
  return v;
}
