// The student of distillation (ONEBIT.md §3): the teacher's graph with every Linear (but the kept ones, such as
// the LM head) replaced by OneBitTrain — a latent weight whose sign is the 1-bit matrix, and g, h initialised by
// SVID — plus, by default, the paper's post-LayerNorm. Trained: latent weights, g, h and the norms' weights.
import { halfToFloat32 } from '../../formats/dtype.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { tensor } from '../../formats/tensor.ts';
import { cloneModel } from '../ir/clone.ts';
import type { IrGraph, IrModel, IrNode } from '../ir/graph.ts';
import { svid } from '../onebit/svid.ts';
import type { LinearSite } from '../passes/find-linears.ts';
import { findLinears } from '../passes/find-linears.ts';
import { weightMatrix } from '../passes/rewrite-linear-to-onebit.ts';
import type { SteKind } from './autodiff/ste.ts';
import { ONEBIT_TRAIN_OP } from './autodiff/onebit-train.ts';
import { DistillError } from './distill-errors.ts';

export const TRAIN_DOMAIN = 'ai.onebitc.train';
/** The paper's post-LayerNorm epsilon (as the released BitLlama checkpoints use). */
export const POST_NORM_EPS = 1e-5;

export interface StudentOptions {
  /** The paper's LayerNorm without affine parameters after each 1-bit linear (default true). */
  postNorm?: boolean;
  /** Latent weight init: 'weight' (W itself, sign(W)·|W|) or 'sign' (the reference's sign(W)·0.01). Default 'weight'. */
  latentInit?: 'weight' | 'sign';
  ste?: SteKind;
  /** Layers to leave in full precision and frozen (by layer name, e.g. the LM head's). */
  keep?: (site: LinearSite) => boolean;
  onLayer?: (layer: string, index: number, total: number) => void;
}

export interface StudentLayer {
  layer: string;
  node: string;
  out: number;
  in: number;
  latent: string;
  g: string;
  h: string;
  bias?: string;
  postNorm: boolean;
}

export interface Student {
  /** The training graph (shares the teacher's frozen constants). */
  model: IrModel;
  /** Trained parameters by value name, float32, owned by the student. */
  params: Map<string, Tensor<'float32'>>;
  layers: StudentLayer[];
}

export function buildStudent(teacher: IrModel, options: StudentOptions = {}): Student {
  const model = cloneModel(teacher);
  const graph = model.graph;
  const params = new Map<string, Tensor<'float32'>>();
  const layers: StudentLayer[] = [];
  const sites = findLinears(model).filter((s) => s.scope.graph === graph && !options.keep?.(s));
  const seen = new Set<string>();
  sites.forEach((site, index) => {
    if (seen.has(site.layer)) throw new DistillError(`${site.layer}: a weight shared by several Linears cannot be distilled (node ${site.node.name})`);
    seen.add(site.layer);
    options.onLayer?.(site.layer, index, sites.length);
    layers.push(replaceLinear(graph, site, params, options));
  });
  for (const node of graph.nodes) for (const name of normWeights(node)) {
    const t = graph.initializers.get(name);
    if (t && !params.has(name)) params.set(name, tensor('float32', t.dims, Float32Array.from(t.data as ArrayLike<number>)));
  }
  return { model, params, layers };
}

/** The weights of the normalisation layers (trained along with the 1-bit layers). */
function normWeights(node: IrNode): string[] {
  if (node.op === 'RMSNorm') return node.inputs.slice(1, 2).filter(Boolean);
  if (node.op === 'LayerNormalization') return node.inputs.slice(1, 3).filter(Boolean);
  return [];
}

function replaceLinear(graph: IrGraph, site: LinearSite, params: Map<string, Tensor<'float32'>>, options: StudentOptions): StudentLayer {
  const { node, layer, out, in: inDim } = site;
  const where = `${layer} (node ${node.name})`;
  if (node.op === 'Gemm' && (node.attrs['transA'] === 1 || (node.attrs['alpha'] ?? 1) !== 1 || (node.attrs['beta'] ?? 1) !== 1)) {
    throw new DistillError(`${where}: only Gemm with transA=0, alpha=1, beta=1 can be distilled`);
  }
  const w = weightMatrix(site.scope.constant(site.weight)!, site.transposed);
  const decomposition = svid(w, out, inDim);
  const latent = options.latentInit === 'sign' ? w.map((v) => (v < 0 ? -0.01 : 0.01)) : Float32Array.from(w);
  const names = { latent: `${layer}.latent`, g: `${layer}.g`, h: `${layer}.h` };
  params.set(names.latent, tensor('float32', [out, inDim], latent));
  params.set(names.g, tensor('float32', [inDim], halfToFloat32('float16', decomposition.g)));
  params.set(names.h, tensor('float32', [out], halfToFloat32('float16', decomposition.h)));

  let bias: string | undefined;
  let output = node.outputs[0]!;
  const c = node.op === 'Gemm' ? node.inputs[2] : undefined;
  if (c) {
    const t = site.scope.constant(c);
    if (!t || t.data.length !== out) throw new DistillError(`${where}: only a constant bias of ${out} values can be distilled`);
    bias = c;
  }
  if (site.biasAdd) {
    bias = site.biasAdd.operand;
    output = site.biasAdd.node.outputs[0]!;
    graph.nodes.splice(graph.nodes.indexOf(site.biasAdd.node), 1);
  }
  const postNorm = options.postNorm ?? true;
  const replacement: IrNode = {
    name: node.name, op: ONEBIT_TRAIN_OP, domain: TRAIN_DOMAIN,
    inputs: [node.inputs[0]!, names.latent, names.g, names.h, ...(bias ? [bias] : [])],
    outputs: [output, `${output}::signed_sum`],
    attrs: { in: inDim, out, ste: options.ste ?? 'tanh', ...(postNorm ? { post_norm_eps: POST_NORM_EPS } : {}) },
  };
  graph.nodes.splice(graph.nodes.indexOf(node), 1, replacement);
  return { layer, node: node.name, out, in: inDim, ...names, ...(bias ? { bias } : {}), postNorm };
}
