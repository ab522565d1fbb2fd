// ONNX ModelProto → IR. Constant nodes become initializers; subgraphs (If/Loop bodies) are converted too.
import { dirname } from 'node:path';
import type onnxProto from 'onnx-proto';
import { FormatError } from '../../formats/errors.ts';
import { readOnnxModel } from '../../formats/onnx/read-model.ts';
import type { Int64Like } from '../../formats/onnx/tensor-proto.ts';
import { dtypeFromOnnx, int64ToBigInt, int64ToNumber, tensorFromProto } from '../../formats/onnx/tensor-proto.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { tensor } from '../../formats/tensor.ts';
import type { Dim, IrAttr, IrGraph, IrModel, IrNode, ValueInfo, ValueType } from '../ir/graph.ts';

type Where = { file: string; dir: string };

const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, SPARSE_TENSOR: 11, TYPE_PROTO: 13, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10 } as const;

export async function importOnnx(path: string): Promise<IrModel> {
  const proto = await readOnnxModel(path);
  const where: Where = { file: path, dir: dirname(path) };
  const opsets: Record<string, number> = {};
  for (const o of proto.opsetImport ?? []) opsets[o.domain === 'ai.onnx' ? '' : o.domain ?? ''] = toNumber(o.version);
  const names = new Set<string>();
  const graph = convertGraph(proto.graph!, where, names);
  return { graph, opsets, source: { path, format: 'onnx', ...(proto.producerName ? { producer: `${proto.producerName} ${proto.producerVersion ?? ''}`.trim() } : {}) } };
}

/** An int64 field as a number; values beyond 2^53 (INT64_MAX as "to the end" in Slice) become the nearest double. */
const toNumber = (v: Int64Like | null | undefined): number =>
  v === null || v === undefined ? 0 : int64ToNumber(v) ?? Number(int64ToBigInt(v, false) ?? 0n);

function convertGraph(g: onnxProto.onnx.IGraphProto, where: Where, nodeNames: Set<string>): IrGraph {
  const initializers = new Map<string, Tensor>();
  for (const init of g.initializer ?? []) initializers.set(init.name!, tensorFromProto(init, where));
  if ((g.sparseInitializer ?? []).length) {
    throw new FormatError(where.file, `graph '${g.name}': sparse initializers are not supported`, g.sparseInitializer![0]!.values?.name ?? undefined);
  }
  const types = new Map<string, ValueType>();
  const info = (v: onnxProto.onnx.IValueInfoProto): ValueInfo => {
    const t = valueType(v, where);
    if (t) types.set(v.name!, t);
    return { name: v.name!, ...(t ?? { dtype: 'float32' }) };
  };
  // Old exporters list initializers among the inputs: those are constants, not feeds.
  const inputs = (g.input ?? []).filter((v) => !initializers.has(v.name!)).map(info);
  const outputs = (g.output ?? []).map(info);
  for (const v of g.valueInfo ?? []) info(v);
  for (const [name, t] of initializers) types.set(name, { dtype: t.dtype, shape: [...t.dims] });

  const nodes: IrNode[] = [];
  for (const n of g.node ?? []) {
    const op = n.opType!;
    const domain = n.domain === 'ai.onnx' ? '' : n.domain ?? '';
    const outs = [...(n.output ?? [])];
    const name = uniqueName(n.name || `${op}:${outs[0] ?? ''}`, nodeNames);
    if (op === 'Constant' && domain === '' && outs.length === 1) {
      const value = constantValue(n, name, where);
      initializers.set(outs[0]!, value);
      types.set(outs[0]!, { dtype: value.dtype, shape: [...value.dims] });
      continue;
    }
    const attrs: Record<string, IrAttr> = {};
    for (const a of n.attribute ?? []) attrs[a.name!] = convertAttr(a, name, where, nodeNames);
    nodes.push({ name, op, domain, inputs: [...(n.input ?? [])], outputs: outs, attrs });
  }
  return { name: g.name ?? 'main', inputs, outputs, nodes, initializers, types };
}

function uniqueName(base: string, used: Set<string>): string {
  let name = base;
  for (let k = 2; used.has(name); k++) name = `${base}#${k}`;
  used.add(name);
  return name;
}

function valueType(v: onnxProto.onnx.IValueInfoProto, where: Where): ValueType | undefined {
  const tt = v.type?.tensorType;
  if (!tt) {
    if (v.type?.sequenceType || v.type?.mapType || v.type?.optionalType) {
      throw new FormatError(where.file, `value '${v.name}' is a sequence/map/optional: only tensors are supported`);
    }
    return undefined;
  }
  const dtype = dtypeFromOnnx(tt.elemType ?? 0, where.file, v.name ?? '');
  if (!tt.shape) return { dtype };
  const shape: Dim[] = (tt.shape.dim ?? []).map((d, i) =>
    d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? toNumber(d.dimValue) : `${v.name}_dim${i}`);
  return { dtype, shape };
}

function constantValue(n: onnxProto.onnx.INodeProto, node: string, where: Where): Tensor {
  const a = n.attribute?.[0];
  if (!a || (n.attribute?.length ?? 0) !== 1) throw new FormatError(where.file, `node '${node}' (Constant) needs exactly one value attribute`);
  switch (a.name) {
    case 'value': return tensorFromProto(a.t!, where);
    case 'value_float': return tensor('float32', [], Float32Array.of(a.f ?? 0));
    case 'value_floats': return tensor('float32', [a.floats!.length], Float32Array.from(a.floats!));
    case 'value_int': return tensor('int64', [], BigInt64Array.of(BigInt(toNumber(a.i))));
    case 'value_ints': return tensor('int64', [a.ints!.length], BigInt64Array.from(a.ints!.map((i) => BigInt(toNumber(i)))));
    case 'value_string': return tensor('string', [], [utf8(a.s)]);
    case 'value_strings': return tensor('string', [a.strings!.length], a.strings!.map(utf8));
    default: throw new FormatError(where.file, `node '${node}' (Constant): attribute '${a.name}' is not supported (sparse constants are not)`);
  }
}

function convertAttr(a: onnxProto.onnx.IAttributeProto, node: string, where: Where, nodeNames: Set<string>): IrAttr {
  if (a.refAttrName) throw new FormatError(where.file, `node '${node}': attribute '${a.name}' refers to a function attribute; functions are not supported`);
  switch (a.type) {
    case AttrType.FLOAT: return a.f ?? 0;
    case AttrType.INT: return toNumber(a.i);
    case AttrType.STRING: return utf8(a.s);
    case AttrType.TENSOR: return tensorFromProto(a.t!, where);
    case AttrType.GRAPH: return convertGraph(a.g!, where, nodeNames);
    case AttrType.FLOATS: return [...(a.floats ?? [])];
    case AttrType.INTS: return (a.ints ?? []).map(toNumber);
    case AttrType.STRINGS: return (a.strings ?? []).map(utf8);
    case AttrType.GRAPHS: return (a.graphs ?? []).map((g) => convertGraph(g, where, nodeNames));
    default:
      throw new FormatError(where.file, `node '${node}': attribute '${a.name}' has type ${a.type}, which is not supported (float, int, string, tensor, graph and their lists are)`);
  }
}

const decoder = new TextDecoder();
function utf8(bytes: Uint8Array | null | undefined): string {
  return bytes ? decoder.decode(bytes) : '';
}
