// The verifier: checks every graph of a model and collects every problem it finds (never stops at the first).
// Structure: topological order, single assignment of values, unique node names, graph outputs produced.
// Ops: supported, input/output counts within ONNX's bounds (opset-dependent), attribute types, dtype constraints.
import type { DType } from '../../formats/dtype.ts';
import type { Diagnostic } from './diagnostics.ts';
import type { IrAttr, IrGraph, IrModel, IrNode, ValueType } from './graph.ts';
import { defaultOpset, isIrGraph } from './graph.ts';
import { inferShapes } from './infer-shapes.ts';
import { describeAttr, isTensor } from './shape-rules/common.ts';

// ---- the op table: arity, attributes and dtype constraints per op ----

type AttrKind = 'int' | 'float' | 'string' | 'ints' | 'floats' | 'strings' | 'tensor' | 'graph';
/** [min, max] inputs or outputs; max may be Infinity. */
type Arity = readonly [number, number];

/** Inputs at `inputs` (-1: every input) must have a dtype in `allowed`; with `same`, all one dtype. */
interface TypeConstraint {
  inputs: readonly number[];
  allowed: readonly DType[];
  same: boolean;
  label: string;
}

export interface OpSchema {
  inputs: Arity | ((opset: number) => Arity);
  outputs: Arity;
  attrs: Readonly<Record<string, AttrKind>>;
  required: readonly string[];
  types: readonly TypeConstraint[];
  /** Inputs that may be omitted ('') although they lie below the minimum count (Loop's M and cond). */
  optional?: readonly number[];
}

const FLOAT: readonly DType[] = ['float16', 'float32', 'float64', 'bfloat16'];
const INT: readonly DType[] = ['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64'];
const NUM: readonly DType[] = [...FLOAT, ...INT];
const ANY: readonly DType[] = [...NUM, 'bool', 'string'];
const BOOL: readonly DType[] = ['bool'];
const INDEX: readonly DType[] = ['int32', 'int64'];
const I64: readonly DType[] = ['int64'];

const LABELS = new Map<readonly DType[], string>([
  [FLOAT, 'a float type (float16, float32, float64, bfloat16)'],
  [INT, 'an integer type'],
  [NUM, 'a numeric type'],
  [BOOL, 'bool'],
  [INDEX, 'int32 or int64'],
  [I64, 'int64'],
]);

/** Same dtype across `inputs`, from `allowed`. */
const same = (allowed: readonly DType[], ...inputs: number[]): TypeConstraint =>
  ({ inputs, allowed, same: true, label: LABELS.get(allowed) ?? allowed.join(', ') });
/** Each of `inputs` from `allowed`, not necessarily the same. */
const each = (allowed: readonly DType[], ...inputs: number[]): TypeConstraint =>
  ({ inputs, allowed, same: false, label: LABELS.get(allowed) ?? allowed.join(', ') });

function op(inputs: OpSchema['inputs'], types: TypeConstraint[] = [], attrs: Record<string, AttrKind> = {}, extra: Partial<OpSchema> = {}): OpSchema {
  return { inputs, outputs: [1, 1], attrs, required: [], types, ...extra };
}
/** Arity that changes when an attribute became an input. */
const since = (opset: number, before: Arity, after: Arity) => (v: number): Arity => (v < opset ? before : after);

const unaryFloat = op([1, 1], [same(FLOAT, 0)]);
const unaryNum = op([1, 1], [same(NUM, 0)]);
const binaryNum = op([2, 2], [same(NUM, 0, 1)]);
const compare = op([2, 2], [same(NUM, 0, 1)]);
const logic = op([2, 2], [same(BOOL, 0, 1)]);
const variadic = (allowed: readonly DType[]) => op([1, Infinity], [same(allowed, -1)]);
const reduce = (axesInputSince: number) =>
  op(since(axesInputSince, [1, 1], [1, 2]), [each(NUM, 0), each(I64, 1)], { axes: 'ints', keepdims: 'int', noop_with_empty_axes: 'int' });
const WINDOW: Record<string, AttrKind> = { auto_pad: 'string', dilations: 'ints', kernel_shape: 'ints', pads: 'ints', strides: 'ints' };

