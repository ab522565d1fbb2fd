// Runs the real CLI (bin/onebitc.js → dist/) and bundles in fresh Node processes, as users do.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Tensor } from '../../formats/tensor.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin', 'onebitc.js');

export interface CliResult { code: number; stdout: string; stderr: string }

export function onebitc(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, ONEBITC_DEBUG: '' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `onebitc-${prefix}-`));
}

interface WireTensor { dtype: string; dims: number[]; data: string }

const ARRAYS: Record<string, new (b: ArrayBuffer) => ArrayLike<unknown>> = {
  float32: Float32Array, int64: BigInt64Array, int32: Int32Array, float64: Float64Array, uint8: Uint8Array, bool: Uint8Array, float16: Uint16Array,
};

/**
 * Imports `<bundle>/model.js` in a fresh Node process, runs it on `feeds`, and returns its outputs.
 * Tensors cross the process boundary as base64 of their bytes.
 */
export function runBundle(bundle: string, feeds: Record<string, Tensor>): Record<string, Tensor> {
  const dir = tempDir('run');
  const wire = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { dtype: t.dtype, dims: t.dims, data: Buffer.from((t.data as ArrayBufferView).buffer, (t.data as ArrayBufferView).byteOffset, (t.data as ArrayBufferView).byteLength).toString('base64') }]));
  writeFileSync(join(dir, 'feeds.json'), JSON.stringify(wire));
  const script = `
    import { readFileSync, writeFileSync } from 'node:fs';
    import { load } from ${JSON.stringify(pathToFileURL(join(bundle, 'model.js')).href)};
    const ARRAYS = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array, float64: Float64Array, uint8: Uint8Array, bool: Uint8Array, float16: Uint16Array };
    const wire = JSON.parse(readFileSync(${JSON.stringify(join(dir, 'feeds.json'))}, 'utf8'));
    const feeds = {};
    for (const [k, t] of Object.entries(wire)) { const b = Buffer.from(t.data, 'base64'); feeds[k] = { data: new ARRAYS[t.dtype](b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), dims: t.dims }; }
    const model = await load();
    const out = await model.run(feeds);
    const result = {};
    for (const [k, t] of Object.entries(out)) result[k] = { dtype: t.dtype, dims: t.dims, data: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64') };
    writeFileSync(${JSON.stringify(join(dir, 'out.json'))}, JSON.stringify(result));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bundle run failed (${r.status}): ${r.stderr}`);
  const out = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as Record<string, WireTensor>;
  return Object.fromEntries(Object.entries(out).map(([k, t]) => {
    const b = Buffer.from(t.data, 'base64');
    const data = new ARRAYS[t.dtype]!(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    return [k, { dtype: t.dtype, dims: t.dims, data } as unknown as Tensor];
  }));
}
