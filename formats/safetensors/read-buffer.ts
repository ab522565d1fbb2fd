// safetensors over bytes already in memory (the runtime gets them via fetch or fs). Pure: no node imports.
import { FormatError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import type { SafetensorsEntry, SafetensorsHeader } from './header.ts';
import { parseSafetensorsHeader, tensorFromEntry } from './header.ts';

/** A validated safetensors file in memory. Tensors are views of the bytes when aligned (no copy), copies otherwise. */
export class SafetensorsBuffer implements Iterable<[string, Tensor]> {
  readonly header: SafetensorsHeader;
  private readonly byName: Map<string, SafetensorsEntry>;

  /** Validates the header of `bytes`; `file` names it in messages. */
  constructor(readonly bytes: Uint8Array, readonly file: string) {
    this.header = parseSafetensorsHeader(bytes, bytes.byteLength, file);
    this.byName = new Map(this.header.entries.map((e) => [e.name, e]));
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

  /** The raw little-endian bytes of a tensor (a view, no copy). */
  tensorBytes(name: string): Uint8Array {
    const e = this.entry(name);
    const start = this.header.dataOffset + e.begin;
    return this.bytes.subarray(start, start + (e.end - e.begin));
  }

  /** A tensor by name. */
  readTensor(name: string): Tensor {
    return tensorFromEntry(this.entry(name), this.tensorBytes(name), this.file);
  }

  /** [name, tensor] in data order. */
  *[Symbol.iterator](): Iterator<[string, Tensor]> {
    for (const e of this.header.entries) yield [e.name, this.readTensor(e.name)];
  }
}

function asBytes(bytes: ArrayBuffer | Uint8Array): Uint8Array {
  return bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
}

/** Validates a safetensors file held in memory. */
export function readSafetensorsBuffer(bytes: ArrayBuffer | Uint8Array, file = '<buffer>'): SafetensorsBuffer {
  return new SafetensorsBuffer(asBytes(bytes), file);
}

/** Every tensor of a safetensors file held in memory, by name in data order (views of the bytes when aligned). */
export function parseSafetensors(bytes: ArrayBuffer | Uint8Array, file = '<buffer>'): Map<string, Tensor> {
  return new Map(readSafetensorsBuffer(bytes, file));
}