export const OP_SCHEMAS: Readonly<Record<string, OpSchema>> = {
  Abs: unaryNum, Neg: unaryNum, Sign: unaryNum, Relu: unaryNum,
  Ceil: unaryFloat, Floor: unaryFloat, Round: unaryFloat, Sqrt: unaryFloat, Reciprocal: unaryFloat,
  Cos: unaryFloat, Sin: unaryFloat, Erf: unaryFloat, Exp: unaryFloat, Log: unaryFloat, Sigmoid: unaryFloat, Tanh: unaryFloat,
  Softplus: unaryFloat,
  Elu: op([1, 1], [same(FLOAT, 0)], { alpha: 'float' }),
  LeakyRelu: op([1, 1], [same(FLOAT, 0)], { alpha: 'float' }),
  HardSigmoid: op([1, 1], [same(FLOAT, 0)], { alpha: 'float', beta: 'float' }),
  HardSwish: unaryFloat,
  Gelu: op([1, 1], [same(FLOAT, 0)], { approximate: 'string' }),
  Softmax: op([1, 1], [same(FLOAT, 0)], { axis: 'int' }),
  Not: op([1, 1], [same(BOOL, 0)]),
  Identity: op([1, 1], [same(ANY, 0)]),
  Clip: op(since(11, [1, 1], [1, 3]), [same(NUM, 0, 1, 2)], { min: 'float', max: 'float' }),
  PRelu: op([2, 2], [same(NUM, 0, 1)]),
  Dropout: op(since(12, [1, 1], [1, 3]), [each(FLOAT, 0, 1), each(BOOL, 2)], { ratio: 'float', seed: 'int', is_test: 'int' }, { outputs: [1, 2] }),
  Add: binaryNum, Sub: binaryNum, Mul: binaryNum, Div: binaryNum,
  Mod: op([2, 2], [same(NUM, 0, 1)], { fmod: 'int' }),
  Pow: op([2, 2], [each(NUM, 0, 1)]),
  And: logic, Or: logic, Xor: logic,
  Equal: op([2, 2], [same(ANY, 0, 1)]),
  Greater: compare, GreaterOrEqual: compare, Less: compare, LessOrEqual: compare,
  Max: variadic(NUM), Min: variadic(NUM), Mean: variadic(FLOAT), Sum: variadic(FLOAT),
  Where: op([3, 3], [each(BOOL, 0), same(ANY, 1, 2)]),
  Cast: op([1, 1], [], { to: 'int', saturate: 'int' }, { required: ['to'] }),

  ReduceSum: reduce(13), ReduceProd: reduce(18), ReduceMax: reduce(18), ReduceMin: reduce(18),
  ReduceMean: reduce(18), ReduceL2: reduce(18),
  ArgMax: op([1, 1], [each(NUM, 0)], { axis: 'int', keepdims: 'int', select_last_index: 'int' }),
  TopK: op(since(10, [1, 1], [2, 2]), [each(NUM, 0), each(I64, 1)], { axis: 'int', k: 'int', largest: 'int', sorted: 'int' }, { outputs: [2, 2] }),

  Reshape: op(since(5, [1, 1], [2, 2]), [each(I64, 1)], { allowzero: 'int', shape: 'ints' }),
  Flatten: op([1, 1], [], { axis: 'int' }),
  Squeeze: op(since(13, [1, 1], [1, 2]), [each(I64, 1)], { axes: 'ints' }),
  Unsqueeze: op(since(13, [1, 1], [2, 2]), [each(I64, 1)], { axes: 'ints' }),
  Shape: op([1, 1], [], { start: 'int', end: 'int' }),
  Constant: op([0, 0], [], {
    value: 'tensor', value_float: 'float', value_floats: 'floats', value_int: 'int', value_ints: 'ints',
    value_string: 'string', value_strings: 'strings', sparse_value: 'tensor',
  }),
  ConstantOfShape: op([1, 1], [each(I64, 0)], { value: 'tensor' }),
  Range: op([3, 3], [same(NUM, 0, 1, 2)]),
  Gather: op([2, 2], [each(INDEX, 1)], { axis: 'int' }),
  GatherElements: op([2, 2], [each(INDEX, 1)], { axis: 'int' }),
  Concat: op([1, Infinity], [same(ANY, -1)], { axis: 'int' }, { required: ['axis'] }),
  Slice: op(since(10, [1, 1], [3, 5]), [same(INDEX, 1, 2, 3, 4)], { starts: 'ints', ends: 'ints', axes: 'ints' }),
  Split: op([1, 2], [each(I64, 1)], { axis: 'int', split: 'ints', num_outputs: 'int' }, { outputs: [1, Infinity] }),
  Expand: op([2, 2], [each(I64, 1)]),
  Tile: op([2, 2], [each(I64, 1)]),
  Transpose: op([1, 1], [], { perm: 'ints' }),
  Pad: op((v) => (v < 11 ? [1, 1] : v < 18 ? [2, 3] : [2, 4]), [each(I64, 1), same(ANY, 0, 2), each(INDEX, 3)], { mode: 'string', pads: 'ints', paddings: 'ints', value: 'float' }),
  Resize: op((v) => (v < 11 ? [2, 2] : v < 13 ? [3, 4] : [1, 4]), [each(FLOAT, 1), each(['float32'], 2), each(I64, 3)], {
    antialias: 'int', axes: 'ints', coordinate_transformation_mode: 'string', cubic_coeff_a: 'float', exclude_outside: 'int',
    extrapolation_value: 'float', keep_aspect_ratio_policy: 'string', mode: 'string', nearest_mode: 'string',
  }),
  Trilu: op([1, 2], [each(I64, 1)], { upper: 'int' }),
  CumSum: op([2, 2], [each(NUM, 0), each(INDEX, 1)], { exclusive: 'int', reverse: 'int' }),

  MatMul: op([2, 2], [same(NUM, 0, 1)]),
  Gemm: op(since(11, [3, 3], [2, 3]), [same(NUM, 0, 1, 2)], { alpha: 'float', beta: 'float', transA: 'int', transB: 'int', broadcast: 'int' }),
  Conv: op([2, 3], [same(FLOAT, 0, 1, 2)], { ...WINDOW, group: 'int' }),
  ConvTranspose: op([2, 3], [same(FLOAT, 0, 1, 2)], { ...WINDOW, group: 'int', output_padding: 'ints', output_shape: 'ints' }),
  AveragePool: op([1, 1], [same(FLOAT, 0)], { ...WINDOW, ceil_mode: 'int', count_include_pad: 'int' }, { required: ['kernel_shape'] }),
  MaxPool: op([1, 1], [same(NUM, 0)], { ...WINDOW, ceil_mode: 'int', storage_order: 'int' }, { outputs: [1, 2], required: ['kernel_shape'] }),
  GlobalAveragePool: op([1, 1], [same(FLOAT, 0)]),
  BatchNormalization: op([5, 5], [same(FLOAT, 0, 1, 2), same(FLOAT, 3, 4)], { epsilon: 'float', momentum: 'float', training_mode: 'int', spatial: 'int', is_test: 'int' }, { outputs: [1, 5] }),
  InstanceNormalization: op([3, 3], [same(FLOAT, 0, 1, 2)], { epsilon: 'float' }),
  LayerNormalization: op([2, 3], [same(FLOAT, 0, 1, 2)], { axis: 'int', epsilon: 'float', stash_type: 'int' }, { outputs: [1, 3] }),

  If: op([1, 1], [each(BOOL, 0)], { then_branch: 'graph', else_branch: 'graph' }, { outputs: [1, Infinity], required: ['then_branch', 'else_branch'] }),
  Loop: op([2, Infinity], [each(I64, 0), each(BOOL, 1)], { body: 'graph' }, { outputs: [1, Infinity], required: ['body'], optional: [0, 1] }),

  RMSNorm: op([1, 2], [each(['float32'], 0, 1)], { epsilon: 'float', axis: 'int' }, { required: ['epsilon'] }),
  OneBitLinear: op([4, 5], [each(FLOAT, 0), each(['uint8'], 1), each(FLOAT, 2, 3, 4)], { in: 'int', out: 'int', alpha: 'float', beta: 'float', post_norm_eps: 'float' }, { required: ['in', 'out'] }),
};

