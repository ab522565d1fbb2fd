// Binders of the element-wise shaders (compiler/codegen/wgsl/elementwise.ts).
//
// Broadcasting ops (Add, Mul, …, Where) read each operand in one of the modes below, chosen by the compiler
// from the IR's shapes (GpuCall.sizes `mode_a`, `mode_b`, `mode_c` for inputs 0, 1, 2) and checked here
// against the run's dims. The named values of an operand `a` of the output [d0, …, d(r-1)] (r ≤ 6):
//   na: its element count;  qa: the product of the output dims along which it is 1;
//   sa<k>: its stride along output axis k (0 where it is broadcast; its dims aligned to the right).
// `broadcastValues` computes them from dims that may be unknown: the compiler calls it with what the IR
// knows and writes the known values into the shader (and into GpuCall.sizes); the binder calls it with the
// run's dims and checks them against those constants, so the two can never disagree.
import { sizeOf } from '../../../formats/tensor.ts';
import type { GpuBinder } from '../binder.ts';
import { gridBlocks } from './grid.ts';

/** y = f(x), every element: n elements, grid-stride over `blocks` workgroups. */
const unary: GpuBinder = ([x]) => {
  const n = sizeOf(x!.dims);
  return { outputs: [x!.dims], values: { n, blocks: gridBlocks(n) } };
};

/** How a broadcasting shader indexes one operand at output element i (GpuCall.sizes `mode_<letter>`). */
export const BroadcastMode = {
  /** The output's shape: [i]. */
  same: 0,
  /** One element: [0]. */
  scalar: 1,
  /** The output's trailing dims (a bias [n], a [s, d] table against [b, h, s, d]): [i % na]. */
  suffix: 2,
  /** The output's leading dims, then 1s (a per-row factor [m, 1]): [i / qa]. */
  row: 3,
  /** Anything else: Σ coord_k · sa<k>. */
  strided: 4,
} as const;
export type BroadcastMode = (typeof BroadcastMode)[keyof typeof BroadcastMode];

/** Largest output rank of the broadcasting shaders. */
export const MAX_BROADCAST_RANK = 6;
/** The letter naming input `index` in shaders and values (a, b, c). */
export const operandLetter = (index: number): string => 'abc'[index]!;

/** A number the compiler may not know. */
export type Maybe = number | undefined;

function product(xs: readonly Maybe[]): Maybe {
  let p = 1;
  for (const x of xs) {
    if (x === undefined) return undefined;
    p *= x;
  }
  return p;
}

/** `dims` aligned to the right against `rank` axes (missing leading axes are 1). */
export function alignDims<T>(dims: readonly T[], rank: number, one: T): T[] {
  return [...new Array<T>(rank - dims.length).fill(one), ...dims];
}

/**
 * The values of a broadcasting shader: n, d<k> of the output, and na, qa, sa<k> of each operand (by letter,
 * dims aligned to the output's rank). Unknown inputs give unknown values, except that a 1 makes a stride 0.
 */
export function broadcastValues(out: readonly Maybe[], operands: readonly (readonly [string, readonly Maybe[]])[]): Record<string, Maybe> {
  const values: Record<string, Maybe> = { n: product(out) };
  out.forEach((d, k) => { values[`d${k}`] = d; });
  for (const [letter, dims] of operands) {
    values[`n${letter}`] = product(dims);
    values[`q${letter}`] = product(dims.map((d, k) => (d === 1 ? out[k] : d === undefined ? undefined : 1)));
    dims.forEach((d, k) => { values[`s${letter}${k}`] = d === 1 ? 0 : d === undefined ? undefined : product(dims.slice(k + 1)); });
  }
  return values;
}

/** Whether `mode` can index an operand of (aligned) dims `op` in an output of dims `out`. */
function modeHolds(mode: number, op: readonly number[], out: readonly number[]): boolean {
  switch (mode) {
    case BroadcastMode.same: return sizeOf(op) === sizeOf(out);
    case BroadcastMode.scalar: return sizeOf(op) === 1;
    case BroadcastMode.suffix: {
      let k = out.length - 1;
      while (k >= 0 && op[k] === out[k]) k--;
      return op.slice(0, k + 1).every((d) => d === 1);
    }
    case BroadcastMode.row: {
      let k = 0;
      while (k < out.length && op[k] === out[k]) k++;
      return op.slice(k).every((d) => d === 1);
    }
    case BroadcastMode.strided: return true;
    default: return false;
  }
}

/** numpy broadcasting of every operand's dims; undefined when they do not broadcast. */
function broadcastDims(shapes: readonly (readonly number[])[]): number[] | undefined {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    const aligned = alignDims(s, rank, 1);
    for (let k = 0; k < rank; k++) {
      const d = aligned[k]!;
      if (d === out[k] || d === 1) continue;
      if (out[k] !== 1) return undefined;
      out[k] = d;
    }
  }
  return out;
}

/**
 * y = f(a, b[, c]) with numpy broadcasting over every input (those the shader inlines too): the output's
 * dims, and the values of the operands the shader reads (each with its mode), checked against the
 * compiler's constants.
 */
const broadcast: GpuBinder = (inputs, call) => {
  const out = broadcastDims(inputs.filter((x) => x !== undefined).map((x) => x.dims));
  if (!out || out.length !== call.sizes['rank']) return undefined;
  const operands: [string, number[]][] = [];
  for (const [i, x] of inputs.entries()) {
    const mode = call.sizes[`mode_${operandLetter(i)}`];
    if (mode === undefined) continue;
    const dims = alignDims(x!.dims, out.length, 1);
    if (!modeHolds(mode, dims, out)) return undefined;
    operands.push([operandLetter(i), dims]);
  }
  const values = broadcastValues(out, operands) as Record<string, number>;
  for (const [name, known] of Object.entries(call.sizes)) {
    if (name in values && values[name] !== known) return undefined;
  }
  values['blocks'] = gridBlocks(values['n']!);
  return { outputs: [out], values };
};

export const elementwiseBinders = { unary, binary: broadcast, where: broadcast };
