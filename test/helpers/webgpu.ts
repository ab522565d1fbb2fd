// WebGPU in tests: Dawn (npm `webgpu`) on SwiftShader, Debian chromium's software Vulkan driver (.ci/run
// installs it; ../shared/docs/WEBGPU.md). The provider is created once per process and kept referenced.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ExecutionContext } from 'ava';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { compile } from '../../compiler/compile.ts';
import type { Tensor } from '../../formats/tensor.ts';
import type { GpuProvider } from '../../runtime/webgpu/device.ts';
import { tempDir } from './cli.ts';
import { relativeL2 } from './compare.ts';
import type { ModelParts } from './onnx-builder.ts';
import { encodeModel } from './onnx-builder.ts';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

let provider: GpuProvider | undefined;

/** The test GPU (SwiftShader). Fails, rather than skips, when the driver is missing: CI installs it. */
export async function testGpu(): Promise<GpuProvider> {
  if (provider) return provider;
  process.env['VK_ICD_FILENAMES'] ??= SWIFTSHADER_ICD;
  process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
  if (!existsSync(process.env['VK_ICD_FILENAMES'])) {
    throw new Error(`no Vulkan driver at ${process.env['VK_ICD_FILENAMES']}: install Debian's chromium and libvulkan1 (.ci/run does)`);
  }
  const dawn = (await import('webgpu')) as unknown as { create(flags: string[]): GpuProvider; globals: object };
  Object.assign(globalThis, dawn.globals);
  provider = dawn.create([]);
  (globalThis as { __onebitcTestGpu?: GpuProvider }).__onebitcTestGpu = provider;
  return provider;
}

export interface LoadedBundle {
  run(feeds: Record<string, { data: unknown; dims: readonly number[] }>): Promise<Record<string, Tensor>>;
  readonly backend: string;
  readonly gpuCalls: ReadonlyMap<string, number>;
  readonly wasmCalls: ReadonlyMap<string, number>;
  dispose(): void;
}

/** Loads a compiled bundle's model.js with the given backend (WebGPU on the test GPU). */
export async function loadBundle(dir: string, backend: 'webgpu' | 'wasm' | 'js'): Promise<LoadedBundle> {
  const { load } = await import(pathToFileURL(join(dir, 'model.js')).href);
  return load({ backend, ...(backend === 'webgpu' ? { gpu: await testGpu(), onNote: () => {} } : {}) });
}

/** Compiles a small ONNX model (no quantization) into a bundle with WGSL shaders and the reference kernels. */
export async function compileOnnx(parts: ModelParts, name = 'model'): Promise<string> {
  const dir = tempDir('onebitc-webgpu-');
  const path = join(dir, `${name}.onnx`);
  writeFileSync(path, encodeModel(parts));
  const out = join(dir, 'bundle');
  await compile(path, { output: out, quantize: false, targets: ['webgpu'], log: () => {} });
  return out;
}

/**
 * Runs one ONNX node on WebGPU and on the reference kernels (the oracle) and returns both outputs and the
 * dispatch counts. `inputs` are the runtime inputs (name → tensor); `initializers` become constants.
 */
export async function runNodeBothWays(node: OnnxTypes.INodeProto, parts: Omit<ModelParts, 'nodes'>, feeds: Record<string, Tensor>): Promise<{ gpu: Record<string, Tensor>; reference: Record<string, Tensor>; gpuCalls: ReadonlyMap<string, number> }> {
  const dir = await compileOnnx({ ...parts, nodes: [node] });
  const onGpu = await loadBundle(dir, 'webgpu');
  const reference = await loadBundle(dir, 'js');
  try {
    const gpu = await onGpu.run(feeds);
    return { gpu, reference: await reference.run(feeds), gpuCalls: new Map(onGpu.gpuCalls) };
  } finally {
    onGpu.dispose();
  }
}

/**
 * Runs every feed set on the bundle's WebGPU and reference backends: output `y` with equal dims, relative L2
 * ≤ 1e-5, one `kind` dispatch per run, and (with `hostFree`) no node on the host.
 */
export async function matchesReference(t: ExecutionContext, dir: string, kind: string, runs: readonly Record<string, Tensor>[], { hostFree = false } = {}): Promise<void> {
  const gpu = await loadBundle(dir, 'webgpu');
  const reference = await loadBundle(dir, 'js');
  try {
    for (const feeds of runs) {
      const what = Object.entries(feeds).map(([k, v]) => `${k} [${v.dims}]`).join(', ');
      const got = (await gpu.run(feeds))['y']!;
      t.is(gpu.gpuCalls.get(kind), 1, `${what}: ran as '${kind}' (${[...gpu.gpuCalls].join('; ')})`);
      if (hostFree) t.is(gpu.gpuCalls.get('host'), undefined, `${what}: nothing on the host`);
      const expected = (await reference.run(feeds))['y']!;
      t.deepEqual(got.dims, expected.dims, what);
      const error = relativeL2(got.data as Float32Array, expected.data as Float32Array);
      t.true(error <= 1e-5, `${what}: relative L2 ${error}`);
    }
  } finally {
    gpu.dispose();
    reference.dispose();
  }
}
