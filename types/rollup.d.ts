// `import onebit from 'onebitc/rollup'`: the onebitc build plugin for Rollup.
import type { Plugin } from 'rollup';
import type { OnebitPluginOptions } from './plugin.js';

export type { CompileEvent, ModelOptions, OnebitPluginOptions } from './plugin.js';

/**
 * Compiles `?onebit` imports (a .onnx file, a .safetensors file or a Hugging Face folder) at build time, into a
 * content-hashed cache, and emits the bundle's files as hashed assets. Types for the imports: `onebitc/client`.
 */
export declare function onebit(options?: OnebitPluginOptions): Plugin;
export default onebit;
