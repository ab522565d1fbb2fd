import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { float32ToHalf } from '../../formats/dtype.ts';
import { FormatError } from '../../formats/errors.ts';
import { FileTensor, fileTensors } from '../../formats/safetensors/file-tensor.ts';
import { readSafetensorsBuffer } from '../../formats/safetensors/read-buffer.ts';
import { openSafetensors } from '../../formats/safetensors/read-file.ts';
import { writeSafetensors } from '../../formats/safetensors/write-file.ts';
import type { Tensor } from '../../formats/tensor.ts';

const tmp = mkdtempSync(join(tmpdir(), 'onebitc-ft-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
const STORIES = new URL('../fixtures/stories260K/model.safetensors', import.meta.url).pathname;

const values = [0.5, -1.25, 3, 1e-3, -7.5, 65504];
const TENSORS: Record<string, Tensor> = {
  f32: { dtype: 'float32', dims: [2, 3], data: Float32Array.from(values) },
  f16: { dtype: 'float16', dims: [3, 2], data: float32ToHalf('float16', values) },
  bf16: { dtype: 'bfloat16', dims: [6], data: float32ToHalf('bfloat16', values) },
  odd: { dtype: 'uint8', dims: [3], data: Uint8Array.of(1, 2, 3) }, // puts the next tensor at an odd offset
  i64: { dtype: 'int64', dims: [2], data: BigInt64Array.of(-5n, 1n << 40n) },
  flag: { dtype: 'bool', dims: [2], data: Uint8Array.of(1, 0) },
  empty: { dtype: 'float32', dims: [0, 4], data: new Float32Array(0) },
};

async function write(name: string): Promise<string> {
  const path = join(mkdtempSync(join(tmp, 'case-')), name);
  const names = Object.keys(TENSORS);
  await writeSafetensors(path, names.map((n) => ({ name: n, dtype: TENSORS[n]!.dtype as never, shape: TENSORS[n]!.dims })),
    names.map((n) => TENSORS[n]!.data as Uint8Array));
  return path;
}

async function tensorsOf(path: string): Promise<Map<string, FileTensor>> {
  const f = await openSafetensors(path);
  await f.close();
  return new Map(fileTensors(path, f.entries, f.header.dataOffset).map((t) => [t.name, t]));
}

test('dtype, dims, name, file and byteLength come from the header; data is read raw, unconverted', async (t) => {
  const path = await write('a.safetensors');
  const tensors = await tensorsOf(path);
  for (const [name, expected] of Object.entries(TENSORS)) {
    const ft = tensors.get(name)!;
    t.true(ft instanceof FileTensor);
    t.is(ft.name, name);
    t.is(ft.file, path);
    t.is(ft.dtype as string, expected.dtype as string);
    t.deepEqual([...ft.dims], [...expected.dims]);
    t.is(ft.byteLength, (expected.data as Uint8Array).byteLength);
    t.deepEqual(ft.data, expected.data, name);
    t.is(ft.data.constructor, expected.data.constructor);
  }
  t.is(tensors.get('f16')!.data.constructor, Uint16Array);
  t.is(tensors.get('bf16')!.data.constructor, Uint16Array);
  t.deepEqual(JSON.parse(JSON.stringify(tensors.get('f32'))), { name: 'f32', file: path, dtype: 'float32', dims: [2, 3], byteLength: 24 });
});

test('each access reads the file again (no cache)', async (t) => {
  const path = await write('b.safetensors');
  const ft = (await tensorsOf(path)).get('f32')!;
  const a = ft.data;
  const b = ft.data;
  t.not(a, b);
  t.not(a.buffer, b.buffer);
  t.deepEqual(a, b);
  a[0] = 99; // the caller owns what it got
  t.is(ft.data[0], 0.5);
  t.deepEqual(ft.bytes(), new Uint8Array(Float32Array.from(values).buffer));
});

test('matches the eager reader on the stories260K fixture', async (t) => {
  const eager = readSafetensorsBuffer(readFileSync(STORIES), STORIES);
  const lazy = await tensorsOf(STORIES);
  t.is(lazy.size, eager.entries.length);
  for (const name of ['model.embed_tokens.weight', 'model.layers.4.mlp.down_proj.weight', 'model.norm.weight']) {
    t.deepEqual(lazy.get(name)!.data, eager.readTensor(name).data, name);
  }
});

test('a file truncated or removed after opening: one FormatError line naming the file and the tensor', async (t) => {
  const path = await write('c.safetensors');
  const tensors = await tensorsOf(path);
  truncateSync(path, tensors.get('i64')!.position + 4);
  t.deepEqual(tensors.get('f32')!.data, TENSORS.f32!.data); // earlier tensors still read
  const e = t.throws(() => tensors.get('i64')!.data, { instanceOf: FormatError })!;
  t.is(e.file, path);
  t.is(e.tensor, 'i64');
  t.regex(e.message, /^.*c\.safetensors: tensor 'i64': file ends after \d+ bytes/);
  t.false(e.message.includes('\n'));
  unlinkSync(path);
  const gone = t.throws(() => tensors.get('f32')!.data, { instanceOf: FormatError })!;
  t.regex(gone.message, /c\.safetensors: tensor 'f32': file not found/);
  t.deepEqual(tensors.get('empty')!.data, new Float32Array(0)); // nothing to read
});

test('BOOL bytes other than 0/1 are refused on read, naming the tensor', async (t) => {
  const path = join(mkdtempSync(join(tmp, 'case-')), 'd.safetensors');
  await writeSafetensors(path, [{ name: 'flag', dtype: 'bool', shape: [2] }], [Uint8Array.of(1, 7)]);
  const ft = (await tensorsOf(path)).get('flag')!;
  t.throws(() => ft.data, { instanceOf: FormatError, message: /d\.safetensors: tensor 'flag': BOOL element 1 is 7/ });
});
