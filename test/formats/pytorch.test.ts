import test from 'ava';
import type { ExecutionContext } from 'ava';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { openHuggingFaceFolder } from '../../compiler/import/huggingface/folder.ts';
import type { HfWeights, WeightSource } from '../../compiler/import/huggingface/folder.ts';
import { float32ToHalf, toBytes } from '../../formats/dtype.ts';
import type { TensorData } from '../../formats/dtype.ts';
import { FormatError } from '../../formats/errors.ts';
import { unpickle } from '../../formats/pytorch/pickle.ts';
import { isContiguous, openTorchCheckpoint } from '../../formats/pytorch/read-checkpoint.ts';
import { readZipDirectory } from '../../formats/pytorch/zip.ts';
import { openSafetensors } from '../../formats/safetensors/read-file.ts';
import { writeSafetensors } from '../../formats/safetensors/write-file.ts';

const FIXTURE = new URL('../fixtures/onebit-stories260K/', import.meta.url).pathname;
const BIN = join(FIXTURE, 'pytorch_model.bin');
const tmp = mkdtempSync(join(tmpdir(), 'onebitc-pt-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
let cases = 0;
const casePath = (name = 'model.bin'): string => join(mkdtempSync(join(tmp, `c${cases++}-`)), name);

// ---- a tiny zip writer (STORED records, optional torch-style padding, zip64, deflate) ----

interface ZipRecord { name: string; data: Uint8Array; deflate?: boolean }
interface ZipOptions { zip64?: boolean; align?: number; comment?: string }

function zip(records: readonly ZipRecord[], options: ZipOptions = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const add = (b: Uint8Array): void => { parts.push(b); offset += b.byteLength; };
  for (const r of records) {
    const name = Buffer.from(r.name, 'utf8');
    const body = r.deflate ? new Uint8Array(deflateRawSync(r.data)) : r.data;
    const method = r.deflate ? 8 : 0;
    const crc = crc32(r.data);
    const headerAt = offset;
    // torch pads the local extra field (id 'FB') so that the data starts at a multiple of 64
    let extra = new Uint8Array(0);
    if (options.align) {
      const unpadded = headerAt + 30 + name.length + 4;
      const pad = (options.align - (unpadded % options.align)) % options.align;
      extra = new Uint8Array(4 + pad);
      new DataView(extra.buffer).setUint16(0, 0x4246, true);
      new DataView(extra.buffer).setUint16(2, pad, true);
      extra.fill(0x5a, 4);
    }
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true); local.setUint16(4, 20, true); local.setUint16(8, method, true);
    local.setUint16(12, 0x21, true); local.setUint32(14, crc, true);
    local.setUint32(18, body.byteLength, true); local.setUint32(22, r.data.byteLength, true);
    local.setUint16(26, name.length, true); local.setUint16(28, extra.length, true);
    add(new Uint8Array(local.buffer)); add(name); add(extra); add(body);

    const z64 = new DataView(new ArrayBuffer(options.zip64 ? 28 : 0));
    if (options.zip64) {
      z64.setUint16(0, 1, true); z64.setUint16(2, 24, true);
      z64.setBigUint64(4, BigInt(r.data.byteLength), true); z64.setBigUint64(12, BigInt(body.byteLength), true);
      z64.setBigUint64(20, BigInt(headerAt), true);
    }
    const c = new DataView(new ArrayBuffer(46));
    c.setUint32(0, 0x02014b50, true); c.setUint16(4, 45, true); c.setUint16(6, 20, true); c.setUint16(10, method, true);
    c.setUint16(14, 0x21, true); c.setUint32(16, crc, true);
    c.setUint32(20, options.zip64 ? 0xffffffff : body.byteLength, true); c.setUint32(24, options.zip64 ? 0xffffffff : r.data.byteLength, true);
    c.setUint16(28, name.length, true); c.setUint16(30, z64.byteLength, true);
    c.setUint32(42, options.zip64 ? 0xffffffff : headerAt, true);
    central.push(new Uint8Array(c.buffer), name, new Uint8Array(z64.buffer));
  }
  const cdAt = offset;
  for (const b of central) add(b);
  const cdSize = offset - cdAt;
  if (options.zip64) {
    const rec = new DataView(new ArrayBuffer(56));
    const recAt = offset;
    rec.setUint32(0, 0x06064b50, true); rec.setBigUint64(4, 44n, true); rec.setUint16(12, 45, true); rec.setUint16(14, 45, true);
    rec.setBigUint64(24, BigInt(records.length), true); rec.setBigUint64(32, BigInt(records.length), true);
    rec.setBigUint64(40, BigInt(cdSize), true); rec.setBigUint64(48, BigInt(cdAt), true);
    add(new Uint8Array(rec.buffer));
    const loc = new DataView(new ArrayBuffer(20));
    loc.setUint32(0, 0x07064b50, true); loc.setBigUint64(8, BigInt(recAt), true); loc.setUint32(16, 1, true);
    add(new Uint8Array(loc.buffer));
  }
  const comment = Buffer.from(options.comment ?? '', 'utf8');
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, options.zip64 ? 0xffff : records.length, true); end.setUint16(10, options.zip64 ? 0xffff : records.length, true);
  end.setUint32(12, options.zip64 ? 0xffffffff : cdSize, true); end.setUint32(16, options.zip64 ? 0xffffffff : cdAt, true);
  end.setUint16(20, comment.length, true);
  add(new Uint8Array(end.buffer)); add(comment);
  return Buffer.concat(parts);
}