/** Every op the verifier has a schema for, sorted. */
export const KNOWN_OPS: readonly string[] = Object.keys(OP_SCHEMAS).sort();

export interface VerifyOptions {
  /** Ops the later stages can handle (the runtime's kernels); default: every op in OP_SCHEMAS. */
  supportedOps?: Iterable<string>;
}

// ---- the checks ----

interface Ctx {
  opset: number;
  file?: string;
  supported: Set<string>;
  supportedList: string;
  diagnostics: Diagnostic[];
  nodeNames: Map<string, number>;
}

/** Checks every graph of the model; returns every error and warning found. */
export function verifyModel(model: IrModel, options: VerifyOptions = {}): Diagnostic[] {
  const supported = new Set(options.supportedOps ?? KNOWN_OPS);
  const ctx: Ctx = {
    opset: defaultOpset(model),
    file: model.source?.path,
    supported,
    supportedList: [...supported].sort().join(', '),
    diagnostics: [],
    nodeNames: new Map(),
  };
  // Dtype checks need the type of every value: infer them on a copy (inference reports its own problems later).
  const typed = copyGraph(model.graph);
  inferShapes({ ...model, graph: typed });
  verifyGraph(ctx, typed, new Set(), undefined, undefined);
  return ctx.diagnostics;
}

