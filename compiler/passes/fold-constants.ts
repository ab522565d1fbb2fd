// Evaluates nodes whose inputs are all constants (e.g. Transpose/Cast/Identity on a weight) with the
// reference kernels, so later passes see the weight itself. Growth is capped so folding never bloats a model.
import type { Tensor } from '../../formats/tensor.ts';
import { ONNX_DATA_TYPE } from '../../formats/dtype.ts';
import { sizeOf } from '../../formats/tensor.ts';
import type { HalfTensor } from '../../formats/widened-tensor.ts';
import { WidenedTensor } from '../../formats/widened-tensor.ts';
import type { AttrValue } from '../../runtime/graph.ts';
import { Attributes } from '../../runtime/kernel.ts';
import { KERNELS } from '../../runtime/kernels/index.ts';
import type { IrModel } from '../ir/graph.ts';
import { defaultOpset } from '../ir/graph.ts';
import { GraphScope, subgraphsOf } from '../ir/scope.ts';

const NEVER_FOLD = new Set(['If', 'Loop', 'Dropout', 'OneBitLinear']);
const SMALL = 1 << 16;

export function foldConstants(model: IrModel): number {
  const opset = defaultOpset(model);
  let folded = 0;
  for (const scope of new GraphScope(model.graph).walk()) {
    const graph = scope.graph;
    graph.nodes = graph.nodes.filter((node) => {
      if (NEVER_FOLD.has(node.op) || node.domain !== '' || subgraphsOf(node).length) return true;
      const kernel = KERNELS[node.op];
      if (!kernel || node.inputs.length === 0) return true;
      const inputs: (Tensor | undefined)[] = [];
      for (const name of node.inputs) {
        if (name === '') { inputs.push(undefined); continue; }
        const t = scope.constant(name);
        if (!t) return true;
        inputs.push(t);
      }
      const source = inputs[0];
      if (node.op === 'Cast' && node.attrs['to'] === ONNX_DATA_TYPE.float32 && (source?.dtype === 'float16' || source?.dtype === 'bfloat16')) {
        // A half-precision weight used as float32: a lazy view, so no float32 copy is ever held.
        const widened = new WidenedTensor(source as HalfTensor);
        graph.initializers.set(node.outputs[0]!, widened);
        graph.types.set(node.outputs[0]!, { dtype: 'float32', shape: [...widened.dims] });
        folded++;
        return false;
      }
      const inputSize = inputs.reduce((n, t) => n + (t ? sizeOf(t.dims) : 0), 0);
      let outputs: Tensor[];
      try {
        outputs = kernel(inputs, new Attributes(node.attrs as Record<string, AttrValue>), { opset, outputCount: node.outputs.length, runSubgraph: () => [] });
      } catch {
        return true; // leave it: the verifier or the runtime reports the problem with full context
      }
      const outputSize = outputs.reduce((n, t) => n + sizeOf(t.dims), 0);
      if (outputSize > Math.max(inputSize, SMALL)) return true;
      node.outputs.forEach((name, i) => {
        if (!name || !outputs[i]) return;
        graph.initializers.set(name, outputs[i]!);
        graph.types.set(name, { dtype: outputs[i]!.dtype, shape: [...outputs[i]!.dims] });
      });
      folded++;
      return false;
    });
  }
  return folded;
}
