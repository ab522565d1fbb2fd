// Synthetic Hugging Face model folders for tests and benches: config.json, model.safetensors or N shards with
// model.safetensors.index.json, and tokenizer files copied from a real folder.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TensorDataByType } from '../../formats/dtype.ts';
import { float32ToHalf, toBytes } from '../../formats/dtype.ts';
import type { SafetensorsDType, SafetensorsWriteEntry } from '../../formats/safetensors/header.ts';
import { readSafetensorsBuffer } from '../../formats/safetensors/read-buffer.ts';
import { writeSafetensors } from '../../formats/safetensors/write-file.ts';
import type { Tensor } from '../../formats/tensor.ts';

export const STORIES_DIR = new URL('../fixtures/stories260K/', import.meta.url).pathname;
const HALF = { F16: 'float16', BF16: 'bfloat16' } as const;

export interface HfCheckpointOptions {
  /** Written as config.json (pretty-printed). */
  config: object;
  /**
   * Tensors in file order. Each tensor's `data` is read once, while its bytes are written: a tensor whose `data`
   * is a getter producing a fresh array keeps at most one tensor in memory (big synthetic checkpoints).
   */
  tensors: Record<string, Tensor>;
  /** float32 tensors are converted to this (round to nearest even); others are written as they are. Default F32. */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** More than 1: `model-0000i-of-0000N.safetensors` + model.safetensors.index.json; tensors split in order. */
  shards?: number;
  /** Copy tokenizer.json, tokenizer_config.json and special_tokens_map.json from this folder (those present). */
  tokenizerFrom?: string;
  /** Written as generation_config.json. */
  generationConfig?: object;
}

export interface WrittenHfCheckpoint {
  dir: string;
  /** The safetensors files written, in order. */
  files: string[];
  /** Tensor name → file name (as in the index). */
  weightMap: Record<string, string>;
}

function converted(t: Tensor, dtype: 'F32' | 'F16' | 'BF16'): { dtype: SafetensorsDType; data: () => TensorDataByType[SafetensorsDType] } {
  if (t.dtype === 'string') throw new TypeError('string tensors cannot be written to safetensors');
  if (t.dtype === 'float32' && dtype !== 'F32') {
    const half = HALF[dtype];
    return { dtype: half, data: () => float32ToHalf(half, t.data as Float32Array) };
  }
  return { dtype: t.dtype, data: () => t.data as TensorDataByType[SafetensorsDType] };
}

/** Writes a synthetic Hugging Face model folder into `dir` (created when missing). */
export async function writeHfCheckpoint(dir: string, options: HfCheckpointOptions): Promise<WrittenHfCheckpoint> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(options.config, null, 2)}\n`);
  if (options.generationConfig) writeFileSync(join(dir, 'generation_config.json'), `${JSON.stringify(options.generationConfig, null, 2)}\n`);
  if (options.tokenizerFrom) {
    for (const name of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
      const from = join(options.tokenizerFrom, name);
      if (existsSync(from)) copyFileSync(from, join(dir, name));
    }
  }

  const dtype = options.dtype ?? 'F32';
  const names = Object.keys(options.tensors);
  const shards = Math.max(1, Math.min(options.shards ?? 1, names.length || 1));
  const groups: string[][] = [];
  for (let i = 0; i < shards; i++) groups.push(names.slice(Math.floor((i * names.length) / shards), Math.floor(((i + 1) * names.length) / shards)));

  const files: string[] = [];
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (const [i, group] of groups.entries()) {
    const fileName = shards === 1 ? 'model.safetensors' : `model-${String(i + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const list: SafetensorsWriteEntry[] = [];
    const sources: (() => TensorDataByType[SafetensorsDType])[] = [];
    for (const name of group) {
      const t = options.tensors[name]!;
      const c = converted(t, dtype);
      list.push({ name, dtype: c.dtype, shape: t.dims });
      sources.push(c.data);
      weightMap[name] = fileName;
    }
    const entries = await writeSafetensors(join(dir, fileName), list, (_e, index) => toBytes(sources[index]!()), { metadata: { format: 'pt' } });
    totalSize += entries.reduce((n, e) => n + e.end - e.begin, 0);
    files.push(join(dir, fileName));
  }
  if (shards > 1) {
    const sorted = Object.fromEntries(Object.keys(weightMap).sort().map((k) => [k, weightMap[k]!]));
    writeFileSync(join(dir, 'model.safetensors.index.json'), `${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sorted }, null, 2)}\n`);
  }
  return { dir, files, weightMap };
}

/** The stories260K fixture's config.json, parsed. */
export function readStoriesConfig(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(STORIES_DIR, 'config.json'), 'utf8')) as Record<string, unknown>;
}

/** Every tensor of the stories260K fixture's model.safetensors, read eagerly (F32), in file order. */
export function readStoriesTensors(): Record<string, Tensor> {
  const path = join(STORIES_DIR, 'model.safetensors');
  const out: Record<string, Tensor> = {};
  for (const [name, t] of readSafetensorsBuffer(readFileSync(path), path)) out[name] = t;
  return out;
}
