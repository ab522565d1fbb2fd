// The binaryen module every bundle's model.wasm is built in: SIMD128, one imported linear memory
// (`env.memory`, laid out by the compiler: constants, scratch, then the activation arena).
import binaryen from 'binaryen';
import { hasRelaxedSimd as engineHasRelaxedSimd } from '../../../runtime/wasm/backend.ts';

export type Module = binaryen.Module;
export { binaryen };

/** Features model.wasm may use. Relaxed SIMD is never required (Node 20 lacks it without a flag). */
export const WASM_FEATURES = binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.BulkMemory | binaryen.Features.BulkMemoryOpt
  | binaryen.Features.SignExt | binaryen.Features.NontrappingFPToInt | binaryen.Features.MutableGlobals;

/** Alignment of every region and tensor in linear memory (one v128). */
export const ALIGN = 16;
export const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/** `relaxed`: the module may use relaxed SIMD too (model.relaxed.wasm). */
export function createKernelModule(relaxed = false): Module {
  const mod = new binaryen.Module();
  mod.setFeatures(WASM_FEATURES | (relaxed ? binaryen.Features.RelaxedSIMD : 0));
  mod.setMemory(1, 65536, 'memory');
  mod.addMemoryImport('0', 'env', 'memory');
  return mod;
}

export class WasmCodegenError extends Error {
  override name = 'WasmCodegenError';
}

/**
 * Validates, optimises and emits the module. Binaryen's own validator misses some mistakes (a reused
 * expression node), so the binary is also checked by the engine's WebAssembly.validate.
 */
export function finishModule(mod: Module): { binary: Uint8Array<ArrayBuffer>; text: string } {
  if (!mod.validate()) throw new WasmCodegenError('generated WASM module failed binaryen validation');
  binaryen.setOptimizeLevel(3);
  binaryen.setShrinkLevel(0);
  mod.optimize();
  const binary = new Uint8Array(mod.emitBinary());
  // A relaxed-SIMD module can only be checked by an engine that has relaxed SIMD (Node 20 needs a flag).
  const checkable = (mod.getFeatures() & binaryen.Features.RelaxedSIMD) === 0 || engineHasRelaxedSimd();
  if (checkable && !WebAssembly.validate(binary)) throw new WasmCodegenError('generated WASM module failed WebAssembly.validate');
  const text = mod.emitText();
  return { binary, text };
}
