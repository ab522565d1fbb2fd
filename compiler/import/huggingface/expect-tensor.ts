// The importer's one way to fetch a weight: present, of the expected dims, and a float dtype the compiler reads.
import { FormatError } from '../../../formats/errors.ts';
import type { FileTensor } from '../../../formats/safetensors/file-tensor.ts';
import type { WeightSource } from './folder.ts';

/** The dtypes a Hugging Face weight may have (F32, F16, BF16). */
export const WEIGHT_DTYPES = ['float32', 'float16', 'bfloat16'] as const;

export interface ExpectContext {
  /** The file to name when the tensor is missing (default: the source's `source`, e.g. the index or the .safetensors file). */
  file?: string;
  /** Why this shape is expected, e.g. `hidden_size 64 in config.json`: appended to shape errors. */
  why?: string;
}

function sourceOf(weights: WeightSource): string {
  const s = (weights as { source?: unknown }).source;
  return typeof s === 'string' ? s : '<weights>';
}

/** A name that differs only by a prefix (`model.` vs none, `transformer.`…): worth suggesting. */
function nearMiss(weights: WeightSource, name: string): string | undefined {
  const names = weights.names();
  const dot = (a: string, b: string) => a.endsWith(`.${b}`);
  return names.find((n) => dot(n, name) || dot(name, n));
}

/**
 * The tensor `name` of `weights`, checked: present (else a FormatError naming the tensor and the file), of dims
 * exactly `dims` (else naming actual and expected dims) and of dtype F32, F16 or BF16. Reads no data.
 * `context` is the file to name for a missing tensor, or an ExpectContext.
 */
export function expectTensor(weights: WeightSource, name: string, dims: readonly number[], context?: string | ExpectContext): FileTensor {
  const ctx: ExpectContext = typeof context === 'string' ? { file: context } : context ?? {};
  const where = ctx.file ?? sourceOf(weights);
  if (!weights.has(name)) {
    const close = nearMiss(weights, name);
    throw new FormatError(where, `missing; expected ${shape(dims)}${close ? ` (the checkpoint has '${close}')` : ''}`, name);
  }
  const t = weights.get(name);
  const why = ctx.why ? ` (${ctx.why})` : '';
  if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
    throw new FormatError(t.file, `has dims ${shape(t.dims)}, expected ${shape(dims)}${why}`, name);
  }
  if (!(WEIGHT_DTYPES as readonly string[]).includes(t.dtype)) {
    throw new FormatError(t.file, `has dtype ${t.dtype}, expected float32, float16 or bfloat16 (F32, F16, BF16)`, name);
  }
  return t;
}

function shape(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}
