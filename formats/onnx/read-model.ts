// Reads a .onnx file into a ModelProto and checks its structure, so later code can trust what it walks:
// a graph, opset imports, op types, defined-before-use names (SSA, topological order), typed attributes,
// tensors with a supported data type and data matching their dims, subgraphs (If/Loop/Scan bodies) alike.
// Every problem is a FormatError with one line naming the file and, when known, the node or tensor.
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { FormatError } from '../errors.ts';
import type { Int64Like, ProtoSource } from './tensor-proto.ts';
import { checkTensorProto, dtypeFromOnnx, int64ToNumber, onnxTypeName, printable } from './tensor-proto.ts';

const { ModelProto, AttributeProto } = onnxProto.onnx;
const AttributeType = AttributeProto.AttributeType;

/** Subgraphs and types nest at most this deep; deeper files are refused rather than overflowing the stack. */
export const MAX_NESTING = 64;

/** Reads, decodes and checks (`checkOnnxModel`) a .onnx file. External data is looked up beside the file. */
export async function readOnnxModel(path: string): Promise<onnx.ModelProto> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found'
      : code === 'EISDIR' ? 'is a folder, not a file'
      : code === 'ERR_FS_FILE_TOO_LARGE' ? 'is larger than 2 GiB; models this large must keep their weights in external data'
      : `cannot be read (${code ?? String(e)})`;
    throw new FormatError(path, why);
  }
  return decodeOnnxModel(bytes, path);
}

/** Decodes and checks the bytes of a .onnx file; `file` names it in messages and locates external data. */
export function decodeOnnxModel(bytes: Uint8Array, file: string, dir: string = dirname(file)): onnx.ModelProto {
  if (bytes.byteLength === 0) throw new FormatError(file, 'file is empty; expected an ONNX model');
  let model: onnx.ModelProto;
  try {
    model = ModelProto.decode(bytes);
  } catch (e) {
    const message = e instanceof RangeError && /call stack/i.test(e.message)
      ? 'messages are nested too deeply'
      : e instanceof Error ? e.message : String(e);
    throw new FormatError(file, `not a valid ONNX model (protobuf decoding failed: ${oneLine(message)})`);
  }
  checkOnnxModel(model, { file, dir });
  return model;
}

function oneLine(text: string): string {
  return printable(text.replace(/\s+/g, ' ').trim());
}

// ---- structure check ----

/** Names visible at a point of a graph: its own so far, then the enclosing graphs'. */
class Scope {
  readonly names = new Set<string>();
  constructor(readonly parent?: Scope) {}
  has(name: string): boolean {
    for (let s: Scope | undefined = this; s; s = s.parent) if (s.names.has(name)) return true;
    return false;
  }
}

interface Context {
  file: string;
  source: ProtoSource;
  /** Imported opsets: domain ('' for ai.onnx) → version. */
  opsets: Map<string, number>;
  /** Domains of model-local functions, callable as ops. */
  functionDomains: Set<string>;
}

/**
 * Checks a decoded model deeply enough that later code can trust it; throws the first problem as a FormatError.
 * `where` names the file and the folder external data must stay in (default: the file's folder).
 */
export function checkOnnxModel(model: onnx.IModelProto, where: string | ProtoSource): void {
  const source = typeof where === 'string' ? { file: where, dir: dirname(where) } : where;
  const file = source.file;
  const fail = (detail: string): never => { throw new FormatError(file, detail); };
  if (model === null || typeof model !== 'object') fail('not an ONNX model');

  const ir = int64ToNumber(model.irVersion as Int64Like);
  if (ir === undefined || ir <= 0) {
    fail(`ir_version is ${ir === undefined ? 'not a valid integer' : ir === 0 ? 'missing' : ir}; expected an ONNX model (ir_version 3 or later)`);
  }
  if (ir! < 3) fail(`ir_version ${ir} is too old (no opset_import); expected 3 or later`);

  const opsets = checkOpsets(model.opsetImport, file, 'model');
  const functionDomains = new Set<string>();
  for (const f of model.functions ?? []) functionDomains.add(normalizeDomain(f?.domain));
  const ctx: Context = { file, source, opsets, functionDomains };

  if (!model.graph) fail('model has no graph');
  checkGraph(model.graph!, ctx, undefined, 0, true);
  for (const f of model.functions ?? []) checkFunction(f, ctx);
}

function normalizeDomain(domain: string | null | undefined): string {
  return !domain || domain === 'ai.onnx' ? '' : domain;
}

