// Opens a Hugging Face model folder (or a .safetensors / torch.save file with config.json beside it) without loading
// weights: config.json is parsed and validated, every safetensors header (or torch.save zip directory and pickle)
// is read and validated, and each tensor is a FileTensor that reads its bytes only when its `data` is touched.
// Weights, in order of preference: model.safetensors, model.safetensors.index.json (sharded), pytorch_model.bin
// (torch.save, as the OneBit release and older Hugging Face checkpoints ship), pytorch_model.bin.index.json.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { FormatError } from '../../../formats/errors.ts';
import type { SafetensorsEntry } from '../../../formats/safetensors/header.ts';
import { FileTensor } from '../../../formats/safetensors/file-tensor.ts';
import { openSafetensors } from '../../../formats/safetensors/read-file.ts';
import { openTorchCheckpoint } from '../../../formats/pytorch/read-checkpoint.ts';
import type { HfConfig, HfGenerationConfig } from './config.ts';
import { parseHfConfig } from './config.ts';

/** Tensors by name; `get` returns a lazy FileTensor (its data is read from disk on each access). */
export interface WeightSource {
  names(): string[];
  has(name: string): boolean;
  get(name: string): FileTensor;
}

/** The weights of a checkpoint: one safetensors or torch.save file, or the shards of an index. */
export interface HfWeights extends WeightSource {
  /** What names the weights in messages: the index file when sharded, else the weights file. */
  readonly source: string;
  /** The safetensors (or torch.save) files, in order (one unless sharded). */
  readonly files: readonly string[];
  /** The file holding `name`, or undefined. */
  fileOf(name: string): string | undefined;
}

export interface HfCheckpoint {
  /** The model folder (the folder of the .safetensors file when a file was given). */
  dir: string;
  config: HfConfig;
  weights: HfWeights;
  files: { tokenizer?: string; tokenizerConfig?: string; generationConfig?: string; specialTokensMap?: string };
}

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';
export const TORCH_WEIGHTS_FILE = 'pytorch_model.bin';
export const TORCH_INDEX_FILE = 'pytorch_model.bin.index.json';
const EXPECTED = `a Hugging Face model folder (${CONFIG_FILE} with ${WEIGHTS_FILE}, ${CONFIG_FILE} with sharded *.safetensors and ${INDEX_FILE}, or ${CONFIG_FILE} with ${TORCH_WEIGHTS_FILE})`;
/** Single weight files accepted as the input itself (config.json beside them). */
const TORCH_FILE = /\.(bin|pt|pth)$/;

type Format = 'safetensors' | 'torch';

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function isFile(path: string): boolean {
  return statOrUndefined(path)?.isFile() ?? false;
}

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FormatError(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    const message = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    throw new FormatError(path, `is not valid JSON (${message}); expected ${what}`);
  }
}

/**
 * Opens `input`: a model folder, or a `.safetensors` file with `config.json` beside it. Reads config.json,
 * generation_config.json (when present) and the safetensors headers only. Bad input throws one FormatError
 * line naming the file and the tensor or key.
 */
