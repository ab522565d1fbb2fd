// Reference kernel for ONNX Resize (opsets 10 to 19): nearest, linear and cubic interpolation.
//
// Every output coordinate is mapped back to a (fractional) input coordinate by the
// coordinate_transformation_mode, one axis at a time. Nearest picks one input element per axis and moves
// elements (any dtype). Linear and cubic are separable: each resized axis is interpolated in turn from a
// list of (input index, weight) taps per output coordinate, in float64, then narrowed to the input dtype.
import type { Tensor } from '../../formats/tensor.ts';
import type { Attributes, KernelContext, KernelTable } from '../kernel.ts';
import { KernelError, required } from '../kernel.ts';
import {
  elementAt, filled, floatValues, fromNumbers, intValues, normalizeAxes, numberValues, offsetTable, product, setElement,
  showDims, sizeOf, stridesOf,
} from './layout.ts';

type CoordinateMode =
  | 'half_pixel' | 'half_pixel_symmetric' | 'pytorch_half_pixel' | 'align_corners' | 'asymmetric'
  | 'tf_half_pixel_for_nn' | 'tf_crop_and_resize';
const COORDINATE_MODES: readonly CoordinateMode[] = [
  'half_pixel', 'half_pixel_symmetric', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_half_pixel_for_nn',
  'tf_crop_and_resize',
];
type NearestMode = 'round_prefer_floor' | 'round_prefer_ceil' | 'floor' | 'ceil' | 'simple';
const NEAREST_MODES: readonly NearestMode[] = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'];

/** How one axis is resized. */
interface AxisPlan {
  readonly inSize: number;
  readonly outSize: number;
  /** The scale the coordinate transform divides by (given, or output/input size). */
  readonly scale: number;
  readonly roiStart: number;
  readonly roiEnd: number;
}

/** The input coordinate an output coordinate `x` reads from, per coordinate_transformation_mode. */
function sourceCoordinate(x: number, axis: AxisPlan, mode: CoordinateMode): number {
  const { inSize, outSize, scale } = axis;
  const scaledSize = scale * inSize; // the ideal (unrounded) output length, as the ONNX reference uses it
  switch (mode) {
    case 'half_pixel':
      return (x + 0.5) / scale - 0.5;
    case 'half_pixel_symmetric': {
      const adjustment = outSize / scaledSize;
      const offset = (inSize / 2) * (1 - adjustment);
      return offset + (x + 0.5) / scale - 0.5;
    }
    case 'pytorch_half_pixel':
      return scaledSize === 1 ? -0.5 : (x + 0.5) / scale - 0.5;
    case 'align_corners':
      return scaledSize === 1 ? 0 : (x * (inSize - 1)) / (scaledSize - 1);
    case 'asymmetric':
      return x / scale;
    case 'tf_half_pixel_for_nn':
      return (x + 0.5) / scale;
    case 'tf_crop_and_resize': {
      const span = (axis.roiEnd - axis.roiStart) * (inSize - 1);
      const start = axis.roiStart * (inSize - 1);
      return scaledSize === 1 ? start + span / 2 : start + (x * span) / (scaledSize - 1);
    }
  }
}

function nearestIndex(x: number, mode: NearestMode, scale: number): number {
  switch (mode) {
    case 'round_prefer_floor':
      return Number.isInteger(x) || x - Math.floor(x) !== 0.5 ? Math.round(x) : Math.floor(x);
    case 'round_prefer_ceil':
      return Math.round(x); // Math.round rounds halves up
    case 'floor':
      return Math.floor(x);
    case 'ceil':
      return Math.ceil(x);
    case 'simple': // opset 10: floor, but ceil when downsampling (as onnxruntime)
      return scale < 1 ? Math.ceil(x) : Math.trunc(x);
  }
}

