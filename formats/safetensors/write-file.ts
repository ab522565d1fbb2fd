// Streaming safetensors writer: the header first (tensors in the given order), then each tensor's bytes as
// they are produced, so only one tensor needs to be in memory at a time. Same input → same bytes.
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FormatError } from '../errors.ts';
import type { SafetensorsEntry, SafetensorsWriteEntry } from './header.ts';
import { buildSafetensorsHeader } from './header.ts';

/**
 * A tensor's bytes: little-endian, exactly the entry's size (any typed array view is taken as its bytes), or
 * those bytes in pieces (each piece is written before the next is asked for, so a producer may reuse a buffer).
 */
export type TensorBytes = Uint8Array | ArrayBufferView | Iterable<Uint8Array>;

/**
 * Where the bytes come from, in the order of the entries: a callback called once per tensor, in order
 * (each call awaited before the next), or an (async) iterable yielding one buffer per tensor.
 */
export type TensorByteSource =
  | ((entry: SafetensorsEntry, index: number) => TensorBytes | Promise<TensorBytes>)
  | AsyncIterable<TensorBytes>
  | Iterable<TensorBytes>;

export interface WriteSafetensorsOptions {
  /** `__metadata__`, written first in the header, keys in the given order. */
  metadata?: Readonly<Record<string, string>>;
}

/**
 * Writes a safetensors file to `path`: the header, then the tensors' bytes in order, as `source` produces them.
 * Writes to a temporary file beside `path` and renames it at the end: a failure leaves no partial file.
 * Returns the entries (with their offsets). Bad entries or bytes of the wrong size throw FormatError.
 */
export async function writeSafetensors(
  path: string,
  list: readonly SafetensorsWriteEntry[],
  source: TensorByteSource,
  options: WriteSafetensorsOptions = {},
): Promise<SafetensorsEntry[]> {
  const layout = buildSafetensorsHeader(list, options.metadata, path);
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.partial`);
  let handle: FileHandle | undefined;
  try {
    handle = await open(temporary, 'wx');
    await writeAll(handle, layout.header);
    const next = producer(source, layout.entries, path);
    for (const [index, entry] of layout.entries.entries()) {
      const chunk = await next(index);
      if (chunk === undefined) throw new FormatError(path, `the source ended after ${index} of ${layout.entries.length} tensors`, entry.name);
      let written = 0;
      const pieces = ArrayBuffer.isView(chunk) ? [chunk]
        : typeof chunk === 'object' && chunk !== null && Symbol.iterator in chunk ? chunk : [chunk as unknown as ArrayBufferView];
      for (const piece of pieces) {
        const bytes = asBytes(piece, path, entry.name);
        written += bytes.byteLength;
        if (written > entry.end - entry.begin) break;
        await writeAll(handle, bytes);
      }
      if (written !== entry.end - entry.begin) {
        throw new FormatError(path, `got ${written} bytes, expected ${entry.end - entry.begin} for ${entry.dtype} [${entry.shape.join(', ')}]`, entry.name);
      }
    }
    await next.finish();
    await handle.close();
    handle = undefined;
    await rename(temporary, path);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await rm(temporary, { force: true }).catch(() => undefined);
    throw e;
  }
  return layout.entries;
}

interface Producer {
  (index: number): Promise<TensorBytes | undefined>;
  /** Checks an iterable has nothing left and releases it. */
  finish(): Promise<void>;
}

function producer(source: TensorByteSource, entries: readonly SafetensorsEntry[], file: string): Producer {
  if (typeof source === 'function') {
    const call = (async (index: number) => source(entries[index]!, index)) as Producer;
    call.finish = async () => undefined;
    return call;
  }
  const iterator: AsyncIterator<TensorBytes> | Iterator<TensorBytes> =
    Symbol.asyncIterator in source ? (source as AsyncIterable<TensorBytes>)[Symbol.asyncIterator]() : (source as Iterable<TensorBytes>)[Symbol.iterator]();
  const call = (async (_index: number) => {
    const r = await iterator.next();
    return r.done ? undefined : r.value;
  }) as Producer;
  call.finish = async () => {
    const r = await iterator.next();
    if (!r.done) {
      await iterator.return?.();
      throw new FormatError(file, `the source yields more buffers than the ${entries.length} tensors listed`);
    }
  };
  return call;
}

function asBytes(chunk: unknown, file: string, name: string): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new FormatError(file, 'the source produced something that is not bytes (expected a Uint8Array or typed array)', name);
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done);
    done += bytesWritten;
  }
}
