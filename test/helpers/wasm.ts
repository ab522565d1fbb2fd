// Instantiates a kernel module built by a generator, with helpers to place arrays in its memory.
import { createKernelModule, finishModule } from '../../compiler/codegen/wasm/module.ts';
import type { Module } from '../../compiler/codegen/wasm/module.ts';

export interface KernelInstance {
  exports: Record<string, (...args: number[]) => void>;
  memory: WebAssembly.Memory;
  /** Bump-allocates `bytes` (16-aligned) starting at 1024. */
  alloc(bytes: number): number;
  writeF32(ptr: number, values: ArrayLike<number>): void;
  writeBytes(ptr: number, bytes: Uint8Array): void;
  readF32(ptr: number, length: number): Float32Array;
  text: string;
}

/** `build` adds functions to a fresh module; `bytes` of memory are made available to it. */
export async function instantiateKernels(build: (mod: Module) => void, bytes: number): Promise<KernelInstance> {
  const mod = createKernelModule();
  build(mod);
  const { binary, text } = finishModule(mod);
  mod.dispose();
  const memory = new WebAssembly.Memory({ initial: Math.ceil((bytes + 65536) / 65536), maximum: 65536 });
  const { instance } = await WebAssembly.instantiate(await WebAssembly.compile(binary), { env: { memory } }).then((instance) => ({ instance }));
  let next = 1024;
  return {
    exports: instance.exports as unknown as KernelInstance['exports'],
    memory,
    alloc(n) { const p = next; next += Math.ceil(n / 16) * 16; if (next > memory.buffer.byteLength) throw new Error('test memory too small'); return p; },
    writeF32(ptr, values) { new Float32Array(memory.buffer, ptr, values.length).set(values); },
    writeBytes(ptr, b) { new Uint8Array(memory.buffer, ptr, b.length).set(b); },
    readF32(ptr, length) { return new Float32Array(memory.buffer, ptr, length).slice(); },
    text,
  };
}