// ---- a tiny pickle assembler (protocol 2, as torch.save writes it) ----

type Op = number | number[] | Uint8Array;
const P = {
  proto: [0x80, 2], mark: 0x28, stop: 0x2e, none: 0x4e, false: 0x89, true: 0x88, tuple: 0x74, tuple1: 0x85, tuple2: 0x86,
  emptyTuple: 0x29, emptyDict: 0x7d, emptyList: 0x5d, reduce: 0x52, build: 0x62, persid: 0x51, setitem: 0x73, setitems: 0x75,
  append: 0x61,
  global: (module: string, name: string): number[] => [0x63, ...Buffer.from(`${module}\n${name}\n`, 'latin1')],
  str: (s: string): number[] => { const b = Buffer.from(s, 'utf8'); return [0x58, b.length & 0xff, (b.length >> 8) & 0xff, (b.length >> 16) & 0xff, b.length >>> 24, ...b]; },
  shortStr: (s: string): number[] => { const b = Buffer.from(s, 'utf8'); return [0x8c, b.length, ...b]; },
  int: (n: number): number[] => n >= 0 && n < 256 ? [0x4b, n] : n >= 0 && n < 65536 ? [0x4d, n & 0xff, n >> 8] : [0x4a, ...Buffer.from(Int32Array.of(n).buffer)],
  put: (i: number): number[] => [0x71, i],
  get: (i: number): number[] => [0x68, i],
};
function pickle(...ops: Op[]): Uint8Array {
  const out: number[] = [];
  for (const op of ops) {
    if (typeof op === 'number') out.push(op);
    else for (const b of op) out.push(b);
  }
  return Uint8Array.from(out);
}

interface FakeTensor { name: string; type: string; key: string; numel: number; offset?: number; size: number[]; stride?: number[]; parameter?: boolean }
const rowMajor = (size: number[]): number[] => size.map((_, i) => size.slice(i + 1).reduce((a, b) => a * b, 1));

/** The pickle torch.save writes for an OrderedDict state dict (with `_metadata`, set by BUILD). */
function statePickle(tensors: readonly FakeTensor[], extra: Op[] = []): Uint8Array {
  const ops: Op[] = [P.proto, P.global('collections', 'OrderedDict'), P.emptyTuple, P.reduce, P.mark];
  for (const t of tensors) {
    ops.push(P.str(t.name));
    if (t.parameter) ops.push(P.global('torch._utils', '_rebuild_parameter'), P.mark);
    ops.push(P.global('torch._utils', '_rebuild_tensor_v2'), P.mark,
      P.mark, P.str('storage'), P.global('torch', t.type), P.str(t.key), P.str('cpu'), P.int(t.numel), P.tuple, P.persid,
      P.int(t.offset ?? 0), P.mark, ...t.size.map(P.int), P.tuple, P.mark, ...(t.stride ?? rowMajor(t.size)).map(P.int), P.tuple,
      P.false, P.global('collections', 'OrderedDict'), P.emptyTuple, P.reduce, P.tuple, P.reduce);
    if (t.parameter) ops.push(P.true, P.global('collections', 'OrderedDict'), P.emptyTuple, P.reduce, P.tuple, P.reduce);
  }
  ops.push(...extra, P.setitems, P.emptyDict, P.str('_metadata'), P.global('collections', 'OrderedDict'), P.emptyTuple, P.reduce,
    P.setitem, P.build, P.stop);
  return pickle(...ops);
}

/** Writes a torch.save-like archive: `archive/data.pkl`, `archive/data/<key>`, `archive/version`, `archive/byteorder`. */
function writeCheckpoint(pkl: Uint8Array, storages: Record<string, Uint8Array> = {}, options: ZipOptions & { deflateData?: boolean; byteorder?: string; prefix?: string } = {}): string {
  const prefix = options.prefix ?? 'archive';
  const records: ZipRecord[] = [{ name: `${prefix}/data.pkl`, data: pkl }];
  if (options.byteorder !== '') records.push({ name: `${prefix}/byteorder`, data: Buffer.from(options.byteorder ?? 'little') });
  for (const [key, data] of Object.entries(storages)) records.push({ name: `${prefix}/data/${key}`, data, deflate: options.deflateData });
  records.push({ name: `${prefix}/version`, data: Buffer.from('3\n') });
  const path = casePath();
  writeFileSync(path, zip(records, { align: 64, ...options }));
  return path;
}

