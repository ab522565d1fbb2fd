// What a shape rule sees and returns, plus the helpers rules share (broadcasting, axes, known values).
import type { DType } from '../../../formats/dtype.ts';
import { DTYPE_BY_ONNX_CODE, DTYPES } from '../../../formats/dtype.ts';
import type { Tensor } from '../../../formats/tensor.ts';
import type { Dim, IrAttr, IrGraph, IrNode, ValueType } from '../graph.ts';
import { isIrGraph } from '../graph.ts';
import { dimEquals, formatShape, isFreshDim } from './dims.ts';

/**
 * The element values of a small tensor known at compile time (shape arithmetic: Shape → Gather → Concat …).
 * Elements are numbers or symbolic dims; `dims` is the tensor's own (concrete) shape, row-major.
 */
export interface KnownValue {
  dims: number[];
  data: Dim[];
}

/** Tensors with more elements than this are not tracked element by element. */
export const MAX_KNOWN_ELEMENTS = 64;

/** A rule's answer for one output: its type and, for small shape-like tensors, its elements. */
export interface Inferred extends ValueType {
  value?: KnownValue;
}

export interface ShapeContext {
  readonly node: IrNode;
  /** Opset of the default ONNX domain. */
  readonly opset: number;
  /** Input types in order; undefined for omitted optional inputs ('') and inputs past the end. */
  readonly inputs: readonly (ValueType | undefined)[];
  has(i: number): boolean;
  /** The type of a present input; fails when the input is missing. */
  input(i: number): ValueType;
  /** Known elements of input i, if any. */
  value(i: number): KnownValue | undefined;
  /** A new symbol for a dim inference cannot know: `unk_<node>_<k>`, stable across runs. */
  fresh(): string;
  warn(message: string, hint?: string): void;
  /** Infers a subgraph (If branch, Loop body) with these input types; returns its output types. */
  inferSubgraph(graph: IrGraph, inputs: ValueType[]): (ValueType | undefined)[];
}

export type ShapeRule = (ctx: ShapeContext) => (Inferred | undefined)[];

/** A shape or dtype problem a rule found; becomes an error diagnostic naming the node. */
export class ShapeError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

export function fail(message: string, hint?: string): never {
  throw new ShapeError(message, hint);
}

// ---- attributes ----

export function attrInt(node: IrNode, name: string): number | undefined;
export function attrInt(node: IrNode, name: string, fallback: number): number;
export function attrInt(node: IrNode, name: string, fallback?: number): number | undefined {
  const a = node.attrs[name];
  if (a === undefined) return fallback;
  if (typeof a !== 'number' || !Number.isInteger(a)) fail(`attribute '${name}' must be an int, got ${describeAttr(a)}`);
  return a;
}

export function attrFloat(node: IrNode, name: string, fallback: number): number {
  const a = node.attrs[name];
  if (a === undefined) return fallback;
  if (typeof a !== 'number') fail(`attribute '${name}' must be a float, got ${describeAttr(a)}`);
  return a;
}

export function attrInts(node: IrNode, name: string): number[] | undefined {
  const a = node.attrs[name];
  if (a === undefined) return undefined;
  if (typeof a === 'number' && Number.isInteger(a)) return [a];
  if (!Array.isArray(a) || !a.every((x) => typeof x === 'number' && Number.isInteger(x))) {
    fail(`attribute '${name}' must be a list of ints, got ${describeAttr(a)}`);
  }
  return a as number[];
}

export function attrString(node: IrNode, name: string, fallback: string): string {
  const a = node.attrs[name];
  if (a === undefined) return fallback;
  if (typeof a !== 'string') fail(`attribute '${name}' must be a string, got ${describeAttr(a)}`);
  return a;
}

export function attrTensor(node: IrNode, name: string): Tensor | undefined {
  const a = node.attrs[name];
  if (a === undefined) return undefined;
  if (!isTensor(a)) fail(`attribute '${name}' must be a tensor, got ${describeAttr(a)}`);
  return a;
}

export function attrGraph(node: IrNode, name: string): IrGraph {
  const a = node.attrs[name];
  if (!isIrGraph(a)) fail(`attribute '${name}' must be a graph, got ${describeAttr(a)}`);
  return a;
}

export function isTensor(a: IrAttr | undefined): a is Tensor {
  return typeof a === 'object' && a !== null && !Array.isArray(a) && 'dtype' in a && 'dims' in a && 'data' in a;
}

export function describeAttr(a: IrAttr | undefined): string {
  if (a === undefined) return 'nothing';
  if (typeof a === 'number') return Number.isInteger(a) ? 'an int' : 'a float';
  if (typeof a === 'string') return 'a string';
  if (Array.isArray(a)) {
    if (a.length === 0) return 'an empty list';
    return typeof a[0] === 'number' ? 'a list of numbers' : typeof a[0] === 'string' ? 'a list of strings' : 'a list of graphs';
  }
  if (isIrGraph(a)) return 'a graph';
  return 'a tensor';
}

/** ONNX TensorProto.DataType codes (Cast's `to`, stash_type …) as our dtypes; dtype names pass through. */
export function dtypeFromOnnx(code: number | string): DType | undefined {
  if (typeof code === 'string') return (DTYPES as readonly string[]).includes(code) ? (code as DType) : undefined;
  return DTYPE_BY_ONNX_CODE.get(code);
}

// ---- shapes ----

export function rankOf(t: ValueType): number | undefined {
  return t.shape?.length;
}

