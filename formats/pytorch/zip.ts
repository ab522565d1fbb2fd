// The entries of a zip archive, read from its central directory (zip64 when needed), each with the absolute offset
// of its data (from the entry's local header, whose extra field may differ from the central one: torch pads it to
// align tensor data). Nothing is decompressed or read beyond the directory and the local headers, so a multi-GB
// `torch.save` file opens in a few small reads; its records are STORED, and their bytes can be read by range.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { FormatError } from '../errors.ts';

export const ZIP_STORED = 0;
export const ZIP_DEFLATED = 8;

export interface ZipEntry {
  /** The name as stored (UTF-8 or CP437-as-Latin-1), '/'-separated. */
  name: string;
  /** Compression method: 0 stored, 8 deflate, … */
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  crc32: number;
  /** Absolute position of the entry's local header. */
  localHeaderOffset: number;
  /** Absolute position of the entry's first data byte (after the local header, its name and extra field). */
  dataOffset: number;
}

export interface ZipDirectory {
  file: string;
  /** Bytes of the file. */
  size: number;
  /** Entries in central-directory order. */
  entries: ZipEntry[];
}

/** Central directories larger than this are refused (a torch file's is ~100 bytes per tensor). */
export const MAX_CENTRAL_DIRECTORY_BYTES = 256 << 20;
/** Entries of one archive, at most. */
export const MAX_ENTRIES = 1 << 20;

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_SIZE = 56;

const METHOD_NAMES: Record<number, string> = { 0: 'stored', 8: 'deflate', 9: 'deflate64', 12: 'bzip2', 14: 'lzma', 93: 'zstd', 95: 'xz' };
export function methodName(method: number): string {
  return METHOD_NAMES[method] ?? `method ${method}`;
}

/** A name safe to print on one line. */
export function printableName(name: string): string {
  // eslint-disable-next-line no-control-regex
  const escaped = name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > 160 ? `${escaped.slice(0, 157)}...` : escaped;
}

class Reader {
  constructor(readonly file: string, readonly fd: number, readonly size: number) {}

  /** Exactly `length` bytes at `position`, or a FormatError saying what was being read. */
  read(position: number, length: number, what: string): DataView {
    if (position < 0 || length < 0 || position + length > this.size) {
      throw new FormatError(this.file, `${what} needs bytes ${position}..${position + length}, but the file has ${this.size} bytes (truncated or not a zip archive)`);
    }
    const bytes = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = readSync(this.fd, bytes, done, Math.min(length - done, 1 << 30), position + done);
      } catch (e) {
        throw new FormatError(this.file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
      }
      if (n === 0) throw new FormatError(this.file, `file ends after ${position + done} bytes while reading ${what} (was it truncated?)`);
      done += n;
    }
    return new DataView(bytes.buffer);
  }
}

function u64(view: DataView, at: number, file: string, what: string): number {
  const low = view.getUint32(at, true);
  const high = view.getUint32(at + 4, true);
  if (high >= 2 ** 21) throw new FormatError(file, `${what} (${(BigInt(high) << 32n) | BigInt(low)}) is too large; corrupt zip archive`);
  return high * 2 ** 32 + low;
}

function decodeName(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return String.fromCharCode(...bytes); // CP437 names: close enough to print; torch writes ASCII
  }
}

