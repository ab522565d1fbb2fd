// safetensors over bytes already in memory (the runtime gets them via fetch or fs). Pure: no node imports.
import type { Tensor } from '../tensor.ts';
import { parseSafetensorsHeader, SafetensorsIndex, tensorFromEntry } from './header.ts';

/** A validated safetensors file in memory. Tensors are views of the bytes when aligned (no copy), copies otherwise. */
export class SafetensorsBuffer extends SafetensorsIndex implements Iterable<[string, Tensor]> {
  /** Validates the header of `bytes`; `file` names it in messages. */
  constructor(readonly bytes: Uint8Array, file: string) {
    super(file, parseSafetensorsHeader(bytes, bytes.byteLength, file));
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
