// A tensor whose data stays on disk: dtype and dims come from a validated safetensors header entry, and `data`
// reads the tensor's byte range from the file each time it is accessed (no cache: once the caller drops the
// array, its memory can be freed). Nothing is converted: F16/BF16 stay 16-bit words, F32 stays float32.
import { closeSync, openSync, readSync } from 'node:fs';
import type { TensorDataByType } from '../dtype.ts';
import { FormatError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import type { SafetensorsDType, SafetensorsEntry } from './header.ts';
import { tensorFromEntry } from './header.ts';

/** Bytes per readSync call (well under the per-call limit of the platform). */
const CHUNK = 1 << 30;

export class FileTensor<T extends SafetensorsDType = SafetensorsDType> implements Tensor<T> {
  readonly dtype: T;
  readonly dims: readonly number[];
  /** Bytes of the tensor's data. */
  readonly byteLength: number;
  /** Absolute position of the tensor's first byte in the file. */
  readonly position: number;
  private readonly entry: SafetensorsEntry;

  /**
   * `entry` is a validated header entry of `file` (see header.ts); `dataOffset` is where the file's data section
   * starts (the header's `dataOffset`).
   */
  constructor(readonly file: string, entry: SafetensorsEntry, dataOffset: number) {
    this.entry = { ...entry, shape: [...entry.shape] };
    this.dtype = entry.dtype as T;
    this.dims = Object.freeze([...entry.shape]);
    this.byteLength = entry.end - entry.begin;
    this.position = dataOffset + entry.begin;
  }

  get name(): string {
    return this.entry.name;
  }

  /** The tensor's values, read from the file now (a fresh array on every access). */
  get data(): TensorDataByType[T] {
    return tensorFromEntry(this.entry, this.bytes(), this.file).data as TensorDataByType[T];
  }

  /** The tensor's raw little-endian bytes, read from the file now (a fresh array on every call). */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.byteLength);
    if (this.byteLength > 0) this.withFile((read) => read(out, 0, this.byteLength));
    return out;
  }

  /**
   * The raw bytes in pieces of at most `size` bytes, for streaming copies. The same buffer is refilled for each
   * piece: use (write) a piece before asking for the next.
   */
  *chunks(size = 16 << 20): Generator<Uint8Array> {
    if (this.byteLength === 0) return;
    const buffer = new Uint8Array(Math.min(size, this.byteLength));
    const fd = this.open();
    try {
      for (let done = 0; done < this.byteLength; done += buffer.byteLength) {
        const n = Math.min(buffer.byteLength, this.byteLength - done);
        this.readAt(fd, buffer, done, n);
        yield buffer.subarray(0, n);
      }
    } finally {
      closeSync(fd);
    }
  }

  private withFile(use: (read: (into: Uint8Array, at: number, length: number) => void) => void): void {
    const fd = this.open();
    try {
      use((into, at, length) => this.readAt(fd, into, at, length, at));
    } finally {
      closeSync(fd);
    }
  }

  private open(): number {
    try {
      return openSync(this.file, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new FormatError(this.file, code === 'ENOENT' ? 'file not found (it was removed after it was opened)' : `cannot be opened (${code ?? String(e)})`, this.name);
    }
  }

  /** Reads `length` bytes of the tensor from offset `at` into `into` (at `intoOffset`). */
  private readAt(fd: number, into: Uint8Array, at: number, length: number, intoOffset = 0): void {
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = readSync(fd, into, intoOffset + done, Math.min(CHUNK, length - done), this.position + at + done);
      } catch (e) {
        throw new FormatError(this.file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`, this.name);
      }
      if (n === 0) {
        throw new FormatError(this.file, `file ends after ${this.position + at + done} bytes; the tensor needs bytes ${this.position}..${this.position + this.byteLength} (was the file truncated after it was opened?)`, this.name);
      }
      done += n;
    }
  }

  /** For printing and JSON: the description, never the data. */
  toJSON(): { name: string; file: string; dtype: T; dims: number[]; byteLength: number } {
    return { name: this.name, file: this.file, dtype: this.dtype, dims: [...this.dims], byteLength: this.byteLength };
  }
}

/** One FileTensor per entry of a validated header, in data order. */
export function fileTensors(file: string, entries: readonly SafetensorsEntry[], dataOffset: number): FileTensor[] {
  return entries.map((e) => new FileTensor(file, e, dataOffset));
}
