// Builds small ONNX models for tests with onnx-proto (the same encoder onnxruntime accepts).
import { writeFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { tensorToProto } from '../../formats/onnx/tensor-proto.ts';
import type { Tensor } from '../../formats/tensor.ts';

const { onnx } = onnxProto;

export type Dims = (number | string)[];

export function valueInfo(name: string, elemType: number, dims: Dims): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

export interface ModelParts {
  nodes: OnnxTypes.INodeProto[];
  inputs: OnnxTypes.IValueInfoProto[];
  outputs: OnnxTypes.IValueInfoProto[];
  initializers?: [string, Tensor][];
  /** Raw initializer protos (e.g. with external data). */
  initializerProtos?: OnnxTypes.ITensorProto[];
  opset?: number;
}

export function encodeModel(parts: ModelParts): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'onebitc-tests',
    opsetImport: [{ domain: '', version: parts.opset ?? 17 }, { domain: 'ai.onebitc', version: 1 }],
    graph: {
      name: 'test',
      node: parts.nodes,
      input: parts.inputs,
      output: parts.outputs,
      initializer: [...(parts.initializers ?? []).map(([name, t]) => tensorToProto(name, t)), ...(parts.initializerProtos ?? [])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

export function writeModel(path: string, parts: ModelParts): void {
  writeFileSync(path, encodeModel(parts));
}

/** Deterministic pseudo-random numbers (mulberry32), so tests are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Approximately normal values with standard deviation `std` (sum of uniforms). */
export function randomNormal(length: number, std: number, seed: number): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = (next() + next() + next() + next() - 2) * std * Math.sqrt(3);
  return out;
}

/** Uniform values in [lo, hi). */
export function randomUniform(length: number, lo: number, hi: number, seed: number): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length }, () => lo + (hi - lo) * next());
}
