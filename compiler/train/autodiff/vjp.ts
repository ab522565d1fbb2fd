// A vector-Jacobian product rule: given a node's forward inputs and outputs and the gradients of its outputs,
// the gradients of the inputs that need one. One rule per IR op; the tape walks the nodes backwards with them.
import type { Tensor } from '../../../formats/tensor.ts';
import type { Attributes } from '../../../runtime/kernel.ts';
import type { Floats } from './floats.ts';

export interface VjpArgs {
  readonly inputs: readonly (Tensor | undefined)[];
  readonly outputs: readonly Tensor[];
  /** Gradient of each output, undefined where nothing downstream depends on it. */
  readonly grads: readonly (Floats | undefined)[];
  /** Which inputs need a gradient (depend on a trained parameter). */
  readonly needs: readonly boolean[];
  readonly attrs: Attributes;
}

/** Input gradients, positional; undefined for inputs that need none. Each has the input's element count. */
export type Vjp = (args: VjpArgs) => (Floats | undefined)[];
export type VjpTable = Readonly<Record<string, Vjp>>;

/** A gradient array of input `i`'s size, in the kind of the first output gradient. */
export function gradFor(args: VjpArgs, length: number): Floats {
  const like = args.grads.find((g) => g !== undefined)!;
  return like instanceof Float64Array ? new Float64Array(length) : new Float32Array(length);
}

/** The single output gradient (ops with one output). */
export function outputGrad(args: VjpArgs): Floats {
  const g = args.grads[0];
  if (!g) throw new Error('internal: VJP called without an output gradient');
  return g;
}
