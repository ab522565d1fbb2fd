import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import ort from 'onnxruntime-node';
import { FormatError } from '../../formats/errors.ts';
import { MAX_NESTING, checkOnnxModel, decodeOnnxModel, readOnnxModel } from '../../formats/onnx/read-model.ts';
import { tensorFromProto } from '../../formats/onnx/tensor-proto.ts';

const { onnx } = onnxProto;
const FIXTURE = new URL('../fixtures/stories260K/model.onnx', import.meta.url).pathname;
const INT = onnx.AttributeProto.AttributeType.INT;
const GRAPH = onnx.AttributeProto.AttributeType.GRAPH;
const TENSOR = onnx.AttributeProto.AttributeType.TENSOR;

const tmp = mkdtempSync(join(tmpdir(), 'onebitc-onnx-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

const f32 = (name: string, dims: number[] = [1]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
const scalarBool = (name: string) => ({ name, type: { tensorType: { elemType: 9, shape: { dim: [] } } } });

/** A small valid model: y = If(cond) then x + one else x - one, `one` an outer-scope initializer. */
function ifModel(): Onnx.IModelProto {
  const branch = (op: string, name: string): Onnx.IGraphProto => ({
    name,
    node: [{ opType: op, input: ['x', 'one'], output: [`${name}_out`] }],
    output: [f32(`${name}_out`)],
  });
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      input: [f32('x'), scalarBool('cond')],
      initializer: [{ name: 'one', dataType: 1, dims: [1], floatData: [1] }],
      node: [
        { opType: 'Constant', output: ['two'], attribute: [{ name: 'value', type: TENSOR, t: { dataType: 1, dims: [1], floatData: [2] } }] },
        { opType: 'If', input: ['cond'], output: ['y0'], attribute: [
          { name: 'then_branch', type: GRAPH, g: branch('Add', 'then') },
          { name: 'else_branch', type: GRAPH, g: branch('Sub', 'else') },
        ] },
        { opType: 'Mul', input: ['y0', 'two'], output: ['y'] },
      ],
      output: [f32('y')],
    },
  };
}

const encode = (m: Onnx.IModelProto) => onnx.ModelProto.encode(onnx.ModelProto.create(m)).finish();

function rejects(t: ExecutionContext, model: Onnx.IModelProto, message: RegExp): void {
  const e = t.throws(() => decodeOnnxModel(encode(model), 'm.onnx'), { instanceOf: FormatError, message });
  t.false(e!.message.includes('\n'), e!.message);
  t.true(e!.message.startsWith('m.onnx: '), e!.message);
}

/** A copy of ifModel() changed by `edit`, which works on the plain JSON form (any: tests break it on purpose). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function edited(edit: (m: any) => void): Onnx.ModelProto {
  const m = JSON.parse(JSON.stringify(onnx.ModelProto.toObject(onnx.ModelProto.decode(encode(ifModel())), { longs: Number, bytes: Array })));
  edit(m);
  return onnx.ModelProto.fromObject(m);
}

test('reads the stories260K model exported by PyTorch', async (t) => {
  const model = await readOnnxModel(FIXTURE);
  t.is(Number(model.irVersion), 8);
  t.deepEqual(model.opsetImport.map((o) => [o.domain ?? '', Number(o.version)]), [['', 17]]);
  t.is(model.graph!.node!.length, 969);
  t.is(model.graph!.initializer!.length, 48);
  t.deepEqual(model.graph!.input!.map((v) => v.name), ['input_ids']);
  t.deepEqual(model.graph!.output!.map((v) => v.name), ['logits']);
  const where = { file: FIXTURE, dir: join(FIXTURE, '..') };
  const embed = tensorFromProto(model.graph!.initializer!.find((i) => i.name === 'model.embed_tokens.weight')!, where);
  t.deepEqual(embed.dims, [512, 64]);
  t.is(embed.dtype, 'float32');
  t.notThrows(() => checkOnnxModel(model, FIXTURE));
});

test('a small model with If subgraphs using outer-scope names passes, and onnxruntime accepts it too', async (t) => {
  const model = decodeOnnxModel(encode(ifModel()), 'if.onnx');
  t.is(model.graph!.node!.length, 3);
  const session = await ort.InferenceSession.create(encode(ifModel()));
  const out = await session.run({ x: new ort.Tensor('float32', [3], [1]), cond: new ort.Tensor('bool', [true], []) });
  t.deepEqual(Array.from(out.y!.data as Float32Array), [8]);
  await session.release();
});

test('unreadable files are FormatErrors naming the file', async (t) => {
  const write = (name: string, bytes: Uint8Array | string) => {
    const path = join(tmp, name);
    writeFileSync(path, bytes);
    return path;
  };
  const cases: [string, RegExp][] = [
    [join(tmp, 'missing.onnx'), /missing\.onnx: file not found$/],
    [tmp, /is a folder, not a file$/],
    [write('empty.onnx', new Uint8Array(0)), /empty\.onnx: file is empty; expected an ONNX model$/],
    [write('text.onnx', 'hello, this is not a model\n'), /text\.onnx: (not a valid ONNX model|model has no graph|ir_version)/],
    [write('truncated.onnx', readFileSync(FIXTURE).subarray(0, 700_000)), /truncated\.onnx: not a valid ONNX model \(protobuf decoding failed: index out of range/],
  ];
  let seed = 7;
  const random = new Uint8Array(4096).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
  cases.push([write('random.onnx', random), /random\.onnx: /]);
  for (const [path, message] of cases) {
    const e = await t.throwsAsync(readOnnxModel(path), { instanceOf: FormatError, message });
    t.false(e!.message.includes('\n'));
  }
});

test('model-level problems: no graph, ir_version, opset_import', (t) => {
  rejects(t, { irVersion: 8, opsetImport: [{ domain: '', version: 17 }] }, /model has no graph/);
  rejects(t, edited((m) => { delete m.irVersion; }), /ir_version is missing; expected an ONNX model/);
  rejects(t, edited((m) => { m.irVersion = 2; }), /ir_version 2 is too old/);
  rejects(t, edited((m) => { m.opsetImport = []; }), /model has no opset_import; expected at least one/);
  rejects(t, edited((m) => { m.opsetImport = [{ domain: '', version: 0 }]; }), /opset_import for domain 'ai\.onnx' has version 0/);
  rejects(t, edited((m) => { m.opsetImport = [{ domain: '' }]; }), /opset_import for domain 'ai\.onnx' has version/);
  rejects(t, edited((m) => { m.opsetImport = [{ domain: '', version: 17 }, { domain: 'ai.onnx', version: 13 }]; }), /imports domain 'ai\.onnx' twice/);
  rejects(t, edited((m) => { m.opsetImport = [{ domain: 'com.example', version: 1 }]; }), /node #0 \(Constant\): uses domain 'ai\.onnx', which the model does not import/);
  rejects(t, edited((m) => { m.graph.output = []; }), /graph 'g': has no outputs/);
});

test('graph problems: op types, SSA names, topological order, value types', (t) => {
  rejects(t, edited((m) => { m.graph.node[2].opType = ''; }), /graph 'g': node #2: has no op_type/);
  rejects(t, edited((m) => { m.graph.node[2].opType = 'Mul\u0001'; }), /op_type 'Mul\\u0001' is not a valid operator name/);
  rejects(t, edited((m) => { m.graph.node[2].input = ['y0', 'three']; }), /node #2 \(Mul\): input 'three' is not defined before this node/);
  rejects(t, edited((m) => { m.graph.node.reverse(); }), /input '(y0|cond)' is not defined before this node \(nodes must be topologically sorted\)/);
  rejects(t, edited((m) => { m.graph.node[2].output = ['two']; }), /output 'two' is already defined/);
  rejects(t, edited((m) => { m.graph.node[2].output = ['x']; }), /output 'x' is already defined/);
  rejects(t, edited((m) => { m.graph.node[2].output = []; }), /node #2 \(Mul\): has no outputs/);
  rejects(t, edited((m) => { m.graph.node[2].name = 'bad\nname'; m.graph.node[2].opType = ''; }), /node 'bad\\u000aname': has no op_type/);
  rejects(t, edited((m) => { m.graph.output[0].name = 'nowhere'; }), /output 'nowhere' is not produced by any node/);
  rejects(t, edited((m) => { m.graph.input.push(f32('x')); }), /input 'x' is defined more than once/);
  rejects(t, edited((m) => { m.graph.input[0].name = ''; }), /an input has no name/);
  rejects(t, edited((m) => { delete m.graph.input[0].type; }), /input 'x' has no type/);
  rejects(t, edited((m) => { m.graph.input[0].type.tensorType.elemType = 0; }), /input 'x': has no element type/);
  rejects(t, edited((m) => { m.graph.input[0].type.tensorType.elemType = 15; }), /input 'x': unsupported ONNX data type COMPLEX128 \(15\)/);
  rejects(t, edited((m) => { m.graph.input[0].type.tensorType.shape.dim[0].dimValue = -3; }), /input 'x': dimension 0 is -3; dims must be non-negative/);
  rejects(t, edited((m) => { m.graph.valueInfo = [{ name: 'y0', type: { tensorType: { elemType: 99 } } }]; }), /value_info 'y0': unsupported ONNX data type 99/);
  rejects(t, edited((m) => { m.graph.initializer.push({ name: 'one', dataType: 1, dims: [1], floatData: [1] }); }), /initializer 'one' is defined more than once/);
  rejects(t, edited((m) => { m.graph.initializer[0].dims = [2]; }), /tensor 'one': float_data has 1 elements, but dims \[2\] need 2/);
  rejects(t, edited((m) => { m.graph.initializer[0].dataType = 14; }), /tensor 'one': unsupported ONNX data type COMPLEX64/);
  rejects(t, edited((m) => { m.graph.initializer[0].dims = [-1]; }), /tensor 'one': dimension 0 is -1/);
  rejects(t, edited((m) => { m.graph.initializer[0].name = ''; }), /an initializer has no name/);
  // An initializer may also be listed as an input (IR < 4 style).
  const old = edited((m) => { m.graph.input.push(f32('one')); });
  t.notThrows(() => decodeOnnxModel(encode(old), 'm.onnx'));
});

test('attribute problems: types, values, tensors', (t) => {
  rejects(t, edited((m) => { delete m.graph.node[0].attribute[0].type; }), /node #0 \(Constant\): attribute 'value': has no type/);
  const unknownType = edited(() => undefined);
  unknownType.graph!.node![0]!.attribute![0]!.type = 42 as Onnx.AttributeProto.AttributeType;
  rejects(t, unknownType, /attribute 'value': has unknown type 42/);
  rejects(t, edited((m) => { m.graph.node[0].attribute[0].type = INT; }), /attribute 'value': is of type INT but also sets the field of TENSOR/);
  rejects(t, edited((m) => { delete m.graph.node[0].attribute[0].t; }), /attribute 'value': is of type TENSOR but has no value/);
  rejects(t, edited((m) => { m.graph.node[0].attribute[0].t.dataType = 14; }), /unsupported ONNX data type COMPLEX64/);
  rejects(t, edited((m) => { m.graph.node[0].attribute[0].t.floatData = []; }), /has no data, but dims \[1\] need 1 elements/);
  rejects(t, edited((m) => { m.graph.node[0].attribute.push({ name: 'value', type: INT, i: 1 }); }), /attribute 'value' appears twice/);
  rejects(t, edited((m) => { m.graph.node[0].attribute[0].name = ''; }), /has an attribute without a name/);
  rejects(t, edited((m) => { m.graph.node[0].attribute[0].refAttrName = 'v'; }), /refers to a function attribute outside a function body/);
});

test('subgraphs are checked with their outer scope, and nesting is bounded', (t) => {
  rejects(t, edited((m) => { m.graph.node[1].attribute[0].g.node[0].opType = ''; }), /subgraph 'then': node #0: has no op_type/);
  rejects(t, edited((m) => { m.graph.node[1].attribute[1].g.node[0].input = ['x', 'y']; }), /subgraph 'else': node #0 \(Sub\): input 'y' is not defined before this node/);
  rejects(t, edited((m) => { m.graph.node[1].attribute[0].g.node[0].output = ['one']; }), /subgraph 'then': .*output 'one' is already defined/);
  rejects(t, edited((m) => { m.graph.node[1].attribute[0].g.initializer = [{ name: 'k', dataType: 1, dims: [2], rawData: [0, 0, 0] }]; }), /tensor 'k': raw_data has 3 bytes, but dims \[2\] of float32 need 8/);
  rejects(t, edited((m) => { delete m.graph.node[1].attribute[0].g; }), /attribute 'then_branch': is of type GRAPH but has no value/);
  // GRAPHS lists are checked too.
  rejects(t, edited((m) => {
    const g = m.graph.node[1].attribute[0].g;
    m.graph.node[1].attribute[0] = { name: 'then_branch', type: onnx.AttributeProto.AttributeType.GRAPHS, graphs: [g, { name: 'bad', node: [{ opType: 'Add', input: ['nope'], output: ['z'] }] }] };
  }), /subgraph 'bad': node #0 \(Add\): input 'nope' is not defined/);

  // If within If within If ... deeper than MAX_NESTING.
  const leaf: Onnx.IGraphProto = { name: 'leaf', node: [{ opType: 'Identity', input: ['x'], output: ['leaf_out'] }], output: [f32('leaf_out')] };
  let g = leaf;
  for (let i = 0; i < MAX_NESTING + 2; i++) {
    g = { name: `level${i}`, node: [{ opType: 'If', input: ['cond'], output: [`o${i}`], attribute: [{ name: 'then_branch', type: GRAPH, g }, { name: 'else_branch', type: GRAPH, g: leaf }] }], output: [f32(`o${i}`)] };
  }
  const deep: Onnx.IModelProto = { irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: { ...g, name: 'g', input: [f32('x'), scalarBool('cond')] } };
  rejects(t, deep, /nested more than 64 deep/);
});

test('deeply nested protobuf bytes are a FormatError, not a stack overflow', (t) => {
  // ModelProto.graph → GraphProto.node → NodeProto.attribute → AttributeProto.g → GraphProto.node ...,
  // 30,000 length-delimited messages deep, built inside out.
  const varint = (n: number) => { const out: number[] = []; while (n > 127) { out.push((n & 127) | 128); n >>>= 7; } out.push(n); return out; };
  const tags = [0x0a /* GraphProto.node */, 0x2a /* NodeProto.attribute */, 0x32 /* AttributeProto.g */];
  const depth = 30_000;
  let bytes = new Uint8Array(0);
  for (let i = 0; i < depth; i++) {
    const tag = tags[(depth - 1 - i) % 3]!;
    const len = varint(bytes.length);
    const next = new Uint8Array(1 + len.length + bytes.length);
    next[0] = tag;
    next.set(len, 1);
    next.set(bytes, 1 + len.length);
    bytes = next;
  }
  // ir_version 8, opset_import { version 17 }, graph { ... }
  const model = new Uint8Array([0x08, 0x08, 0x42, 0x02, 0x10, 0x11, 0x3a, ...varint(bytes.length)]);
  const whole = new Uint8Array(model.length + bytes.length);
  whole.set(model);
  whole.set(bytes, model.length);
  t.throws(() => decodeOnnxModel(whole, 'deep.onnx'), { instanceOf: FormatError, message: /^deep\.onnx: (not a valid ONNX model \(protobuf decoding failed: messages are nested too deeply\)|.*nested more than 64 deep)$/ });
});

test('model-local functions are checked', (t) => {
  const withFunction = (f: Onnx.IFunctionProto) => edited((m) => {
    m.opsetImport.push({ domain: 'local', version: 1 });
    m.functions = [f];
  });
  const ok: Onnx.IFunctionProto = { name: 'Twice', domain: 'local', input: ['a'], output: ['b'], attribute: ['k'], opsetImport: [{ domain: '', version: 17 }], node: [{ opType: 'Add', input: ['a', 'a'], output: ['b'] }] };
  t.notThrows(() => decodeOnnxModel(encode(withFunction(ok)), 'm.onnx'));
  rejects(t, withFunction({ ...ok, node: [{ opType: 'Add', input: ['a', 'c'], output: ['b'] }] }), /function 'Twice': node #0 \(Add\): input 'c' is not defined/);
  rejects(t, withFunction({ ...ok, output: ['z'] }), /function 'Twice': output 'z' is not produced/);
  rejects(t, withFunction({ ...ok, name: '' }), /a model-local function has no name/);
});
