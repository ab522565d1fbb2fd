import test from 'ava';
import type { ExecutionContext } from 'ava';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { halfToFloat32 } from '../../formats/dtype.ts';
import { FormatError } from '../../formats/errors.ts';
import { decodeOnnxModel } from '../../formats/onnx/read-model.ts';
import { tensorFromProto } from '../../formats/onnx/tensor-proto.ts';
import type { SafetensorsDType, SafetensorsWriteEntry } from '../../formats/safetensors/header.ts';
import { MAX_HEADER_BYTES, SAFETENSORS_DTYPES, buildSafetensorsHeader, dtypeFromSafetensors, safetensorsDtypeName } from '../../formats/safetensors/header.ts';
import { parseSafetensors, readSafetensorsBuffer } from '../../formats/safetensors/read-buffer.ts';
import { openSafetensors } from '../../formats/safetensors/read-file.ts';
import { writeSafetensors } from '../../formats/safetensors/write-file.ts';
import type { Tensor } from '../../formats/tensor.ts';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const NUMPY_FILE = join(FIXTURES, 'safetensors/numpy-written.safetensors');
const NUMPY_EXPECTED = JSON.parse(readFileSync(join(FIXTURES, 'safetensors/numpy-written.json'), 'utf8')) as {
  metadata: Record<string, string>;
  tensors: { name: string; dtype: string; shape: number[]; values: (number | string)[] }[];
};
const STORIES = join(FIXTURES, 'stories260K');

const tmp = mkdtempSync(join(tmpdir(), 'onebitc-st-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
/** A path in a folder of its own (tests run concurrently; each checks its folder for leftovers). */
const tmpPath = (name = 'x.safetensors') => join(mkdtempSync(join(tmp, 'case-')), name);
const leftovers = (path: string) => readdirSync(dirname(path)).filter((f) => f.endsWith('.partial'));

/** Values as the numpy fixture lists them: numbers, 64-bit integers as strings, halves widened. */
function values(t: Tensor): (number | string)[] {
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') return Array.from(halfToFloat32(t.dtype, t.data as Uint16Array));
  if (t.dtype === 'int64' || t.dtype === 'uint64') return Array.from(t.data as BigInt64Array, String);
  return Array.from(t.data as ArrayLike<number>);
}

test('dtype names map both ways; strings and unknown names are refused', (t) => {
  for (const [name, dtype] of Object.entries(SAFETENSORS_DTYPES)) {
    t.is(dtypeFromSafetensors(name), dtype);
    t.is(safetensorsDtypeName(dtype), name);
  }
  t.is(Object.keys(SAFETENSORS_DTYPES).join(' '), 'F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL');
  t.is(dtypeFromSafetensors('F8_E4M3'), undefined);
  t.is(dtypeFromSafetensors('toString'), undefined);
  t.throws(() => safetensorsDtypeName('string'), { instanceOf: RangeError, message: /cannot be stored in safetensors/ });
});

test('reads a file written by an independent implementation (numpy by hand), from a buffer and from disk', async (t) => {
  const bytes = readFileSync(NUMPY_FILE);
  const buffer = readSafetensorsBuffer(bytes, NUMPY_FILE);
  t.deepEqual(buffer.metadata, NUMPY_EXPECTED.metadata);
  t.deepEqual(buffer.header.warnings, []);
  t.deepEqual(buffer.entries.map((e) => e.name), NUMPY_EXPECTED.tensors.map((e) => e.name));
  const file = await openSafetensors(NUMPY_FILE);
  try {
    t.deepEqual(file.header, buffer.header);
    for (const expected of NUMPY_EXPECTED.tensors) {
      const entry = buffer.entry(expected.name);
      t.is(entry.dtype, dtypeFromSafetensors(expected.dtype)!);
      t.deepEqual(entry.shape, expected.shape);
      const fromBuffer = buffer.readTensor(expected.name);
      const fromFile = await file.readTensor(expected.name);
      t.deepEqual(fromBuffer.dims, expected.shape);
      t.deepEqual(values(fromBuffer), expected.values, expected.name);
      t.deepEqual(values(fromFile), expected.values, expected.name);
    }
    // The async iterator and parseSafetensors give the same tensors in data order.
    const names: string[] = [];
    for await (const [entry, tensor] of file) {
      names.push(entry.name);
      t.deepEqual(values(tensor), values(buffer.readTensor(entry.name)));
    }
    t.deepEqual(names, NUMPY_EXPECTED.tensors.map((e) => e.name));
    t.deepEqual([...parseSafetensors(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)).keys()], names);
  } finally {
    await file.close();
  }
  await t.throwsAsync(file.readTensor('u8'), { instanceOf: FormatError, message: /read after close/ });
  t.throws(() => buffer.readTensor('nope'), { instanceOf: FormatError, message: /tensor 'nope': no such tensor/ });
});

test('the writer reproduces the independently written file byte for byte', async (t) => {
  const source = readSafetensorsBuffer(readFileSync(NUMPY_FILE), NUMPY_FILE);
  const list: SafetensorsWriteEntry[] = source.entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape, byteLength: e.end - e.begin }));
  const path = tmpPath();
  const entries = await writeSafetensors(path, list, (entry) => source.tensorBytes(entry.name), { metadata: NUMPY_EXPECTED.metadata });
  t.deepEqual(entries, [...source.entries]);
  t.true(Buffer.from(readFileSync(path)).equals(readFileSync(NUMPY_FILE)));
  t.deepEqual(leftovers(path), []);
});