const bytesOf = (data: Exclude<TensorData, string[]>): Uint8Array => new Uint8Array(toBytes(data));

/** Asserts one FormatError line naming `path` and matching `pattern`. */
async function refused(t: ExecutionContext, run: () => unknown, path: string, pattern: RegExp): Promise<FormatError> {
  const error = await t.throwsAsync(async () => { await run(); }, { instanceOf: FormatError });
  t.is(error.file, path);
  t.true(error.message.startsWith(`${path}: `), error.message);
  t.false(error.message.includes('\n'), error.message);
  t.regex(error.message, pattern);
  return error;
}

// ---- the fixture ----

test('opens the OneBit fixture: names, dtypes, dims, lazily read data', async (t) => {
  const ckpt = await openTorchCheckpoint(BIN);
  const asSource: WeightSource = ckpt; // what the Hugging Face importer takes
  const asWeights: HfWeights = ckpt;
  t.is(asSource.names().length, asWeights.names().length);
  t.is(ckpt.prefix, 'pytorch_model');
  t.deepEqual(ckpt.files, [BIN]);
  t.deepEqual(ckpt.skipped, []);
  const names = ckpt.names();
  t.is(names.length, 118); // embed + lm_head + final norm + 5 × (2 norms + 7 projections × 3)
  const expect: [string, string, number[]][] = [
    ['model.embed_tokens.weight', 'float32', [512, 64]],
    ['lm_head.weight', 'float32', [512, 64]],
    ['model.norm.weight', 'float32', [64]],
    ['model.layers.0.self_attn.q_proj.weight', 'int8', [64, 8]],
    ['model.layers.0.self_attn.q_proj.weight_scale', 'float32', [64]],
    ['model.layers.0.self_attn.q_proj.input_factor', 'float32', [64]],
    ['model.layers.0.self_attn.k_proj.weight', 'int8', [32, 8]],
    ['model.layers.4.mlp.down_proj.weight', 'int8', [64, 22]],
    ['model.layers.4.mlp.down_proj.input_factor', 'float32', [176]],
    ['model.layers.4.post_attention_layernorm.weight', 'float32', [64]],
  ];
  for (const [name, dtype, dims] of expect) {
    t.true(ckpt.has(name), name);
    t.is(ckpt.fileOf(name), BIN);
    const tensor = ckpt.get(name);
    t.is(tensor.dtype, dtype as never, name);
    t.deepEqual([...tensor.dims], dims, name);
    t.is(tensor.data.length, dims.reduce((a, b) => a * b, 1), name);
  }
  for (const name of names) {
    const info = ckpt.info(name);
    t.true(info.contiguous, name);
    t.is(info.byteLength, readZipDirectory(BIN).entries.find((e) => e.name === info.record)!.uncompressedSize, name);
  }
  t.false(ckpt.has('model.embed_tokens.weight_scale'));
  await refused(t, () => ckpt.get('nope'), BIN, /tensor 'nope': no such tensor/);
  // lm_head is untied: a separate record with different values
  t.not(ckpt.info('lm_head.weight').record, ckpt.info('model.embed_tokens.weight').record);
  t.notDeepEqual(ckpt.get('lm_head.weight').data.slice(0, 64), ckpt.get('model.embed_tokens.weight').data.slice(0, 64));
});

test("the fixture's packing check equals the bytes read", async (t) => {
  const reference = JSON.parse(readFileSync(join(FIXTURE, 'reference', 'reference.json'), 'utf8')) as {
    packing_check: { tensor: string; row: number; packed_int8: number[]; unpacked_signs: number[] };
  };
  const check = reference.packing_check;
  const ckpt = await openTorchCheckpoint(BIN);
  const weight = ckpt.get(check.tensor);
  t.is(weight.dtype, 'int8');
  const width = weight.dims[1]!;
  const row = [...(weight.data as Int8Array).subarray(check.row * width, (check.row + 1) * width)];
  t.deepEqual(row, check.packed_int8);
  // bit k of byte j is column 8j+k, LSB first, bit 1 = −1
  t.deepEqual(row.flatMap((b) => Array.from({ length: 8 }, (_, k) => ((b >> k) & 1 ? -1 : 1))), check.unpacked_signs);
  // streaming gives the same bytes (each piece is copied before the next refills the buffer)
  const pieces: Buffer[] = [];
  for (const piece of weight.chunks(100)) pieces.push(Buffer.from(piece));
  t.deepEqual(pieces.map((p) => p.byteLength), [100, 100, 100, 100, 100, 12]);
  const streamed = Buffer.concat(pieces);
  t.deepEqual(new Uint8Array(streamed), weight.bytes());
});

