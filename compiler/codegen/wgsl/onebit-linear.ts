// OneBitLinear in WGSL:  y = alpha · (((x ⊙ g) Sᵀ) ⊙ h) + bias, optionally followed by OneBit's post-LayerNorm
// (no affine; biased variance over the output row). Signs are read as u32 words, each row padded to whole
// words at load (GpuConstantLayout 'onebit-rows32'; bit j of word w is column 32w + j, 1 = −1, as on disk).
//
// Without the post-norm, a workgroup of 256 threads computes 256 / L output rows for one row of x: L threads
// per output row (one per sign word, up to 32) read consecutive words of it (coalesced), each thread adds
// ±x'ₖ for the 32 columns of a word, and the L partial sums are reduced in workgroup memory. The grid is
// (ceil(out · L / 256), rows of x), so one
// token (GEMV) and a prefill (GEMM) use the same shader. With the post-norm, one workgroup owns a whole row
// of x (the norm needs every output of the row): each thread computes outputs o ≡ lid (mod 256), then the
// mean and the variance are reduced in workgroup memory, two passes as in the reference kernel.
import type { GpuConstantLayout } from '../../../runtime/plan.ts';
import type { GpuKernelFamily } from './kernel.ts';
import { describe, f32Literal, ShaderBuilder } from './shader.ts';

const WORKGROUP = 256;
/** Threads per output row (no post-norm): one per sign word, up to 32. */
const lanesFor = (words: number): number => Math.min(32, 2 ** Math.ceil(Math.log2(Math.max(1, words))));

export const onebitLinearKernel: GpuKernelFamily = (node, ctx) => {
  if (node.domain !== 'ai.onebitc' || node.op !== 'OneBitLinear') return undefined;
  const [x, sign, g, h, bias] = node.inputs;
  const inDim = node.attrs['in'];
  const out = node.attrs['out'];
  if (typeof inDim !== 'number' || typeof out !== 'number' || inDim === 0 || out === 0) return undefined;
  if (ctx.type(x)?.dtype !== 'float32' || ctx.constant(sign)?.dtype !== 'uint8') return undefined;
  const vectors = [g, h, ...(bias ? [bias] : [])];
  if (!vectors.every((v) => { const t = ctx.constant(v); return t && (t.dtype === 'float32' || t.dtype === 'float16'); })) return undefined;
  const constants: Record<number, GpuConstantLayout> = { 1: 'onebit-rows32', 2: 'f32', 3: 'f32' };
  if (bias) constants[4] = 'f32';
  const alpha = typeof node.attrs['alpha'] === 'number' ? node.attrs['alpha'] : 1;
  const eps = node.attrs['post_norm_eps'];
  const postNorm = typeof eps === 'number' ? eps : undefined;

  const b = new ShaderBuilder('OneBitLinear', `${describe('float32', ctx.type(x)?.shape)} × 1-bit [${out}, ${inDim}]${bias ? ' + bias' : ''}${postNorm !== undefined ? ' → post-norm' : ''}`);
  b.storage('x', 'f32', 'read').storage('sign', 'u32', 'read').storage('g', 'f32', 'read').storage('h', 'f32', 'read');
  if (bias) b.storage('bias', 'f32', 'read');
  b.storage('y', 'f32', 'read_write');
  const words = Math.ceil(inDim / 32);
  const LANES = lanesFor(words);
  const ROWS_PER_GROUP = WORKGROUP / LANES;
  const full = Math.floor(inDim / 32);
  const tail = inDim % 32;
  b.declare(`
const IN = ${inDim}u;
const OUT = ${out}u;
const WORDS = ${words}u;
const ALPHA = ${f32Literal(alpha)};
${postNorm !== undefined ? `const EPS = ${f32Literal(postNorm)};` : ''}
var<workgroup> partial: array<f32, ${WORKGROUP}>;
// Σ ±x'ₖ over the columns of one sign word (bit set: minus), for row \`xrow\` of x.
fn word_sum(bits: u32, k0: u32, count: u32, xrow: u32) -> f32 {
  var acc = 0.0;
  for (var j = 0u; j < count; j++) {
    let v = x[xrow * IN + k0 + j] * g[k0 + j];
    acc += select(v, -v, ((bits >> j) & 1u) == 1u);
  }
  return acc;
}
// The full dot product of output row o with row xrow of x, before ⊙ h.
fn row_dot(o: u32, xrow: u32, first: u32, step: u32) -> f32 {
  var acc = 0.0;
  for (var w = first; w < ${full}u; w += step) {
    acc += word_sum(sign[o * WORDS + w], w * 32u, 32u, xrow);
  }
  ${tail ? `if (first == 0u) { acc += word_sum(sign[o * WORDS + ${full}u], ${full * 32}u, ${tail}u, xrow); }` : ''}
  return acc;
}
fn finish(o: u32, acc: f32) -> f32 {
  return ALPHA * acc * h[o]${bias ? ' + bias[o]' : ''};
}`);
  const reduce = (lanes: number, index: string, lane: string) => lanes === 1 ? '' : `
for (var s = ${lanes / 2}u; s > 0u; s >>= 1u) {
  if (${lane} < s) { partial[${index}] += partial[${index} + s]; }
  workgroupBarrier();
}`;
  if (postNorm === undefined) {
    const shader = b.build([WORKGROUP], `
let r = lid.x / ${LANES}u;
let lane = lid.x % ${LANES}u;
let o = wid.x * ${ROWS_PER_GROUP}u + r;
let xrow = wid.y;
var acc = 0.0;
if (o < OUT) { acc = row_dot(o, xrow, lane, ${LANES}u); }
partial[lid.x] = acc;
workgroupBarrier();
${reduce(LANES, 'lid.x', 'lane')}
if (lane == 0u && o < OUT) { y[xrow * OUT + o] = finish(o, partial[lid.x]); }`);
    return { kind: 'onebit-linear', bindings: [0, 1, 2, 3, ...(bias ? [4] : [])], constants, dispatch: [['outBlocks', 1], ['rows', 1]], sizes: { in: inDim, out, rowsPerGroup: ROWS_PER_GROUP }, shader };
  }
  const shader = b.build([WORKGROUP], `
let xrow = wid.x;
var sum = 0.0;
for (var o = lid.x; o < OUT; o += ${WORKGROUP}u) {
  let z = finish(o, row_dot(o, xrow, 0u, 1u));
  y[xrow * OUT + o] = z;
  sum += z;
}
partial[lid.x] = sum;
workgroupBarrier();
${reduce(WORKGROUP, 'lid.x', 'lid.x')}
let mean = partial[0] / f32(OUT);
workgroupBarrier();
var squares = 0.0;
for (var o = lid.x; o < OUT; o += ${WORKGROUP}u) {
  let d = y[xrow * OUT + o] - mean;
  squares += d * d;
}
partial[lid.x] = squares;
workgroupBarrier();
${reduce(WORKGROUP, 'lid.x', 'lid.x')}
let scale = 1.0 / sqrt(partial[0] / f32(OUT) + EPS);
for (var o = lid.x; o < OUT; o += ${WORKGROUP}u) {
  y[xrow * OUT + o] = (y[xrow * OUT + o] - mean) * scale;
}`);
  return { kind: 'onebit-linear', bindings: [0, 1, 2, 3, ...(bias ? [4] : [])], constants, dispatch: [['rows', 1]], sizes: { in: inDim, out, rowsPerGroup: 0 }, shader };
};
