// Bad input through the CLI: one clear line naming the file, exit code ≠ 0, and no bundle (or temporary
// folder) left behind.
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import test from 'ava';
import onnxProto from 'onnx-proto';
import { ROOT, onebitc, tempDir } from '../helpers/cli.ts';
import { valueInfo, writeModel } from '../helpers/onnx-builder.ts';

const { onnx } = onnxProto;
const MODEL = join(ROOT, 'test/fixtures/stories260K/model.onnx');

function expectFailure(t: import('ava').ExecutionContext, input: string, pattern: RegExp, outDir?: string) {
  const out = outDir ?? join(tempDir('bad-out'), 'bundle');
  const r = onebitc(input, '-o', out);
  t.not(r.code, 0);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0]!, /^onebitc: error: /);
  t.regex(lines[0]!, pattern);
  t.false(r.stderr.includes('    at '), 'no stack trace');
  t.false(existsSync(out), 'no bundle folder left behind');
  const parent = existsSync(dirname(out)) && statSync(dirname(out)).isDirectory() ? dirname(out) : dirname(dirname(out));
  t.deepEqual(readdirSync(parent).filter((f) => f.includes('onebitc-tmp')), [], 'no temporary folder left behind');
}

test('a missing file', (t) => expectFailure(t, join(tempDir('x'), 'nope.onnx'), /nope\.onnx/));

test('an empty file', (t) => {
  const f = join(tempDir('empty'), 'empty.onnx');
  writeFileSync(f, '');
  expectFailure(t, f, /empty\.onnx: .*empty/i);
});

test('random bytes', (t) => {
  const f = join(tempDir('random'), 'random.onnx');
  writeFileSync(f, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)));
  expectFailure(t, f, /random\.onnx/);
});

test('a truncated model', (t) => {
  const f = join(tempDir('trunc'), 'truncated.onnx');
  writeFileSync(f, readFileSync(MODEL).subarray(0, 700_000));
  expectFailure(t, f, /truncated\.onnx/);
});

test('an unknown op names the node and op and lists the supported ops', (t) => {
  const f = join(tempDir('op'), 'unknown-op.onnx');
  writeModel(f, {
    nodes: [{ name: 'mystery_node', opType: 'FancyNewOp', input: ['x'], output: ['y'] }],
    inputs: [valueInfo('x', 1, [2])],
    outputs: [valueInfo('y', 1, [2])],
  });
  expectFailure(t, f, /unknown-op\.onnx: node 'mystery_node' \(FancyNewOp\).*MatMul/);
});

test('an unsupported dtype names the tensor', (t) => {
  const f = join(tempDir('dtype'), 'complex.onnx');
  const model = onnx.ModelProto.create({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'g', node: [{ name: 'add', opType: 'Add', input: ['x', 'c'], output: ['y'] }],
      input: [valueInfo('x', 1, [2])], output: [valueInfo('y', 1, [2])],
      initializer: [{ name: 'c', dataType: 14 /* COMPLEX64 */, dims: [2], rawData: new Uint8Array(16) }],
    },
  });
  writeFileSync(f, onnx.ModelProto.encode(model).finish());
  expectFailure(t, f, /complex\.onnx: .*'c'.*COMPLEX64/);
});

function externalModel(dir: string, location: string): string {
  const f = join(dir, 'external.onnx');
  const model = onnx.ModelProto.create({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'g', node: [{ name: 'mm', opType: 'MatMul', input: ['x', 'w'], output: ['y'] }],
      input: [valueInfo('x', 1, [1, 4])], output: [valueInfo('y', 1, [1, 4])],
      initializer: [{ name: 'w', dataType: 1, dims: [4, 4], dataLocation: 1, externalData: [{ key: 'location', value: location }, { key: 'offset', value: '0' }, { key: 'length', value: '64' }] }],
    },
  });
  writeFileSync(f, onnx.ModelProto.encode(model).finish());
  return f;
}

test('external data that escapes the model folder', (t) => {
  const dir = tempDir('escape');
  writeFileSync(join(dirname(dir), 'outside.bin'), new Uint8Array(64));
  expectFailure(t, externalModel(dir, '../outside.bin'), /external\.onnx: .*'w'/);
});

test('external data through a symlink out of the folder', (t) => {
  const dir = tempDir('symlink');
  const outside = join(tempDir('outside'), 'w.bin');
  writeFileSync(outside, new Uint8Array(64));
  symlinkSync(outside, join(dir, 'w.bin'));
  expectFailure(t, externalModel(dir, 'w.bin'), /external\.onnx: .*'w'/);
});

test('missing external data', (t) => {
  expectFailure(t, externalModel(tempDir('missing'), 'weights.bin'), /external\.onnx: .*'w'.*weights\.bin/);
});

test('an unwritable output folder (its parent is a file)', (t) => {
  const dir = tempDir('unwritable');
  const file = join(dir, 'a-file');
  writeFileSync(file, 'x');
  expectFailure(t, MODEL, /a-file/, join(file, 'bundle'));
});

test('an existing folder that is not a bundle is never overwritten', (t) => {
  const dir = join(tempDir('precious'), 'mine');
  const r0 = onebitc(MODEL, '-o', dir); // creates a bundle: replaceable later
  t.is(r0.code, 0, r0.stderr);
  const other = join(tempDir('precious2'), 'photos');
  copyFileSync(MODEL, join(dirname(other), 'x.onnx'));
  writeFileSync(join(dirname(other), 'keep.txt'), 'precious');
  const r = onebitc(MODEL, '-o', dirname(other));
  t.not(r.code, 0);
  t.regex(r.stderr, /not an onebitc bundle/);
  t.is(readFileSync(join(dirname(other), 'keep.txt'), 'utf8'), 'precious');
});
