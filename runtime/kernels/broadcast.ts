// Numpy-style multidirectional broadcasting, shared by every element-wise kernel.
import { KernelError } from '../kernel.ts';
import { stridesOf } from '../../formats/tensor.ts';

export function broadcastShapes(...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const shape of shapes) {
    for (let i = 0; i < shape.length; i++) {
      const o = rank - shape.length + i;
      const d = shape[i]!;
      if (d === out[o] || d === 1) continue;
      if (out[o] !== 1) throw new KernelError(`shapes [${shapes.map((s) => s.join(',')).join('] and [')}] do not broadcast`);
      out[o] = d;
    }
  }
  return out;
}

/**
 * For each element of the broadcast `outDims`, the flat index into a tensor of `dims`.
 * Precomputed once per call so kernels stay simple loops.
 */
export function broadcastIndex(dims: readonly number[], outDims: readonly number[]): Int32Array {
  const rank = outDims.length;
  const size = outDims.reduce((a, b) => a * b, 1);
  const index = new Int32Array(size);
  const inStrides = stridesOf(dims);
  // stride 0 along broadcast (size-1 or missing) axes
  const strides = new Array<number>(rank).fill(0);
  for (let i = 0; i < dims.length; i++) {
    const o = rank - dims.length + i;
    strides[o] = dims[i] === 1 ? 0 : inStrides[i]!;
  }
  const counter = new Array<number>(rank).fill(0);
  let flat = 0;
  for (let n = 0; n < size; n++) {
    index[n] = flat;
    for (let a = rank - 1; a >= 0; a--) {
      counter[a]!++;
      flat += strides[a]!;
      if (counter[a]! < outDims[a]!) break;
      flat -= strides[a]! * counter[a]!;
      counter[a] = 0;
    }
  }
  return index;
}