function checkOpsets(list: onnx.IOperatorSetIdProto[] | null | undefined, file: string, owner: string): Map<string, number> {
  const opsets = new Map<string, number>();
  if (!list || list.length === 0) throw new FormatError(file, `${owner} has no opset_import; expected at least one (e.g. ai.onnx version 17)`);
  for (const o of list) {
    const domain = normalizeDomain(o?.domain);
    const version = int64ToNumber(o?.version as Int64Like);
    const shown = domain === '' ? 'ai.onnx' : printable(domain);
    if (version === undefined || version <= 0) {
      throw new FormatError(file, `${owner} opset_import for domain '${shown}' has version ${version ?? 'missing or invalid'}; expected a positive integer`);
    }
    if (opsets.has(domain)) throw new FormatError(file, `${owner} imports domain '${shown}' twice`);
    opsets.set(domain, version);
  }
  return opsets;
}

function checkGraph(graph: onnx.IGraphProto, ctx: Context, outer: Scope | undefined, depth: number, main: boolean): void {
  const gname = printable(graph.name || (main ? 'main' : '<unnamed>'));
  const where = main ? `graph '${gname}'` : `subgraph '${gname}'`;
  const fail = (detail: string, tensor?: string): never => { throw new FormatError(ctx.file, `${where}: ${detail}`, tensor); };
  if (depth > MAX_NESTING) fail(`subgraphs are nested more than ${MAX_NESTING} deep`);
  const scope = new Scope(outer);
  const define = (name: string, what: string): void => {
    if (scope.has(name)) fail(`${what} '${printable(name)}' is defined more than once`);
    scope.names.add(name);
  };

  for (const v of graph.input ?? []) {
    const name = requireName(v?.name, `${where}: an input`, ctx.file);
    checkValueInfo(v, ctx, `${where}: input '${printable(name)}'`, main);
    define(name, 'input');
  }
  const initNames = new Set<string>();
  for (const t of graph.initializer ?? []) {
    const name = requireName(t?.name, `${where}: an initializer`, ctx.file);
    if (initNames.has(name)) fail(`initializer '${printable(name)}' is defined more than once`);
    initNames.add(name);
    checkTensorProto(t, ctx.source);
    // Before IR 4 initializers were also listed as inputs: the same name is allowed once in each list.
    if (!scope.names.has(name)) define(name, 'initializer');
  }
  for (const s of graph.sparseInitializer ?? []) {
    const name = requireName(s?.values?.name, `${where}: a sparse initializer`, ctx.file);
    checkSparse(s, ctx, name);
    if (initNames.has(name)) fail(`initializer '${printable(name)}' is defined more than once`);
    initNames.add(name);
    if (!scope.names.has(name)) define(name, 'initializer');
  }

  for (const [index, node] of (graph.node ?? []).entries()) checkNode(node, index, ctx, scope, depth, where, false);

  if (main && (graph.output ?? []).length === 0) fail('has no outputs');
  for (const v of graph.output ?? []) {
    const name = requireName(v?.name, `${where}: an output`, ctx.file);
    checkValueInfo(v, ctx, `${where}: output '${printable(name)}'`, main);
    if (!scope.has(name)) fail(`output '${printable(name)}' is not produced by any node, input or initializer`);
  }
  for (const v of graph.valueInfo ?? []) {
    const name = requireName(v?.name, `${where}: a value_info entry`, ctx.file);
    checkValueInfo(v, ctx, `${where}: value_info '${printable(name)}'`, false);
  }
}

function requireName(name: string | null | undefined, what: string, file: string): string {
  if (typeof name !== 'string' || name === '') throw new FormatError(file, `${what} has no name`);
  return name;
}

const OP_TYPE = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkNode(node: onnx.INodeProto, index: number, ctx: Context, scope: Scope, depth: number, where: string, inFunction: boolean): void {
  const op = typeof node?.opType === 'string' ? node.opType : '';
  const label = `node ${node?.name ? `'${printable(node.name)}'` : `#${index}`}${op ? ` (${printable(op)})` : ''}`;
  const fail = (detail: string): never => { throw new FormatError(ctx.file, `${where}: ${label}: ${detail}`); };
  if (op === '') fail('has no op_type');
  if (!OP_TYPE.test(op)) fail(`op_type '${printable(op)}' is not a valid operator name`);
  const domain = normalizeDomain(node.domain);
  if (!ctx.opsets.has(domain) && !ctx.functionDomains.has(domain)) {
    fail(`uses domain '${domain === '' ? 'ai.onnx' : printable(domain)}', which the model does not import`);
  }

  for (const input of node.input ?? []) {
    if (typeof input !== 'string') fail('has an input that is not a name');
    if (input !== '' && !scope.has(input)) fail(`input '${printable(input)}' is not defined before this node (nodes must be topologically sorted)`);
  }

  const attrNames = new Set<string>();
  for (const attr of node.attribute ?? []) {
    const name = typeof attr?.name === 'string' ? attr.name : '';
    if (name === '') fail('has an attribute without a name');
    if (attrNames.has(name)) fail(`attribute '${printable(name)}' appears twice`);
    attrNames.add(name);
    checkAttribute(attr, ctx, scope, depth, `${where}: ${label}: attribute '${printable(name)}'`, inFunction);
  }

  const outputs = node.output ?? [];
  if (outputs.length === 0) fail('has no outputs');
  for (const output of outputs) {
    if (typeof output !== 'string') fail('has an output that is not a name');
    if (output === '') continue;
    if (scope.has(output)) fail(`output '${printable(output)}' is already defined (each name must be assigned once)`);
    scope.names.add(output);
  }
}

