// VJPs of the element-wise ops (numpy broadcasting): d/dx of each op times the output gradient, summed back
// over broadcast axes.
import type { Tensor } from '../../../formats/tensor.ts';
import { broadcastShapes } from '../../../runtime/kernels/broadcast.ts';
import { numberValues } from '../../../runtime/kernels/layout.ts';
import { expandToOutput, isSuffix, reduceToInput } from './broadcast-grad.ts';
import type { Floats } from './floats.ts';
import { zerosLike } from './floats.ts';
import type { Vjp, VjpArgs, VjpTable } from './vjp.ts';
import { outputGrad } from './vjp.ts';

const values = (t: Tensor | undefined): ArrayLike<number> => numberValues(t!, 'input');

/** g ⊙ f(i) per output element, reduced to input `which`'s shape. */
function binaryGrad(args: VjpArgs, which: 0 | 1, local: (i: number, a: ArrayLike<number>, b: ArrayLike<number>) => number): Floats {
  const g = outputGrad(args);
  const [ta, tb] = [args.inputs[0]!, args.inputs[1]!];
  const outDims = broadcastShapes(ta.dims, tb.dims);
  const a = expandToOutput(values(ta), ta.dims, outDims);
  const b = expandToOutput(values(tb), tb.dims, outDims);
  const per = zerosLike(g);
  for (let i = 0; i < g.length; i++) per[i] = g[i]! * local(i, a, b);
  return reduceToInput(per, (which === 0 ? ta : tb).dims, outDims);
}

/**
 * d(self·other)/dself = g ⊙ other. Without an index when other is a scalar or repeats along the output's
 * trailing axes (SiLU, gate·up, RoPE tables, scales); other broadcasts go through binaryGrad.
 */
function scaled(args: VjpArgs, other: Tensor, which: 0 | 1): Floats {
  const g = outputGrad(args);
  const self = args.inputs[which]!;
  const outDims = args.outputs[0]!.dims;
  const o = values(other);
  if (isSuffix(other.dims, outDims)) { // a scalar too: all its axes are 1s
    const per = zerosLike(g);
    const period = o.length;
    for (let base = 0; base < g.length; base += period) for (let j = 0; j < period; j++) per[base + j] = g[base + j]! * o[j]!;
    return reduceToInput(per, self.dims, outDims);
  }
  return binaryGrad(args, which, which === 0 ? (i, _a, b) => b[i]! : (i, a) => a[i]!);
}

const Add: Vjp = (args) => {
  const g = outputGrad(args);
  const outDims = args.outputs[0]!.dims;
  return [0, 1].map((k) => (args.needs[k] ? reduceToInput(g, args.inputs[k]!.dims, outDims) : undefined));
};

const Sub: Vjp = (args) => {
  const g = outputGrad(args);
  const outDims = args.outputs[0]!.dims;
  const negated = () => { const n = zerosLike(g); for (let i = 0; i < g.length; i++) n[i] = -g[i]!; return n; };
  return [
    args.needs[0] ? reduceToInput(g, args.inputs[0]!.dims, outDims) : undefined,
    args.needs[1] ? reduceToInput(negated(), args.inputs[1]!.dims, outDims) : undefined,
  ];
};

const Mul: Vjp = (args) => [
  args.needs[0] ? scaled(args, args.inputs[1]!, 0) : undefined,
  args.needs[1] ? scaled(args, args.inputs[0]!, 1) : undefined,
];

const Div: Vjp = (args) => [
  args.needs[0] ? binaryGrad(args, 0, (i, _a, b) => 1 / b[i]!) : undefined,
  args.needs[1] ? binaryGrad(args, 1, (i, a, b) => -a[i]! / (b[i]! * b[i]!)) : undefined,
];

/** x ** c with a constant exponent (as norms and GELU's tanh form use it). */
const Pow: Vjp = (args) => {
  if (args.needs[1]) throw new Error('Pow: no gradient with respect to a computed exponent');
  return [binaryGrad(args, 0, (i, a, b) => b[i]! * a[i]! ** (b[i]! - 1)), undefined];
};

/** Unary ops: the derivative from the input x and the output y at element i. */
function unary(derivative: (x: number, y: number) => number): Vjp {
  return (args) => {
    const g = outputGrad(args);
    const x = values(args.inputs[0]);
    const y = values(args.outputs[0]);
    const grad = zerosLike(g);
    for (let i = 0; i < g.length; i++) grad[i] = g[i]! * derivative(x[i]!, y[i]!);
    return [grad];
  };
}

/** Where(condition, X, Y): the gradient flows to the branch each element was taken from. */
const Where: Vjp = (args) => {
  const g = outputGrad(args);
  const outDims = args.outputs[0]!.dims;
  const cond = expandToOutput(values(args.inputs[0]), args.inputs[0]!.dims, outDims);
  const branch = (k: 1 | 2) => {
    const per = zerosLike(g);
    for (let i = 0; i < g.length; i++) if ((cond[i] !== 0) === (k === 1)) per[i] = g[i]!;
    return reduceToInput(per, args.inputs[k]!.dims, outDims);
  };
  return [undefined, args.needs[1] ? branch(1) : undefined, args.needs[2] ? branch(2) : undefined];
};

/** SiLU's gradient, in every LLaMA MLP: a loop of its own, as unary's shared call site would not inline. */
const Sigmoid: Vjp = (args) => {
  const g = outputGrad(args);
  const y = values(args.outputs[0]);
  const grad = zerosLike(g);
  for (let i = 0; i < g.length; i++) grad[i] = g[i]! * y[i]! * (1 - y[i]!);
  return [grad];
};

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

export const elementwiseVjps: VjpTable = {
  Add, Sub, Mul, Div, Pow, Where,
  Neg: unary(() => -1),
  Sigmoid,
  Tanh: unary((_x, y) => 1 - y * y),
  Relu: unary((x) => (x > 0 ? 1 : 0)),
  Sqrt: unary((_x, y) => 0.5 / y),
  Exp: unary((_x, y) => y),
  Erf: unary((x) => TWO_OVER_SQRT_PI * Math.exp(-x * x)),
  Reciprocal: unary((_x, y) => -y * y),
};
