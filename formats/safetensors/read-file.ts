// safetensors from a file on disk: reads and validates only the header, then each tensor by its byte range.
// The file is never loaded whole.
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { FormatError, unreadableFile } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import type { SafetensorsEntry, SafetensorsHeader } from './header.ts';
import { parseHeaderJson, readHeaderLength, SafetensorsIndex, tensorFromEntry } from './header.ts';

/** An open safetensors file. Close it with `close()` (or `await using`). */
export class SafetensorsFile extends SafetensorsIndex implements AsyncIterable<[SafetensorsEntry, Tensor]> {
  private handle: FileHandle | undefined;

  private constructor(file: string, handle: FileHandle, header: SafetensorsHeader, readonly fileSize: number) {
    super(file, header);
    this.handle = handle;
  }

  /** Opens `path` and validates its header (nothing else is read). */
  static async open(path: string): Promise<SafetensorsFile> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (e) {
      throw unreadableFile(path, e, 'be opened');
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new FormatError(path, 'is not a regular file');
      const size = st.size;
      const length = readHeaderLength(await readAt(handle, 0, Math.min(8, size), path), size, path);
      const json = await readAt(handle, 8, length, path);
      const header = parseHeaderJson(json, length, size - 8 - length, path);
      return new SafetensorsFile(path, handle, header, size);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** The raw little-endian bytes of one tensor, read from its range only. */
  async readBytes(name: string): Promise<Uint8Array> {
    const e = this.entry(name);
    if (!this.handle) throw new FormatError(this.file, 'read after close()', name);
    return readAt(this.handle, this.header.dataOffset + e.begin, e.end - e.begin, this.file, name);
  }

  /** One tensor, read from its range only; the tensor owns its data. */
  async readTensor(name: string): Promise<Tensor> {
    return tensorFromEntry(this.entry(name), await this.readBytes(name), this.file);
  }

  /** [entry, tensor] in data order, one tensor in memory at a time (unless the caller keeps them). */
  async *[Symbol.asyncIterator](): AsyncIterator<[SafetensorsEntry, Tensor]> {
    for (const e of this.header.entries) yield [e, await this.readTensor(e.name)];
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Opens a safetensors file and validates its header. */
export function openSafetensors(path: string): Promise<SafetensorsFile> {
  return SafetensorsFile.open(path);
}

/** Reads exactly `length` bytes at `position`; a short read (the file shrank) is a FormatError. */
async function readAt(handle: FileHandle, position: number, length: number, file: string, tensor?: string): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      ({ bytesRead: n } = await handle.read(out, done, length - done, position + done));
    } catch (e) {
      throw new FormatError(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`, tensor);
    }
    if (n === 0) throw new FormatError(file, `file ends after ${position + done} bytes; expected at least ${position + length}`, tensor);
    done += n;
  }
  return out;
}
