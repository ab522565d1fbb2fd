// The plan: what the compiler hands the runtime for one model (emitted into model.js).
import type { DType } from '../formats/dtype.ts';
import type { RuntimeGraph } from './graph.ts';

/** Bumped on any incompatible change of Plan; a runtime refuses plans of another version. */
export const PLAN_FORMAT = 1;

export interface TensorSpec {
  readonly name: string;
  readonly dtype: DType;
  /** Sizes, or symbol names (`'batch'`) bound at run time. */
  readonly dims: readonly (number | string)[];
}

export interface Plan {
  readonly format: number;
  /** File name of the source model (for messages). */
  readonly model: string;
  /** Default-domain ONNX opset the graph was written against. */
  readonly opset: number;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** The main graph; its constants are the tensors of `weights` plus its own inline `initializers`. */
  readonly graph: RuntimeGraph;
  /** The safetensors file beside model.js holding the constants. */
  readonly weights: { readonly file: string; readonly bytes: number };
}
