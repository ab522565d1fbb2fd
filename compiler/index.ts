// The programmatic API: `import { compile } from 'onebitc'`. Its published types are types/index.d.ts (kept in
// step with these sources by test/package/public-types.ts). The build plugin is `onebitc/vite`, `onebitc/rollup`, ….
export { compile, TARGETS, type CompileOptions, type CompileResult, type Manifest, type ProgressEvent, type Target } from './compile.ts';
export { inspect } from './inspect.ts';
export type { Fidelity } from './measure-fidelity.ts';
export type { Diagnostic } from './ir/diagnostics.ts';
export { CompileError } from './ir/diagnostics.ts';
export { FormatError } from '../formats/errors.ts';
export { BundleWriteError } from './bundle/write-bundle.ts';
export type { LayerReport } from './passes/rewrite-linear-to-onebit.ts';
export type { FitFlag, FitReport, SpectrumEstimate } from './onebit/fit-report.ts';
export { ONEBITC_VERSION } from './version.ts';
export type { DistillOptions } from './train/distill-options.ts';
export type { DistillSummary } from './train/distill.ts';
export { DistillDiverged, DistillInterrupted } from './train/distill-errors.ts';
