import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '../../formats/errors.ts';
import { writeSafetensors } from '../../formats/safetensors/write-file.ts';
import { loadCheckpoint, saveCheckpoint } from '../../compiler/train/checkpoint.ts';
import type { Checkpoint } from '../../compiler/train/checkpoint.ts';
import { Rng } from '../../compiler/train/rng.ts';

const tmp = mkdtempSync(join(tmpdir(), 'onebitc-ck-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
/** A checkpoint path in a folder of its own (tests run concurrently). */
const ckPath = () => join(mkdtempSync(join(tmp, 'case-')), 'ck');

/** Values that catch any conversion: NaN payloads, −0, infinities, subnormals, random bits. */
function awkwardFloats(n: number, seed: number): Float32Array {
  const bits = new Uint32Array(n);
  const rng = new Rng(seed);
  for (let i = 0; i < n; i++) bits[i] = rng.nextUint32();
  bits.set([0x7fc00001, 0x80000000, 0x7f800000, 0xff800000, 0x00000001], 0);
  return new Float32Array(bits.buffer);
}

function sampleCheckpoint(seed: number): Checkpoint<{ step: number; rng: number[]; note: string }> {
  return {
    tensors: new Map<string, Float32Array | { dims: number[]; data: Float32Array }>([
      ['model.w', { dims: [3, 7], data: awkwardFloats(21, seed) }],
      ['adam.m.model.w', awkwardFloats(21, seed + 1)],
      ['scalar', { dims: [], data: Float32Array.of(seed) }],
      ['empty', { dims: [0, 4], data: new Float32Array(0) }],
    ]),
    meta: { step: 120 + seed, rng: new Rng(seed).state(), note: 'ünïcode ✓' },
  };
}

const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

test('roundtrip is bit-exact, shapes kept (a flat array comes back as [length]), meta as JSON', async (t) => {
  const dir = ckPath();
  const ck = sampleCheckpoint(1);
  await saveCheckpoint(dir, ck);
  t.deepEqual(readdirSync(dir).sort(), ['meta.json', 'state.safetensors']);
  const back = await loadCheckpoint<typeof ck.meta>(dir);
  t.deepEqual(back.meta, ck.meta);
  t.deepEqual([...back.tensors.keys()], [...ck.tensors.keys()]);
  t.deepEqual(back.tensors.get('model.w')!.dims, [3, 7]);
  t.deepEqual(back.tensors.get('adam.m.model.w')!.dims, [21]);
  t.deepEqual(back.tensors.get('scalar')!.dims, []);
  t.deepEqual(back.tensors.get('empty')!.dims, [0, 4]);
  for (const [name, orig] of ck.tensors) {
    const data = orig instanceof Float32Array ? orig : orig.data;
    t.deepEqual(bitsOf(back.tensors.get(name)!.data), bitsOf(data), name);
  }
  // The standard layout: 8-byte little-endian header length, JSON header, then the raw data.
  const bytes = readFileSync(join(dir, 'state.safetensors'));
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;
  t.deepEqual(header['model.w'], { dtype: 'F32', shape: [3, 7], data_offsets: [0, 84] });
  t.deepEqual(bitsOf(new Float32Array(bytes.buffer.slice(bytes.byteOffset + 8 + n, bytes.byteOffset + 8 + n + 84))), bitsOf((ck.tensors.get('model.w') as { data: Float32Array }).data));
});

test('a second save replaces the first and leaves nothing beside it; missing parents are made', async (t) => {
  const nested = join(ckPath(), 'run', 'checkpoints', 'step-100');
  await saveCheckpoint(nested, sampleCheckpoint(0));
  t.is((await loadCheckpoint<{ step: number }>(nested)).meta.step, 120);
  const dir = ckPath();
  await saveCheckpoint(dir, sampleCheckpoint(1));
  await saveCheckpoint(dir, sampleCheckpoint(2));
  t.is((await loadCheckpoint<{ step: number }>(dir)).meta.step, 122);
  t.deepEqual(readdirSync(join(dir, '..')), ['ck']);
});

test('crash simulation: a half-written temporary folder is ignored by load and removed by the next save', async (t) => {
  const dir = ckPath();
  await saveCheckpoint(dir, sampleCheckpoint(1));
  // A save that died while writing: its temporary folder holds a truncated file and no meta.json.
  const partial = `${dir}.partial-99999-deadbeef`;
  mkdirSync(partial);
  writeFileSync(join(partial, 'state.safetensors'), Buffer.alloc(5));
  t.is((await loadCheckpoint<{ step: number }>(dir)).meta.step, 121);
  await saveCheckpoint(dir, sampleCheckpoint(3));
  t.false(existsSync(partial));
  t.is((await loadCheckpoint<{ step: number }>(dir)).meta.step, 123);
  t.deepEqual(readdirSync(join(dir, '..')), ['ck']);
});

test('crash between the two renames: load falls back to <dir>.old, the next save tidies up', async (t) => {
  const dir = ckPath();
  await saveCheckpoint(dir, sampleCheckpoint(1));
  renameSync(dir, `${dir}.old`); // the old checkpoint renamed aside, the new one never renamed in
  mkdirSync(`${dir}.partial-1-00000000`);
  const back = await loadCheckpoint<{ step: number }>(dir);
  t.is(back.meta.step, 121);
  t.deepEqual(bitsOf(back.tensors.get('adam.m.model.w')!.data), bitsOf(sampleCheckpoint(1).tensors.get('adam.m.model.w') as Float32Array));
  await saveCheckpoint(dir, sampleCheckpoint(4));
  t.is((await loadCheckpoint<{ step: number }>(dir)).meta.step, 124);
  t.deepEqual(readdirSync(join(dir, '..')), ['ck']);
});

test('missing and corrupt files are FormatErrors naming the file', async (t) => {
  const missing = ckPath();
  const e0 = await t.throwsAsync(loadCheckpoint(missing), { instanceOf: FormatError });
  t.true(e0.message.startsWith(missing) && /not found/.test(e0.message), e0.message);

  const fresh = async () => {
    const dir = ckPath();
    await saveCheckpoint(dir, sampleCheckpoint(5));
    return dir;
  };
  const expectError = async (dir: string, file: string, pattern: RegExp) => {
    const e = await t.throwsAsync(loadCheckpoint(dir), { instanceOf: FormatError });
    t.true(e.message.startsWith(join(dir, file)) && pattern.test(e.message), e.message);
  };

  let dir = await fresh();
  rmSync(join(dir, 'state.safetensors'));
  await expectError(dir, 'state.safetensors', /file not found/);

  dir = await fresh();
  const state = join(dir, 'state.safetensors');
  truncateSync(state, readFileSync(state).length - 3); // truncated data
  await expectError(dir, 'state.safetensors', /data|truncated|end/);

  dir = await fresh();
  const bytes = readFileSync(join(dir, 'state.safetensors'));
  bytes.writeUInt32LE(bytes.length, 0); // header length past the end of the file
  writeFileSync(join(dir, 'state.safetensors'), bytes);
  await expectError(dir, 'state.safetensors', /header length/);

  dir = await fresh();
  const bad = readFileSync(join(dir, 'state.safetensors'));
  bad[8] = 0x5b; // '{' → '[': the header is no longer a JSON object
  writeFileSync(join(dir, 'state.safetensors'), bad);
  await expectError(dir, 'state.safetensors', /.+/);

  dir = await fresh();
  rmSync(join(dir, 'meta.json'));
  await expectError(dir, 'meta.json', /file not found/);

  dir = await fresh();
  writeFileSync(join(dir, 'meta.json'), '{"step": 1');
  await expectError(dir, 'meta.json', /not valid JSON/);

  dir = await fresh();
  await writeSafetensors(join(dir, 'state.safetensors'), [{ name: 'ids', dtype: 'int32', shape: [2] }], [Int32Array.of(1, 2)]);
  await expectError(dir, 'state.safetensors', /'ids'.*int32; checkpoints hold float32 only/);
});

test('bad tensors are refused before anything is written', async (t) => {
  const dir = ckPath();
  await t.throwsAsync(saveCheckpoint(dir, { tensors: new Map([['w', { dims: [2, 2], data: new Float32Array(3) }]]), meta: {} }), { message: /'w' has 3 elements, dims \[2, 2\] need 4/ });
  t.deepEqual(readdirSync(join(dir, '..')), []);
});
