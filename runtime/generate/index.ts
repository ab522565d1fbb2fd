// Language-model methods on a loaded Model: model.generate(prompt, options) and model.perplexity(text,
// options), for bundles that ship tokenizer.json. The bundle entry calls attachLanguageModel after load().
import { loadBytes } from '../load-bytes.ts';
import type { GenerateOptions, TextTokenizer } from './generate.ts';
import { generate, generateIds } from './generate.ts';
import type { PerplexityOptions, PerplexityResult } from './perplexity.ts';
import { perplexity } from './perplexity.ts';
import type { LanguageModel, LanguageModelMeta } from './session.ts';

export type { GenerateOptions, GeneratedToken, TextTokenizer } from './generate.ts';
export { DEFAULT_MAX_TOKENS, generate, generateIds, generateTokens, promptIds } from './generate.ts';
export type { PerplexityOptions, PerplexityProgress, PerplexityResult } from './perplexity.ts';
export { chunkText, chunkingMethod, DEFAULT_CONTEXT_LENGTH, paragraphs, perplexity, tokenNll } from './perplexity.ts';
export type { Sampler, SamplerOptions } from './sampler.ts';
export { argmax, createRng, createSampler, softmax } from './sampler.ts';
export type { DecodeSessionOptions, LanguageModel, LanguageModelMeta } from './session.ts';
export { DEFAULT_MAX_CONTEXT, DecodeSession } from './session.ts';

const hrefOf = (u: string | { readonly href: string } | undefined): string | undefined => (u === undefined || typeof u === 'string' ? u : u.href);

/** The methods a language-model bundle's model gains. */
export interface LanguageModelMethods<T extends TextTokenizer = TextTokenizer> {
  readonly tokenizer: T;
  /** Streams generated text (greedy by default; see GenerateOptions). */
  generate(prompt: string | readonly number[], options?: GenerateOptions): AsyncGenerator<string>;
  /** Generated ids (EOS excluded). */
  generateIds(prompt: string | readonly number[], options?: GenerateOptions): Promise<number[]>;
  /** Perplexity on a text, chunked as the stories260K reference (see perplexity.ts). */
  perplexity(text: string, options?: PerplexityOptions): Promise<PerplexityResult>;
}

/**
 * Adds generate/generateIds/perplexity (and `tokenizer`) to `model` and returns it. `meta.maxContext` is
 * the default context limit (else the model's own metadata, else 2048) and `meta.eos` the default EOS ids
 * (else the tokenizer's); options passed to a call win. Bundle entry: when `plan.lm` is set,
 * `attachLanguageModel(model, loadTokenizer(json, config), { maxContext: plan.lm.contextLength, eos: plan.lm.eos })`
 * with the files from readTokenizerFiles(import.meta.url).
 */
export function attachLanguageModel<M extends LanguageModel, T extends TextTokenizer>(model: M, tokenizer: T, meta: LanguageModelMeta = {}): M & LanguageModelMethods<T> {
  const withContext = <O extends { maxContext?: number }>(o: O | undefined): O => {
    const options = { ...(o ?? {}) } as O;
    if (options.maxContext === undefined && meta.maxContext !== undefined) options.maxContext = meta.maxContext;
    return options;
  };
  const withEos = (o: GenerateOptions | undefined): GenerateOptions => {
    const options = withContext(o);
    if (options.eos === undefined && meta.eos !== undefined) options.eos = meta.eos;
    return options;
  };
  const methods: LanguageModelMethods<T> = {
    tokenizer,
    generate: (prompt, options) => generate(model, tokenizer, prompt, withEos(options)),
    generateIds: (prompt, options) => generateIds(model, tokenizer, prompt, withEos(options)),
    perplexity: (text, options) => perplexity(model, tokenizer, text, withContext(options)),
  };
  for (const [name, value] of Object.entries(methods)) {
    Object.defineProperty(model, name, { value, enumerable: false, configurable: true, writable: false });
  }
  return model as M & LanguageModelMethods<T>;
}

/**
 * Reads `tokenizer.json` (and `tokenizer_config.json` when present) beside `base` (model.js's URL) or at
 * `urls[name]`, for the
 * bundle entry to hand to loadTokenizer. Returns undefined when the bundle has no tokenizer.json.
 */
export async function readTokenizerFiles(base: string | URL, urls: Readonly<Record<string, string | { readonly href: string }>> = {}): Promise<{ json: string; config?: object } | undefined> {
  const read = async (name: string): Promise<string | undefined> => {
    try {
      return new TextDecoder().decode(await loadBytes(new URL(hrefOf(urls[name]) ?? name, base)));
    } catch {
      return undefined;
    }
  };
  const json = await read('tokenizer.json');
  if (json === undefined) return undefined;
  const config = await read('tokenizer_config.json');
  let parsed: object | undefined;
  if (config !== undefined) {
    try { parsed = JSON.parse(config) as object; } catch (e) { throw new Error(`tokenizer_config.json: not valid JSON (${(e as Error).message})`); }
  }
  return parsed ? { json, config: parsed } : { json };
}
