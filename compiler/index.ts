// The programmatic API: `import { compile } from 'onebitc'`.
export { compile, type CompileOptions, type CompileResult, type Manifest, type ProgressEvent } from './compile.ts';
export { inspect } from './inspect.ts';
export type { Diagnostic } from './ir/diagnostics.ts';
export { CompileError } from './ir/diagnostics.ts';
export type { LayerReport } from './passes/rewrite-linear-to-onebit.ts';
export { ONEBITC_VERSION } from './version.ts';
