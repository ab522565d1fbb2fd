// Opens a `torch.save` checkpoint (the zip format PyTorch ≥ 1.6 writes: `<prefix>/data.pkl`, `<prefix>/data/<key>`,
// `<prefix>/version`) as a WeightSource without loading weights: only the zip directory (plus local headers) and
// the pickle are read, the pickle by the restricted unpickler in pickle.ts (which never executes anything).
// Each tensor is a FileTensor over its byte range inside its STORED storage record: `data` reads it on access.
import { closeSync, openSync, readSync } from 'node:fs';
import type { DType } from '../dtype.ts';
import { DTYPE_BYTES } from '../dtype.ts';
import { FormatError } from '../errors.ts';
import type { SafetensorsEntry } from '../safetensors/header.ts';
import { FileTensor } from '../safetensors/file-tensor.ts';
import type { PickleKey, PickleValue, TorchStorageRef, TorchTensorRef } from './pickle.ts';
import { unpickle } from './pickle.ts';
import type { ZipEntry } from './zip.ts';
import { printableName, readZipDirectory, readZipEntry, storedRange } from './zip.ts';

/** Largest data.pkl read (a state dict's pickle is ~150 bytes per tensor). */
export const MAX_PICKLE_BYTES = 512 << 20;

/** What the pickle says about one tensor, with where its bytes are. */
export interface TorchTensorInfo {
  name: string;
  dtype: Exclude<DType, 'string'>;
  dims: readonly number[];
  stride: readonly number[];
  /** In elements of the storage. */
  storageOffset: number;
  storage: TorchStorageRef;
  /** The zip record holding the storage: `<prefix>/data/<key>`. */
  record: string;
  /** Row-major (torch's is_contiguous): only these can be read. */
  contiguous: boolean;
  /** Absolute position of the tensor's first byte in the file. */
  position: number;
  /** Bytes of the tensor's data (when contiguous). */
  byteLength: number;
}

function printable(s: string): string {
  return printableName(s);
}

function kindOf(v: PickleValue): string {
  if (v === null) return 'None';
  if (v instanceof Map) return 'a dict';
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'a tuple' : 'a list';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'object') return `a ${(v as { kind: string }).kind}`;
  return `a ${typeof v}`;
}

function isTensor(v: PickleValue): v is TorchTensorRef {
  return typeof v === 'object' && v !== null && !(v instanceof Map) && !(v instanceof Uint8Array) && !Array.isArray(v)
    && (v as { kind?: unknown }).kind === 'tensor';
}

/** Whether `stride` is row-major for `size`, as torch's is_contiguous: dims of size 1 may have any stride, empty tensors are. */
export function isContiguous(size: readonly number[], stride: readonly number[]): boolean {
  if (size.includes(0)) return true;
  let expected = 1;
  for (let i = size.length - 1; i >= 0; i--) {
    if (size[i] !== 1 && stride[i] !== expected) return false;
    expected *= size[i]!;
  }
  return true;
}

function rowMajor(size: readonly number[]): number[] {
  const out = new Array<number>(size.length);
  let s = 1;
  for (let i = size.length - 1; i >= 0; i--) { out[i] = s; s *= size[i]!; }
  return out;
}

/**
 * The tensors of a torch.save checkpoint. Structurally a `WeightSource` / `HfWeights` of the Hugging Face importer
 * (names, has, get, source, files, fileOf), without formats/ depending on compiler/.
 */
export class TorchCheckpoint {
  /** The checkpoint file (names the weights in messages). */
  readonly source: string;
  readonly files: readonly string[];

