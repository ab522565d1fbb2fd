// Shared by the generate tests: the stories260K bundle (compiled once per test file, fp32), its tokenizer and
// reference, and a tiny KV-cache language model that follows the I/O convention of the HF templates.
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compile } from '../../../compiler/compile.ts';
import type { LanguageModel } from '../../../runtime/generate/session.ts';
import type { Tokenizer } from '../../../runtime/tokenizer/tokenizer.ts';
import { loadTokenizer } from '../../../runtime/tokenizer/tokenizer.ts';
import { ROOT, tempDir } from '../../helpers/cli.ts';
import { randomNormal, valueInfo, writeModel } from '../../helpers/onnx-builder.ts';

export const FIXTURE = join(ROOT, 'test/fixtures/stories260K');
export const VALID_SAMPLE = join(ROOT, 'test/fixtures/tinystories/valid_sample.txt');

export interface Reference {
  prompt_text: string;
  prompt_ids: number[];
  greedy_continuation_ids: number[];
  greedy_continuation_text: string;
  perplexity_tinystories_valid_sample: { chunks: number; tokens_scored: number; perplexity: number; mean_nll_nats: number; max_chunk_len: number };
}

export const reference = JSON.parse(readFileSync(join(FIXTURE, 'reference.json'), 'utf8')) as Reference;

export type BundleModel = LanguageModel & { backend: string; dispose(): void };

/** Compiles `model` (quantize: false) into a temporary bundle and loads it through its model.js. */
export async function compileAndLoad(model: string, prefix: string, backend: 'auto' | 'js' = 'auto'): Promise<{ model: BundleModel; dir: string }> {
  const dir = join(tempDir(prefix), 'bundle');
  await compile(model, { output: dir, quantize: false, log: () => {} });
  const mod = await import(pathToFileURL(join(dir, 'model.js')).href) as { load(o?: { backend?: string }): Promise<BundleModel> };
  return { model: await mod.load({ backend }), dir };
}

let stories: Promise<{ model: BundleModel; dir: string }> | undefined;

/** The stories260K fp32 bundle (with tokenizer.json, copied in when the compiler does not ship it). */
export function storiesBundle(): Promise<{ model: BundleModel; dir: string }> {
  stories ??= compileAndLoad(join(FIXTURE, 'model.onnx'), 'stories').then((b) => {
    if (!existsSync(join(b.dir, 'tokenizer.json'))) copyFileSync(join(FIXTURE, 'tokenizer.json'), join(b.dir, 'tokenizer.json'));
    return b;
  });
  return stories;
}

export function storiesTokenizer(): Tokenizer {
  return loadTokenizer(readFileSync(join(FIXTURE, 'tokenizer.json'), 'utf8'));
}

export const TINY = { vocab: 11, dim: 4, maxPositions: 64 } as const;

/**
 * A 1-layer causal LM with a KV cache, in the convention of the HF templates: inputs input_ids, attention_mask,
 * position_ids, past_key_values.0.key/.value [batch, 1, past_sequence, 4]; outputs logits and
 * present.0.key/.value = Concat(past, new) on the sequence axis. Its "attention" is a running sum of keys and
 * values (CumSum over all positions, past included), so every logit depends on every earlier key;
 * `withPositions: false` leaves out position_ids and attention_mask.
 */