/** The same graph with its own `types` maps (nodes without subgraphs are shared, not copied). */
function copyGraph(g: IrGraph): IrGraph {
  const nodes = g.nodes.map((n) => {
    if (!Object.values(n.attrs).some((a) => isIrGraph(a) || (Array.isArray(a) && a.some((x) => typeof x === 'object')))) return n;
    const attrs: Record<string, IrAttr> = {};
    for (const [k, a] of Object.entries(n.attrs)) {
      attrs[k] = isIrGraph(a) ? copyGraph(a) : Array.isArray(a) && a.some((x) => typeof x === 'object') ? (a as IrGraph[]).map(copyGraph) : a;
    }
    return { ...n, attrs };
  });
  return { ...g, nodes, types: new Map(g.types) };
}

type Where = { graph?: string };

function verifyGraph(ctx: Ctx, graph: IrGraph, outer: ReadonlySet<string>, outerTypes: ((name: string) => ValueType | undefined) | undefined, label: string | undefined): void {
  const where: Where = label === undefined ? {} : { graph: label };
  const push = (d: Omit<Diagnostic, 'file' | 'severity'>, severity: Diagnostic['severity'] = 'error') =>
    ctx.diagnostics.push({ severity, ...(ctx.file ? { file: ctx.file } : {}), ...where, ...d });
  const typeOf = (name: string): ValueType | undefined => graph.types.get(name) ?? outerTypes?.(name);

  const local = new Set<string>();
  const define = (name: string, what: string, at: { node?: string; op?: string; value?: string }) => {
    if (local.has(name)) push({ ...at, message: `${what} '${name}' is already defined in this graph (every value must be assigned once)` });
    else if (outer.has(name)) push({ ...at, message: `${what} '${name}' shadows a value of an enclosing graph (names must be unique across subgraphs)` });
    local.add(name);
  };
  for (const v of graph.inputs) define(v.name, 'graph input', { value: v.name });
  for (const name of graph.initializers.keys()) {
    if (!local.has(name)) define(name, 'initializer', { value: name });
  }

  // Where each value is produced, to tell "used too early" from "never defined".
  const producer = new Map<string, IrNode>();
  for (const node of graph.nodes) for (const o of node.outputs) if (o && !producer.has(o)) producer.set(o, node);

  for (const node of graph.nodes) {
    const at = { node: node.name, op: node.op };
    const seen = ctx.nodeNames.get(node.name) ?? 0;
    ctx.nodeNames.set(node.name, seen + 1);
    if (seen === 1) push({ ...at, message: `node name '${node.name}' is used by more than one node` });

    node.inputs.forEach((name, i) => {
      if (!name || local.has(name) || outer.has(name)) return;
      const later = producer.get(name);
      push({
        ...at,
        message: later
          ? `input ${i} '${name}' is used before it is defined (by node '${later.name}' later in the graph): nodes must be in topological order`
          : `input ${i} '${name}' is not defined: not a graph input, initializer or output of an earlier node${label !== undefined ? ' or enclosing graph' : ''}`,
      });
    });

    if (!ctx.supported.has(node.op)) {
      push({ ...at, message: `unsupported op '${node.op}'${node.domain ? ` (domain '${node.domain}')` : ''}; supported ops: ${ctx.supportedList}` });
    } else {
      const schema = OP_SCHEMAS[node.op];
      if (schema) checkNode(node, schema, ctx.opset, typeOf, (message) => push({ ...at, message }), (message) => push({ ...at, message }, 'warning'));
    }

    // Subgraphs see what is defined up to this node.
    const visible = new Set([...outer, ...local]);
    for (const [attrName, attr] of Object.entries(node.attrs)) {
      const subs = isIrGraph(attr) ? [attr] : Array.isArray(attr) ? (attr as unknown[]).filter((x): x is IrGraph => isIrGraph(x as IrAttr)) : [];
      for (const sub of subs) verifyGraph(ctx, sub, visible, typeOf, sub.name || `${node.name}.${attrName}`);
    }
    checkControlFlow(node, (message) => push({ ...at, message }));

    for (const o of node.outputs) if (o) define(o, 'output', at);
  }

  for (const v of graph.outputs) {
    if (!local.has(v.name) && !outer.has(v.name)) {
      push({ value: v.name, message: `graph output '${v.name}' is not produced by any node, input or initializer` });
    }
  }
}