test('a model.safetensors (single and sharded) with the same tensors keeps working through the safetensors reader', async (t) => {
  const ckpt = await openTorchCheckpoint(BIN);
  const names = ckpt.names();
  const dir = mkdtempSync(join(tmp, 'st-'));
  for (const f of ['config.json', 'generation_config.json']) copyFileSync(join(FIXTURE, f), join(dir, f));
  const entries = names.map((n) => ({ name: n, dtype: ckpt.get(n).dtype, shape: [...ckpt.get(n).dims] }));
  await writeSafetensors(join(dir, 'model.safetensors'), entries, (e) => ckpt.get(e.name).chunks(1 << 12));
  const file = await openSafetensors(join(dir, 'model.safetensors'));
  await file.close();
  t.deepEqual(file.entries.map((e) => e.name).sort(), [...names].sort());

  const single = await openHuggingFaceFolder(dir);
  t.deepEqual(single.weights.names().sort(), [...names].sort());

  const sharded = mkdtempSync(join(tmp, 'st-sharded-'));
  for (const f of ['config.json', 'generation_config.json']) copyFileSync(join(FIXTURE, f), join(sharded, f));
  const half = Math.ceil(names.length / 2);
  const shards = [names.slice(0, half), names.slice(half)];
  const weightMap: Record<string, string> = {};
  for (const [i, shard] of shards.entries()) {
    const shardName = `model-0000${i + 1}-of-00002.safetensors`;
    await writeSafetensors(join(sharded, shardName), entries.filter((e) => shard.includes(e.name)), (e) => ckpt.get(e.name).bytes());
    for (const n of shard) weightMap[n] = shardName;
  }
  writeFileSync(join(sharded, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  const multi = await openHuggingFaceFolder(sharded);
  for (const source of [single.weights, multi.weights]) {
    for (const name of names) {
      const a = ckpt.get(name);
      const b = source.get(name);
      t.is(b.dtype, a.dtype, name);
      t.deepEqual([...b.dims], [...a.dims], name);
      t.deepEqual(b.bytes(), a.bytes(), name);
    }
  }
});

// ---- synthetic checkpoints: dtypes, offsets, zip64, padding ----

const VALUES = [0.5, -1.25, 3, 1e-3, -7.5, 65504];

test('reads every storage dtype, storage offsets, shared storages, 0-d and empty tensors, parameters', async (t) => {
  const f32 = Float32Array.from([...VALUES, 9, 10]);
  const storages: Record<string, Uint8Array> = {
    0: bytesOf(f32),
    1: bytesOf(float32ToHalf('float16', VALUES)),
    2: bytesOf(float32ToHalf('bfloat16', VALUES)),
    3: bytesOf(Int8Array.of(-128, -1, 0, 1, 127, 5)),
    4: Uint8Array.of(0, 1, 255),
    5: bytesOf(Int16Array.of(-300, 300)),
    6: bytesOf(Int32Array.of(-70000, 70000)),
    7: bytesOf(BigInt64Array.of(-5n, 1n << 40n)),
    8: bytesOf(Float64Array.of(Math.PI, -Math.E)),
    9: Uint8Array.of(1, 0, 1),
    10: new Uint8Array(0),
  };
  const tensors: FakeTensor[] = [
    { name: 'f32', type: 'FloatStorage', key: '0', numel: 8, size: [2, 3] },
    { name: 'f32.view', type: 'FloatStorage', key: '0', numel: 8, offset: 5, size: [3] }, // shares storage 0
    { name: 'f32.scalar', type: 'FloatStorage', key: '0', numel: 8, offset: 7, size: [] },
    { name: 'f32.unit', type: 'FloatStorage', key: '0', numel: 8, offset: 2, size: [1, 3, 1], stride: [99, 1, 7] }, // size-1 dims: any stride
    { name: 'f16', type: 'HalfStorage', key: '1', numel: 6, size: [3, 2] },
    { name: 'bf16', type: 'BFloat16Storage', key: '2', numel: 6, size: [6] },
    { name: 'i8', type: 'CharStorage', key: '3', numel: 6, size: [2, 3], parameter: true },
    { name: 'u8', type: 'ByteStorage', key: '4', numel: 3, size: [3] },
    { name: 'i16', type: 'ShortStorage', key: '5', numel: 2, size: [2] },
    { name: 'i32', type: 'IntStorage', key: '6', numel: 2, size: [2] },
    { name: 'i64', type: 'LongStorage', key: '7', numel: 2, size: [2] },
    { name: 'f64', type: 'DoubleStorage', key: '8', numel: 2, size: [2] },
    { name: 'bool', type: 'BoolStorage', key: '9', numel: 3, size: [3] },
    { name: 'empty', type: 'FloatStorage', key: '10', numel: 0, size: [0, 4] },
  ];
  for (const options of [{}, { zip64: true, comment: 'a comment' }, { align: 0, prefix: 'some_model_name' }]) {
    const path = writeCheckpoint(statePickle(tensors, [P.str('step'), P.int(7)]), storages, options);
    const ckpt = await openTorchCheckpoint(path);
    t.deepEqual(ckpt.names(), tensors.map((x) => x.name));
    t.deepEqual(ckpt.skipped, ['step']);
    t.deepEqual([...(ckpt.get('f32').data as Float32Array)], [...f32.subarray(0, 6)]);
    t.deepEqual([...(ckpt.get('f32.view').data as Float32Array)], [...f32.subarray(5, 8)]);
    const scalar = ckpt.get('f32.scalar');
    t.deepEqual([...scalar.dims], []);
    t.deepEqual([...(scalar.data as Float32Array)], [10]);
    t.deepEqual([...(ckpt.get('f32.unit').data as Float32Array)], [...f32.subarray(2, 5)]);
    t.deepEqual(ckpt.get('f16').bytes(), storages[1]);
    t.is(ckpt.get('f16').dtype, 'float16');
    t.is(ckpt.get('bf16').dtype, 'bfloat16');
    t.deepEqual(ckpt.get('bf16').bytes(), storages[2]);
    t.deepEqual([...(ckpt.get('i8').data as Int8Array)], [-128, -1, 0, 1, 127, 5]);
    t.true(ckpt.info('i8').storage.kind === 'storage' && ckpt.info('i8').storage.storageType === 'CharStorage');
    t.deepEqual([...(ckpt.get('u8').data as Uint8Array)], [0, 1, 255]);
    t.deepEqual([...(ckpt.get('i16').data as Int16Array)], [-300, 300]);
    t.deepEqual([...(ckpt.get('i32').data as Int32Array)], [-70000, 70000]);
    t.deepEqual([...(ckpt.get('i64').data as BigInt64Array)], [-5n, 1n << 40n]);
    t.deepEqual([...(ckpt.get('f64').data as Float64Array)], [Math.PI, -Math.E]);
    t.is(ckpt.get('bool').dtype, 'bool');
    t.deepEqual([...(ckpt.get('bool').data as Uint8Array)], [1, 0, 1]);
    t.deepEqual([...ckpt.get('empty').dims], [0, 4]);
    t.is(ckpt.get('empty').data.length, 0);
    t.deepEqual([...ckpt.get('f32').chunks(5)].map((c) => c.byteLength), [5, 5, 5, 5, 4]);
  }
});

test('the zip reader takes the data offset from the local header and reads zip64 directories', (t) => {
  const data = Uint8Array.of(1, 2, 3);
  for (const options of [{ align: 64 }, { zip64: true, align: 64 }, { comment: 'x'.repeat(1000) }]) {
    const path = casePath('a.zip');
    writeFileSync(path, zip([{ name: 'p/data.pkl', data: Uint8Array.of(0x2e) }, { name: 'p/data/0', data }], options));
    const dir = readZipDirectory(path);
    t.deepEqual(dir.entries.map((e) => e.name), ['p/data.pkl', 'p/data/0']);
    const entry = dir.entries[1]!;
    t.is(entry.method, 0);
    t.is(entry.uncompressedSize, 3);
    if (options.align) t.is(entry.dataOffset % 64, 0);
    t.deepEqual(new Uint8Array(readFileSync(path).subarray(entry.dataOffset, entry.dataOffset + 3)), data);
  }
});

test('a deflated data.pkl is inflated; deflated tensor data is refused naming the tensor', async (t) => {
  const tensors: FakeTensor[] = [{ name: 'w', type: 'FloatStorage', key: '0', numel: 2, size: [2] }];
  const pkl = statePickle(tensors);
  const records = [{ name: 'a/data.pkl', data: pkl, deflate: true }, { name: 'a/data/0', data: bytesOf(Float32Array.of(1, 2)) }];
  const ok = casePath();
  writeFileSync(ok, zip(records));
  t.deepEqual([...((await openTorchCheckpoint(ok)).get('w').data as Float32Array)], [1, 2]);

  const bad = writeCheckpoint(pkl, { 0: bytesOf(Float32Array.of(1, 2)) }, { deflateData: true });
  await refused(t, () => openTorchCheckpoint(bad), bad, /tensor 'w': record 'archive\/data\/0' is compressed \(deflate\)/);
});

// ---- broken files ----

test('truncated, empty and non-zip files are refused with one line naming the file', async (t) => {
  const good = writeCheckpoint(statePickle([{ name: 'w', type: 'FloatStorage', key: '0', numel: 2, size: [2] }]), { 0: bytesOf(Float32Array.of(1, 2)) });
  const size = readFileSync(good).byteLength;
  for (const keep of [0, 10, Math.floor(size / 2), size - 30, size - 1]) {
    const path = casePath();
    copyFileSync(good, path);
    truncateSync(path, keep);
    await refused(t, () => openTorchCheckpoint(path), path, /truncated|too small|not a zip/);
  }
  const random = casePath();
  writeFileSync(random, Buffer.alloc(4096, 7));
  await refused(t, () => openTorchCheckpoint(random), random, /no zip end-of-central-directory record/);
  const legacy = casePath();
  writeFileSync(legacy, pickle(P.proto, 0x8a, 0x0a, ...Buffer.alloc(10), P.stop));
  await refused(t, () => openTorchCheckpoint(legacy), legacy, /legacy \(non-zip\) PyTorch file/);
  const missing = join(tmp, 'does-not-exist.bin');
  await refused(t, () => openTorchCheckpoint(missing), missing, /file not found/);
  // a corrupt central directory: the local header offset points nowhere
  const bytes = readFileSync(good);
  const cd = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  bytes.writeUInt32LE(1, cd + 42);
  const corrupt = casePath();
  writeFileSync(corrupt, bytes);
  await refused(t, () => openTorchCheckpoint(corrupt), corrupt, /zip entry 'archive\/version': no local header at byte 1: corrupt zip archive/);
});

test('a zip without data.pkl, a missing record, a short record, an out-of-range view, big-endian data are refused', async (t) => {
  const noPickle = casePath();
  writeFileSync(noPickle, zip([{ name: 'readme.txt', data: Buffer.from('hi') }]));
  await refused(t, () => openTorchCheckpoint(noPickle), noPickle, /without a '<prefix>\/data.pkl' record.*'readme.txt'/);

  const w = (extra: Partial<FakeTensor> = {}): FakeTensor[] => [{ name: 'layer.weight', type: 'FloatStorage', key: '0', numel: 4, size: [2, 2], ...extra }];
  const four = bytesOf(Float32Array.of(1, 2, 3, 4));
  const missing = writeCheckpoint(statePickle(w({ key: '9' })), { 0: four });
  await refused(t, () => openTorchCheckpoint(missing), missing, /tensor 'layer.weight': its storage record 'archive\/data\/9' is missing/);

  const short = writeCheckpoint(statePickle(w()), { 0: four.subarray(0, 12) });
  await refused(t, () => openTorchCheckpoint(short), short,
    /tensor 'layer.weight': its FloatStorage of 4 elements needs 16 bytes, but record 'archive\/data\/0' has only 12/);

  const past = writeCheckpoint(statePickle(w({ offset: 1 })), { 0: four });
  await refused(t, () => openTorchCheckpoint(past), past, /tensor 'layer.weight': size \[2, 2\] .* at storage offset 1 runs past its FloatStorage of 4 elements/);

  const big = writeCheckpoint(statePickle(w()), { 0: four }, { byteorder: 'big' });
  await refused(t, () => openTorchCheckpoint(big), big, /byte order 'big'/);

  const notDict = writeCheckpoint(pickle(P.proto, P.emptyList, P.stop));
  await refused(t, () => openTorchCheckpoint(notDict), notDict, /pickle holds a list, not a state dict/);
});

test('a non-contiguous tensor is listed but refused on get, naming the tensor and its strides', async (t) => {
  const tensors: FakeTensor[] = [
    { name: 'ok', type: 'FloatStorage', key: '0', numel: 6, size: [2, 3] },
    { name: 'transposed', type: 'FloatStorage', key: '0', numel: 6, size: [3, 2], stride: [1, 3] },
  ];
  const path = writeCheckpoint(statePickle(tensors), { 0: bytesOf(Float32Array.of(1, 2, 3, 4, 5, 6)) });
  const ckpt = await openTorchCheckpoint(path);
  t.deepEqual(ckpt.names(), ['ok', 'transposed']);
  t.true(ckpt.has('transposed'));
  t.false(ckpt.info('transposed').contiguous);
  await refused(t, () => ckpt.get('transposed'), path,
    /tensor 'transposed': is not contiguous \(size \[3, 2\], stride \[1, 3\]; row-major would be \[2, 1\]\)/);
  t.deepEqual([...(ckpt.get('ok').data as Float32Array)], [1, 2, 3, 4, 5, 6]);
  t.true(isContiguous([4, 1, 3], [3, 12345, 1]));
  t.true(isContiguous([0, 5], [0, 0]));
  t.false(isContiguous([2, 3], [1, 2]));
});

// ---- hostile pickles: nothing is executed ----

// each pickle gets the path of a marker file that running it would create
const HOSTILE: [string, (marker: string) => Op[], RegExp][] = [
  ['os.system via REDUCE', (marker) => [P.proto, P.global('os', 'system'), P.str(`touch ${marker}`), P.tuple1, P.reduce, P.stop], /pickle refers to os\.system, which is not allowed \(only state-dict tensors can be read\)$/],
  ['posix.system', (marker) => [P.proto, P.global('posix', 'system'), P.str(`touch ${marker}`), P.tuple1, P.reduce, P.stop], /pickle refers to posix\.system, which is not allowed/],
  ['nt.system', (marker) => [P.proto, P.global('nt', 'system'), P.str(`touch ${marker}`), P.tuple1, P.reduce, P.stop], /pickle refers to nt\.system/],
  ['builtins.eval', (marker) => [P.proto, P.global('builtins', 'eval'), P.str(`__import__('os').system('touch ${marker}')`), P.tuple1, P.reduce, P.stop], /pickle refers to builtins\.eval/],
  ['builtins.exec', (_marker) => [P.proto, P.global('builtins', 'exec'), P.str('x'), P.tuple1, P.reduce, P.stop], /pickle refers to builtins\.exec/],
  ['__builtin__.getattr', (_marker) => [P.proto, P.global('__builtin__', 'getattr'), P.stop], /pickle refers to __builtin__\.getattr/],
  ['subprocess.Popen', (marker) => [P.proto, P.global('subprocess', 'Popen'), P.mark, P.str('touch'), P.str(marker), P.tuple, P.tuple1, P.reduce, P.stop], /pickle refers to subprocess\.Popen/],
  ['STACK_GLOBAL (protocol 4)', (marker) => [[0x80, 4], P.shortStr('os'), P.shortStr('system'), 0x93, P.str(`touch ${marker}`), P.tuple1, P.reduce, P.stop], /pickle refers to os\.system/],
  ['INST', (marker) => [P.proto, P.mark, P.str(`touch ${marker}`), [0x69, ...Buffer.from('os\nsystem\n')], P.stop], /pickle refers to os\.system/],
  ['a torch global outside the allow-list', (_marker) => [P.proto, P.global('torch', 'load'), P.stop], /pickle refers to torch\.load/],
  ['a TorchScript class', (_marker) => [P.proto, P.global('__torch__', 'Model'), P.stop], /pickle refers to __torch__\.Model/],
  ['an allow-listed module with a prototype name', (_marker) => [P.proto, P.global('collections', '__proto__'), P.stop], /pickle refers to collections\.__proto__/],
  ['constructor', (_marker) => [P.proto, P.global('torch._utils', 'constructor'), P.stop], /pickle refers to torch\._utils\.constructor/],
  ['a JS global', (_marker) => [P.proto, P.global('globalThis', 'onebitcSpy'), P.str('x'), P.tuple1, P.reduce, P.stop], /pickle refers to globalThis\.onebitcSpy/],
  ['a JS global as module', (_marker) => [P.proto, P.global('onebitcSpy', 'call'), P.stop], /pickle refers to onebitcSpy\.call/],
  ['calling a storage class', (_marker) => [P.proto, P.global('torch', 'FloatStorage'), P.emptyTuple, P.reduce, P.stop], /pickle calls torch\.FloatStorage, which is not allowed/],
  ['calling a str', (_marker) => [P.proto, P.str('os.system'), P.emptyTuple, P.reduce, P.stop], /pickle calls a str, which is not allowed/],
  ['NEWOBJ', (_marker) => [P.proto, P.global('collections', 'OrderedDict'), P.emptyTuple, 0x81, P.stop], /pickle uses opcode NEWOBJ \(0x81\) at byte \d+, which is not allowed/],
  ['EXT1', (_marker) => [P.proto, [0x82, 1], P.stop], /opcode EXT1/],
  ['an unknown opcode', (_marker) => [P.proto, 0xff, P.stop], /pickle has an unknown opcode 0xff at byte 2, which is not allowed/],
  ['a persistent id that is not a storage', (_marker) => [P.proto, P.mark, P.str('module'), P.str('os.system'), P.tuple, P.persid, P.stop], /persistent id that is a tuple \('module', …\)/],
  ['a storage of a non-storage type', (_marker) => [P.proto, P.mark, P.str('storage'), P.global('collections', 'OrderedDict'), P.str('0'), P.str('cpu'), P.int(1), P.tuple, P.persid, P.stop], /storage of type collections\.OrderedDict/],
  ['BUILD on a list', (_marker) => [P.proto, P.emptyList, P.emptyDict, P.build, P.stop], /sets the state of a list from a dict/],
  ['a pickle without STOP', (_marker) => [P.proto, P.emptyDict], /pickle is corrupt: it ends after 3 bytes/],
  ['a memo reference to nothing', (_marker) => [P.proto, P.get(5), P.stop], /memo entry 5 is not defined/],
];

for (const [what, ops, pattern] of HOSTILE) {
  test.serial(`refuses ${what} without executing anything`, async (t) => {
    const marker = join(tmp, `marker-${cases}`);
    const pkl = pickle(...ops(marker));
    const path = writeCheckpoint(pkl);
    const calls: string[] = [];
    const g = globalThis as Record<string, unknown>;
    const savedEval = g.eval;
    g.onebitcSpy = Object.assign(() => { calls.push('onebitcSpy'); }, { call: () => { calls.push('onebitcSpy.call'); } });
    g.eval = (...args: unknown[]) => { calls.push('eval'); return (savedEval as (...a: unknown[]) => unknown)(...args); };
    const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();
    try {
      await refused(t, () => openTorchCheckpoint(path), path, pattern);
      t.throws(() => unpickle(pkl, 'x.pkl'), { instanceOf: FormatError });
    } finally {
      g.eval = savedEval;
      delete g.onebitcSpy;
    }
    t.deepEqual(calls, []);
    t.false(existsSync(marker));
    t.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), prototypeKeys);
  });
}

