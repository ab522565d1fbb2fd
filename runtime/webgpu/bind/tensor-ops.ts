// Binders of the data-movement shaders (compiler/codegen/wgsl/tensor-ops.ts): Transpose, Slice, Expand,
// Tile (one strided copy: output element i reads x[base + Σ coord_k · s_k]), Concat, Split and Gather.
//
// Each op's layout is one function over dims and host values that may be unknown (`undefined`): the
// compiler calls it with what the IR knows and writes the known values into the shader as constants
// (GpuCall.sizes); the binder calls it with the run's dims and values, checks them against those
// constants, and returns the rest for the Params uniform. A run the shader cannot express (an invalid
// Slice, an out-of-range index, an empty Split part) returns undefined: the host kernel runs it and
// raises the error, if any.
import type { Tensor } from '../../../formats/tensor.ts';
import { sliceRange } from '../../kernels/slice-range.ts';
import type { GpuBinder, GpuOperand } from '../binder.ts';
import { gridBlocks } from './grid.ts';

/** A number the compiler may not know. */
export type Maybe = number | undefined;

/** Output dims and named values of one op's layout (see the shaders for the names); layouts return undefined for invalid arguments. */
export interface Layout {
  readonly outputs: readonly (readonly Maybe[])[];
  readonly values: Readonly<Record<string, Maybe>>;
}

/** Largest rank the strided shaders are generated for. */
export const MAX_STRIDED_RANK = 6;
/** Most inputs of a Concat (outputs of a Split): storage buffers per shader stage are limited to 8. */
export const MAX_PARTS = 7;
/** Most elements a shader indexes (its offsets are i32). */
const MAX_ELEMENTS = 2 ** 31 - 1;

function mul(...xs: Maybe[]): Maybe {
  let p = 1;
  for (const x of xs) {
    if (x === undefined) return undefined;
    p *= x;
  }
  return p;
}

function add(...xs: Maybe[]): Maybe {
  let s = 0;
  for (const x of xs) {
    if (x === undefined) return undefined;
    s += x;
  }
  return s;
}

/** Row-major strides, each known when every dim after it is. */
function stridesOf(dims: readonly Maybe[]): Maybe[] {
  const strides: Maybe[] = new Array(dims.length);
  let s: Maybe = 1;
  for (let k = dims.length - 1; k >= 0; k--) { strides[k] = s; s = mul(s, dims[k]); }
  return strides;
}

/** The values of a strided copy: output dims d{k}, source strides s{k}, element count n. */
function strided(out: readonly Maybe[], strides: readonly Maybe[], extra: Record<string, Maybe> = {}): Layout {
  const values: Record<string, Maybe> = { rank: out.length, n: mul(...out), ...extra };
  out.forEach((d, k) => { values[`d${k}`] = d; values[`s${k}`] = strides[k]; });
  return { outputs: [out], values };
}

const resolveAxis = (axis: number, rank: number): number | undefined =>
  (Number.isInteger(axis) && axis >= -rank && axis < rank ? (axis < 0 ? axis + rank : axis) : undefined);

// ---- layouts (shared with the compiler) ----

/** y = transpose(x, perm): y's axis k walks x's axis perm[k]. */
export function transposeLayout(dims: readonly Maybe[], perm: readonly number[]): Layout {
  const strides = stridesOf(dims);
  return strided(perm.map((p) => dims[p]), perm.map((p) => strides[p]));
}

/** The starts, ends, axes (default 0, 1, …) and steps (default 1) of a Slice. */
export interface SliceArgs {
  readonly starts: readonly number[];
  readonly ends: readonly number[];
  readonly axes?: readonly number[] | undefined;
  readonly steps?: readonly number[] | undefined;
}

/** ONNX Slice (clamped, negative indices and steps); `args` undefined: unknown until run time. */
export function sliceLayout(dims: readonly Maybe[], args: SliceArgs | undefined): Layout | undefined {
  const rank = dims.length;
  const strides = stridesOf(dims);
  if (!args) return strided(dims.map(() => undefined), dims.map(() => undefined), { base: undefined });
  const { starts, ends } = args;
  const axes = args.axes ?? starts.map((_, i) => i);
  const steps = args.steps ?? starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) return undefined;
  const resolved = axes.map((a) => resolveAxis(a, rank));
  if (resolved.some((a) => a === undefined) || new Set(resolved).size !== resolved.length || steps.some((s) => s === 0)) return undefined;
  const out = dims.slice();
  const step: Maybe[] = dims.map(() => 1);
  const first: Maybe[] = dims.map(() => 0);
  resolved.forEach((a, i) => {
    const d = dims[a!];
    const s = steps[i]!;
    step[a!] = s;
    if (d === undefined) { out[a!] = undefined; first[a!] = undefined; return; }
    const range = sliceRange(starts[i]!, ends[i]!, s, d);
    first[a!] = range.first;
    out[a!] = range.count;
  });
  const base = add(...first.map((f, k) => mul(f, strides[k])));
  return strided(out, step.map((s, k) => mul(s, strides[k])), { base });
}

