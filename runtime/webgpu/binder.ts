// What a WebGPU call's binder is: from the shapes (and, for small host inputs, the values) of one run's
// inputs, the dims of the outputs and the named u32 values its shader's Params uniform and dispatch read.
// One binder per call kind, in bind/; the compiler's generator for that kind (compiler/codegen/wgsl/)
// names which of the values its shader reads (GpuCall.params) and how it is dispatched (GpuCall.dispatch).
import type { DType } from '../../formats/dtype.ts';
import type { Tensor } from '../../formats/tensor.ts';
import type { Attributes } from '../kernel.ts';
import type { GpuCall } from '../plan.ts';

export interface GpuOperand {
  readonly dtype: DType;
  readonly dims: readonly number[];
  /** The values, when the input lives on the host (constants, feeds, small int results of shape ops). */
  readonly host?: Tensor;
}

export interface GpuBinding {
  /** Dims of each output (float32). */
  readonly outputs: readonly (readonly number[])[];
  /** Values by name, for the Params uniform (as u32; negative numbers are written as i32) and dispatch. */
  readonly values: Readonly<Record<string, number>>;
}

/** Returns undefined when this run's shapes fall outside what the shader was specialised to (the node then runs on the host). */
export type GpuBinder = (inputs: readonly (GpuOperand | undefined)[], call: GpuCall, attrs: Attributes) => GpuBinding | undefined;