/** Which field of an AttributeProto each type keeps its value in, and whether that field is a list. */
const ATTRIBUTE_FIELD: Record<number, [keyof onnx.IAttributeProto, boolean]> = {
  [AttributeType.FLOAT]: ['f', false], [AttributeType.INT]: ['i', false], [AttributeType.STRING]: ['s', false],
  [AttributeType.TENSOR]: ['t', false], [AttributeType.GRAPH]: ['g', false],
  [AttributeType.SPARSE_TENSOR]: ['sparseTensor', false], [AttributeType.TYPE_PROTO]: ['tp', false],
  [AttributeType.FLOATS]: ['floats', true], [AttributeType.INTS]: ['ints', true], [AttributeType.STRINGS]: ['strings', true],
  [AttributeType.TENSORS]: ['tensors', true], [AttributeType.GRAPHS]: ['graphs', true],
  [AttributeType.SPARSE_TENSORS]: ['sparseTensors', true], [AttributeType.TYPE_PROTOS]: ['typeProtos', true],
};
const ATTRIBUTE_TYPE_NAMES = Object.fromEntries(Object.entries(AttributeType).map(([k, v]) => [v, k])) as Record<number, string>;

function present(attr: onnx.IAttributeProto, field: keyof onnx.IAttributeProto, list: boolean): boolean {
  const value = attr[field];
  if (list) return Array.isArray(value) && value.length > 0;
  return value !== null && value !== undefined && Object.prototype.hasOwnProperty.call(attr, field);
}

function checkAttribute(attr: onnx.IAttributeProto, ctx: Context, scope: Scope, depth: number, where: string, inFunction: boolean): void {
  const fail = (detail: string): never => { throw new FormatError(ctx.file, `${where}: ${detail}`); };
  if (attr.refAttrName) {
    if (!inFunction) fail('refers to a function attribute outside a function body');
    return;
  }
  const type = attr.type ?? 0;
  const spec = ATTRIBUTE_FIELD[type];
  if (!spec) fail(type === 0 ? 'has no type' : `has unknown type ${type}`);
  const [field, list] = spec!;
  const typeName = ATTRIBUTE_TYPE_NAMES[type];
  for (const [otherType, [other, otherList]] of Object.entries(ATTRIBUTE_FIELD)) {
    if (other !== field && present(attr, other, otherList)) {
      fail(`is of type ${typeName} but also sets the field of ${ATTRIBUTE_TYPE_NAMES[Number(otherType)]}`);
    }
  }
  if (!list && !present(attr, field, false)) fail(`is of type ${typeName} but has no value`);

  switch (type) {
    case AttributeType.INT:
      if (int64ToNumber(attr.i as Int64Like) === undefined && !isLong(attr.i)) fail('has an invalid integer value');
      break;
    case AttributeType.INTS:
      for (const v of attr.ints ?? []) if (int64ToNumber(v as Int64Like) === undefined && !isLong(v)) fail('has an invalid integer value');
      break;
    case AttributeType.FLOAT:
      if (typeof attr.f !== 'number') fail('has an invalid float value');
      break;
    case AttributeType.TENSOR:
      checkTensorProto(attr.t!, ctx.source);
      break;
    case AttributeType.TENSORS:
      for (const t of attr.tensors ?? []) checkTensorProto(t, ctx.source);
      break;
    case AttributeType.GRAPH:
      checkGraph(attr.g!, ctx, scope, depth + 1, false);
      break;
    case AttributeType.GRAPHS:
      for (const g of attr.graphs ?? []) checkGraph(g, ctx, scope, depth + 1, false);
      break;
    case AttributeType.SPARSE_TENSOR:
      checkSparse(attr.sparseTensor!, ctx, attr.sparseTensor?.values?.name || attr.name || '');
      break;
    case AttributeType.SPARSE_TENSORS:
      for (const s of attr.sparseTensors ?? []) checkSparse(s, ctx, s?.values?.name || attr.name || '');
      break;
    case AttributeType.TYPE_PROTO:
      checkType(attr.tp!, ctx.file, where, 0);
      break;
    case AttributeType.TYPE_PROTOS:
      for (const tp of attr.typeProtos ?? []) checkType(tp, ctx.file, where, 0);
      break;
  }
}