/** ONNX Expand to `shape` (unknown: undefined) with output rank `rank`; broadcast axes have stride 0. */
export function expandLayout(dims: readonly Maybe[], rank: number, shape?: readonly number[]): Layout | undefined {
  if (shape && Math.max(dims.length, shape.length) !== rank) return undefined;
  const strides = stridesOf(dims);
  const lead = rank - dims.length;
  if (lead < 0) return undefined;
  const out: Maybe[] = [];
  const s: Maybe[] = [];
  for (let k = 0; k < rank; k++) {
    const d = k < lead ? 1 : dims[k - lead];
    s.push(d === 1 ? 0 : d === undefined ? undefined : strides[k - lead]);
    const want = shape ? (shape[k - (rank - shape.length)] ?? 1) : undefined;
    if (want === undefined || d === undefined) out.push(undefined);
    else if (d === want || want === 1) out.push(d);
    else if (d === 1) out.push(want);
    else return undefined;
  }
  return strided(out, s);
}

/** ONNX Tile: y's axis k reads x's at coord % dims[k] (values e{k}). */
export function tileLayout(dims: readonly Maybe[], repeats?: readonly number[]): Layout | undefined {
  if (repeats && (repeats.length !== dims.length || repeats.some((r) => !(r >= 0)))) return undefined;
  const layout = strided(dims.map((d, k) => mul(d, repeats ? repeats[k] : undefined)), stridesOf(dims));
  const values: Record<string, Maybe> = { ...layout.values };
  dims.forEach((d, k) => { values[`e${k}`] = d; });
  return { outputs: layout.outputs, values };
}

/**
 * Concat along `axis` (resolved): y is outer × total × inner, input j supplies len{j} of the total rows
 * starting at off{j}.
 */
export function concatLayout(parts: readonly (readonly Maybe[])[], axis: number): Layout | undefined {
  const rank = parts[0]!.length;
  if (parts.some((p) => p.length !== rank)) return undefined;
  const out: Maybe[] = [];
  for (let k = 0; k < rank; k++) {
    if (k === axis) { out.push(add(...parts.map((p) => p[axis]))); continue; }
    const known = parts.map((p) => p[k]).filter((d) => d !== undefined);
    if (known.some((d) => d !== known[0])) return undefined;
    out.push(known[0]);
  }
  const values: Record<string, Maybe> = { n: mul(...out), inner: mul(...out.slice(axis + 1)), total: out[axis] };
  let off: Maybe = 0;
  parts.forEach((p, j) => { values[`len${j}`] = p[axis]; values[`off${j}`] = off; off = add(off, p[axis]); });
  return { outputs: [out], values };
}

/** Split of x along `axis` (resolved) into parts of `sizes` (unknown: undefined); grid over x's elements. */
export function splitLayout(dims: readonly Maybe[], axis: number, count: number, sizes?: readonly number[]): Layout | undefined {
  const total = dims[axis];
  if (sizes && (sizes.length !== count || sizes.some((s) => !(s >= 0)) || (total !== undefined && add(...sizes) !== total))) return undefined;
  const values: Record<string, Maybe> = { n: mul(...dims), inner: mul(...dims.slice(axis + 1)), total };
  const outputs: Maybe[][] = [];
  let off: Maybe = 0;
  for (let j = 0; j < count; j++) {
    const len = sizes?.[j];
    values[`len${j}`] = len;
    values[`off${j}`] = off;
    off = add(off, len);
    outputs.push(dims.map((d, k) => (k === axis ? len : d)));
  }
  return { outputs, values };
}

/** Split sizes as ONNX defines them: the split input, the split attribute, else equal parts (last smaller). */
export function splitSizes(total: number, count: number, splitInput: readonly number[] | undefined, attrs: { has(name: string): boolean; ints(name: string): number[]; int(name: string, fallback?: number): number }): number[] {
  if (splitInput) return [...splitInput];
  if (attrs.has('split')) return attrs.ints('split');
  const n = attrs.int('num_outputs', count);
  const chunk = Math.ceil(total / n);
  return Array.from({ length: n }, (_, i) => Math.max(0, Math.min(chunk, total - i * chunk)));
}

/** Gather along `axis` (resolved) of x with indices of `indexDims`: y is outer × count × inner. */
export function gatherLayout(dims: readonly Maybe[], axis: number, indexDims: readonly Maybe[]): Layout {
  const out = [...dims.slice(0, axis), ...indexDims, ...dims.slice(axis + 1)];
  return { outputs: [out], values: { n: mul(...out), inner: mul(...dims.slice(axis + 1)), count: mul(...indexDims), len: dims[axis] } };
}

