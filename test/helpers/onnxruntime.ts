// The oracles: onnxruntime-node on an ONNX graph, and the SVID reference graph (each Linear weight
// replaced by h ⊙ S ⊙ g read back from a bundle, dequantized here independently of the compiler).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { float16ToFloat32 } from '../../formats/dtype.ts';
import { parseSafetensors } from '../../formats/safetensors/read-buffer.ts';
import type { Tensor } from '../../formats/tensor.ts';

const { onnx } = onnxProto;

export async function runOnnxruntime(model: Uint8Array | string, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const session = await ort.InferenceSession.create(model as Uint8Array, { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' });
  const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.dims)]));
  const out = await session.run(ortFeeds);
  await session.release();
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { dtype: t.type, dims: [...t.dims], data: t.data } as unknown as Tensor]));
}

export interface ReportLayer { layer: string; weight: string; transposed: boolean; out: number; in: number; kept: boolean }

/** Ŵ[o,i] = h[o]·S[o,i]·g[i], S from the packed bits (bit 1 = −1, LSB first), as ONEBIT.md defines it. */
export function dequantizeLayer(bundle: Map<string, Tensor>, layer: string, out: number, inDim: number): Float32Array {
  const sign = bundle.get(`${layer}.sign`)!.data as Uint8Array;
  const g = bundle.get(`${layer}.g`)!.data as Uint16Array;
  const h = bundle.get(`${layer}.h`)!.data as Uint16Array;
  const rowBytes = Math.ceil(inDim / 8);
  const w = new Float32Array(out * inDim);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inDim; i++) {
      const negative = (sign[o * rowBytes + (i >> 3)]! >> (i & 7)) & 1;
      w[o * inDim + i] = float16ToFloat32(h[o]!) * (negative ? -1 : 1) * float16ToFloat32(g[i]!);
    }
  }
  return w;
}

export function readBundleWeights(bundle: string): Map<string, Tensor> {
  return parseSafetensors(readFileSync(join(bundle, 'weights.safetensors')), 'weights.safetensors');
}

type GraphProto = ReturnType<typeof onnx.ModelProto.decode>['graph'] & object;

/** Every graph of a model: the main graph and, depth-first, its If/Loop bodies. */
function* graphsOf(graph: GraphProto): Generator<GraphProto> {
  yield graph;
  for (const node of graph.node ?? []) {
    for (const a of node.attribute ?? []) {
      if (a.g) yield* graphsOf(a.g as GraphProto);
      for (const g of a.graphs ?? []) yield* graphsOf(g as GraphProto);
    }
  }
}

/**
 * The original model with every converted Linear's weight replaced by the bundle's dequantized weight.
 * A weight computed from an initializer (Transpose/Cast/Identity of it) becomes an initializer itself.
 */
export function svidOracleModel(original: Uint8Array, bundle: string, layers: ReportLayer[]): Uint8Array {
  const weights = readBundleWeights(bundle);
  const model = onnx.ModelProto.decode(original);
  for (const l of layers.filter((x) => !x.kept)) {
    const w = dequantizeLayer(weights, l.layer, l.out, l.in);
    const stored = l.transposed ? transpose(w, l.out, l.in) : w;
    const proto = { name: l.weight, dataType: 1, dims: l.transposed ? [l.in, l.out] : [l.out, l.in], rawData: new Uint8Array(stored.buffer.slice(0)) };
    let done = false;
    for (const g of graphsOf(model.graph as GraphProto)) {
      const i = (g.initializer ?? []).findIndex((t) => t.name === l.weight);
      if (i >= 0) { g.initializer![i] = onnx.TensorProto.create(proto); done = true; break; }
      const producer = (g.node ?? []).findIndex((n) => n.output?.includes(l.weight));
      if (producer >= 0) { g.node!.splice(producer, 1); (g.initializer ??= []).push(onnx.TensorProto.create(proto)); done = true; break; }
    }
    if (!done) throw new Error(`oracle: weight '${l.weight}' of layer ${l.layer} is not in the original model`);
  }
  return onnx.ModelProto.encode(model).finish();
}

export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c]!;
  return t;
}
