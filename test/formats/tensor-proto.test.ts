import test from 'ava';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync, openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import ort from 'onnxruntime-node';
import type { DType } from '../../formats/dtype.ts';
import { halfToFloat32 } from '../../formats/dtype.ts';
import { FormatError } from '../../formats/errors.ts';
import { checkTensorProto, dtypeFromOnnx, onnxFromDtype, tensorFromProto, tensorToProto } from '../../formats/onnx/tensor-proto.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { tensor } from '../../formats/tensor.ts';

const { onnx } = onnxProto;
const where = { file: 'test.onnx', dir: tmpdir() };

/** Encodes and decodes a proto, so fields look as they do when read from a file (Long, Buffer views). */
function roundTrip(proto: Onnx.ITensorProto): Onnx.TensorProto {
  return onnx.TensorProto.decode(onnx.TensorProto.encode(onnx.TensorProto.create(proto)).finish());
}

const long = (v: bigint) => ({ low: Number(BigInt.asUintN(32, v)), high: Number(BigInt.asIntN(32, v >> 32n)), unsigned: false });

/** One tensor of every dtype, with edge values. */
const SAMPLES: Tensor[] = [
  tensor('float32', [2, 2], Float32Array.of(1.5, -2, 3.25e-3, Infinity)),
  tensor('float64', [3], Float64Array.of(Math.PI, -0, 1e300)),
  tensor('float16', [2], Uint16Array.of(0x3c00, 0xfbff)),
  tensor('bfloat16', [2], Uint16Array.of(0x3f80, 0xc0a0)),
  tensor('int8', [4], Int8Array.of(-128, 127, 0, -1)),
  tensor('int16', [2], Int16Array.of(-32768, 32767)),
  tensor('int32', [2], Int32Array.of(-(2 ** 31), 2 ** 31 - 1)),
  tensor('int64', [3], BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, -5n)),
  tensor('uint8', [3], Uint8Array.of(0, 255, 7)),
  tensor('uint16', [2], Uint16Array.of(0, 65535)),
  tensor('uint32', [2], Uint32Array.of(0, 2 ** 32 - 1)),
  tensor('uint64', [2], BigUint64Array.of(0n, 2n ** 64n - 1n)),
  tensor('bool', [1, 3], Uint8Array.of(1, 0, 1)),
  tensor('string', [2], ['hello', 'wörld ✓']),
  tensor('float32', [0, 4]),
  tensor('int64', [], BigInt64Array.of(42n)),
];

const plain = (t: Tensor) => ({ dtype: t.dtype, dims: [...t.dims], data: Array.isArray(t.data) ? [...t.data] : Array.from(t.data as ArrayLike<number | bigint>) });

test('dtype codes map both ways, and unsupported codes list the supported types', (t) => {
  const dtypes: DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool', 'string'];
  for (const d of dtypes) t.is(dtypeFromOnnx(onnxFromDtype(d)), d);
  t.is(onnxFromDtype('float32'), onnx.TensorProto.DataType.FLOAT);
  t.is(onnxFromDtype('bfloat16'), onnx.TensorProto.DataType.BFLOAT16);
  t.throws(() => dtypeFromOnnx(14), { instanceOf: RangeError, message: /COMPLEX64 \(14\).*supported: FLOAT \(float32\), UINT8 \(uint8\)/ });
  const e = t.throws(() => dtypeFromOnnx(99, 'm.onnx', 'w'), { instanceOf: FormatError });
  t.is(e.message.split('\n').length, 1);
  t.regex(e.message, /^m\.onnx: tensor 'w': unsupported ONNX data type 99; supported: /);
  t.throws(() => onnxFromDtype('complex' as DType), { instanceOf: RangeError });
});

test('tensorToProto → encode → decode → tensorFromProto gives the tensor back, for every dtype', (t) => {
  for (const sample of SAMPLES) {
    const proto = roundTrip(tensorToProto('x', sample));
    t.is(proto.dataType, onnxFromDtype(sample.dtype));
    t.deepEqual(plain(tensorFromProto(proto, where)), plain(sample), sample.dtype);
  }
});

test('tensors own their data (no view into the decoded file bytes)', (t) => {
  const proto = roundTrip(tensorToProto('x', tensor('float32', [2], Float32Array.of(1, 2))));
  const out = tensorFromProto(proto, where);
  (out.data as Float32Array)[0] = 9;
  t.is(tensorFromProto(proto, where).data[0], 1);
});