  constructor(
    readonly file: string,
    /** The record prefix (`archive`, `pytorch_model`, …), without the slash. */
    readonly prefix: string,
    private readonly byName: ReadonlyMap<string, TorchTensorInfo>,
    /** Top-level keys whose values are not tensors (ignored). */
    readonly skipped: readonly string[],
  ) {
    this.source = file;
    this.files = [file];
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  fileOf(name: string): string | undefined {
    return this.byName.has(name) ? this.file : undefined;
  }

  /** What the pickle says about `name` (dtype, dims, stride, storage, record, position). */
  info(name: string): TorchTensorInfo {
    const info = this.byName.get(name);
    if (!info) throw new FormatError(this.file, 'no such tensor in the checkpoint', name);
    return info;
  }

  /** A lazy tensor reading its bytes from the storage record on each `data` access; non-contiguous ones throw. */
  get(name: string): FileTensor {
    const info = this.info(name);
    if (!info.contiguous) {
      throw new FormatError(this.file, `is not contiguous (size [${info.dims.join(', ')}], stride [${info.stride.join(', ')}]; row-major would be [${rowMajor(info.dims).join(', ')}]); only contiguous tensors can be read: save tensor.contiguous() instead`, printable(name));
    }
    const begin = info.position;
    const entry: SafetensorsEntry = { name, dtype: info.dtype, shape: [...info.dims], begin, end: begin + info.byteLength };
    return new FileTensor(this.file, entry, 0);
  }
}

/** A readable message for a file that is not a zip: legacy torch pickles and tar files are named as such. */
function notZip(path: string, error: FormatError): FormatError {
  let head = new Uint8Array(0);
  try {
    const fd = openSync(path, 'r');
    try {
      head = new Uint8Array(512);
      head = head.subarray(0, readSync(fd, head, 0, 512, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return error;
  }
  if (head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5) {
    return new FormatError(path, 'is a legacy (non-zip) PyTorch file, as torch < 1.6 or _use_new_zipfile_serialization=False write; re-save it with torch.save, or convert it to safetensors');
  }
  if (head.length >= 262 && String.fromCharCode(...head.subarray(257, 262)) === 'ustar') {
    return new FormatError(path, 'is a tar archive (the legacy torch.save tar format); re-save it with torch.save, or convert it to safetensors');
  }
  return error;
}

/** The single `<prefix>/data.pkl` record (or a bare `data.pkl`). */
function findPickle(path: string, entries: readonly ZipEntry[]): { pkl: ZipEntry; prefix: string } {
  const candidates = entries.filter((e) => e.name === 'data.pkl' || /^[^/]+\/data\.pkl$/.test(e.name));
  if (candidates.length === 1) {
    const pkl = candidates[0]!;
    return { pkl, prefix: pkl.name.slice(0, Math.max(0, pkl.name.length - 'data.pkl'.length - 1)) };
  }
  if (candidates.length > 1) {
    throw new FormatError(path, `has several pickles (${candidates.map((e) => `'${printable(e.name)}'`).join(', ')}); expected one '<prefix>/data.pkl' as torch.save writes`);
  }
  const some = entries.slice(0, 5).map((e) => `'${printable(e.name)}'`).join(', ');
  throw new FormatError(path, `is a zip archive without a '<prefix>/data.pkl' record, so not a torch.save checkpoint (records: ${some}${entries.length > 5 ? ', …' : ''})`);
}

/** The state dict in the pickle: the root dict, or the dict under 'state_dict' / 'model' / 'module' when the root holds no tensors. */
function stateDict(path: string, root: PickleValue): Map<PickleKey, PickleValue> {
  if (!(root instanceof Map)) throw new FormatError(path, `pickle holds ${kindOf(root)}, not a state dict (a dict of tensors)`);
  const hasTensor = (m: Map<PickleKey, PickleValue>): boolean => [...m.values()].some(isTensor);
  if (hasTensor(root)) return root;
  for (const key of ['state_dict', 'model', 'module']) {
    const inner = root.get(key);
    if (inner instanceof Map && hasTensor(inner)) return inner;
  }
  const keys = [...root.keys()].slice(0, 5).map((k) => `'${printable(String(k))}'`).join(', ');
  throw new FormatError(path, `pickle holds a dict without tensors (keys: ${keys || 'none'}); expected a state dict`);
}

/**
 * Opens a torch.save checkpoint (`pytorch_model.bin`, `*.pt`, `*.pth`): reads the zip directory and the pickle,
 * and checks every tensor against its storage record. Tensor data is read only by the returned tensors.
 * Anything unreadable throws one FormatError line naming the file (and the tensor when there is one).
 */
export async function openTorchCheckpoint(path: string): Promise<TorchCheckpoint> {
  let entries: ZipEntry[];
  try {
    entries = readZipDirectory(path).entries;
  } catch (e) {
    throw e instanceof FormatError ? notZip(path, e) : e;
  }
  const { pkl, prefix } = findPickle(path, entries);
  const records = new Map(entries.map((e) => [e.name, e]));
  const base = prefix === '' ? '' : `${prefix}/`;

  const byteorder = records.get(`${base}byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(readZipEntry(path, byteorder, 64)).trim();
    if (order !== 'little') throw new FormatError(path, `was saved with byte order '${printable(order)}'; only little-endian checkpoints can be read`);
  }

  const root = unpickle(readZipEntry(path, pkl, MAX_PICKLE_BYTES), path);
  const dict = stateDict(path, root);

  const byName = new Map<string, TorchTensorInfo>();
  const skipped: string[] = [];
  for (const [key, value] of dict) {
    if (typeof key !== 'string') throw new FormatError(path, `state dict has a key that is ${kindOf(key)} (${printable(String(key))}); tensor names must be strings`);
    if (!isTensor(value)) { skipped.push(key); continue; }
    const name = printable(key);
    const { storage } = value;
    const recordName = `${base}data/${storage.key}`;
    const record = records.get(recordName);
    if (!record) throw new FormatError(path, `its storage record '${printable(recordName)}' is missing from the archive`, name);
    const range = storedRange(path, record, name);
    const elementBytes = DTYPE_BYTES[storage.dtype];
    const storageBytes = storage.numel * elementBytes;
    if (range.length < storageBytes) {
      throw new FormatError(path, `its ${storage.storageType} of ${storage.numel} elements needs ${storageBytes} bytes, but record '${printable(recordName)}' has only ${range.length} (truncated or corrupt checkpoint)`, name);
    }
    let numel = 1;
    let last = value.storageOffset;
    for (let i = 0; i < value.size.length; i++) {
      numel *= value.size[i]!;
      last += (value.size[i]! - 1) * value.stride[i]!;
    }
    if (!Number.isSafeInteger(numel * elementBytes)) throw new FormatError(path, `size [${value.size.join(', ')}] is too large`, name);
    if (numel > 0 && last >= storage.numel) {
      throw new FormatError(path, `size [${value.size.join(', ')}] with stride [${value.stride.join(', ')}] at storage offset ${value.storageOffset} runs past its ${storage.storageType} of ${storage.numel} elements (corrupt checkpoint)`, name);
    }
    if (numel === 0 && value.storageOffset > storage.numel) {
      throw new FormatError(path, `storage offset ${value.storageOffset} is past its ${storage.storageType} of ${storage.numel} elements (corrupt checkpoint)`, name);
    }
    byName.set(key, {
      name: key, dtype: storage.dtype, dims: value.size, stride: value.stride, storageOffset: value.storageOffset, storage,
      record: recordName, contiguous: isContiguous(value.size, value.stride),
      position: range.position + value.storageOffset * elementBytes, byteLength: numel * elementBytes,
    });
  }
  return new TorchCheckpoint(path, prefix, byName, skipped);
}