export function writeTinyCacheModel(path: string, withPositions = true): void {
  const { vocab: V, dim: D, maxPositions: P } = TINY;
  const f32 = (dims: number[], seed: number, std: number) => ({ dtype: 'float32' as const, dims, data: randomNormal(dims.reduce((a, b) => a * b, 1), std, seed) });
  const i64 = (values: number[], dims: number[] = [values.length]) => ({ dtype: 'int64' as const, dims, data: BigInt64Array.from(values.map(BigInt)) });
  const nodes = [
    { name: 'embed', opType: 'Gather', input: ['embed.weight', 'input_ids'], output: ['tok'] },
    ...(withPositions ? [
      { name: 'pos', opType: 'Gather', input: ['pos.weight', 'position_ids'], output: ['pos'] },
      { name: 'x', opType: 'Add', input: ['tok', 'pos'], output: ['x'] },
    ] : [{ name: 'x', opType: 'Identity', input: ['tok'], output: ['x'] }]),
    { name: 'k', opType: 'MatMul', input: ['x', 'k.weight'], output: ['k'] },
    { name: 'v', opType: 'MatMul', input: ['x', 'v.weight'], output: ['v'] },
    { name: 'k4', opType: 'Unsqueeze', input: ['k', 'axis1'], output: ['k4'] },
    { name: 'v4', opType: 'Unsqueeze', input: ['v', 'axis1'], output: ['v4'] },
    { name: 'present.key', opType: 'Concat', input: ['past_key_values.0.key', 'k4'], output: ['present.0.key'], attribute: [{ name: 'axis', type: 2, i: 2 }] },
    { name: 'present.value', opType: 'Concat', input: ['past_key_values.0.value', 'v4'], output: ['present.0.value'], attribute: [{ name: 'axis', type: 2, i: 2 }] },
    { name: 'ksum', opType: 'CumSum', input: ['present.0.key', 'axis2scalar'], output: ['ksum'] },
    { name: 'vsum', opType: 'CumSum', input: ['present.0.value', 'axis2scalar'], output: ['vsum'] },
    { name: 'kv', opType: 'Mul', input: ['ksum', 'vsum'], output: ['kv'] },
    { name: 'past_shape', opType: 'Shape', input: ['past_key_values.0.key'], output: ['past_shape'] },
    { name: 'past_len', opType: 'Gather', input: ['past_shape', 'index2'], output: ['past_len'] },
    { name: 'new', opType: 'Slice', input: ['kv', 'past_len', 'big', 'axis2'], output: ['new4'] },
    { name: 'new3', opType: 'Squeeze', input: ['new4', 'axis1'], output: ['new3'] },
    { name: 'tanh', opType: 'Tanh', input: ['new3'], output: ['mixed'] },
    { name: 'h', opType: 'Add', input: ['x', 'mixed'], output: ['h'] },
    ...(withPositions ? [
      { name: 'mask_f', opType: 'Cast', input: ['attention_mask'], output: ['mask_f'], attribute: [{ name: 'to', type: 2, i: 1 }] },
      { name: 'mask_sum', opType: 'ReduceMax', input: ['mask_f'], output: ['mask_sum'], attribute: [{ name: 'axes', type: 7, ints: [1] }] },
      { name: 'mask_scaled', opType: 'Mul', input: ['mask_sum', 'small'], output: ['mask_scaled'] },
      { name: 'mask3', opType: 'Unsqueeze', input: ['mask_scaled', 'axis1'], output: ['mask3'] },
      { name: 'hm', opType: 'Add', input: ['h', 'mask3'], output: ['hm'] },
    ] : [{ name: 'hm', opType: 'Identity', input: ['h'], output: ['hm'] }]),
    { name: 'head', opType: 'MatMul', input: ['hm', 'head.weight'], output: ['logits'] },
  ];
  const cache = (name: string, seq: string) => valueInfo(name, 1, ['batch', 1, seq, D]);
  writeModel(path, {
    nodes,
    inputs: [
      valueInfo('input_ids', 7, ['batch', 'sequence']),
      ...(withPositions ? [valueInfo('attention_mask', 7, ['batch', 'total_sequence']), valueInfo('position_ids', 7, ['batch', 'sequence'])] : []),
      cache('past_key_values.0.key', 'past_sequence'),
      cache('past_key_values.0.value', 'past_sequence'),
    ],
    outputs: [valueInfo('logits', 1, ['batch', 'sequence', V]), cache('present.0.key', 'total_sequence'), cache('present.0.value', 'total_sequence')],
    initializers: [
      ['embed.weight', f32([V, D], 1, 1)],
      ['pos.weight', f32([P, D], 2, 0.5)],
      ['k.weight', f32([D, D], 3, 0.7)],
      ['v.weight', f32([D, D], 4, 0.7)],
      ['head.weight', f32([D, V], 5, 2)],
      ['axis1', i64([1])],
      ['axis2', i64([2])],
      ['index2', i64([2])],
      ['axis2scalar', i64([2], [])],
      ['big', i64([1 << 30])],
      ['small', { dtype: 'float32', dims: [], data: Float32Array.of(0.01) }],
    ].filter(([name]) => withPositions || name !== 'pos.weight' && name !== 'small') as [string, never][],
  });
}
