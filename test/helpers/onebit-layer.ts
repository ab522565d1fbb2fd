// One OneBit layer's exact and LUT WASM kernels instantiated together, the reference kernel's output, and the
// relative L2 error the LUT kernel's tests bound.
import type { Module } from '../../compiler/codegen/wasm/module.ts';
import { createKernelModule, finishModule } from '../../compiler/codegen/wasm/module.ts';
import { addOneBitLinear, onebitScratchBytes } from '../../compiler/codegen/wasm/onebit-linear.ts';
import type { OneBitLutSpec } from '../../compiler/codegen/wasm/onebit-lut.ts';
import { addOneBitLut, lutScratchBytes } from '../../compiler/codegen/wasm/onebit-lut.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { lutLayoutBytes, onebitLayoutBytes, relayoutSigns, relayoutSignsLut } from '../../runtime/wasm/onebit-layout.ts';
import { runKernel } from './kernels.ts';

export interface LayerData {
  in: number; out: number; alpha: number; postNormEps?: number;
  canonical: Uint8Array; g: Float32Array; h: Float32Array; bias?: Float32Array;
}

/** The reference kernel's output (float64 sums). */
export function reference(l: LayerData, x: Float32Array, rows: number): Float32Array {
  const f32 = (dims: number[], data: Float32Array): Tensor => ({ dtype: 'float32', dims, data }) as Tensor;
  const inputs: Tensor[] = [
    f32([rows, l.in], x), { dtype: 'uint8', dims: [l.out, Math.ceil(l.in / 8)], data: l.canonical } as Tensor, f32([l.in], l.g), f32([l.out], l.h),
  ];
  if (l.bias) inputs.push(f32([l.out], l.bias));
  return runKernel('OneBitLinear', inputs, { in: l.in, out: l.out, alpha: l.alpha, ...(l.postNormEps !== undefined ? { post_norm_eps: l.postNormEps } : {}) })[0]!.data as Float32Array;
}

export function relativeL2(got: Float32Array, want: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) { num += (got[i]! - want[i]!) ** 2; den += want[i]! ** 2; }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** Largest error of one LUT output before ⊙ h·alpha: (groups) · (largest Σ|x'| of a group) / (4·H·L), plus fp32 slack. */
export function lutErrorBound(l: LayerData, x: Float32Array, row: number, hiMax: number, loMax: number): number {
  let m = 0, absSum = 0;
  for (let q = 0; q < l.in; q += 4) {
    let s = 0;
    for (let i = q; i < Math.min(l.in, q + 4); i++) s += Math.abs(x[row * l.in + i]! * l.g[i]!);
    m = Math.max(m, s);
    absSum += s;
  }
  return Math.ceil(l.in / 4) * m / (4 * hiMax * loMax) + 1e-5 * absSum;
}

/**
 * 'exact': the exact kernel; 'lut': the LUT kernel's entry (one row: LUT GEMV; several: the exact GEMM on the
 * LUT layout); 'lut-gemv': the LUT GEMV on every row.
 */
export type LayerKernelKind = 'exact' | 'lut' | 'lut-gemv';

export interface LayerKernels {
  run(layer: number, kind: LayerKernelKind, x: Float32Array, rows: number): Float32Array;
  text: string;
}

/**
 * Both kernels (exact and LUT, plain or relaxed SIMD) of each layer in one module, sharing one scratch
 * region, with x and y regions for up to `maxRows` rows. The relaxed variant needs an engine with relaxed SIMD.
 */
export async function layerKernels(layers: readonly LayerData[], maxRows: number, relaxed = false): Promise<LayerKernels> {
  let top = 1024;
  const alloc = (bytes: number): number => { const p = top; top += Math.ceil(bytes / 16) * 16 + 16; return p; };
  const scratch = alloc(Math.max(...layers.map((l) => Math.max(onebitScratchBytes(l.in, l.out), lutScratchBytes(l.in, l.out)))));
  const xp = alloc(maxRows * Math.max(...layers.map((l) => l.in)) * 4), yp = alloc(maxRows * Math.max(...layers.map((l) => l.out)) * 4 + 64);
  const mod: Module = createKernelModule(relaxed);
  const placed = layers.map((l, k) => {
    const signE = alloc(onebitLayoutBytes(l.out, l.in)), signL = alloc(lutLayoutBytes(l.out, l.in));
    const g = alloc(l.in * 4), h = alloc(l.out * 4), bias = l.bias ? alloc(l.out * 4) : undefined;
    const base = { in: l.in, out: l.out, g, h, alpha: l.alpha, scratch, ...(bias !== undefined ? { bias } : {}), ...(l.postNormEps !== undefined ? { postNormEps: l.postNormEps } : {}) };
    addOneBitLinear(mod, `exact${k}`, { ...base, sign: signE });
    addOneBitLut(mod, `lut${k}`, { ...base, sign: signL, relaxed } satisfies OneBitLutSpec);
    return { signE, signL, g, h, bias };
  });
  const { binary, text } = finishModule(mod);
  mod.dispose();
  const memory = new WebAssembly.Memory({ initial: Math.ceil(top / 65536) + 1, maximum: 65536 });
  const instance = await WebAssembly.instantiate(new WebAssembly.Module(binary), { env: { memory } });
  const exports = instance.exports as Record<string, (...a: number[]) => void>;
  layers.forEach((l, k) => {
    const p = placed[k]!;
    new Uint8Array(memory.buffer, p.signE, onebitLayoutBytes(l.out, l.in)).set(relayoutSigns(l.canonical, l.out, l.in));
    new Uint8Array(memory.buffer, p.signL, lutLayoutBytes(l.out, l.in)).set(relayoutSignsLut(l.canonical, l.out, l.in));
    new Float32Array(memory.buffer, p.g, l.in).set(l.g);
    new Float32Array(memory.buffer, p.h, l.out).set(l.h);
    if (l.bias) new Float32Array(memory.buffer, p.bias!, l.out).set(l.bias);
  });
  return {
    text,
    run(k, kind, x, rows) {
      const l = layers[k]!;
      new Float32Array(memory.buffer, xp, rows * l.in).set(x.subarray(0, rows * l.in));
      const canary = new Float32Array(memory.buffer, yp, rows * l.out + 16).fill(12345);
      exports[kind === 'lut-gemv' ? `lut${k}$lut` : `${kind}${k}`]!(xp, yp, rows);
      if (!canary.subarray(rows * l.out).every((v) => v === 12345)) throw new Error(`${kind}${k}: wrote past y`);
      return canary.slice(0, rows * l.out);
    },
  };
}
