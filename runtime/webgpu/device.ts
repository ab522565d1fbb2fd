// Finding a WebGPU device: the GPU object passed to load(), else navigator.gpu (browsers, Deno), else in
// Node the optional `webgpu` package (Dawn). The GPU object is kept referenced for the life of the process:
// Dawn's Node bindings hang or crash when it is garbage-collected while a device is in use.
export interface GpuProvider {
  requestAdapter(options?: GPURequestAdapterOptions): Promise<GPUAdapter | null>;
}

const held = new Set<GpuProvider>();

/** The GPU provider to use, or undefined when this environment has none. */
export async function findGpu(gpu?: GpuProvider): Promise<GpuProvider | undefined> {
  if (gpu) return gpu;
  const fromNavigator = (globalThis as { navigator?: { gpu?: GpuProvider } }).navigator?.gpu;
  if (fromNavigator) return fromNavigator;
  if (typeof process === 'undefined' || !process.versions?.node) return undefined;
  try {
    const name = 'webgpu'; // a variable: bundlers must not try to resolve this Node-only optional package
    const dawn = (await import(/* @vite-ignore */ name)) as { create(flags: string[]): GpuProvider; globals: object };
    Object.assign(globalThis, dawn.globals);
    const provider = dawn.create([]);
    held.add(provider);
    return provider;
  } catch {
    return undefined;
  }
}

/** Optional features the shaders can use when the adapter has them. */
export const OPTIONAL_FEATURES = ['shader-f16', 'subgroups'] as const;

export interface GpuDevice {
  readonly device: GPUDevice;
  readonly features: ReadonlySet<string>;
  /** The adapter's vendor/architecture/description, for messages (`model.gpu`). */
  readonly description: string;
}

/**
 * Requests an adapter and a device with the limits the bundle needs; undefined when there is no adapter, or
 * only a software one (SwiftShader: slower than WASM) and `allowSoftware` is false.
 */
export async function requestDevice(provider: GpuProvider, largestBuffer: number, { allowSoftware = false } = {}): Promise<GpuDevice | undefined> {
  const adapter = await provider.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return undefined;
  const software = (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? (adapter.info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ?? false;
  if (software && !allowSoftware) return undefined;
  const features = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const limits = adapter.limits;
  if (largestBuffer > limits.maxStorageBufferBindingSize) {
    throw new Error(`the largest weight needs a ${largestBuffer}-byte storage buffer; this GPU binds at most ${limits.maxStorageBufferBindingSize}`);
  }
  const device = await adapter.requestDevice({
    requiredFeatures: features as GPUFeatureName[],
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    },
  });
  const info = adapter.info;
  const description = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'unknown GPU';
  return { device, features: new Set(features), description };
}