/** The same values as SAMPLES, stored in the typed fields per onnx.proto's packing rules. */
const TYPED: Onnx.ITensorProto[] = [
  { name: 'f32', dataType: 1, dims: [2, 2], floatData: [1.5, -2, 3.25e-3, Infinity] },
  { name: 'f64', dataType: 11, dims: [3], doubleData: [Math.PI, -0, 1e300] },
  { name: 'f16', dataType: 10, dims: [2], int32Data: [0x3c00, 0xfbff] },
  { name: 'bf16', dataType: 16, dims: [2], int32Data: [0x3f80, 0xc0a0] },
  { name: 'i8', dataType: 3, dims: [4], int32Data: [-128, 127, 0, -1] },
  { name: 'i16', dataType: 5, dims: [2], int32Data: [-32768, 32767] },
  { name: 'i32', dataType: 6, dims: [2], int32Data: [-(2 ** 31), 2 ** 31 - 1] },
  { name: 'i64', dataType: 7, dims: [3], int64Data: [long(-(2n ** 63n)), long(2n ** 63n - 1n), -5] },
  { name: 'u8', dataType: 2, dims: [3], int32Data: [0, 255, 7] },
  { name: 'u16', dataType: 4, dims: [2], int32Data: [0, 65535] },
  { name: 'u32', dataType: 12, dims: [2], uint64Data: [0, 2 ** 32 - 1] },
  { name: 'u64', dataType: 13, dims: [2], uint64Data: [0, { low: -1, high: -1, unsigned: true }] },
  { name: 'b', dataType: 9, dims: [1, 3], int32Data: [1, 0, 1] },
  { name: 's', dataType: 8, dims: [2], stringData: [new TextEncoder().encode('hello'), new TextEncoder().encode('wörld ✓')] },
];

test('typed fields (float/double/int32/int64/uint64/string_data) decode per the packing rules', (t) => {
  TYPED.forEach((proto, i) => {
    t.deepEqual(plain(tensorFromProto(roundTrip(proto), where)), plain(SAMPLES[i]!), proto.name!);
    t.deepEqual(plain(tensorFromProto(proto, where)), plain(SAMPLES[i]!), `${proto.name} (not decoded)`);
  });
});

// ---- onnxruntime as the oracle ----

/** A model whose outputs are Identity (Cast to float for bfloat16, which onnxruntime-node cannot return) of each initializer. */
function identityModel(inits: Onnx.ITensorProto[]): Onnx.IModelProto {
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'identities',
      initializer: inits,
      node: inits.map((p) => p.dataType === 16
        ? { opType: 'Cast', input: [p.name!], output: [`out_${p.name}`], attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] }
        : { opType: 'Identity', input: [p.name!], output: [`out_${p.name}`] }),
      output: inits.map((p) => ({ name: `out_${p.name}`, type: { tensorType: { elemType: p.dataType === 16 ? 1 : p.dataType! } } })),
    },
  };
}

function asOrtView(t: Tensor) {
  const p = plain(t);
  return t.dtype === 'bfloat16' ? { ...p, dtype: 'float32', data: Array.from(halfToFloat32('bfloat16', t.data as Uint16Array)) } : p;
}

async function runOrt(model: Onnx.IModelProto | string) {
  const session = typeof model === 'string'
    ? await ort.InferenceSession.create(model)
    : await ort.InferenceSession.create(onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish());
  const out = await session.run({});
  await session.release();
  return out;
}

const ORT_DTYPE: Record<string, string> = { float32: 'float32', float64: 'float64', float16: 'float16', int8: 'int8', int16: 'int16', int32: 'int32', int64: 'int64', uint8: 'uint8', uint16: 'uint16', uint32: 'uint32', uint64: 'uint64', bool: 'bool', string: 'string' };

test('onnxruntime reads what tensorToProto writes (raw_data) as the same values', async (t) => {
  const samples = SAMPLES.filter((s) => s.dims.length === 0 || s.data.length > 0);
  const protos = samples.map((s, i) => tensorToProto(`t${i}`, s));
  const out = await runOrt(identityModel(protos));
  samples.forEach((s, i) => {
    const o = out[`out_t${i}`]!;
    const expected = asOrtView(s);
    t.is(o.type as string, ORT_DTYPE[expected.dtype]!, s.dtype);
    t.deepEqual([...o.dims], expected.dims, s.dtype);
    t.deepEqual(Array.from(o.data as ArrayLike<unknown>), expected.data, s.dtype);
  });
});

test('tensorFromProto reads the typed fields as onnxruntime does', async (t) => {
  const out = await runOrt(identityModel(TYPED));
  for (const proto of TYPED) {
    const ours = asOrtView(tensorFromProto(roundTrip(proto), where));
    const o = out[`out_${proto.name}`]!;
    t.deepEqual([...o.dims], ours.dims, proto.name!);
    t.deepEqual(Array.from(o.data as ArrayLike<unknown>), ours.data, proto.name!);
  }
});

