// The entry of a language model's model.js: the plain entry plus the tokenizer and decoding
// (model.generate, model.generateIds, model.perplexity), with tokenizer.json loaded from beside model.js.
import { plan } from 'onebitc:plan';
import type { LanguageModelMethods } from './generate/index.ts';
import { attachLanguageModel, readTokenizerFiles } from './generate/index.ts';
import type { LoadOptions, Model } from './model.ts';
import { loadModel } from './model.ts';
import type { Tokenizer } from './tokenizer/tokenizer.ts';
import { loadTokenizer } from './tokenizer/tokenizer.ts';

export type { Feed, LoadOptions, Model } from './model.ts';
export type { GenerateOptions, PerplexityOptions, PerplexityResult } from './generate/index.ts';
export type { TensorSpec } from './plan.ts';

export const inputs = plan.inputs;
export const outputs = plan.outputs;

/** Loads the weights and tokenizer that sit beside this file and returns a model that can also generate. */
export async function load(options?: LoadOptions): Promise<Model & LanguageModelMethods<Tokenizer>> {
  const model = await loadModel(plan, import.meta.url, options);
  const lm = plan.lm!;
  const files = await readTokenizerFiles(import.meta.url, options?.urls);
  if (!files) throw new Error(`${plan.model}: ${lm.tokenizer} is missing beside model.js`);
  return attachLanguageModel(model, loadTokenizer(files.json, files.config), { maxContext: lm.contextLength, eos: lm.eos });
}
