// `import onebit from 'onebitc/esbuild'`: the onebitc build plugin for esbuild.
import type { Plugin } from 'esbuild';
import type { OnebitPluginOptions } from './plugin.js';

export type { CompileEvent, ModelOptions, OnebitPluginOptions } from './plugin.js';

/**
 * Compiles `?onebit` imports (a .onnx file, a .safetensors file or a Hugging Face folder) at build time, into a
 * content-hashed cache, and emits the bundle's files as hashed assets. Types for the imports: `onebitc/client`.
 */
export declare function onebit(options?: OnebitPluginOptions): Plugin;
export default onebit;
