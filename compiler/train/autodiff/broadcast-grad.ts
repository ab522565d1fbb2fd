// Gradients through numpy broadcasting: an input read at many output positions collects the sum of them.
import { broadcastIndex } from '../../../runtime/kernels/broadcast.ts';
import type { Floats } from './floats.ts';
import { zerosLike } from './floats.ts';

const indexCache = new Map<string, Int32Array>();

/** For each output element, the flat index of the input element it read (cached per shape pair). */
export function readIndex(dims: readonly number[], outDims: readonly number[]): Int32Array {
  const key = `${dims.join(',')}|${outDims.join(',')}`;
  let index = indexCache.get(key);
  if (!index) {
    if (indexCache.size > 256) indexCache.clear();
    index = broadcastIndex(dims, outDims);
    indexCache.set(key, index);
  }
  return index;
}

export function sameSize(dims: readonly number[], outDims: readonly number[]): boolean {
  return dims.reduce((a, b) => a * b, 1) === outDims.reduce((a, b) => a * b, 1);
}

/** Whether `small` equals the trailing axes of `big` (leading 1s ignored): then small[i % small.length]. */
export function isSuffix(small: readonly number[], big: readonly number[]): boolean {
  const dims = [...small];
  while (dims.length > 0 && dims[0] === 1) dims.shift();
  if (dims.length > big.length) return false;
  return dims.every((d, i) => d === big[big.length - dims.length + i]);
}

/** Σ of `perOutput` (one value per output element) into an array of the input's shape. */
export function reduceToInput(perOutput: Floats, dims: readonly number[], outDims: readonly number[]): Floats {
  if (sameSize(dims, outDims)) return perOutput;
  const size = dims.reduce((a, b) => a * b, 1);
  const grad = zerosLike(perOutput, size);
  if (size === 1) {
    let s = 0;
    for (let i = 0; i < perOutput.length; i++) s += perOutput[i]!;
    grad[0] = s;
    return grad;
  }
  const index = readIndex(dims, outDims);
  for (let i = 0; i < perOutput.length; i++) grad[index[i]!] += perOutput[i]!;
  return grad;
}

/** The values of an input as seen at each output element (a view when no broadcasting happened). */
export function expandToOutput(values: ArrayLike<number>, dims: readonly number[], outDims: readonly number[]): ArrayLike<number> {
  if (sameSize(dims, outDims)) return values;
  const index = readIndex(dims, outDims);
  const out = new Float64Array(index.length);
  for (let i = 0; i < index.length; i++) out[i] = values[index[i]!]!;
  return out;
}