test('stories260K model.safetensors: header, every tensor, and the same weights as model.onnx', async (t) => {
  const path = join(STORIES, 'model.safetensors');
  const file = await openSafetensors(path);
  try {
    t.deepEqual(file.header.warnings, []);
    t.true(file.entries.length > 10);
    t.true(file.entries.every((e) => e.dtype === 'float32'));
    t.deepEqual(file.entry('model.embed_tokens.weight').shape, [512, 64]);
    let total = 0;
    for await (const [, tensor] of file) total += tensor.data.length * 4;
    t.is(total, file.header.dataEnd);
    t.is(file.header.dataOffset + file.header.dataEnd, file.fileSize);

    // The ONNX export of the same model (an independent file) holds the same values under the same names.
    const onnxPath = join(STORIES, 'model.onnx');
    const model = decodeOnnxModel(readFileSync(onnxPath), onnxPath);
    const where = { file: onnxPath, dir: STORIES };
    let shared = 0;
    for (const init of model.graph!.initializer!) {
      if (!file.has(init.name!)) continue;
      shared++;
      const a = tensorFromProto(init, where);
      const b = await file.readTensor(init.name!);
      t.deepEqual(b.dims, a.dims, init.name!);
      t.deepEqual(b.data, a.data, init.name!);
    }
    t.true(shared >= 12, `${shared} shared names`);
    // Buffer and file readers agree.
    const all = parseSafetensors(readFileSync(path), path);
    t.deepEqual([...all.keys()], file.entries.map((e) => e.name));
    t.deepEqual(all.get('model.norm.weight')!.data, (await file.readTensor('model.norm.weight')).data);
  } finally {
    await file.close();
  }
});