function openFd(file: string): number {
  try {
    return openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FormatError(file, code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder, expected a zip archive' : `cannot be opened (${code ?? String(e)})`);
  }
}

/**
 * Lists the entries of the zip archive `file`: reads the end-of-central-directory record (and the zip64 one when
 * present), the central directory and each entry's local header. Truncated or corrupt archives, encrypted or
 * multi-disk ones, and entries whose data runs past the end of the file throw one FormatError line naming the file.
 */
export function readZipDirectory(file: string): ZipDirectory {
  const fd = openFd(file);
  try {
    let size: number;
    try {
      const st = fstatSync(fd);
      if (st.isDirectory()) throw new FormatError(file, 'is a folder, expected a zip archive');
      size = st.size;
    } catch (e) {
      if (e instanceof FormatError) throw e;
      throw new FormatError(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    return listEntries(new Reader(file, fd, size));
  } finally {
    closeSync(fd);
  }
}

function listEntries(r: Reader): ZipDirectory {
  const { file, size } = r;
  if (size < EOCD_SIZE) throw new FormatError(file, `file has ${size} bytes, too small for a zip archive (truncated?)`);

  // The end-of-central-directory record: the last 22 bytes, or up to 64 KiB earlier when there is a comment.
  const tailLength = Math.min(size, EOCD_SIZE + 0xffff);
  const tailStart = size - tailLength;
  const tail = r.read(tailStart, tailLength, 'the end of the archive');
  let eocd = -1;
  for (let i = tailLength - EOCD_SIZE; i >= 0; i--) {
    if (tail.getUint32(i, true) === EOCD_SIG && i + EOCD_SIZE + tail.getUint16(i + 20, true) <= tailLength) { eocd = i; break; }
  }
  if (eocd < 0) {
    throw new FormatError(file, 'no zip end-of-central-directory record found: the file is truncated or is not a zip archive');
  }
  const eocdAt = tailStart + eocd;
  const disk = tail.getUint16(eocd + 4, true);
  const cdDisk = tail.getUint16(eocd + 6, true);
  let count = tail.getUint16(eocd + 10, true);
  let cdSize = tail.getUint32(eocd + 12, true);
  let cdOffset = tail.getUint32(eocd + 16, true);
  const diskEntries = tail.getUint16(eocd + 8, true);

  // zip64: a locator just before the record points at the zip64 end-of-central-directory record.
  const locatorAt = eocdAt - ZIP64_LOCATOR_SIZE;
  const hasLocator = locatorAt >= 0 && (locatorAt >= tailStart ? tail.getUint32(locatorAt - tailStart, true) : r.read(locatorAt, 4, 'the zip64 locator').getUint32(0, true)) === ZIP64_LOCATOR_SIG;
  const needs64 = count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff;
  if (hasLocator) {
    const locator = r.read(locatorAt, ZIP64_LOCATOR_SIZE, 'the zip64 end-of-central-directory locator');
    if (locator.getUint32(16, true) > 1) throw new FormatError(file, 'is a multi-disk (split) zip archive; not supported');
    const at = u64(locator, 8, file, 'the zip64 end-of-central-directory offset');
    const rec = r.read(at, ZIP64_EOCD_SIZE, 'the zip64 end-of-central-directory record');
    if (rec.getUint32(0, true) !== ZIP64_EOCD_SIG) throw new FormatError(file, `no zip64 end-of-central-directory record at byte ${at}: corrupt zip archive`);
    if (rec.getUint32(16, true) !== 0 || rec.getUint32(20, true) !== 0) throw new FormatError(file, 'is a multi-disk (split) zip archive; not supported');
    count = u64(rec, 32, file, 'the zip64 entry count');
    cdSize = u64(rec, 40, file, 'the zip64 central directory size');
    cdOffset = u64(rec, 48, file, 'the zip64 central directory offset');
  } else if (needs64) {
    throw new FormatError(file, 'the zip end-of-central-directory record needs zip64, but there is no zip64 locator: corrupt or truncated zip archive');
  } else if (disk !== 0 || cdDisk !== 0 || diskEntries !== count) {
    throw new FormatError(file, 'is a multi-disk (split) zip archive; not supported');
  }

  if (count > MAX_ENTRIES) throw new FormatError(file, `zip archive claims ${count} entries; at most ${MAX_ENTRIES} are supported`);
  if (cdSize > MAX_CENTRAL_DIRECTORY_BYTES) throw new FormatError(file, `zip central directory of ${cdSize} bytes exceeds the ${MAX_CENTRAL_DIRECTORY_BYTES}-byte limit`);
  if (cdOffset + cdSize > eocdAt) {
    throw new FormatError(file, `zip central directory (bytes ${cdOffset}..${cdOffset + cdSize}) runs past its end record at byte ${eocdAt}: the file is truncated or corrupt`);
  }
  const cd = r.read(cdOffset, cdSize, 'the zip central directory');

  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdSize || cd.getUint32(p, true) !== CENTRAL_SIG) {
      throw new FormatError(file, `zip central directory entry ${i} of ${count} is missing or corrupt (at byte ${cdOffset + p})`);
    }
    const flags = cd.getUint16(p + 8, true);
    const method = cd.getUint16(p + 10, true);
    const crc32 = cd.getUint32(p + 16, true);
    let compressedSize = cd.getUint32(p + 20, true);
    let uncompressedSize = cd.getUint32(p + 24, true);
    const nameLength = cd.getUint16(p + 28, true);
    const extraLength = cd.getUint16(p + 30, true);
    const commentLength = cd.getUint16(p + 32, true);
    const entryDisk = cd.getUint16(p + 34, true);
    let localHeaderOffset = cd.getUint32(p + 42, true);
    const end = p + 46 + nameLength + extraLength + commentLength;
    if (end > cdSize) throw new FormatError(file, `zip central directory entry ${i} runs past the directory: corrupt zip archive`);
    const name = decodeName(new Uint8Array(cd.buffer, p + 46, nameLength));
    if (flags & 1) throw new FormatError(file, `zip entry '${printableName(name)}' is encrypted; not supported`);

    // The zip64 extended information extra field holds the fields saturated at 0xffffffff, in this order.
    let x = p + 46 + nameLength;
    const extraEnd = x + extraLength;
    while (x + 4 <= extraEnd) {
      const id = cd.getUint16(x, true);
      const len = cd.getUint16(x + 2, true);
      const body = x + 4;
      if (body + len > extraEnd) throw new FormatError(file, `zip entry '${printableName(name)}' has a corrupt extra field`);
      if (id === 0x0001) {
        let q = body;
        const take = (what: string): number => {
          if (q + 8 > body + len) throw new FormatError(file, `zip entry '${printableName(name)}' has a zip64 extra field too short for its ${what}`);
          const v = u64(cd, q, file, `zip entry '${printableName(name)}' ${what}`);
          q += 8;
          return v;
        };
        if (uncompressedSize === 0xffffffff) uncompressedSize = take('size');
        if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take('offset');
      }
      x = body + len;
    }
    if (entryDisk !== 0 && entryDisk !== 0xffff) throw new FormatError(file, 'is a multi-disk (split) zip archive; not supported');

    // The local header: its extra field is the one that counts for where the data starts.
    const local = r.read(localHeaderOffset, 30, `the local header of zip entry '${printableName(name)}'`);
    if (local.getUint32(0, true) !== LOCAL_SIG) {
      throw new FormatError(file, `zip entry '${printableName(name)}': no local header at byte ${localHeaderOffset}: corrupt zip archive`);
    }
    const dataOffset = localHeaderOffset + 30 + local.getUint16(26, true) + local.getUint16(28, true);
    if (dataOffset + compressedSize > size) {
      throw new FormatError(file, `zip entry '${printableName(name)}' needs bytes ${dataOffset}..${dataOffset + compressedSize}, but the file has ${size} bytes (truncated?)`);
    }
    entries.push({ name, method, compressedSize, uncompressedSize, crc32, localHeaderOffset, dataOffset });
    p = end;
  }
  return { file, size, entries };
}

/** Largest record `readZipEntry` reads into memory. */
export const MAX_READ_BYTES = 1 << 30;

/**
 * The whole (uncompressed) content of a small entry: stored entries are read by range, deflated ones inflated
 * (bounded by the declared size). Anything else throws a FormatError.
 */
export function readZipEntry(file: string, entry: ZipEntry, limit = MAX_READ_BYTES): Uint8Array {
  const label = `zip entry '${printableName(entry.name)}'`;
  if (entry.uncompressedSize > limit) throw new FormatError(file, `${label} has ${entry.uncompressedSize} bytes, more than the ${limit}-byte limit`);
  if (entry.method !== ZIP_STORED && entry.method !== ZIP_DEFLATED) {
    throw new FormatError(file, `${label} is compressed with ${methodName(entry.method)}; only stored and deflate entries can be read`);
  }
  const fd = openFd(file);
  let raw: DataView;
  try {
    raw = new Reader(file, fd, fstatSync(fd).size).read(entry.dataOffset, entry.compressedSize, label);
  } finally {
    closeSync(fd);
  }
  const bytes = new Uint8Array(raw.buffer);
  if (entry.method === ZIP_STORED) {
    if (entry.compressedSize !== entry.uncompressedSize) throw new FormatError(file, `${label} is stored but its sizes differ (${entry.compressedSize} vs ${entry.uncompressedSize}): corrupt zip archive`);
    return bytes;
  }
  let out: Buffer;
  try {
    out = inflateRawSync(bytes, { maxOutputLength: Math.max(1, entry.uncompressedSize) });
  } catch (e) {
    throw new FormatError(file, `${label} cannot be inflated (${(e as Error).message.split('\n')[0]}): corrupt zip archive`);
  }
  if (out.byteLength !== entry.uncompressedSize) throw new FormatError(file, `${label} inflates to ${out.byteLength} bytes, not the declared ${entry.uncompressedSize}: corrupt zip archive`);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Checks that `entry` is STORED (its bytes can be read by range at `dataOffset`) and returns its byte range.
 * `tensor` names the tensor in the message.
 */
export function storedRange(file: string, entry: ZipEntry, tensor?: string): { position: number; length: number } {
  if (entry.method !== ZIP_STORED) {
    throw new FormatError(file, `record '${printableName(entry.name)}' is compressed (${methodName(entry.method)}); tensor data must be stored uncompressed, as torch.save writes it (re-save the checkpoint with torch.save, or convert it to safetensors)`, tensor);
  }
  if (entry.compressedSize !== entry.uncompressedSize) {
    throw new FormatError(file, `record '${printableName(entry.name)}' is stored but its sizes differ (${entry.compressedSize} vs ${entry.uncompressedSize}): corrupt zip archive`, tensor);
  }
  return { position: entry.dataOffset, length: entry.compressedSize };
}
