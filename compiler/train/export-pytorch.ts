// `onebitc export-training`: a Hugging Face LLaMA folder → a self-contained PyTorch project that trains the
// OneBit student by distillation on a GPU cluster (docs ONEBIT.md §3): the Python sources of
// compiler/train/pytorch/, the model's config and tokenizer files, onebit.json (the export settings) and
// init/model.safetensors (see init-weights.ts). The project's checkpoints are BitLlama folders that
// `onebitc <checkpoint> -o <bundle>` compiles. Written to a temporary folder renamed into place at the end.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { chmod, copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { FormatError } from '../../formats/errors.ts';
import type { HfCheckpoint } from '../import/huggingface/folder.ts';
import { openHuggingFaceFolder } from '../import/huggingface/folder.ts';
import { PACKAGE_ROOT } from '../package-root.ts';
import { ONEBITC_VERSION } from '../version.ts';
import type { LatentInit, LayerProgress } from './init-weights.ts';
import { planInitWeights, writeInitWeights } from './init-weights.ts';

/** The Python project's files, shipped with the package (package.json `files`). */
export const PYTORCH_SOURCES = join(PACKAGE_ROOT, 'compiler', 'train', 'pytorch');
const PROJECT_FILES = [
  'README.md', 'launch.sh', 'onebit.py', 'model.py', 'kd.py', 'data.py', 'tokenize_text.py', 'train.py',
  'checkpoint.py', 'logits.py', 'safetensors_io.py',
];
/** Copied from the model folder when present (tokenizer.model: the sentencepiece file of older releases). */
const MODEL_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model', 'generation_config.json'];

export interface ExportTrainingOptions {
  /** The project folder to create; it must not exist yet (or be empty). */
  output: string;
  /** Latent weight init: 'svid' (W itself, the default) or 'sign' (sign(W)·0.01). */
  latentInit?: LatentInit;
  /** The paper's LayerNorm without affine after each OneBit projection (default true). */
  postNorm?: boolean;
  /** Called after each decoder layer's tensors are written. */
  onLayer?: (progress: LayerProgress) => void;
}

export interface ExportTrainingResult {
  layers: number;
  projections: number;
  /** Bytes of init/model.safetensors. */
  initBytes: number;
}

/** The LLaMA graph the project's model.py builds: reject anything else with the config key at fault. */
function checkLlama(checkpoint: HfCheckpoint): void {
  const c = checkpoint.config;
  if (c.architecture !== 'LlamaForCausalLM') {
    throw new FormatError(c.file, `architecture ${c.architecture}: export-training builds LLaMA students only (LlamaForCausalLM)`);
  }
  if (c.qkvBias || c.attnOutBias) throw new FormatError(c.file, "key 'attention_bias' is true: export-training supports LLaMA projections without bias");
  if (c.mlpBias) throw new FormatError(c.file, "key 'mlp_bias' is true: export-training supports LLaMA projections without bias");
  if (c.hiddenAct !== 'silu') throw new FormatError(c.file, `key 'hidden_act' is '${c.hiddenAct}': export-training supports the SiLU MLP of LLaMA`);
}

function checkOutput(output: string): void {
  if (!existsSync(output)) return;
  if (!statSync(output).isDirectory() || readdirSync(output).length > 0) {
    throw new FormatError(output, 'already exists; export-training writes a new project folder (remove it or pick another -o)');
  }
}

export async function exportTraining(input: string, options: ExportTrainingOptions): Promise<ExportTrainingResult> {
  const latentInit = options.latentInit ?? 'svid';
  const postNorm = options.postNorm ?? true;
  const checkpoint = await openHuggingFaceFolder(input);
  checkLlama(checkpoint);
  const plan = planInitWeights(checkpoint, latentInit);
  const output = resolve(options.output);
  checkOutput(output);

  const temporary = join(dirname(output), `.${basename(output)}.${process.pid}.${randomBytes(4).toString('hex')}.partial`);
  try {
    await mkdir(join(temporary, 'init'), { recursive: true });
    for (const name of PROJECT_FILES) await copyFile(join(PYTORCH_SOURCES, name), join(temporary, name));
    await chmod(join(temporary, 'launch.sh'), 0o755);
    for (const name of MODEL_FILES) {
      const from = join(checkpoint.dir, name);
      if (existsSync(from)) await copyFile(from, join(temporary, name));
    }
    const settings = { producer: `onebitc ${ONEBITC_VERSION} export-training`, source: resolve(input), post_norm: postNorm, latent_init: latentInit };
    await writeFile(join(temporary, 'onebit.json'), JSON.stringify(settings, null, 2) + '\n');
    const initPath = join(temporary, 'init', 'model.safetensors');
    await writeInitWeights(initPath, checkpoint, plan, latentInit, options.onLayer ?? (() => undefined));
    await rm(output, { recursive: true, force: true }); // only ever an empty folder (checkOutput)
    await rename(temporary, output);
    return { layers: checkpoint.config.numLayers, projections: plan.filter((p) => p.kind === 'latent').length, initBytes: statSync(join(output, 'init', 'model.safetensors')).size };
  } catch (e) {
    await rm(temporary, { recursive: true, force: true });
    if ((e as NodeJS.ErrnoException).code && !(e instanceof FormatError)) {
      throw new FormatError(output, `cannot be written (${(e as NodeJS.ErrnoException).code}: ${(e as Error).message})`);
    }
    throw e;
  }
}