/** Keys cubic convolution weight of a tap at distance `d` from the sample point, coefficient `a`. */
function cubicWeight(d: number, a: number): number {
  const t = Math.abs(d);
  if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

/** Taps of one output coordinate: input indices (clamped to the edge) and weights. */
interface Taps {
  readonly index: number[];
  readonly weight: number[];
  /** tf_crop_and_resize: the coordinate falls outside the input, the output is extrapolation_value. */
  readonly outside: boolean;
}

function interpolationTaps(axis: AxisPlan, coordMode: CoordinateMode, cubic: boolean, a: number, excludeOutside: boolean): Taps[] {
  const last = axis.inSize - 1;
  return Array.from({ length: axis.outSize }, (_, x) => {
    const src = sourceCoordinate(x, axis, coordMode);
    if (coordMode === 'tf_crop_and_resize' && (src < 0 || src > last)) return { index: [], weight: [], outside: true };
    const base = Math.floor(src);
    const frac = src - base;
    const positions = cubic ? [base - 1, base, base + 1, base + 2] : [base, base + 1];
    let weight = cubic ? positions.map((p) => cubicWeight(src - p, a)) : [1 - frac, frac];
    if (excludeOutside) {
      weight = weight.map((w, i) => (positions[i]! < 0 || positions[i]! > last ? 0 : w));
      const total = weight.reduce((s, w) => s + w, 0);
      weight = weight.map((w) => w / total);
    }
    return { index: positions.map((p) => Math.min(Math.max(p, 0), last)), weight, outside: false };
  });
}

/** Interpolates `values` (of `dims`) along `axisIndex` with per-output-coordinate taps. */
function interpolateAxis(values: Float64Array, dims: number[], axisIndex: number, taps: Taps[], extrapolation: number): Float64Array {
  const outer = product(dims, 0, axisIndex);
  const inner = product(dims, axisIndex + 1);
  const inSize = dims[axisIndex]!;
  const outSize = taps.length;
  const out = new Float64Array(outer * outSize * inner);
  for (let o = 0; o < outer; o++) {
    for (let x = 0; x < outSize; x++) {
      const tap = taps[x]!;
      const to = (o * outSize + x) * inner;
      if (tap.outside) { out.fill(extrapolation, to, to + inner); continue; }
      for (let t = 0; t < tap.index.length; t++) {
        const w = tap.weight[t]!;
        if (w === 0) continue;
        const from = (o * inSize + tap.index[t]!) * inner;
        for (let i = 0; i < inner; i++) out[to + i]! += w * values[from + i]!;
      }
    }
  }
  return out;
}

const INTEGER_RANGES: Partial<Record<string, [number, number]>> = {
  int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535],
  int32: [-2147483648, 2147483647], uint32: [0, 4294967295], int64: [-(2 ** 53), 2 ** 53], uint64: [0, 2 ** 53],
};

/** Reads scales/sizes and the optional axes into one plan per input axis. */
function planAxes(x: Tensor, inputs: readonly (Tensor | undefined)[], attrs: Attributes, ctx: KernelContext): AxisPlan[] {
  const rank = x.dims.length;
  const [roiT, scalesT, sizesT] = ctx.opset < 11 ? [undefined, inputs[1], undefined] : [inputs[1], inputs[2], inputs[3]];
  const axes = ctx.opset >= 18 && attrs.has('axes') ? normalizeAxes(attrs.ints('axes'), rank) : x.dims.map((_, i) => i);
  const hasScales = scalesT !== undefined && sizeOf(scalesT.dims) > 0;
  const hasSizes = sizesT !== undefined && sizeOf(sizesT.dims) > 0;
  if (hasScales === hasSizes) throw new KernelError('Resize needs exactly one of scales and sizes');
  let scales: number[];
  let sizes: number[];
  if (hasScales) {
    scales = Array.from(floatValues(scalesT!, 'scales'));
    if (scales.length !== axes.length) throw new KernelError(`scales has ${scales.length} values, expected ${axes.length}`);
    if (scales.some((s) => !(s > 0))) throw new KernelError(`scales [${scales.join(', ')}] must be positive`);
    sizes = axes.map((a, i) => Math.floor(x.dims[a]! * scales[i]!));
  } else {
    sizes = intValues(sizesT!, 'sizes');
    if (sizes.length !== axes.length) throw new KernelError(`sizes has ${sizes.length} values, expected ${axes.length}`);
    if (sizes.some((s) => s < 0)) throw new KernelError(`sizes [${sizes.join(', ')}] must not be negative`);
    scales = axes.map((a, i) => sizes[i]! / x.dims[a]!);
    const policy = ctx.opset >= 18 ? attrs.string('keep_aspect_ratio_policy', 'stretch') : 'stretch';
    if (policy === 'not_larger' || policy === 'not_smaller') {
      const scale = policy === 'not_larger' ? Math.min(...scales) : Math.max(...scales);
      scales = axes.map(() => scale);
      sizes = axes.map((a) => Math.floor(x.dims[a]! * scale + 0.5));
    } else if (policy !== 'stretch') {
      throw new KernelError(`keep_aspect_ratio_policy '${policy}' is not one of stretch, not_larger, not_smaller`);
    }
  }
  let roi: number[] | undefined;
  if (roiT && sizeOf(roiT.dims) > 0) {
    roi = Array.from(numberValues(roiT, 'roi'));
    if (roi.length !== 2 * axes.length) throw new KernelError(`roi has ${roi.length} values, expected ${2 * axes.length}`);
  }
  return x.dims.map((d, a) => {
    const i = axes.indexOf(a);
    if (i < 0) return { inSize: d, outSize: d, scale: 1, roiStart: 0, roiEnd: 1 };
    return {
      inSize: d, outSize: sizes[i]!, scale: scales[i]!,
      roiStart: roi ? roi[i]! : 0, roiEnd: roi ? roi[i + axes.length]! : 1,
    };
  });
}

