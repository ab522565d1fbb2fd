// Finds every Linear: MatMul with a constant 2-D second input (optionally followed by an Add of a
// constant bias) and Gemm with a constant B, in the main graph and in If/Loop bodies.
import type { Tensor } from '../../formats/tensor.ts';
import { isFloat } from '../../formats/dtype.ts';
import type { IrModel, IrNode } from '../ir/graph.ts';
import { countReads, GraphScope } from '../ir/scope.ts';

export interface LinearSite {
  scope: GraphScope;
  node: IrNode;
  source: 'MatMul' | 'MatMul+Add' | 'Gemm';
  /** The constant holding the weight. */
  weight: string;
  /** True when the stored weight is [in, out] (MatMul B, Gemm with transB=0); W itself is [out, in]. */
  transposed: boolean;
  out: number;
  in: number;
  /** The Add node whose constant operand becomes the bias (MatMul+Add). */
  biasAdd?: { node: IrNode; operand: string };
  /** Stable, readable name of the layer, derived from the graph (`model.layers.0.self_attn.q_proj`). */
  layer: string;
}

export function findLinears(model: IrModel): LinearSite[] {
  const sites: LinearSite[] = [];
  const reads = countReads(model.graph);
  for (const scope of new GraphScope(model.graph).walk()) {
    const consumers = new Map<string, IrNode[]>();
    for (const node of scope.graph.nodes) for (const i of node.inputs) if (i) consumers.set(i, [...(consumers.get(i) ?? []), node]);
    for (const node of scope.graph.nodes) {
      const site = node.domain === '' && (node.op === 'MatMul' ? matMulSite(scope, node, consumers, reads) : node.op === 'Gemm' ? gemmSite(scope, node) : undefined);
      if (site) sites.push(site);
    }
  }
  nameLayers(sites);
  return sites;
}

function weightOf(scope: GraphScope, name: string | undefined): Tensor | undefined {
  const w = name ? scope.constant(name) : undefined;
  return w && w.dims.length === 2 && isFloat(w.dtype) && w.dims[0]! > 0 && w.dims[1]! > 0 ? w : undefined;
}

function matMulSite(scope: GraphScope, node: IrNode, consumers: Map<string, IrNode[]>, reads: Map<string, number>): LinearSite | undefined {
  const w = weightOf(scope, node.inputs[1]);
  if (!w || scope.constant(node.inputs[0]!)) return undefined;
  const [inDim, outDim] = w.dims as [number, number];
  const site: LinearSite = { scope, node, source: 'MatMul', weight: node.inputs[1]!, transposed: true, out: outDim, in: inDim, layer: '' };
  const y = node.outputs[0]!;
  const users = consumers.get(y) ?? [];
  const add = users[0];
  if (users.length === 1 && reads.get(y) === 1 && add!.op === 'Add' && add!.domain === '') {
    const operand = add!.inputs[0] === y ? add!.inputs[1]! : add!.inputs[0]!;
    const bias = scope.constant(operand);
    if (bias && isFloat(bias.dtype) && bias.dims.length === 1 && bias.dims[0] === outDim) {
      site.source = 'MatMul+Add';
      site.biasAdd = { node: add!, operand };
    }
  }
  return site;
}

function gemmSite(scope: GraphScope, node: IrNode): LinearSite | undefined {
  const w = weightOf(scope, node.inputs[1]);
  if (!w || scope.constant(node.inputs[0]!)) return undefined;
  const transB = node.attrs['transB'] === 1;
  const [rows, cols] = w.dims as [number, number];
  return { scope, node, source: 'Gemm', weight: node.inputs[1]!, transposed: !transB, out: transB ? rows : cols, in: transB ? cols : rows, layer: '' };
}

/** `/model/layers.0/mlp/up_proj/MatMul` → `model.layers.0.mlp.up_proj`; `fc1.weight` → `fc1`. */
function baseName(site: LinearSite): string {
  if (!/^onnx::|^\d+$|^_/.test(site.weight)) return site.weight.replace(/\.weight$/, '');
  const fromNode = site.node.name.replace(/^\//, '').replace(/\/(MatMul|Gemm)(_\d+)?(#\d+)?$/, '').replaceAll('/', '.');
  return fromNode || site.weight;
}

function nameLayers(sites: LinearSite[]): void {
  // One layer per (weight tensor, orientation): a weight shared by several nodes — by name, or through
  // Identity — is decomposed once.
  const byWeight = new Map<Tensor, Map<boolean, string>>();
  const taken = new Set<string>();
  for (const site of sites) {
    const tensor = site.scope.constant(site.weight)!;
    const orientations = byWeight.get(tensor) ?? new Map<boolean, string>();
    byWeight.set(tensor, orientations);
    let layer = orientations.get(site.transposed);
    if (!layer) {
      const base = baseName(site);
      layer = base;
      for (let k = 2; taken.has(layer); k++) layer = `${base}_${k}`;
      taken.add(layer);
      orientations.set(site.transposed, layer);
    }
    site.layer = layer;
  }
}
