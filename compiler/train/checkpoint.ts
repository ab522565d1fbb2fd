// Training checkpoints: a folder holding state.safetensors (every float32 tensor: weights, optimizer moments)
// and meta.json (step, RNG states, options: anything JSON). A save is written into a sibling temporary folder,
// synced, and swapped in by renames (the old folder is renamed aside first, then removed), so a crash at any
// point leaves either the previous checkpoint or the new one complete. If a crash falls between the two
// renames only `<dir>.old` exists; loadCheckpoint falls back to it and the next save tidies up.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FormatError, unreadableFile } from '../../formats/errors.ts';
import { openSafetensors } from '../../formats/safetensors/read-file.ts';
import { writeSafetensors } from '../../formats/safetensors/write-file.ts';

/** A tensor to save: a flat array (saved with dims [length]) or an array with its shape. */
export type CheckpointTensor = Float32Array | ShapedTensor;

export interface ShapedTensor {
  dims: number[];
  data: Float32Array;
}

export interface Checkpoint<Meta extends object = Record<string, unknown>> {
  /** Saved in the map's order. */
  tensors: Map<string, CheckpointTensor>;
  /** Must survive JSON (no typed arrays, Maps or NaN: those belong in `tensors`). */
  meta: Meta;
}

/** What loadCheckpoint returns: every tensor with its shape. */
export interface LoadedCheckpoint<Meta extends object = Record<string, unknown>> {
  tensors: Map<string, ShapedTensor>;
  meta: Meta;
}

export const STATE_FILE = 'state.safetensors';
export const META_FILE = 'meta.json';
const PARTIAL = '.partial-';
const OLD = '.old';

/** Writes `ck` as the folder `dir`, replacing a previous checkpoint there atomically. */
export async function saveCheckpoint(dir: string, ck: Checkpoint<object>): Promise<void> {
  const list = [...ck.tensors].map(([name, t]) => {
    const { dims, data } = t instanceof Float32Array ? { dims: [t.length], data: t } : t;
    if (!(data instanceof Float32Array)) throw new TypeError(`saveCheckpoint: tensor '${name}' is not a Float32Array`);
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new RangeError(`saveCheckpoint: tensor '${name}' has ${data.length} elements, dims [${dims.join(', ')}] need ${size}`);
    return { name, dims, data };
  });
  const metaJson = JSON.stringify(ck.meta, null, 2);
  if (metaJson === undefined) throw new TypeError('saveCheckpoint: meta is not JSON-serialisable');

  await mkdir(dirname(dir), { recursive: true });
  await removeLeftovers(dir);
  const temporary = `${dir}${PARTIAL}${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(temporary, { recursive: false });
    await writeSafetensors(join(temporary, STATE_FILE), list.map((t) => ({ name: t.name, dtype: 'float32', shape: t.dims })), list.map((t) => t.data));
    await writeFile(join(temporary, META_FILE), metaJson + '\n');
    for (const f of [STATE_FILE, META_FILE]) await sync(join(temporary, f));
    await sync(temporary);
  } catch (e) {
    await rm(temporary, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
  const aside = dir + OLD;
  if (await exists(dir)) {
    await rm(aside, { recursive: true, force: true });
    await rename(dir, aside);
  }
  await rename(temporary, dir);
  await rm(aside, { recursive: true, force: true });
  await sync(dirname(dir));
}

/**
 * Reads the checkpoint folder `dir` (or, after a crash mid-swap, `<dir>.old`). A missing or corrupt file is a
 * FormatError naming it.
 */
export async function loadCheckpoint<Meta extends object = Record<string, unknown>>(dir: string): Promise<LoadedCheckpoint<Meta>> {
  let folder = dir;
  if (!(await exists(dir))) {
    if (!(await exists(dir + OLD))) throw new FormatError(dir, 'checkpoint folder not found');
    folder = dir + OLD;
  }
  const metaPath = join(folder, META_FILE);
  let metaText: string;
  try {
    metaText = await readFile(metaPath, 'utf8');
  } catch (e) {
    throw unreadableFile(metaPath, e);
  }
  let meta: Meta;
  try {
    meta = JSON.parse(metaText) as Meta;
  } catch (e) {
    throw new FormatError(metaPath, `is not valid JSON (${(e as Error).message}); the checkpoint is corrupt`);
  }
  if (meta === null || typeof meta !== 'object') throw new FormatError(metaPath, 'must hold a JSON object');

  const statePath = join(folder, STATE_FILE);
  const file = await openSafetensors(statePath);
  const tensors = new Map<string, ShapedTensor>();
  try {
    for await (const [entry, tensor] of file) {
      if (tensor.dtype !== 'float32') throw new FormatError(statePath, `is ${tensor.dtype}; checkpoints hold float32 only`, entry.name);
      tensors.set(entry.name, { dims: [...tensor.dims], data: tensor.data as Float32Array });
    }
  } finally {
    await file.close();
  }
  return { tensors, meta };
}

/** Removes temporary folders of saves that never finished (siblings named `<dir>.partial-*`). */
async function removeLeftovers(dir: string): Promise<void> {
  const parent = dirname(dir), prefix = basename(dir) + PARTIAL;
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return; // an unreadable parent: mkdir of the temporary folder will say why
  }
  for (const name of names) if (name.startsWith(prefix)) await rm(join(parent, name), { recursive: true, force: true });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** fsync a file or folder, so the renames never reach the disk before the data they publish. */
async function sync(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } catch (e) {
    // Some filesystems cannot fsync a folder; the data files themselves were synced.
    if ((e as NodeJS.ErrnoException).code !== 'EINVAL' && (e as NodeJS.ErrnoException).code !== 'EISDIR') throw e;
  } finally {
    await handle.close();
  }
}