export async function openHuggingFaceFolder(input: string): Promise<HfCheckpoint> {
  const info = statOrUndefined(input);
  if (!info) throw new FormatError(input, `no such file or folder; expected ${EXPECTED} or a .safetensors file with ${CONFIG_FILE} beside it`);

  let dir: string;
  let weightsPlan: { kind: 'single' | 'index'; file: string; format: Format };
  if (info.isDirectory()) {
    dir = input;
    const configPath = join(dir, CONFIG_FILE);
    if (!isFile(configPath)) throw new FormatError(dir, `no ${CONFIG_FILE}; expected ${EXPECTED}`);
    if (isFile(join(dir, WEIGHTS_FILE))) weightsPlan = { kind: 'single', file: join(dir, WEIGHTS_FILE), format: 'safetensors' };
    else if (isFile(join(dir, INDEX_FILE))) weightsPlan = { kind: 'index', file: join(dir, INDEX_FILE), format: 'safetensors' };
    else if (isFile(join(dir, TORCH_WEIGHTS_FILE))) weightsPlan = { kind: 'single', file: join(dir, TORCH_WEIGHTS_FILE), format: 'torch' };
    else if (isFile(join(dir, TORCH_INDEX_FILE))) weightsPlan = { kind: 'index', file: join(dir, TORCH_INDEX_FILE), format: 'torch' };
    else {
      const present = safeList(dir);
      const others = present.filter((f) => f.endsWith('.safetensors'));
      const torch = present.filter((f) => TORCH_FILE.test(f));
      const hint = others.length > 0 ? `; found ${others.join(', ')}: pass the .safetensors file itself`
        : torch.length > 0 ? `; found ${torch.join(', ')}: pass the torch.save file itself` : '';
      throw new FormatError(dir, `no ${WEIGHTS_FILE} or ${INDEX_FILE} (nor ${TORCH_WEIGHTS_FILE} or ${TORCH_INDEX_FILE}); expected ${EXPECTED}${hint}`);
    }
  } else if (info.isFile() && (input.endsWith('.safetensors') || TORCH_FILE.test(input))) {
    dir = dirname(input);
    const kind = input.endsWith('.safetensors') ? '.safetensors' : 'torch.save';
    if (!isFile(join(dir, CONFIG_FILE))) {
      throw new FormatError(input, `no ${CONFIG_FILE} beside it; a ${kind} input needs the model's Hugging Face ${CONFIG_FILE} in the same folder`);
    }
    weightsPlan = { kind: 'single', file: input, format: input.endsWith('.safetensors') ? 'safetensors' : 'torch' };
  } else {
    throw new FormatError(input, `expected ${EXPECTED} or a .safetensors file with ${CONFIG_FILE} beside it`);
  }

  const configPath = join(dir, CONFIG_FILE);
  const configJson = readJson(configPath, 'a Hugging Face config.json');
  const files: HfCheckpoint['files'] = {};
  const optional: [keyof HfCheckpoint['files'], string][] = [
    ['tokenizer', 'tokenizer.json'], ['tokenizerConfig', 'tokenizer_config.json'],
    ['generationConfig', 'generation_config.json'], ['specialTokensMap', 'special_tokens_map.json'],
  ];
  for (const [key, name] of optional) if (isFile(join(dir, name))) files[key] = join(dir, name);
  let generation: HfGenerationConfig | undefined;
  if (files.generationConfig) generation = { file: files.generationConfig, json: readJson(files.generationConfig, 'a Hugging Face generation_config.json') };
  const config = parseHfConfig(configJson, configPath, generation);

  const weights = weightsPlan.kind === 'index' ? await sharded(dir, weightsPlan.file, weightsPlan.format)
    : weightsPlan.format === 'torch' ? await openTorchCheckpoint(weightsPlan.file) : await singleFile(weightsPlan.file);
  return { dir, config, weights, files };
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

interface Located {
  file: string;
  /** A fresh lazy tensor over the tensor's bytes. */
  open(): FileTensor;
}

class Weights implements HfWeights {
  constructor(readonly source: string, readonly files: readonly string[], private readonly byName: Map<string, Located>) {}

  names(): string[] {
    return [...this.byName.keys()];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  fileOf(name: string): string | undefined {
    return this.byName.get(name)?.file;
  }

  get(name: string): FileTensor {
    const at = this.byName.get(name);
    if (!at) throw new FormatError(this.source, 'no such tensor in the checkpoint', name);
    return at.open();
  }
}

/** Reads and validates one file's header (and nothing else). */
async function readHeader(path: string): Promise<{ entries: readonly SafetensorsEntry[]; dataOffset: number }> {
  const file = await openSafetensors(path);
  try {
    return { entries: file.entries, dataOffset: file.header.dataOffset };
  } finally {
    await file.close();
  }
}

/** The tensors of one weights file, by name (headers / directory and pickle read; no tensor data). */
async function readShard(path: string, format: Format): Promise<Map<string, Located>> {
  const byName = new Map<string, Located>();
  if (format === 'torch') {
    const checkpoint = await openTorchCheckpoint(path);
    for (const name of checkpoint.names()) byName.set(name, { file: path, open: () => checkpoint.get(name) });
    return byName;
  }
  const { entries, dataOffset } = await readHeader(path);
  for (const entry of entries) byName.set(entry.name, { file: path, open: () => new FileTensor(path, entry, dataOffset) });
  return byName;
}

async function singleFile(path: string): Promise<HfWeights> {
  return new Weights(path, [path], await readShard(path, 'safetensors'));
}

async function sharded(dir: string, indexPath: string, format: Format): Promise<HfWeights> {
  const index = readJson(indexPath, `a ${format === 'torch' ? 'pytorch_model.bin' : 'safetensors'} index: { "weight_map": { tensor name: shard file } }`);
  if (typeof index !== 'object' || index === null || Array.isArray(index)) {
    throw new FormatError(indexPath, 'is not a JSON object; expected { "weight_map": { tensor name: shard file } }');
  }
  const map = (index as Record<string, unknown>).weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new FormatError(indexPath, `key 'weight_map' is ${map === undefined ? 'missing' : 'not an object'}; expected { tensor name: shard file }`);
  }
  const listed = new Map<string, string>(); // tensor → shard file name as written
  const shards: string[] = []; // shard file names, in order of first mention
  const firstTensor = new Map<string, string>();
  const root = resolve(dir);
  for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard === '') throw new FormatError(indexPath, `shard is ${JSON.stringify(shard)}; expected a file name`, name);
    const rel = relative(root, resolve(root, shard));
    if (isAbsolute(shard) || rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      throw new FormatError(indexPath, `shard '${shard}' is outside the model folder`, name);
    }
    listed.set(name, shard);
    if (!firstTensor.has(shard)) {
      firstTensor.set(shard, name);
      shards.push(shard);
    }
  }
  if (shards.length === 0) throw new FormatError(indexPath, "key 'weight_map' lists no tensors");
  for (const shard of shards) {
    if (!isFile(join(dir, shard))) {
      throw new FormatError(indexPath, `shard '${shard}' not found in ${dir}`, firstTensor.get(shard));
    }
  }

  const byName = new Map<string, Located>();
  const paths: string[] = [];
  const contents = new Map<string, Set<string>>();
  for (const shard of shards) {
    const path = join(dir, shard);
    paths.push(path);
    const tensors = await readShard(path, format);
    contents.set(shard, new Set(tensors.keys()));
    for (const [name, located] of tensors) {
      const previous = byName.get(name);
      if (previous) {
        throw new FormatError(path, `also in shard '${basename(previous.file)}'; a tensor must be in exactly one shard`, name);
      }
      byName.set(name, located);
    }
  }
  for (const [name, shard] of listed) {
    if (!contents.get(shard)!.has(name)) {
      const actual = byName.get(name);
      const where = actual ? ` (it is in '${basename(actual.file)}')` : '';
      throw new FormatError(indexPath, `listed in shard '${shard}', but that shard has no such tensor${where}`, name);
    }
  }
  return new Weights(indexPath, paths, byName);
}