// ---- malformed protos ----

function throwsFormat(t: import('ava').ExecutionContext, proto: Onnx.ITensorProto, message: RegExp, at = where) {
  const e = t.throws(() => tensorFromProto(proto, at), { instanceOf: FormatError, message });
  t.is(e?.message.includes('\n'), false);
  t.throws(() => checkTensorProto(proto, at), { instanceOf: FormatError, message });
}

test('element counts, fields and values are checked, naming the tensor', (t) => {
  throwsFormat(t, { name: 'w', dataType: 1, dims: [2, 3], rawData: new Uint8Array(20) }, /^test\.onnx: tensor 'w': raw_data has 20 bytes, but dims \[2, 3\] of float32 need 24$/);
  throwsFormat(t, { name: 'w', dataType: 1, dims: [3], floatData: [1, 2] }, /float_data has 2 elements, but dims \[3\] need 3/);
  throwsFormat(t, { name: 'w', dataType: 1, dims: [2], int32Data: [1, 2] }, /float32 data must be in float_data, found int32_data/);
  throwsFormat(t, { name: 'w', dataType: 1, dims: [2], floatData: [1, 2], rawData: new Uint8Array(8) }, /more than one place \(raw_data, float_data\)/);
  throwsFormat(t, { name: 'w', dataType: 1, dims: [2] }, /has no data, but dims \[2\] need 2 elements/);
  throwsFormat(t, { name: 'w', dataType: 1, dims: [-1], floatData: [] }, /dimension 0 is -1; dims must be non-negative/);
  throwsFormat(t, { name: 'w', dataType: 1, dims: [{ low: 0, high: 0x7fffffff }] as never, floatData: [] }, /dimension 0 is .*dims must be non-negative/);
  throwsFormat(t, { name: 'w', dataType: 1, dims: [2 ** 30, 2 ** 30, 2 ** 30], floatData: [] }, /too many elements/);
  throwsFormat(t, { name: 'w', dims: [1], floatData: [1] }, /has no data type/);
  throwsFormat(t, { name: 'w', dataType: 14, dims: [1], floatData: [1, 2] }, /unsupported ONNX data type COMPLEX64 \(14\)/);
  throwsFormat(t, { name: 'w', dataType: 8, dims: [1], rawData: new Uint8Array(1) }, /string tensors cannot use raw_data/);
  throwsFormat(t, { name: 'w', dataType: 1, dims: [1], floatData: [1], segment: { begin: 0, end: 1 } }, /segmented tensors are not supported/);
  throwsFormat(t, { name: 'w\nx', dataType: 1, dims: [1], floatData: [] }, /tensor 'w\\u000ax'/);
  // Values: range per packing rule, bool 0/1, UTF-8 strings.
  const tp = (p: Onnx.ITensorProto, m: RegExp) => t.throws(() => tensorFromProto(p, where), { instanceOf: FormatError, message: m });
  tp({ name: 'w', dataType: 3, dims: [1], int32Data: [128] }, /int32_data\[0\] = 128 is not a valid int8 value/);
  tp({ name: 'w', dataType: 2, dims: [1], int32Data: [-1] }, /not a valid uint8 value/);
  tp({ name: 'w', dataType: 10, dims: [1], int32Data: [70000] }, /not a valid float16 value/);
  tp({ name: 'w', dataType: 9, dims: [1], int32Data: [2] }, /not a valid bool value/);
  tp({ name: 'w', dataType: 9, dims: [2], rawData: Uint8Array.of(1, 3) }, /bool element 1 is 3, expected 0 or 1/);
  tp({ name: 'w', dataType: 12, dims: [1], uint64Data: [2 ** 32] }, /not a valid uint32 value/);
  tp({ name: 'w', dataType: 8, dims: [1], stringData: [Uint8Array.of(0xff, 0xfe)] }, /string_data\[0\] is not valid UTF-8/);
});

// ---- external data ----

function externalProto(name: string, entries: Record<string, string>, dims = [4]): Onnx.ITensorProto {
  return {
    name, dataType: 1, dims,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: Object.entries(entries).map(([key, value]) => ({ key, value })),
  };
}