function checkNode(
  node: IrNode, schema: OpSchema, opset: number, typeOf: (name: string) => ValueType | undefined,
  error: (message: string) => void, warn: (message: string) => void,
): void {
  const [minIn, maxIn] = typeof schema.inputs === 'function' ? schema.inputs(opset) : schema.inputs;
  const n = node.inputs.length;
  if (n < minIn || n > maxIn) error(`has ${n} input${n === 1 ? '' : 's'}, expected ${arity(minIn, maxIn)} (opset ${opset})`);
  for (let i = 0; i < Math.min(minIn, n); i++) {
    if (!node.inputs[i] && !schema.optional?.includes(i)) error(`input ${i} is required but omitted ('')`);
  }
  const [minOut, maxOut] = schema.outputs;
  const m = node.outputs.length;
  if (m < minOut || m > maxOut) error(`has ${m} output${m === 1 ? '' : 's'}, expected ${arity(minOut, maxOut)}`);

  for (const [name, attr] of Object.entries(node.attrs)) {
    const kind = schema.attrs[name];
    if (!kind) warn(`unknown attribute '${name}' for ${node.op}; it is ignored`);
    else if (!attrHasKind(attr, kind)) error(`attribute '${name}' must be ${article(kind)}, got ${describeAttr(attr)}`);
  }
  for (const name of schema.required) if (node.attrs[name] === undefined) error(`attribute '${name}' is required`);
  if (node.op === 'Constant') {
    const set = Object.keys(node.attrs).filter((k) => k.startsWith('value') || k === 'sparse_value');
    if (set.length !== 1) error(`needs exactly one of the attributes 'value', 'value_float(s)', 'value_int(s)', 'value_string(s)', got ${set.length}`);
  }

  for (const c of schema.types) {
    const indices = c.inputs[0] === -1 ? node.inputs.map((_, i) => i) : c.inputs;
    let first: { i: number; dtype: DType } | undefined;
    for (const i of indices) {
      const name = node.inputs[i];
      if (!name) continue;
      const t = typeOf(name);
      if (!t) continue;
      if (!c.allowed.includes(t.dtype)) {
        error(`input ${i} '${name}' has dtype ${t.dtype}, expected ${c.label}`);
        continue;
      }
      if (!c.same) continue;
      if (!first) first = { i, dtype: t.dtype };
      else if (t.dtype !== first.dtype) error(`input ${i} '${name}' has dtype ${t.dtype}, expected ${first.dtype} like input ${first.i}`);
    }
  }
}

/** If/Loop: the bodies' inputs and outputs must line up with the node's. */
function checkControlFlow(node: IrNode, error: (message: string) => void): void {
  if (node.op === 'If') {
    for (const name of ['then_branch', 'else_branch']) {
      const g = node.attrs[name];
      if (!isIrGraph(g)) continue;
      if (g.inputs.length !== 0) error(`${name} has ${g.inputs.length} inputs, expected none`);
      if (g.outputs.length !== node.outputs.length) error(`${name} has ${g.outputs.length} outputs, but the node has ${node.outputs.length}`);
    }
  } else if (node.op === 'Loop') {
    const body = node.attrs['body'];
    if (!isIrGraph(body)) return;
    const carried = node.inputs.length - 2;
    if (body.inputs.length !== carried + 2) error(`body has ${body.inputs.length} inputs, expected ${carried + 2} (iteration number, condition and ${carried} loop-carried values)`);
    const scans = body.outputs.length - 1 - carried;
    if (scans < 0) error(`body has ${body.outputs.length} outputs, expected at least ${carried + 1} (condition and ${carried} loop-carried values)`);
    else if (node.outputs.length !== carried + scans) error(`has ${node.outputs.length} outputs, expected ${carried + scans} (${carried} loop-carried and ${scans} scan outputs of the body)`);
  }
}

function arity(min: number, max: number): string {
  if (min === max) return String(min);
  if (max === Infinity) return `at least ${min}`;
  return `${min} to ${max}`;
}

function article(kind: AttrKind): string {
  return { int: 'an int', float: 'a float', string: 'a string', ints: 'a list of ints', floats: 'a list of floats', strings: 'a list of strings', tensor: 'a tensor', graph: 'a graph' }[kind];
}

function attrHasKind(a: IrAttr, kind: AttrKind): boolean {
  switch (kind) {
    case 'int': return typeof a === 'number' && Number.isInteger(a);
    case 'float': return typeof a === 'number';
    case 'string': return typeof a === 'string';
    case 'ints': return Array.isArray(a) && a.every((x) => typeof x === 'number' && Number.isInteger(x));
    case 'floats': return Array.isArray(a) && a.every((x) => typeof x === 'number');
    case 'strings': return Array.isArray(a) && a.every((x) => typeof x === 'string');
    case 'tensor': return isTensor(a);
    case 'graph': return isIrGraph(a);
  }
}
