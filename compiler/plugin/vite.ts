// `import onebit from 'onebitc/vite'`: the onebitc build plugin for Vite (see index.ts).
import { unpluginOnebit } from './index.ts';

export type { CompileEvent, ModelOptions, OnebitPluginOptions } from './index.ts';

/** Compiles `?onebit` imports (a .onnx file, a .safetensors file or a Hugging Face folder) at build time. */
export const onebit = unpluginOnebit.vite;
export default onebit;