// ---- binders ----

/**
 * The run's output dims and values from a layout, with grid `blocks` over `n`; undefined when the layout is
 * invalid or disagrees with the sizes the shader was specialised to (GpuCall.sizes).
 */
function bind(layout: Layout | undefined, sizes: Readonly<Record<string, number>>): { outputs: number[][]; values: Record<string, number> } | undefined {
  if (!layout) return undefined;
  const values: Record<string, number> = {};
  for (const [name, v] of Object.entries(layout.values)) {
    if (v === undefined) return undefined;
    if (name in sizes && sizes[name] !== v) return undefined;
    values[name] = v;
  }
  const outputs: number[][] = [];
  for (const dims of layout.outputs) {
    if (dims.some((d) => d === undefined)) return undefined;
    outputs.push(dims as number[]);
  }
  if (values['n']! > MAX_ELEMENTS) return undefined; // offsets are i32 in the shaders
  values['blocks'] = gridBlocks(values['n']!);
  return { outputs, values };
}

/** Integer values of a host input (starts, shape, indices); undefined when it is not on the host. */
export function hostInts(t: Tensor | undefined): number[] | undefined {
  if (!t) return undefined;
  switch (t.dtype) {
    case 'int64': case 'uint64': return Array.from(t.data as BigInt64Array, (v) => Number(v));
    case 'int32': case 'int16': case 'int8': case 'uint32': case 'uint16': case 'uint8': return Array.from(t.data as ArrayLike<number>);
    default: return undefined;
  }
}

const dimsOf = (x: GpuOperand | undefined): number[] | undefined => (x ? [...x.dims] : undefined);

const transpose: GpuBinder = ([x], call, attrs) => {
  const dims = dimsOf(x)!;
  const perm = attrs.has('perm') ? attrs.ints('perm') : dims.map((_, k) => dims.length - 1 - k);
  if (perm.length !== dims.length || [...perm].sort((a, b) => a - b).some((p, k) => p !== k)) return undefined;
  return bind(transposeLayout(dims, perm), call.sizes);
};

const slice: GpuBinder = (inputs, call, attrs) => {
  let args: SliceArgs | undefined;
  if (attrs.has('starts')) { // opset < 10: attributes
    args = { starts: attrs.ints('starts'), ends: attrs.ints('ends'), axes: attrs.has('axes') ? attrs.ints('axes') : undefined };
  } else {
    const [starts, ends, axes, steps] = [1, 2, 3, 4].map((i) => hostInts(inputs[i]?.host));
    if (!starts || !ends || (inputs[3] && !axes) || (inputs[4] && !steps)) return undefined;
    args = { starts, ends, axes, steps };
  }
  return bind(sliceLayout(dimsOf(inputs[0])!, args), call.sizes);
};

const expand: GpuBinder = ([x, shape], call) => {
  const values = hostInts(shape?.host);
  if (!values) return undefined;
  return bind(expandLayout(dimsOf(x)!, Math.max(x!.dims.length, values.length), values), call.sizes);
};

const tile: GpuBinder = ([x, repeats], call) => {
  const values = hostInts(repeats?.host);
  if (!values) return undefined;
  return bind(tileLayout(dimsOf(x)!, values), call.sizes);
};

const concat: GpuBinder = (inputs, call) => {
  if (inputs.some((x) => !x) || inputs.length !== call.bindings.length) return undefined;
  return bind(concatLayout(inputs.map((x) => x!.dims), call.sizes['axis']!), call.sizes);
};

const split: GpuBinder = ([x, splitInput], call, attrs) => {
  const dims = dimsOf(x)!;
  const axis = call.sizes['axis']!;
  const given = splitInput ? hostInts(splitInput.host) : undefined;
  if (splitInput && !given) return undefined;
  const sizes = splitSizes(dims[axis]!, call.outputs, given, attrs);
  // An empty part would skip the whole dispatch (the executor does not dispatch into empty outputs).
  if (sizes.some((s) => s === 0)) return undefined;
  return bind(splitLayout(dims, axis, call.outputs, sizes), call.sizes);
};

const gather: GpuBinder = ([x, indices], call) => {
  const dims = dimsOf(x)!;
  const axis = call.sizes['axis']!;
  const values = hostInts(indices?.host);
  const len = dims[axis];
  // Out-of-range indices: the host kernel raises the error.
  if (!values || len === undefined || values.some((i) => i < -len || i >= len)) return undefined;
  return bind(gatherLayout(dims, axis, indices!.dims), call.sizes);
};

export const tensorOpsBinders = { transpose, slice, expand, tile, concat, split, gather };
