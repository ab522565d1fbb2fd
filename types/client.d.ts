// `/// <reference types="onebitc/client" />` (or "types": ["onebitc/client"] in tsconfig.json): types for
// `?onebit` imports compiled by the onebitc build plugin. They cover any model; for exact input/output names
// and dims, compile with the CLI and import the bundle's model.js, whose model.d.ts has them.
// With query options, put `onebit` last (`./m?keep=lm_head&onebit`) to match a pattern below.

declare module '*?onebit' {
  const model: import('./model.js').OnebitModule;
  export default model;
  export const load: import('./model.js').OnebitModule['load'];
  export const inputs: import('./model.js').OnebitModule['inputs'];
  export const outputs: import('./model.js').OnebitModule['outputs'];
  export const urls: import('./model.js').OnebitModule['urls'];
  export const manifest: import('./model.js').OnebitModule['manifest'];
}

declare module '*.onnx?onebit' {
  const model: import('./model.js').OnebitModule;
  export default model;
  export const load: import('./model.js').OnebitModule['load'];
  export const inputs: import('./model.js').OnebitModule['inputs'];
  export const outputs: import('./model.js').OnebitModule['outputs'];
  export const urls: import('./model.js').OnebitModule['urls'];
  export const manifest: import('./model.js').OnebitModule['manifest'];
}

declare module '*&onebit' {
  const model: import('./model.js').OnebitModule;
  export default model;
  export const load: import('./model.js').OnebitModule['load'];
  export const inputs: import('./model.js').OnebitModule['inputs'];
  export const outputs: import('./model.js').OnebitModule['outputs'];
  export const urls: import('./model.js').OnebitModule['urls'];
  export const manifest: import('./model.js').OnebitModule['manifest'];
}
