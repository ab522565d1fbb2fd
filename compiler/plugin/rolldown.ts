// `import onebit from 'onebitc/rolldown'`: the onebitc build plugin for Rolldown (see index.ts).
import { unpluginOnebit } from './index.ts';

export type { CompileEvent, ModelOptions, OnebitPluginOptions } from './index.ts';

/** Compiles `?onebit` imports (a .onnx file, a .safetensors file or a Hugging Face folder) at build time. */
export const onebit = unpluginOnebit.rolldown;
export default onebit;
