// The trained student as an ordinary 1-bit model: each OneBitTrain node becomes OneBitLinear with the packed
// signs of its latent weight, g and h rounded to fp16, the post-norm as the node's post_norm_eps attribute, and
// the trained norm weights in place of the teacher's. The result compiles like any other OneBit model.
import { float32ToHalf } from '../../formats/dtype.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { tensor } from '../../formats/tensor.ts';
import type { IrModel, IrNode } from '../ir/graph.ts';
import { packSigns } from '../onebit/pack.ts';
import { ONEBIT_DOMAIN, ONEBIT_OP } from '../passes/rewrite-linear-to-onebit.ts';
import { ONEBIT_TRAIN_OP } from './autodiff/onebit-train.ts';
import type { Student } from './student.ts';

/** Rewrites `student.model` in place (its parameters taken from `params`) and returns it. */
export function lowerStudent(student: Student, params: ReadonlyMap<string, Tensor<'float32'>> = student.params): IrModel {
  const { model } = student;
  const graph = model.graph;
  const set = (name: string, t: Tensor) => {
    graph.initializers.set(name, t);
    graph.types.set(name, { dtype: t.dtype, shape: [...t.dims] });
  };
  const param = (name: string) => {
    const t = params.get(name);
    if (!t) throw new Error(`trained parameter '${name}' is missing`);
    return t;
  };
  for (const layer of student.layers) {
    const sign = `${layer.layer}.sign`;
    set(sign, tensor('uint8', [layer.out, Math.ceil(layer.in / 8)], packSigns(param(layer.latent).data, layer.out, layer.in)));
    set(layer.g, tensor('float16', [layer.in], float32ToHalf('float16', param(layer.g).data)));
    set(layer.h, tensor('float16', [layer.out], float32ToHalf('float16', param(layer.h).data)));
    graph.initializers.delete(layer.latent);
    graph.types.delete(layer.latent);
  }
  const trained = new Set(student.layers.flatMap((l) => [l.latent, l.g, l.h]));
  for (const [name, t] of params) if (!trained.has(name)) set(name, tensor('float32', t.dims, Float32Array.from(t.data)));
  graph.nodes = graph.nodes.map((node) => (node.op === ONEBIT_TRAIN_OP ? oneBitLinear(node) : node));
  return model;
}

function oneBitLinear(node: IrNode): IrNode {
  const [x, latent, g, h, bias] = node.inputs as [string, string, string, string, string | undefined];
  const { in: inDim, out, post_norm_eps: eps } = node.attrs;
  return {
    name: node.name, op: ONEBIT_OP, domain: ONEBIT_DOMAIN,
    inputs: [x, latent.replace(/\.latent$/, '.sign'), g, h, ...(bias ? [bias] : [])],
    outputs: [node.outputs[0]!],
    attrs: { in: inDim!, out: out!, ...(eps !== undefined ? { post_norm_eps: eps } : {}) },
  };
}
