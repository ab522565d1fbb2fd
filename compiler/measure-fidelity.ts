// How close the 1-bit model's outputs are to the original's, measured at compile time on sample inputs with
// the reference interpreter: cosine similarity of the outputs and, for language models (on a built-in text
// sample), the KL divergence of the next-token distributions and how often the top-1 tokens agree.
import type { Tensor } from '../formats/tensor.ts';
import { sizeOf } from '../formats/tensor.ts';
import { Interpreter } from '../runtime/execute.ts';
import { KERNELS } from '../runtime/kernels/index.ts';
import { widenStoredConstants } from '../runtime/model.ts';
import { loadTokenizer } from '../runtime/tokenizer/tokenizer.ts';
import { buildPlan } from './codegen/js/emit-plan.ts';
import type { IrModel, ValueInfo } from './ir/graph.ts';
import type { LanguageModelInfo } from './import/import-model.ts';

export interface Fidelity {
  /** Cosine similarity of the first output, original vs 1-bit (1 = same direction). */
  cosine: number;
  /** Language models: mean KL(original ‖ 1-bit) of the next-token distributions, in nats per token. */
  kl?: number;
  /** Language models: fraction of positions where both pick the same most likely token. */
  top1?: number;
  /** What the models ran on. */
  sample: string;
}

/** Above this many weights the measurement (two reference-kernel runs) would take too long. */
export const MAX_FIDELITY_WEIGHTS = 50_000_000;

/** Plain text for language models: ordinary English, the kind of text most checkpoints were trained on. */
const SAMPLE_TEXT = 'Once upon a time, there was a little girl who loved to read books. Every day after school she went to the library.';

export function measureFidelity(original: IrModel, quantized: IrModel, lm: LanguageModelInfo | undefined): Fidelity | undefined {
  const inputs = sampleInputs(original, lm);
  if (!inputs) return undefined;
  const a = run(original, inputs.feeds);
  const b = run(quantized, inputs.feeds);
  const fidelity: Fidelity = { cosine: cosine(a, b), sample: inputs.description };
  if (lm) Object.assign(fidelity, nextTokenAgreement(a, b));
  return fidelity;
}

function run(model: IrModel, feeds: Map<string, Tensor>): Tensor {
  const { plan, weights } = buildPlan(model, 'weights.safetensors');
  const constants = new Map(weights);
  widenStoredConstants(plan, constants);
  return new Interpreter(KERNELS, plan.opset).run(plan.graph, feeds, Interpreter.constants(constants))[0]!;
}

/** Feeds for every input: token ids of the sample text for LMs (empty KV cache), else seeded random data. */
function sampleInputs(model: IrModel, lm: LanguageModelInfo | undefined): { feeds: Map<string, Tensor>; description: string } | undefined {
  let ids: number[] | undefined;
  if (lm) ids = loadTokenizer(lm.tokenizer, lm.tokenizerConfig ? JSON.parse(lm.tokenizerConfig) : undefined).encode(SAMPLE_TEXT);
  const symbols = new Map<string, number>([['batch', 1], ['sequence', ids?.length ?? 8], ['past_sequence', 0]]);
  const feeds = new Map<string, Tensor>();
  let seed = 1;
  for (const v of model.graph.inputs) {
    const dims = (v.shape ?? []).map((d) => (typeof d === 'number' ? d : symbols.get(d) ?? 1));
    const t = sample(v, dims, ids, seed++);
    if (!t) return undefined;
    feeds.set(v.name, t);
  }
  return { feeds, description: ids ? `${ids.length} tokens of a built-in English sample` : 'seeded random inputs' };
}

function sample(v: ValueInfo, dims: number[], ids: number[] | undefined, seed: number): Tensor | undefined {
  const n = sizeOf(dims);
  if (v.name === 'input_ids' && ids) return { dtype: v.dtype, dims, data: v.dtype === 'int64' ? BigInt64Array.from(ids.map(BigInt)) : Int32Array.from(ids) } as Tensor;
  if (v.dtype !== 'float32') return undefined; // integer inputs other than token ids have no meaningful random value
  let s = seed * 2654435761;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; data[i] = (s / 2 ** 32) * 2 - 1; }
  return { dtype: 'float32', dims, data };
}

function cosine(a: Tensor, b: Tensor): number {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  let dot = 0; let nx = 0; let ny = 0;
  for (let i = 0; i < x.length; i++) { dot += x[i]! * y[i]!; nx += x[i]! ** 2; ny += y[i]! ** 2; }
  return dot / Math.sqrt(nx * ny || 1);
}

function nextTokenAgreement(a: Tensor, b: Tensor): { kl: number; top1: number } {
  const vocab = a.dims.at(-1)!;
  const rows = sizeOf(a.dims) / vocab;
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  let kl = 0;
  let same = 0;
  for (let r = 0; r < rows; r++) {
    const p = logSoftmax(x.subarray(r * vocab, (r + 1) * vocab));
    const q = logSoftmax(y.subarray(r * vocab, (r + 1) * vocab));
    let argP = 0; let argQ = 0;
    for (let i = 0; i < vocab; i++) {
      kl += Math.exp(p[i]!) * (p[i]! - q[i]!);
      if (p[i]! > p[argP]!) argP = i;
      if (q[i]! > q[argQ]!) argQ = i;
    }
    if (argP === argQ) same++;
  }
  return { kl: kl / rows, top1: same / rows };
}

function logSoftmax(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const log = Math.log(sum) + max;
  return Float64Array.from(row, (v) => v - log);
}
