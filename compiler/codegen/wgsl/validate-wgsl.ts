// Every generated shader is validated at compile time with naga (WGSL front end and validator of wgpu,
// compiled to WebAssembly: no GPU needed), so a bad shader fails `onebitc`, not the user's page.
import { parseWgsl, validate } from 'naga-wasm';

/** The validator's message for `source`, or undefined when it is valid WGSL. */
export function wgslError(source: string): string | undefined {
  let module: ReturnType<typeof parseWgsl> | undefined;
  let info: ReturnType<typeof validate> | undefined;
  try {
    module = parseWgsl(source);
    info = validate(module);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  } finally {
    info?.free();
    module?.free();
  }
}