/** Normalizes a possibly negative axis against `rank`; fails when out of range. */
export function normAxis(axis: number, rank: number, what = 'axis'): number {
  if (axis < -rank || axis >= rank) fail(`${what} ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/** Numpy-style multidirectional broadcasting with symbols: 1 yields to anything; a number beats a symbol. */
export function broadcastShapes(ctx: ShapeContext, shapes: readonly (readonly Dim[] | undefined)[]): Dim[] | undefined {
  if (shapes.some((s) => s === undefined)) return undefined;
  const rank = Math.max(0, ...shapes.map((s) => s!.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let acc: Dim = 1;
    for (const s of shapes) {
      const d = s![s!.length - rank + i] ?? 1;
      acc = broadcastDim(ctx, acc, d, shapes);
    }
    out.push(acc);
  }
  return out;
}

function broadcastDim(ctx: ShapeContext, a: Dim, b: Dim, shapes: readonly (readonly Dim[] | undefined)[]): Dim {
  if (b === 1 || dimEquals(a, b)) return a;
  if (a === 1) return b;
  if (typeof a === 'number' && typeof b === 'number') {
    fail(`shapes ${shapes.map((s) => formatShape(s)).join(' and ')} do not broadcast (${a} vs ${b})`);
  }
  if (typeof a === 'number') return a;
  if (typeof b === 'number') return b;
  // Two different symbols: either may be 1 at run time, so the result is neither for sure.
  return ctx.fresh();
}

/** Two dims that must be equal (Concat's other axes, MatMul's K): the more precise one, or a failure. */
export function unifyDims(a: Dim, b: Dim, what: string): Dim {
  if (dimEquals(a, b)) return a;
  if (typeof a === 'number' && typeof b === 'number') fail(`${what}: ${a} vs ${b}`);
  if (typeof a === 'number') return a;
  if (typeof b === 'number') return b;
  return isFreshDim(a) ? b : a;
}

/** Output with the dtype and shape of input i (elementwise unary ops). */
export function sameAs(ctx: ShapeContext, i = 0): Inferred {
  const t = ctx.input(i);
  return { dtype: t.dtype, shape: t.shape ? [...t.shape] : undefined };
}

export function freshShape(ctx: ShapeContext, rank: number | undefined): Dim[] | undefined {
  return rank === undefined ? undefined : Array.from({ length: rank }, () => ctx.fresh());
}

/** A 1-D int input whose elements must all be numbers to be useful (axes, pads …); undefined if not known. */
export function knownInts(ctx: ShapeContext, i: number): number[] | undefined {
  if (!ctx.has(i)) return undefined;
  const v = ctx.value(i);
  if (!v || !v.data.every((x) => typeof x === 'number')) return undefined;
  return v.data as number[];
}

/** `axes` as an attribute before `sinceOpset`, as input `inputIndex` from then on. */
export function axesArg(ctx: ShapeContext, sinceOpset: number, inputIndex: number): { axes?: number[]; known: boolean } {
  if (ctx.opset < sinceOpset) {
    const axes = attrInts(ctx.node, 'axes');
    return { axes, known: true };
  }
  if (!ctx.has(inputIndex)) return { axes: undefined, known: true };
  const axes = knownInts(ctx, inputIndex);
  return axes ? { axes, known: true } : { known: false };
}

// ---- known values ----

export function tensorValue(t: Tensor): KnownValue | undefined {
  // dims first: large constants may be loaded lazily, and their data is never needed here
  if (t.dtype === 'string' || t.dims.reduce((a, b) => a * b, 1) > MAX_KNOWN_ELEMENTS) return undefined;
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') return undefined;
  const data: Dim[] = [];
  const values = t.data as ArrayLike<number | bigint>;
  for (let i = 0; i < values.length; i++) data.push(Number(values[i]));
  return { dims: [...t.dims], data };
}

export function scalarOf(v: KnownValue | undefined): Dim | undefined {
  return v && v.data.length === 1 ? v.data[0] : undefined;
}

/** Applies `f` elementwise over known values with broadcasting; undefined if any element is unknowable. */
export function mapKnown(values: readonly (KnownValue | undefined)[], f: (xs: Dim[]) => Dim | undefined): KnownValue | undefined {
  if (values.some((v) => v === undefined)) return undefined;
  const vs = values as KnownValue[];
  const rank = Math.max(0, ...vs.map((v) => v.dims.length));
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const v of vs) {
      const x = v.dims[v.dims.length - rank + i] ?? 1;
      if (x !== 1 && d !== 1 && x !== d) return undefined;
      if (x !== 1) d = x;
    }
    dims.push(d);
  }
  const size = dims.reduce((a, b) => a * b, 1);
  if (size > MAX_KNOWN_ELEMENTS) return undefined;
  const data: Dim[] = [];
  for (let flat = 0; flat < size; flat++) {
    const xs: Dim[] = [];
    for (const v of vs) {
      let rem = flat;
      let idx = 0;
      let stride = 1;
      for (let a = rank - 1; a >= 0; a--) {
        const coord = rem % dims[a]!;
        rem = Math.floor(rem / dims[a]!);
        const vd = v.dims[v.dims.length - rank + a];
        if (vd !== undefined) {
          if (vd !== 1) idx += coord * stride;
          stride *= vd;
        }
      }
      xs.push(v.data[idx]!);
    }
    const r = f(xs);
    if (r === undefined) return undefined;
    data.push(r);
  }
  return { dims, data };
}

export function isIntegerDtype(dtype: DType): boolean {
  return dtype.startsWith('int') || dtype.startsWith('uint');
}

/** Converts a known element to `dtype` the way Cast does (numbers only; symbols pass through). */
export function castElement(x: Dim, dtype: DType): Dim | undefined {
  if (typeof x === 'string') return dtype === 'bool' ? undefined : x;
  if (dtype === 'bool') return x !== 0 ? 1 : 0;
  if (isIntegerDtype(dtype)) return Number.isFinite(x) ? Math.trunc(x) : undefined;
  return x;
}
