// model.wasm imports its memory unshared (flags 0x01: minimum and maximum). Threads need the same module over
// a shared WebAssembly.Memory, which the engine only accepts for an import declared shared (flags 0x03). The
// kernels use no atomics (threads synchronise in JS, runtime/wasm/thread-pool.ts), so the shared variant is
// the same binary with that one byte changed: it is derived here at load time rather than shipped as two more
// files (model.wasm and model.relaxed.wasm would each need a twin), and the flag byte keeps its length, so no
// section size changes.

const IMPORT_SECTION = 2;
const KIND_FUNC = 0, KIND_TABLE = 1, KIND_MEMORY = 2, KIND_GLOBAL = 3, KIND_TAG = 4;
const LIMITS_MIN_MAX = 0x01, LIMITS_SHARED_MIN_MAX = 0x03;

/** A copy of `binary` whose imported memory is declared shared. Throws when it has none, or one without a maximum. */
export function withSharedMemoryImport(binary: Uint8Array): Uint8Array {
  const out = binary.slice();
  let p = 8;
  const fail = (why: string): never => { throw new Error(`cannot declare the WASM module's memory shared: ${why}`); };
  const u32 = (): number => {
    let result = 0, shift = 0, byte: number;
    do {
      if (p >= out.length) fail('truncated module');
      byte = out[p++]!;
      result += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return result;
  };
  const skipName = (): void => {
    const length = u32(); // read first: `p += u32()` would add to p's value from before the read
    p += length;
  };
  const skipLimits = (): void => {
    const flags = out[p++]!;
    u32();
    if (flags & 1) u32();
  };
  if (out.length < 8 || out[0] !== 0 || out[1] !== 0x61 || out[2] !== 0x73 || out[3] !== 0x6d) fail('not a WebAssembly binary');
  while (p < out.length) {
    const id = out[p++]!;
    const size = u32();
    const end = p + size;
    if (id !== IMPORT_SECTION) { p = end; continue; }
    const count = u32();
    for (let i = 0; i < count; i++) {
      skipName(); // module
      skipName(); // field
      const kind = out[p++]!;
      if (kind === KIND_MEMORY) {
        const flags = out[p]!;
        if (flags === LIMITS_SHARED_MIN_MAX) return out;
        if (flags !== LIMITS_MIN_MAX) fail(`its memory limits have flags ${flags}; a shared memory needs a maximum (flags 1)`);
        out[p] = LIMITS_SHARED_MIN_MAX;
        return out;
      }
      if (kind === KIND_FUNC) u32();
      else if (kind === KIND_TABLE) { p++; skipLimits(); }
      else if (kind === KIND_GLOBAL) p += 2;
      else if (kind === KIND_TAG) { p++; u32(); }
      else fail(`unknown import kind ${kind}`);
    }
    p = end;
  }
  return fail('it imports no memory');
}
