// The safetensors header: parse and fully validate it, or build one. Pure (no node imports): it ships in bundles.
//
// Layout (https://github.com/huggingface/safetensors):
//   [8 bytes: N, little-endian u64] [N bytes: JSON header, UTF-8, may be padded with trailing spaces] [data]
//   header = { "__metadata__"?: {string: string}, "<name>": { "dtype": "F32", "shape": [2, 3],
//              "data_offsets": [begin, end] }, ... }   offsets are relative to the start of the data section.
import type { DType, TensorDataByType } from '../dtype.ts';
import { DTYPE_BYTES, fromBytes } from '../dtype.ts';
import { FormatError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';

/** Headers larger than this are refused (the reference implementation's limit is 100,000,000 bytes). */
export const MAX_HEADER_BYTES = 100_000_000;

/** The dtypes safetensors can hold (strings cannot). */
export type SafetensorsDType = Exclude<DType, 'string'>;

/** safetensors dtype names ⇄ ours. */
export const SAFETENSORS_DTYPES: Readonly<Record<string, SafetensorsDType>> = Object.freeze({
  F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16',
  I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8',
  U64: 'uint64', U32: 'uint32', U16: 'uint16', U8: 'uint8', BOOL: 'bool',
});
const NAME_BY_DTYPE = Object.fromEntries(Object.entries(SAFETENSORS_DTYPES).map(([k, v]) => [v, k])) as Record<SafetensorsDType, string>;

/** Our dtype for a safetensors dtype name, or undefined when it is not one we support. */
export function dtypeFromSafetensors(name: string): SafetensorsDType | undefined {
  return Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPES, name) ? SAFETENSORS_DTYPES[name] : undefined;
}

/** The safetensors dtype name of one of our dtypes; strings throw (safetensors has no string type). */
export function safetensorsDtypeName(dtype: DType): string {
  const name = dtype === 'string' ? undefined : NAME_BY_DTYPE[dtype];
  if (!name) throw new RangeError(`dtype '${String(dtype)}' cannot be stored in safetensors; supported: ${Object.values(SAFETENSORS_DTYPES).join(', ')}`);
  return name;
}

/** One tensor of a safetensors file. `begin`/`end` are byte offsets into the data section. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/** A validated header. */
/** Lookups over a validated header, shared by the in-memory and the on-disk readers. */
export abstract class SafetensorsIndex {
  private readonly byName: Map<string, SafetensorsEntry>;

  constructor(readonly file: string, readonly header: SafetensorsHeader) {
    this.byName = new Map(header.entries.map((e) => [e.name, e]));
  }

  /** Entries in data order. */
  get entries(): readonly SafetensorsEntry[] {
    return this.header.entries;
  }

  get metadata(): Readonly<Record<string, string>> {
    return this.header.metadata;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  entry(name: string): SafetensorsEntry {
    const e = this.byName.get(name);
    if (!e) throw new FormatError(this.file, 'no such tensor in the file', name);
    return e;
  }
}

export interface SafetensorsHeader {
  /** Entries in data order (sorted by `begin`). */
  entries: SafetensorsEntry[];
  /** `__metadata__` (empty when absent). */
  metadata: Record<string, string>;
  /** Where the data section starts in the file: 8 + header length. */
  dataOffset: number;
  /** Bytes of the data section the entries account for (the end of the last tensor). */
  dataEnd: number;
  /** Harmless oddities: gaps between tensors, trailing bytes after the last one. */
  warnings: string[];
}

function printable(name: string): string {
  // eslint-disable-next-line no-control-regex
  const escaped = name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > 120 ? `${escaped.slice(0, 117)}...` : escaped;
}

/**
 * Reads the header length from the first 8 bytes and checks it against the limit and the file size.
 * Returns N, the JSON header's byte length; the data section starts at 8 + N.
 */
export function readHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || prefix.byteLength < 8) {
    throw new FormatError(file, `file has ${fileSize} bytes; a safetensors file starts with an 8-byte header length`);
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const length = high * 2 ** 32 + low;
  if (high >= 2 ** 21 || length > MAX_HEADER_BYTES) {
    throw new FormatError(file, `header length ${high >= 2 ** 21 ? 'is absurdly large' : length} exceeds the ${MAX_HEADER_BYTES}-byte limit; not a safetensors file?`);
  }
  if (length < 2) throw new FormatError(file, `header length ${length} is too small for a JSON object`);
  if (8 + length > fileSize) {
    throw new FormatError(file, `header length ${length} runs past the end of the file (${fileSize} bytes); the file is truncated or not safetensors`);
  }
  return length;
}