function resize(inputs: readonly (Tensor | undefined)[], attrs: Attributes, ctx: KernelContext): Tensor[] {
  const x = required(inputs, 0);
  const mode = attrs.string('mode', 'nearest');
  if (mode !== 'nearest' && mode !== 'linear' && mode !== 'cubic') throw new KernelError(`mode '${mode}' is not one of nearest, linear, cubic`);
  if (ctx.opset < 11 && mode === 'cubic') throw new KernelError('cubic mode needs opset 11');
  if (attrs.int('antialias', 0) !== 0) throw new KernelError('antialias is not supported');
  // opset 10 had no attributes for these: it behaves as asymmetric with onnxruntime's "simple" nearest rounding
  const coordMode = (ctx.opset < 11 ? 'asymmetric' : attrs.string('coordinate_transformation_mode', 'half_pixel')) as CoordinateMode;
  if (!COORDINATE_MODES.includes(coordMode)) {
    throw new KernelError(`coordinate_transformation_mode '${coordMode}' is not one of ${COORDINATE_MODES.join(', ')}`);
  }
  const nearestMode = (ctx.opset < 11 ? 'simple' : attrs.string('nearest_mode', 'round_prefer_floor')) as NearestMode;
  if (mode === 'nearest' && nearestMode !== 'simple' && !NEAREST_MODES.includes(nearestMode)) {
    throw new KernelError(`nearest_mode '${nearestMode}' is not one of ${NEAREST_MODES.join(', ')}`);
  }
  const extrapolation = attrs.float('extrapolation_value', 0);
  const plan = planAxes(x, inputs, attrs, ctx);
  const outDims = plan.map((p) => p.outSize);
  if (x.dims.some((d, a) => d === 0 && outDims[a]! > 0)) throw new KernelError(`cannot resize an empty axis of ${showDims(x.dims)}`);

  if (mode === 'nearest') {
    // one input coordinate per output coordinate and axis; -1 marks tf_crop_and_resize extrapolation
    const strides = stridesOf(x.dims);
    const outsideMark = -(sizeOf(x.dims) + 1); // sums of table entries stay negative once any axis is outside
    const tables = plan.map((p, a) => Float64Array.from({ length: p.outSize }, (_, c) => {
      const src = sourceCoordinate(c, p, coordMode);
      if (coordMode === 'tf_crop_and_resize' && (src < 0 || src > p.inSize - 1)) return outsideMark;
      const i = Math.min(Math.max(nearestIndex(src, nearestMode, p.scale), 0), p.inSize - 1);
      return i * strides[a]!;
    }));
    const index = offsetTable(outDims, tables);
    const out = filled(x.dtype, outDims, x.dtype === 'string' ? '' : elementAt(fromNumbers(x.dtype, [1], [extrapolation]), 0));
    for (let i = 0; i < index.length; i++) if (index[i]! >= 0) setElement(out.data, i, elementAt(x, index[i]!));
    return [out];
  }

  const cubicA = attrs.float('cubic_coeff_a', -0.75);
  const excludeOutside = attrs.int('exclude_outside', 0) === 1;
  let values: Float64Array = Float64Array.from(numberValues(x, 'X'));
  const dims = x.dims.slice();
  plan.forEach((p, a) => {
    const taps = interpolationTaps(p, coordMode, mode === 'cubic', cubicA, excludeOutside);
    const unchanged = p.outSize === p.inSize && taps.every((t, c) => !t.outside && t.weight.every((w, j) => w === 0 || (w === 1 && t.index[j] === c)));
    if (unchanged) return;
    values = interpolateAxis(values, dims, a, taps, extrapolation);
    dims[a] = p.outSize;
  });
  const range = INTEGER_RANGES[x.dtype];
  if (range) values = values.map((v) => Math.min(Math.max(Math.round(v), range[0]), range[1])); // integer images round and saturate
  return [fromNumbers(x.dtype, outDims, values)];
}

export const kernels: KernelTable = {
  Resize: resize,
};