test('external data: a valid tensor is read from its range, and onnxruntime agrees', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'onebitc-ext-'));
  try {
    const dir = join(root, 'model');
    mkdirSync(join(dir, 'data'), { recursive: true });
    const values = Float32Array.of(1, -2, 3.5, 4e-3);
    const bytes = new Uint8Array(64).fill(0xee);
    bytes.set(new Uint8Array(values.buffer), 20);
    writeFileSync(join(dir, 'data', 'weights.bin'), bytes);
    const at = { file: join(dir, 'model.onnx'), dir };
    const proto = externalProto('w', { location: 'data/weights.bin', offset: '20', length: '16' });
    t.deepEqual(plain(tensorFromProto(proto, at)), plain(tensor('float32', [4], values)));
    t.deepEqual(plain(tensorFromProto(roundTrip(proto), at)), plain(tensor('float32', [4], values)));
    // No length: the tensor's size from the offset; a symlink that stays inside the folder is fine.
    symlinkSync('data/weights.bin', join(dir, 'link.bin'));
    t.deepEqual(Array.from(tensorFromProto(externalProto('w', { location: 'link.bin', offset: '20' }), at).data as Float32Array), Array.from(values));

    writeFileSync(at.file, onnx.ModelProto.encode(onnx.ModelProto.create(identityModel([proto]))).finish());
    const out = await runOrt(at.file);
    t.deepEqual(Array.from(out.out_w!.data as Float32Array), Array.from(values));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('external data: reads only the needed range of a huge (sparse) file', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'onebitc-ext-'));
  try {
    const fd = openSync(join(root, 'big.bin'), 'w');
    const offset = 6 * 2 ** 30; // 6 GiB: more than a Node buffer could hold
    try {
      ftruncateSync(fd, offset + 64);
      writeSync(fd, new Uint8Array(Float32Array.of(7, 8).buffer), 0, 8, offset);
    } finally {
      closeSync(fd);
    }
    const at = { file: join(root, 'm.onnx'), dir: root };
    const out = tensorFromProto(externalProto('w', { location: 'big.bin', offset: String(offset), length: '8' }, [2]), at);
    t.deepEqual(Array.from(out.data as Float32Array), [7, 8]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('external data: locations outside the folder, missing or short files, bad entries are refused', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'onebitc-ext-'));
  try {
    const dir = join(root, 'model');
    mkdirSync(dir);
    writeFileSync(join(root, 'outside.bin'), new Uint8Array(16));
    writeFileSync(join(dir, 'short.bin'), new Uint8Array(10));
    writeFileSync(join(dir, 'ok.bin'), new Uint8Array(16));
    symlinkSync(join(root, 'outside.bin'), join(dir, 'escape.bin'));
    symlinkSync(root, join(dir, 'up'));
    mkdirSync(join(dir, 'folder.bin'));
    const at = { file: join(dir, 'model.onnx'), dir };
    const refuse = (entries: Record<string, string>, message: RegExp) => {
      const e = t.throws(() => tensorFromProto(externalProto('w', entries), at), { instanceOf: FormatError, message });
      t.true(e!.message.startsWith(`${at.file}: tensor 'w': `), e!.message);
      t.is(e!.tensor, 'w');
    };
    refuse({ location: '../outside.bin' }, /'\.\.\/outside\.bin' leaves the model's folder/);
    refuse({ location: 'sub/../../outside.bin' }, /leaves the model's folder/);
    refuse({ location: join(root, 'outside.bin') }, /is absolute/);
    refuse({ location: '/etc/passwd' }, /is absolute/);
    refuse({ location: 'escape.bin' }, /'escape\.bin' resolves outside the model's folder/);
    refuse({ location: 'up/outside.bin' }, /resolves outside the model's folder/);
    refuse({ location: 'missing.bin' }, /external data file 'missing\.bin' cannot be read \(ENOENT\)/);
    refuse({ location: 'folder.bin' }, /is not a regular file/);
    refuse({ location: 'short.bin' }, /'short\.bin' has 10 bytes; bytes 0\.\.16 are out of range/);
    refuse({ location: 'ok.bin', offset: '8' }, /has 16 bytes; bytes 8\.\.24 are out of range/);
    refuse({ location: 'ok.bin', length: '12' }, /length 12 does not match the tensor's 16 bytes/);
    refuse({ location: 'ok.bin', offset: '-4' }, /offset '-4' is not a non-negative integer/);
    refuse({ location: 'ok.bin', offset: '1e3' }, /offset '1e3' is not a non-negative integer/);
    refuse({ location: 'ok.bin', colour: 'red' }, /unknown external_data key 'colour'/);
    refuse({ offset: '0' }, /external data has no location/);
    refuse({ location: '' }, /external data has no location/);
    t.notThrows(() => tensorFromProto(externalProto('w', { location: 'ok.bin', offset: '0', length: '16', checksum: 'x' }), at));
    // Strings cannot be external.
    t.throws(() => tensorFromProto({ ...externalProto('s', { location: 'ok.bin' }), dataType: 8 }, at), { instanceOf: FormatError, message: /string tensors cannot be stored as external data/ });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