/** A 64-bit integer outside the safe range is still a valid INT attribute (e.g. INT64_MAX as "to the end"). */
function isLong(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as { low: unknown }).low === 'number' && typeof (v as { high: unknown }).high === 'number';
}

function checkSparse(s: onnx.ISparseTensorProto, ctx: Context, name: string): void {
  const label = printable(name || '<unnamed>');
  const fail = (detail: string): never => { throw new FormatError(ctx.file, `sparse tensor: ${detail}`, label); };
  if (!s?.values) fail('has no values');
  if (!s.indices) fail('has no indices');
  checkTensorProto(s.values!, ctx.source);
  checkTensorProto(s.indices!, ctx.source);
  if (s.indices!.dataType !== 7) fail(`indices must be INT64, found ${onnxTypeName(s.indices!.dataType ?? 0)}`);
  for (const d of s.dims ?? []) {
    const n = int64ToNumber(d as Int64Like);
    if (n === undefined || n < 0) fail(`dims must be non-negative integers, found ${String(d)}`);
  }
  const values = s.values!.dims ?? [];
  if (values.length !== 1) fail('values must be a 1-D tensor');
}

function checkValueInfo(v: onnx.IValueInfoProto, ctx: Context, where: string, typeRequired: boolean): void {
  if (!v.type) {
    if (typeRequired) throw new FormatError(ctx.file, `${where} has no type`);
    return;
  }
  checkType(v.type, ctx.file, where, 0, typeRequired);
}

const MAP_KEY_TYPES = new Set([2, 3, 4, 5, 6, 7, 8, 12, 13]);

function checkType(tp: onnx.ITypeProto, file: string, where: string, depth: number, elemRequired = false): void {
  const fail = (detail: string): never => { throw new FormatError(file, `${where}: ${detail}`); };
  if (depth > MAX_NESTING) fail(`type nests more than ${MAX_NESTING} deep`);
  if (!tp || typeof tp !== 'object') fail('has no type');
  const tensor = tp.tensorType ?? tp.sparseTensorType;
  if (tensor) {
    const code = tensor.elemType ?? 0;
    if (code === 0) {
      if (elemRequired) fail('has no element type');
    } else {
      try {
        dtypeFromOnnx(code);
      } catch (e) {
        fail((e as Error).message);
      }
    }
    for (const [i, d] of (tensor.shape?.dim ?? []).entries()) {
      if (d && d.dimValue !== null && d.dimValue !== undefined) {
        const n = int64ToNumber(d.dimValue as Int64Like);
        if (n === undefined || n < 0) fail(`dimension ${i} is ${String(n ?? d.dimValue)}; dims must be non-negative`);
      }
    }
  } else if (tp.sequenceType) {
    if (tp.sequenceType.elemType) checkType(tp.sequenceType.elemType, file, where, depth + 1);
  } else if (tp.optionalType) {
    if (tp.optionalType.elemType) checkType(tp.optionalType.elemType, file, where, depth + 1);
  } else if (tp.mapType) {
    if (!MAP_KEY_TYPES.has(tp.mapType.keyType ?? 0)) fail(`map key type ${onnxTypeName(tp.mapType.keyType ?? 0)} is not an integer or string type`);
    if (tp.mapType.valueType) checkType(tp.mapType.valueType, file, where, depth + 1);
  } else if (elemRequired) {
    fail('has no type');
  }
}

function checkFunction(f: onnx.IFunctionProto, ctx: Context): void {
  const name = requireName(f?.name, 'a model-local function', ctx.file);
  const where = `function '${printable(name)}'`;
  const opsets = f.opsetImport && f.opsetImport.length > 0 ? checkOpsets(f.opsetImport, ctx.file, where) : ctx.opsets;
  const inner: Context = { ...ctx, opsets };
  const scope = new Scope();
  for (const input of f.input ?? []) {
    if (typeof input !== 'string' || input === '') throw new FormatError(ctx.file, `${where}: an input has no name`);
    if (scope.names.has(input)) throw new FormatError(ctx.file, `${where}: input '${printable(input)}' is defined more than once`);
    scope.names.add(input);
  }
  for (const [index, node] of (f.node ?? []).entries()) checkNode(node, index, inner, scope, 0, where, true);
  for (const output of f.output ?? []) {
    if (typeof output !== 'string' || output === '' || !scope.has(output)) {
      throw new FormatError(ctx.file, `${where}: output '${printable(String(output))}' is not produced by any node or input`);
    }
  }
}