test('writer: callbacks, sync and async iterables, deterministic bytes, round trip', async (t) => {
  const list: SafetensorsWriteEntry[] = [
    { name: 'b', dtype: 'float32', shape: [2, 2] },
    { name: 'a', dtype: 'int64', shape: [3], byteLength: 24 },
    { name: '__proto__', dtype: 'uint8', shape: [] },
    { name: 'e', dtype: 'bfloat16', shape: [0] },
    { name: 'm', dtype: 'bool', shape: [2] },
  ];
  const data = [
    Float32Array.of(1, 2, 3, 4),
    BigInt64Array.of(-1n, 2n ** 62n, 0n),
    Uint8Array.of(9),
    new Uint16Array(0),
    Uint8Array.of(0, 1),
  ];
  const p1 = tmpPath();
  const p2 = tmpPath();
  const p3 = tmpPath();
  await writeSafetensors(p1, list, async (_entry, i) => data[i]!, { metadata: { z: '1', a: 'ü' } });
  await writeSafetensors(p2, list, data, { metadata: { z: '1', a: 'ü' } });
  await writeSafetensors(p3, list, (async function* () { for (const d of data) yield d; })(), { metadata: { z: '1', a: 'ü' } });
  const bytes = readFileSync(p1);
  t.true(bytes.equals(readFileSync(p2)));
  t.true(bytes.equals(readFileSync(p3)));
  const n = Number(bytes.readBigUInt64LE(0));
  t.is(n % 8, 0);
  const json = bytes.subarray(8, 8 + n).toString('utf8');
  t.is(json.trimEnd(), '{"__metadata__":{"z":"1","a":"ü"},"b":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"a":{"dtype":"I64","shape":[3],"data_offsets":[16,40]},"__proto__":{"dtype":"U8","shape":[],"data_offsets":[40,41]},"e":{"dtype":"BF16","shape":[0],"data_offsets":[41,41]},"m":{"dtype":"BOOL","shape":[2],"data_offsets":[41,43]}}');
  t.regex(json, /^[^ ]* *$/);

  const back = readSafetensorsBuffer(bytes);
  t.deepEqual(back.metadata, { z: '1', a: 'ü' });
  t.deepEqual(back.entries.map((e) => e.name), ['b', 'a', '__proto__', 'e', 'm']);
  list.forEach((item, i) => {
    const got = back.readTensor(item.name);
    t.is(got.dtype, item.dtype);
    t.deepEqual(got.dims, item.shape);
    t.deepEqual(Array.from(got.data as ArrayLike<unknown>), Array.from(data[i] as ArrayLike<unknown>));
  });
  t.is(buildSafetensorsHeader([], undefined, 'x').header.byteLength, 16);
});

test('writer: bad entries and bad sources are FormatErrors and leave no file', async (t) => {
  const fails = async (list: SafetensorsWriteEntry[], source: Parameters<typeof writeSafetensors>[2], message: RegExp) => {
    const path = tmpPath();
    await t.throwsAsync(writeSafetensors(path, list, source), { instanceOf: FormatError, message });
    t.false(existsSync(path));
    t.deepEqual(leftovers(path), []);
  };
  const one = (dtype: SafetensorsDType, shape: number[], byteLength?: number): SafetensorsWriteEntry[] => [{ name: 'w', dtype, shape, ...(byteLength === undefined ? {} : { byteLength }) }];
  await fails(one('float32', [2], 12), [new Uint8Array(8)], /tensor 'w': byteLength 12 does not match float32 \[2\] \(8 bytes\)/);
  await fails(one('float32', [2]), [new Uint8Array(12)], /tensor 'w': got 12 bytes, expected 8/);
  await fails(one('float32', [-2]), [], /shape \[-2\] must hold non-negative integers/);
  await fails(one('float32', [1.5]), [], /must hold non-negative integers/);
  await fails(one('string' as SafetensorsDType, [1]), [], /cannot be stored in safetensors/);
  await fails([...one('uint8', [1]), ...one('uint8', [1])], [], /two tensors have this name/);
  await fails([{ name: '__metadata__', dtype: 'uint8', shape: [1] }], [], /'__metadata__' is reserved/);
  await fails(one('uint8', [1]), [], /the source ended after 0 of 1 tensors/);
  await fails(one('uint8', [1]), [Uint8Array.of(1), Uint8Array.of(2)], /yields more buffers than the 1 tensors listed/);
  await fails(one('uint8', [1]), [{} as Uint8Array], /not bytes/);
  const path = tmpPath();
  await t.throwsAsync(writeSafetensors(path, one('uint8', [1]), () => { throw new Error('producer broke'); }), { message: 'producer broke' });
  t.false(existsSync(path));
});

// ---- malformed files ----

/** A file from a header (object or raw text) and data bytes; `length` overrides the 8-byte length prefix. */
function file(header: object | string, data: Uint8Array | number = 0, length?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const bytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + bytes.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(bytes, 8 + json.length);
  return out;
}