const ENTRY_KEYS = new Set(['dtype', 'shape', 'data_offsets']);

/**
 * Parses and validates the JSON header (the N bytes after the length). `dataSize` is the size of the data
 * section (file size − 8 − N). Checks every entry (dtype, shape, offsets, size = product(shape) × element size,
 * inside the data section) and that no two tensors overlap; gaps and trailing bytes become warnings.
 */
export function parseHeaderJson(json: Uint8Array, headerLength: number, dataSize: number, file: string): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    throw new FormatError(file, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw new FormatError(file, "header does not start with '{'; not a safetensors file");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new FormatError(file, `header is not valid JSON (${printable(e instanceof Error ? e.message : String(e))})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new FormatError(file, 'header is not a JSON object');

  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(value, file);
      continue;
    }
    entries.push(parseEntry(name, value, dataSize, file));
  }

  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const warnings: string[] = [];
  let cursor = 0;
  let previous: SafetensorsEntry | undefined;
  for (const e of entries) {
    if (e.begin < cursor) {
      throw new FormatError(file, `bytes ${e.begin}..${e.end} overlap tensor '${printable(previous!.name)}' (${previous!.begin}..${previous!.end})`, printable(e.name));
    }
    if (e.begin > cursor) warnings.push(`${e.begin - cursor} unused bytes before tensor '${printable(e.name)}' (data bytes ${cursor}..${e.begin})`);
    if (e.end > cursor) {
      cursor = e.end;
      previous = e;
    }
  }
  if (cursor < dataSize) warnings.push(`${dataSize - cursor} bytes after the last tensor are not used by any tensor`);
  return { entries, metadata, dataOffset: 8 + headerLength, dataEnd: cursor, warnings };
}

function parseMetadata(value: unknown, file: string): Record<string, string> {
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new FormatError(file, '__metadata__ must be an object of strings');
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new FormatError(file, `__metadata__ '${printable(k)}' must be a string, found ${JSON.stringify(v) ?? typeof v}`);
  }
  return Object.fromEntries(Object.entries(value as Record<string, string>));
}

function parseEntry(name: string, value: unknown, dataSize: number, file: string): SafetensorsEntry {
  const label = printable(name);
  const fail = (detail: string): never => { throw new FormatError(file, detail, label); };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('entry must be an object with dtype, shape and data_offsets');
  const info = value as Record<string, unknown>;
  for (const key of Object.keys(info)) if (!ENTRY_KEYS.has(key)) fail(`unknown key '${printable(key)}'; expected dtype, shape, data_offsets`);

  if (typeof info.dtype !== 'string') fail('has no dtype');
  const dtype = dtypeFromSafetensors(info.dtype as string);
  if (!dtype) fail(`unsupported dtype '${printable(info.dtype as string)}'; supported: ${Object.keys(SAFETENSORS_DTYPES).join(', ')}`);

  if (!Array.isArray(info.shape)) fail('shape must be an array of non-negative integers');
  const shape = info.shape as unknown[];
  let count = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) fail(`shape [${shape.map(String).join(', ')}] must hold non-negative integers`);
    count *= d as number;
    if (!Number.isSafeInteger(count)) fail(`shape [${shape.join(', ')}] has too many elements`);
  }

  const offsets = info.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)) {
    fail('data_offsets must be [begin, end] with non-negative integers');
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(`data_offsets [${begin}, ${end}] end before they begin`);
  const size = count * DTYPE_BYTES[dtype!];
  if (end - begin !== size) fail(`data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${info.dtype} [${shape.join(', ')}] needs ${size}`);
  if (end > dataSize) fail(`data_offsets [${begin}, ${end}] run past the end of the data section (${dataSize} bytes)`);
  return { name, dtype: dtype!, shape: shape as number[], begin, end };
}

/** Parses and validates a header from the file's first bytes (at least 8 + N of them). */
export function parseSafetensorsHeader(head: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  const length = readHeaderLength(head, fileSize, file);
  if (head.byteLength < 8 + length) throw new FormatError(file, `need ${8 + length} bytes to read the header, got ${head.byteLength}`);
  return parseHeaderJson(head.subarray(8, 8 + length), length, fileSize - 8 - length, file);
}

/**
 * A Tensor of `entry` from exactly its bytes (`end - begin` of them). The data is a view of `bytes` when they are
 * aligned for the dtype, a copy otherwise. BOOL bytes must be 0 or 1.
 */
export function tensorFromEntry(entry: SafetensorsEntry, bytes: Uint8Array, file: string): Tensor {
  if (bytes.byteLength !== entry.end - entry.begin) {
    throw new FormatError(file, `expected ${entry.end - entry.begin} bytes, got ${bytes.byteLength}`, printable(entry.name));
  }
  if (entry.dtype === 'bool') {
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i]! > 1) throw new FormatError(file, `BOOL element ${i} is ${bytes[i]}, expected 0 or 1`, printable(entry.name));
    }
  }
  // Unaligned bytes are copied first (`new Uint8Array(view)` copies; a Buffer's slice() would not).
  const aligned = bytes.byteOffset % DTYPE_BYTES[entry.dtype] === 0 ? bytes : new Uint8Array(bytes);
  const data: TensorDataByType[SafetensorsDType] = fromBytes(entry.dtype, aligned);
  return { dtype: entry.dtype, dims: [...entry.shape], data };
}

// ---- writing ----

/** A tensor to write: its bytes come later, in this order. */
export interface SafetensorsWriteEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  /** Must equal product(shape) × element size; checked. Optional: computed when absent. */
  byteLength?: number;
}

/** Where each tensor goes and the header bytes (length prefix included) that start the file. */
export interface SafetensorsLayout {
  header: Uint8Array;
  entries: SafetensorsEntry[];
  /** Total file size: header bytes + data. */
  fileSize: number;
}

/**
 * Builds the header for tensors written back to back in the given order, as the reference implementation does:
 * compact JSON (`__metadata__` first when given), padded with spaces so the data starts at a multiple of 8.
 * Deterministic: the same entries and metadata give the same bytes. Throws FormatError naming `file`.
 */
export function buildSafetensorsHeader(
  list: readonly SafetensorsWriteEntry[],
  metadata: Readonly<Record<string, string>> | undefined,
  file: string,
): SafetensorsLayout {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new FormatError(file, `__metadata__ '${printable(k)}' must be a string`);
    }
    Object.defineProperty(header, '__metadata__', { value: { ...metadata }, enumerable: true, writable: true, configurable: true });
  }
  const entries: SafetensorsEntry[] = [];
  const seen = new Set<string>();
  let offset = 0;
  for (const item of list) {
    const name = item.name;
    const label = printable(String(name));
    if (typeof name !== 'string') throw new FormatError(file, 'tensor name must be a string', label);
    if (name === '__metadata__') throw new FormatError(file, "'__metadata__' is reserved and cannot name a tensor", label);
    if (seen.has(name)) throw new FormatError(file, 'two tensors have this name', label);
    seen.add(name);
    const dtypeName = (() => {
      try { return safetensorsDtypeName(item.dtype); } catch (e) { throw new FormatError(file, (e as Error).message, label); }
    })();
    let count = 1;
    for (const d of item.shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new FormatError(file, `shape [${item.shape.join(', ')}] must hold non-negative integers`, label);
      count *= d;
      if (!Number.isSafeInteger(count)) throw new FormatError(file, `shape [${item.shape.join(', ')}] has too many elements`, label);
    }
    const size = count * DTYPE_BYTES[item.dtype];
    if (item.byteLength !== undefined && item.byteLength !== size) {
      throw new FormatError(file, `byteLength ${item.byteLength} does not match ${item.dtype} [${item.shape.join(', ')}] (${size} bytes)`, label);
    }
    const entry: SafetensorsEntry = { name, dtype: item.dtype, shape: [...item.shape], begin: offset, end: offset + size };
    entries.push(entry);
    // defineProperty: a tensor named "__proto__" is a plain key, not a prototype.
    Object.defineProperty(header, name, {
      value: { dtype: dtypeName, shape: entry.shape, data_offsets: [entry.begin, entry.end] },
      enumerable: true, writable: true, configurable: true,
    });
    offset += size;
    if (!Number.isSafeInteger(offset)) throw new FormatError(file, 'tensors are too large in total', label);
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded > MAX_HEADER_BYTES) throw new FormatError(file, `header would be ${padded} bytes, over the ${MAX_HEADER_BYTES}-byte limit`);
  const bytes = new Uint8Array(8 + padded).fill(0x20, 8 + json.byteLength);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, padded % 2 ** 32, true);
  view.setUint32(4, Math.floor(padded / 2 ** 32), true);
  bytes.set(json, 8);
  return { header: bytes, entries, fileSize: bytes.byteLength + offset };
}