test('dict keys never touch JS prototypes', (t) => {
  const value = unpickle(pickle(P.proto, P.emptyDict, P.str('__proto__'), P.emptyDict, P.str('polluted'), P.true, P.setitem,
    P.setitem, P.str('constructor'), P.none, P.setitem, P.stop), 'x.pkl');
  t.true(value instanceof Map);
  const map = value as Map<unknown, unknown>;
  t.deepEqual([...map.keys()], ['__proto__', 'constructor']);
  t.true(map.get('__proto__') instanceof Map);
  t.is(({} as Record<string, unknown>).polluted, undefined);
});

test('the unpickler bounds its stack, memo, marks and containers', (t) => {
  const deep = pickle(P.proto, ...Array.from({ length: 50 }, () => P.emptyList), P.stop);
  t.throws(() => unpickle(deep, 'x.pkl', { maxStack: 20 }), { instanceOf: FormatError, message: /more than 20 stack entries/ });
  const memo = pickle(P.proto, P.none, ...Array.from({ length: 30 }, (_, i) => P.put(i)), P.stop);
  t.throws(() => unpickle(memo, 'x.pkl', { maxMemo: 10 }), { instanceOf: FormatError, message: /memoizes more than 10 values/ });
  const marks = pickle(P.proto, ...Array.from({ length: 30 }, () => P.mark), P.stop);
  t.throws(() => unpickle(marks, 'x.pkl', { maxMarks: 8 }), { instanceOf: FormatError, message: /more than 8 MARKs/ });
  const list = pickle(P.proto, P.emptyList, P.mark, ...Array.from({ length: 30 }, () => P.none), 0x65, P.stop);
  t.throws(() => unpickle(list, 'x.pkl', { maxContainer: 10 }), { instanceOf: FormatError, message: /more than 10 items/ });
  t.deepEqual(unpickle(list, 'x.pkl'), Array.from({ length: 30 }, () => null));
  const big = pickle(P.proto, [0x8a, 9, ...Array.from({ length: 9 }, () => 0xff)], P.stop);
  t.is(unpickle(big, 'x.pkl'), -1);
  t.is(unpickle(pickle(P.proto, [0x8a, 8, 0, 0, 0, 0, 0, 0, 0, 1], P.stop), 'x.pkl'), 1n << 56n);
});

