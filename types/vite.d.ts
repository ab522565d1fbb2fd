// `import onebit from 'onebitc/vite'`: the onebitc build plugin for Vite.
import type { Plugin } from 'vite';
import type { OnebitPluginOptions } from './plugin.js';

export type { CompileEvent, ModelOptions, OnebitPluginOptions } from './plugin.js';

/**
 * Compiles `?onebit` imports (a .onnx file, a .safetensors file or a Hugging Face folder) at build time, into a
 * content-hashed cache, and emits the bundle's files as hashed assets. Types for the imports: `onebitc/client`.
 */
export declare function onebit(options?: OnebitPluginOptions): Plugin;
export default onebit;
