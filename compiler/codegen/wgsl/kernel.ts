// What a WGSL kernel family is: given a node of the main graph, either the shader specialised to it (with how
// the runtime binds and dispatches it) or undefined when the family does not take that node. The families
// are tried in order by emit-webgpu.ts; each kind's sizing at run time is runtime/webgpu/bind/<family>.ts.
import type { Tensor } from '../../../formats/tensor.ts';
import type { GpuConstantLayout } from '../../../runtime/plan.ts';
import type { IrNode, ValueType } from '../../ir/graph.ts';
import type { GeneratedShader } from './shader.ts';

export interface GpuKernelContext {
  /** Default-domain opset of the model. */
  readonly opset: number;
  /** The constant tensor of a value, if it is one. */
  constant(name: string | undefined): Tensor | undefined;
  /** The inferred type of a value. */
  type(name: string | undefined): ValueType | undefined;
}

export interface GpuKernel {
  /** GpuCall.kind: the binder that sizes each run. */
  kind: string;
  /** Input indexes bound as storage buffers, in binding order. */
  bindings: number[];
  /** Bound inputs that are constants, and how they are uploaded. */
  constants?: Record<number, GpuConstantLayout>;
  /** Output bindings (default 1). */
  outputs?: number;
  /** Workgroups per axis: ceil(binder value / divisor). */
  dispatch: [string, number][];
  sizes?: Record<string, number>;
  shader: GeneratedShader;
}

export type GpuKernelFamily = (node: IrNode, ctx: GpuKernelContext) => GpuKernel | undefined;