async function bad(t: ExecutionContext, bytes: Uint8Array, message: RegExp): Promise<void> {
  const e = t.throws(() => readSafetensorsBuffer(bytes, 'bad.safetensors'), { instanceOf: FormatError, message });
  t.true(e!.message.startsWith('bad.safetensors: '));
  t.false(e!.message.includes('\n'));
  const path = tmpPath('bad.safetensors');
  writeFileSync(path, bytes);
  await t.throwsAsync(openSafetensors(path), { instanceOf: FormatError, message });
}

const f32 = (begin: number, end: number, shape = [(end - begin) / 4]) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

test('bad headers: length, JSON, entries, offsets', async (t) => {
  await bad(t, new Uint8Array(0), /file has 0 bytes; a safetensors file starts with an 8-byte header length/);
  await bad(t, new Uint8Array(5), /file has 5 bytes/);
  await bad(t, file({ a: f32(0, 8) }, 8, 10_000n), /header length 10000 runs past the end of the file \(\d+ bytes\)/);
  await bad(t, file({}, 0, BigInt(MAX_HEADER_BYTES + 1)), /header length 100000001 exceeds the 100000000-byte limit/);
  await bad(t, file({}, 0, 2n ** 63n), /header length is absurdly large/);
  await bad(t, file({}, 0, 0n), /header length 0 is too small/);
  await bad(t, file('not json at all'), /header does not start with '\{'/);
  await bad(t, file('{"a": [1, 2'), /header is not valid JSON/);
  await bad(t, file('[1,2]'), /header does not start with '\{'/);
  const invalidUtf8 = file('{}');
  invalidUtf8[9] = 0xff;
  await bad(t, invalidUtf8, /header is not valid UTF-8/);
  await bad(t, file({ __metadata__: { a: 1 } }), /__metadata__ 'a' must be a string, found 1/);
  await bad(t, file({ __metadata__: [] }), /__metadata__ must be an object of strings/);
  await bad(t, file({ w: 'F32' }), /tensor 'w': entry must be an object/);
  await bad(t, file({ w: { ...f32(0, 8), extra: 1 } }, 8), /tensor 'w': unknown key 'extra'/);
  await bad(t, file({ w: { shape: [2], data_offsets: [0, 8] } }, 8), /tensor 'w': has no dtype/);
  await bad(t, file({ w: { ...f32(0, 8), dtype: 'F8_E4M3' } }, 8), /tensor 'w': unsupported dtype 'F8_E4M3'; supported: F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL/);
  await bad(t, file({ w: { ...f32(0, 8), dtype: 'f32' } }, 8), /unsupported dtype 'f32'/);
  await bad(t, file({ w: f32(0, 8, [-2]) }, 8), /tensor 'w': shape \[-2\] must hold non-negative integers/);
  await bad(t, file({ w: f32(0, 8, [2.5]) }, 8), /must hold non-negative integers/);
  await bad(t, file({ w: { dtype: 'F32', shape: 2, data_offsets: [0, 8] } }, 8), /shape must be an array/);
  await bad(t, file({ w: f32(0, 8, [3]) }, 12), /tensor 'w': data_offsets \[0, 8\] hold 8 bytes, but F32 \[3\] needs 12/);
  await bad(t, file({ w: { dtype: 'F32', shape: [2], data_offsets: [0] } }, 8), /data_offsets must be \[begin, end\]/);
  await bad(t, file({ w: { dtype: 'F32', shape: [2], data_offsets: [-8, 0] } }, 8), /data_offsets must be \[begin, end\]/);
  await bad(t, file({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, 8), /end before they begin/);
  await bad(t, file({ w: f32(0, 16) }, 8), /tensor 'w': data_offsets \[0, 16\] run past the end of the data section \(8 bytes\)/);
  await bad(t, file({ w: f32(8, 16) }, 12), /run past the end of the data section \(12 bytes\)/);
  await bad(t, file({ w: f32(2 ** 50, 2 ** 50 + 8) }, 8), /run past the end/);
  await bad(t, file({ w: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, 8), /too many elements/);
  await bad(t, file({ a: f32(0, 8), b: f32(4, 12) }, 12), /tensor 'b': bytes 4\.\.12 overlap tensor 'a' \(0\.\.8\)/);
  await bad(t, file({ a: f32(0, 16), b: f32(4, 8) }, 16), /tensor 'b': bytes 4\.\.8 overlap tensor 'a'/);
  await bad(t, file({ a: f32(0, 8), b: f32(0, 8) }, 8), /overlap/);
  await bad(t, file({ a: f32(0, 16), z: f32(8, 8, [0]) }, 16), /tensor 'z': bytes 8\.\.8 overlap tensor 'a'/);
  t.throws(() => readSafetensorsBuffer(file({ m: { dtype: 'BOOL', shape: [2], data_offsets: [0, 2] } }, Uint8Array.of(1, 2))).readTensor('m'), { instanceOf: FormatError, message: /tensor 'm': BOOL element 1 is 2, expected 0 or 1/ });
});

test('gaps and unused trailing bytes are warnings, not errors; zero-size tensors are fine', (t) => {
  const st = readSafetensorsBuffer(file({ b: f32(12, 16), a: f32(0, 8), z: f32(8, 8, [0, 5]) }, 20));
  t.deepEqual(st.entries.map((e) => e.name), ['a', 'z', 'b']);
  t.deepEqual(st.header.warnings, ["4 unused bytes before tensor 'b' (data bytes 8..12)", '4 bytes after the last tensor are not used by any tensor']);
  t.deepEqual(st.readTensor('z').dims, [0, 5]);
  t.is(st.header.dataEnd, 16);
  // Headers padded with spaces, as the reference writer does, parse.
  t.deepEqual(readSafetensorsBuffer(file('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}     ', 1)).entries.map((e) => e.name), ['a']);
});

test('the file reader reads only the header, then each tensor by range', async (t) => {
  // A tensor at the end of a data section that is mostly a hole: the reader must not need the whole file.
  const path = tmpPath();
  const header = file({ w: { dtype: 'U8', shape: [4], data_offsets: [2 ** 31, 2 ** 31 + 4] } });
  const { openSync, writeSync, ftruncateSync, closeSync } = await import('node:fs');
  const fd = openSync(path, 'w');
  writeSync(fd, header);
  ftruncateSync(fd, header.length + 2 ** 31 + 4);
  writeSync(fd, Uint8Array.of(1, 2, 3, 4), 0, 4, header.length + 2 ** 31);
  closeSync(fd);
  const st = await openSafetensors(path);
  try {
    t.deepEqual(Array.from((await st.readTensor('w')).data as Uint8Array), [1, 2, 3, 4]);
    t.deepEqual(st.header.warnings, ["2147483648 unused bytes before tensor 'w' (data bytes 0..2147483648)"]);
  } finally {
    await st.close();
  }
});

test('10000 mutated copies of the numpy-written file: only success or FormatError', (t) => {
  const original = readFileSync(NUMPY_FILE);
  const headerEnd = 8 + Number(original.readBigUInt64LE(0));
  let seed = 0x5afe;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return Math.floor((seed / 2 ** 32) * n);
  };
  const outcomes = { accepted: 0, rejected: 0 };
  for (let i = 0; i < 10000; i++) {
    let bytes: Uint8Array = Uint8Array.from(original);
    for (let k = 1 + rand(3); k > 0; k--) {
      const pos = rand(10) < 8 ? rand(headerEnd) : rand(bytes.length);
      const op = rand(4);
      if (op === 0) bytes[pos] = '0123456789,:[]{}" -.eE'.charCodeAt(rand(22));
      else if (op === 1) bytes[pos] ^= 1 + rand(255);
      else if (op === 2) bytes = bytes.subarray(0, pos);
      else bytes = Uint8Array.from([...bytes.subarray(0, pos), ...'0123456789,:[]{}" '.slice(rand(10)).split('').map((c) => c.charCodeAt(0)), ...bytes.subarray(pos)]);
    }
    try {
      const st = readSafetensorsBuffer(bytes, 'fuzz.safetensors');
      for (const [, tensor] of st) t.true(tensor.data.length >= 0);
      outcomes.accepted++;
    } catch (e) {
      if (!(e instanceof FormatError) || e.message.includes('\n')) t.fail(`case ${i}: ${String(e)}`);
      outcomes.rejected++;
    }
  }
  t.log(outcomes);
  t.true(outcomes.accepted > 0 && outcomes.rejected > 0);
});