test('plain values: ints, floats, strings, bytes, tuples, lists, dicts', (t) => {
  const value = unpickle(pickle(P.proto, P.mark, P.int(-5), P.int(300), P.int(70000), [0x47, ...Buffer.from(Float64Array.of(1.5).buffer).reverse()],
    P.str('é'), [0x43, 2, 1, 2], P.none, P.true, P.false, P.emptyList, P.int(1), P.append, P.tuple, P.stop), 'x.pkl');
  t.true(Object.isFrozen(value));
  t.deepEqual(value, [-5, 300, 70000, 1.5, 'é', Uint8Array.of(1, 2), null, true, false, [1]]);
});

test('tensor data is read on access, not at open', async (t) => {
  const path = writeCheckpoint(statePickle([{ name: 'w', type: 'FloatStorage', key: '0', numel: 2, size: [2] }]), { 0: bytesOf(Float32Array.of(1, 2)) });
  const ckpt = await openTorchCheckpoint(path);
  const dir = readZipDirectory(path);
  const record = dir.entries.find((e) => e.name === 'archive/data/0')!;
  // overwrite the tensor bytes after opening: the lazy tensor sees the new bytes
  const bytes = readFileSync(path);
  Buffer.from(Float32Array.of(7, 8).buffer).copy(bytes, record.dataOffset);
  writeFileSync(path, bytes);
  t.deepEqual([...(ckpt.get('w').data as Float32Array)], [7, 8]);
});
