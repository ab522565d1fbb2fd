// The compiler's front door: an .onnx file, a Hugging Face folder, or a .safetensors file with config.json
// beside it → IR, plus what a language model bundle needs (tokenizer, special ids, context length).
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { CompileError } from '../ir/diagnostics.ts';
import type { IrModel } from '../ir/graph.ts';
import { openHuggingFaceFolder } from './huggingface/folder.ts';
import { buildFromConfig } from './huggingface/templates/index.ts';
import { importOnnx } from './onnx.ts';

export interface LanguageModelInfo {
  /** tokenizer.json, as text (the bundle ships it). */
  tokenizer: string;
  tokenizerConfig?: string;
  bos?: number;
  eos: number[];
  contextLength: number;
  /** Whether the graph takes and returns a KV cache (past_key_values.* / present.*). */
  cache: boolean;
}

export interface ImportedModel {
  model: IrModel;
  lm?: LanguageModelInfo;
  /** Names of the weights read from a checkpoint (LM bundles store the ones kept in full precision as fp16). */
  checkpointWeights?: ReadonlySet<string>;
  /** The LM head's weight: the paper keeps it in fp16 unless asked to quantize it. */
  headWeight?: string;
  /** The checkpoint's projections are OneBit already (a model trained with the paper's code). */
  alreadyOneBit?: boolean;
}

const DEFAULT_CONTEXT = 2048;
/** Single checkpoint files taken with the config.json beside them. */
const CHECKPOINT_FILES = new Set(['.safetensors', '.bin', '.pt', '.pth']);

export async function importModel(input: string): Promise<ImportedModel> {
  const info = await stat(input).catch(() => undefined);
  if (!info) throw new CompileError([{ severity: 'error', file: input, message: 'no such file or folder' }]);
  if (info.isDirectory() || CHECKPOINT_FILES.has(extname(input))) return importHuggingFace(input);
  const model = await importOnnx(input);
  return { model, ...(await onnxLanguageModel(input, model)) };
}

async function importHuggingFace(input: string): Promise<ImportedModel> {
  const checkpoint = await openHuggingFaceFolder(input);
  const { config, weights, files } = checkpoint;
  const model = buildFromConfig(config, weights, { path: input });
  if (/\.(bin|pt|pth)(\.index\.json)?$/.test(weights.source)) model.source.format = 'pytorch';
  const tokenizer = files.tokenizer ? await readFile(files.tokenizer, 'utf8') : undefined;
  const tokenizerConfig = files.tokenizerConfig ? await readFile(files.tokenizerConfig, 'utf8') : undefined;
  const head = weights.has('lm_head.weight') && !config.tieWordEmbeddings ? 'lm_head.weight' : tiedHead(model);
  return {
    model,
    ...(tokenizer ? {
      lm: {
        tokenizer, ...(tokenizerConfig ? { tokenizerConfig } : {}),
        ...(config.bosTokenId !== undefined ? { bos: config.bosTokenId } : {}),
        eos: config.eosTokenIds, contextLength: config.maxPositionEmbeddings, cache: true,
      },
    } : {}),
    checkpointWeights: new Set(weights.names()),
    ...(head ? { headWeight: head } : {}),
    ...(config.oneBit ? { alreadyOneBit: true } : {}),
  };
}

/** The constant B of the node that computes the logits (the embedding matrix when the head is tied). */
function tiedHead(model: IrModel): string | undefined {
  const producers = new Map(model.graph.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  let node = producers.get('logits');
  for (let hops = 0; node && hops < 4; hops++) {
    if ((node.op === 'Gemm' || node.op === 'MatMul') && model.graph.initializers.has(node.inputs[1]!)) return node.inputs[1];
    node = producers.get(node.inputs[0]!);
  }
  return undefined;
}

/** An ONNX model with input_ids → logits and a tokenizer.json beside it is a language model too. */
async function onnxLanguageModel(path: string, model: IrModel): Promise<Pick<ImportedModel, 'lm'>> {
  const dir = dirname(path);
  const g = model.graph;
  const isLm = g.inputs.some((v) => v.name === 'input_ids') && g.outputs.some((v) => v.name === 'logits');
  if (!isLm || !existsSync(join(dir, 'tokenizer.json'))) return {};
  const json = async (file: string) => (existsSync(join(dir, file)) ? JSON.parse(await readFile(join(dir, file), 'utf8')) as Record<string, unknown> : {});
  const config = await json('config.json');
  const generation = await json('generation_config.json');
  const ids = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : typeof v === 'number' ? [v] : []);
  const eos = ids(generation['eos_token_id'] ?? config['eos_token_id']);
  const bos = ids(generation['bos_token_id'] ?? config['bos_token_id'])[0];
  const context = config['max_position_embeddings'] ?? config['n_positions'];
  const tokenizerConfig = existsSync(join(dir, 'tokenizer_config.json')) ? await readFile(join(dir, 'tokenizer_config.json'), 'utf8') : undefined;
  return {
    lm: {
      tokenizer: await readFile(join(dir, 'tokenizer.json'), 'utf8'), ...(tokenizerConfig ? { tokenizerConfig } : {}),
      ...(bos !== undefined ? { bos } : {}), eos,
      contextLength: typeof context === 'number' ? context : DEFAULT_CONTEXT,
      cache: g.inputs.some((v) => v.name.startsWith('past_key_values.')),
    },
  };
}
