// VJPs of the ops that move elements without computing: reshapes pass the gradient through, Transpose
// applies the inverse permutation, Split/Concat/Gather/Slice scatter it back to where elements came from.
import { tensor } from '../../../formats/tensor.ts';
import { Attributes } from '../../../runtime/kernel.ts';
import { KERNELS } from '../../../runtime/kernels/index.ts';
import { intValues, normalizeAxis, product } from '../../../runtime/kernels/layout.ts';
import { sliceRange } from '../../../runtime/kernels/slice-range.ts';
import { reduceToInput } from './broadcast-grad.ts';
import type { Floats } from './floats.ts';
import { dtypeOf, zerosLike } from './floats.ts';
import type { Vjp, VjpTable } from './vjp.ts';
import { gradFor, outputGrad } from './vjp.ts';

/** Same elements, other shape: the gradient is the output's, unchanged. */
const passThrough: Vjp = (args) => [outputGrad(args), ...args.inputs.slice(1).map(() => undefined)];

const Expand: Vjp = (args) => [reduceToInput(outputGrad(args), args.inputs[0]!.dims, args.outputs[0]!.dims), undefined];

const Transpose: Vjp = (args) => {
  const g = outputGrad(args);
  const outDims = args.outputs[0]!.dims;
  const rank = outDims.length;
  const perm = args.attrs.ints('perm', [...Array(rank).keys()].reverse());
  const inverse = new Array<number>(rank);
  perm.forEach((p, i) => { inverse[p] = i; });
  const [back] = KERNELS['Transpose']!([tensor(dtypeOf(g), outDims, g)], new Attributes({ perm: inverse }), CONTEXT);
  return [back!.data as Floats];
};

const CONTEXT = { opset: 18, outputCount: 1, runSubgraph: () => [] };

/** outer × axis × inner view of `dims` around `axis`. */
function around(dims: readonly number[], axis: number): { outer: number; inner: number } {
  return { outer: product(dims, 0, axis), inner: product(dims, axis + 1) };
}

const Split: Vjp = (args) => {
  const x = args.inputs[0]!;
  const axis = normalizeAxis(args.attrs.int('axis', 0), x.dims.length);
  const { outer, inner } = around(x.dims, axis);
  const grad = gradFor(args, x.data.length);
  const width = x.dims[axis]!;
  let start = 0;
  args.outputs.forEach((out, k) => {
    const part = out.dims[axis]!;
    const g = args.grads[k];
    if (g) {
      for (let o = 0; o < outer; o++) {
        for (let a = 0; a < part * inner; a++) grad[(o * width + start) * inner + a] = g[o * part * inner + a]!;
      }
    }
    start += part;
  });
  return [grad, ...args.inputs.slice(1).map(() => undefined)];
};

const Concat: Vjp = (args) => {
  const g = outputGrad(args);
  const outDims = args.outputs[0]!.dims;
  const axis = normalizeAxis(args.attrs.int('axis'), outDims.length);
  const { outer, inner } = around(outDims, axis);
  const width = outDims[axis]!;
  let start = 0;
  return args.inputs.map((x, k) => {
    const part = x!.dims[axis]!;
    const begin = start;
    start += part;
    if (!args.needs[k]) return undefined;
    const grad = zerosLike(g, x!.data.length);
    for (let o = 0; o < outer; o++) {
      for (let a = 0; a < part * inner; a++) grad[o * part * inner + a] = g[(o * width + begin) * inner + a]!;
    }
    return grad;
  });
};

/** Gather along axis 0 (embedding lookup): each gathered row's gradient is added to the row it came from. */
const Gather: Vjp = (args) => {
  const data = args.inputs[0]!;
  const axis = normalizeAxis(args.attrs.int('axis', 0), data.dims.length);
  if (axis !== 0) throw new Error(`Gather: gradient only along axis 0, got axis ${axis}`);
  const g = outputGrad(args);
  const indices = intValues(args.inputs[1]!, 'indices');
  const rows = data.dims[0]!;
  const width = product(data.dims, 1);
  const grad = gradFor(args, data.data.length);
  indices.forEach((index, n) => {
    const row = index < 0 ? index + rows : index;
    for (let i = 0; i < width; i++) grad[row * width + i] += g[n * width + i]!;
  });
  return [grad, undefined];
};

/** Slice (opset ≥ 10 inputs starts, ends, axes?, steps?): the gradient goes back to the sliced positions. */
const Slice: Vjp = (args) => {
  const x = args.inputs[0]!;
  const g = outputGrad(args);
  const rank = x.dims.length;
  const starts = intValues(args.inputs[1]!, 'starts');
  const axes = args.inputs[3] ? intValues(args.inputs[3], 'axes').map((a) => normalizeAxis(a, rank)) : starts.map((_, i) => i);
  const steps = args.inputs[4] ? intValues(args.inputs[4], 'steps') : starts.map(() => 1);
  const begin = new Array<number>(rank).fill(0);
  const step = new Array<number>(rank).fill(1);
  const ends = intValues(args.inputs[2]!, 'ends');
  axes.forEach((axis, i) => {
    step[axis] = steps[i]!;
    begin[axis] = sliceRange(starts[i]!, ends[i]!, steps[i]!, x.dims[axis]!).first;
  });
  const outDims = args.outputs[0]!.dims;
  const inStrides = x.dims.map((_, a) => product(x.dims, a + 1));
  const grad = gradFor(args, x.data.length);
  const counter = new Array<number>(rank).fill(0);
  for (let n = 0; n < g.length; n++) {
    let flat = 0;
    for (let a = 0; a < rank; a++) flat += (begin[a]! + counter[a]! * step[a]!) * inStrides[a]!;
    grad[flat] += g[n]!;
    for (let a = rank - 1; a >= 0; a--) { if (++counter[a]! < outDims[a]!) break; counter[a] = 0; }
  }
  return [grad, undefined, undefined, undefined, undefined];
};

export const layoutVjps: VjpTable = {
  Reshape: passThrough, Unsqueeze: passThrough, Squeeze: passThrough, Flatten: passThrough, Identity: passThrough, Cast: passThrough,
  Expand, Transpose, Split, Concat, Gather, Slice,
};
