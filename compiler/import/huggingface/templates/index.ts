// Architecture templates: a validated Hugging Face config + its checkpoint's weights → IR with an explicit KV cache.
import { FormatError } from '../../../../formats/errors.ts';
import type { IrModel } from '../../../ir/graph.ts';
import type { HfConfig } from '../config.ts';
import type { WeightSource } from '../folder.ts';
import { buildGpt2 } from './gpt2.ts';
import { buildLlama } from './llama.ts';
import { buildOpt } from './opt.ts';

export { buildGpt2, buildLlama, buildOpt };

/** The graph for `config.architecture` (Llama, Mistral and Qwen2 share the llama template). */
export function buildFromConfig(config: HfConfig, weights: WeightSource, source: { path: string }): IrModel {
  switch (config.family) {
    case 'llama': return buildLlama(config, weights, source);
    case 'opt': return buildOpt(config, weights, source);
    case 'gpt2': return buildGpt2(config, weights, source);
    default: throw new FormatError(config.file, `no graph template for architecture '${String(config.architecture)}'`);
  }
}
