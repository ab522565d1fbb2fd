// The k largest logits of one row (a language model's last position), on the GPU, so a decoding step reads
// back 2k numbers instead of the vocabulary: greedy decoding is k = 1. One workgroup; k rounds, each finding
// the largest entry strictly after the previous one in the order (value descending, index ascending) — the
// order the host's argmax and top-k use — by a strided scan and a tree reduction in workgroup memory.
// Output: k pairs (value, index as u32 bits); index 0xffffffff when the row has fewer than k entries. NaN is
// never selected.
import { ShaderBuilder } from './shader.ts';

const WORKGROUP = 256;
/** Largest k the shader is used for (above it the host reads the whole row). */
export const TOP_K_MAX = 128;

export function topKShader(vocab: number): string {
  const b = new ShaderBuilder('TopK', `of one logits row, vocab ${vocab}, k ≤ ${TOP_K_MAX}`);
  const offset = b.param('offset');
  const k = b.param('k');
  b.storage('logits', 'f32', 'read').storage('result', 'f32', 'read_write');
  b.declare(`
const V = ${vocab}u;
const NONE = 0xffffffffu;
var<workgroup> best_value: array<f32, ${WORKGROUP}>;
var<workgroup> best_index: array<u32, ${WORKGROUP}>;
// (v, i) comes before (w, j): larger value first, lower index on ties.
fn before(v: f32, i: u32, w: f32, j: u32) -> bool {
  return v > w || (v == w && i < j);
}`);
  return b.build([WORKGROUP], `
var prev_value = 0.0;
var prev_index = NONE;
for (var round = 0u; round < ${k}; round++) {
  var v_best = 0.0; // not read while i_best is NONE
  var i_best = NONE;
  for (var i = lid.x; i < V; i += ${WORKGROUP}u) {
    let v = logits[${offset} + i];
    let after = round == 0u || (prev_index != NONE && before(prev_value, prev_index, v, i));
    if (after && (i_best == NONE || before(v, i, v_best, i_best))) { v_best = v; i_best = i; }
  }
  best_value[lid.x] = v_best;
  best_index[lid.x] = i_best;
  workgroupBarrier();
  for (var s = ${WORKGROUP / 2}u; s > 0u; s >>= 1u) {
    if (lid.x < s) {
      let j = best_index[lid.x + s];
      if (j != NONE && (best_index[lid.x] == NONE || before(best_value[lid.x + s], j, best_value[lid.x], best_index[lid.x]))) {
        best_value[lid.x] = best_value[lid.x + s];
        best_index[lid.x] = j;
      }
    }
    workgroupBarrier();
  }
  prev_value = best_value[0];
  prev_index = best_index[0];
  if (lid.x == 0u) {
    result[2u * round] = prev_value;
    result[2u * round + 1u] = bitcast<f32>(prev_index);
  }
  workgroupBarrier();
}`).source;
}
