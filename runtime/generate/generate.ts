// Text generation: prompt → DecodeSession → sampler → streamed text, stopping at EOS, a stop string or
// maxTokens.
import type { SamplerOptions } from './sampler.ts';
import { createSampler } from './sampler.ts';
import type { LanguageModel } from './session.ts';
import { DecodeSession } from './session.ts';

/** What generation needs of a tokenizer (runtime/tokenizer's Tokenizer satisfies it). */
export interface TextTokenizer {
  encode(text: string): readonly number[];
  createDecoder(options?: { prefix?: readonly number[] }): { push(id: number): string; flush(): string };
  readonly bos?: number | undefined;
  readonly eos?: number | readonly number[] | undefined;
}

export interface GenerateOptions extends SamplerOptions {
  /** Most tokens to generate (default 256). */
  maxTokens?: number;
  /** Stop when the text contains one of these; the stop string itself is not emitted. */
  stop?: readonly string[];
  /** Stop at the tokenizer's EOS ids (default true); EOS is neither emitted nor counted. */
  stopOnEos?: boolean;
  /** EOS ids to use instead of the tokenizer's. */
  eos?: number | readonly number[];
  /** Longest context, prompt included (default: the model's metadata, else 2048). */
  maxContext?: number;
  /** Called with each generated token id (EOS excluded). */
  onToken?(id: number): void;
}

export const DEFAULT_MAX_TOKENS = 256;

export interface GeneratedToken {
  readonly id: number;
  /** New text for this token (what is safe to show: held back while it could start a stop string). */
  readonly text: string;
}

/** Prompt ids: a string is encoded, with the tokenizer's BOS in front when it does not add one itself. */
export function promptIds(tokenizer: TextTokenizer | undefined, prompt: string | readonly number[]): number[] {
  if (typeof prompt !== 'string') return [...prompt];
  if (!tokenizer) throw new Error('a text prompt needs a tokenizer; pass token ids instead');
  const ids = [...tokenizer.encode(prompt)];
  if (tokenizer.bos !== undefined && ids[0] !== tokenizer.bos) ids.unshift(tokenizer.bos);
  return ids;
}

const asSet = (eos: number | readonly number[] | undefined) => new Set(eos === undefined ? [] : typeof eos === 'number' ? [eos] : eos);

/**
 * Holds back text that could be the start of a stop string; reports the first stop string found (the text
 * before it is released, the rest dropped).
 */
class StopFilter {
  private pending = '';
  stopped = false;
  constructor(private readonly stops: readonly string[]) {}

  push(text: string): string {
    if (this.stopped) return '';
    if (this.stops.length === 0) return text;
    this.pending += text;
    let cut = -1;
    for (const s of this.stops) {
      const at = this.pending.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.stopped = true;
      const out = this.pending.slice(0, cut);
      this.pending = '';
      return out;
    }
    // keep the longest tail that is a proper prefix of a stop string
    let hold = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.pending.length); k > hold; k--) {
        if (this.pending.endsWith(s.slice(0, k))) { hold = k; break; }
      }
    }
    const out = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return out;
  }

  /** The held-back text at the end of generation (no stop string completed). */
  end(): string {
    const out = this.stopped ? '' : this.pending;
    this.pending = '';
    return out;
  }
}

/**
 * Generates tokens one at a time: yields each id with the text it adds. Without a tokenizer the prompt must
 * be ids, texts are empty and stop strings cannot be used. A final `{ id: -1, text }` carries text held back
 * until the end (an incomplete character, a partial stop string), when there is any.
 */
export async function* generateTokens(
  model: LanguageModel,
  tokenizer: TextTokenizer | undefined,
  prompt: string | readonly number[],
  options: GenerateOptions = {},
): AsyncGenerator<GeneratedToken> {
  const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new RangeError(`maxTokens must be an integer ≥ 0, got ${maxTokens}`);
  const stops = (options.stop ?? []).filter((s) => s.length > 0);
  if (stops.length && !tokenizer) throw new Error('stop strings need a tokenizer');
  const ids = promptIds(tokenizer, prompt);
  if (ids.length === 0) throw new Error('the prompt has no tokens (and the tokenizer has no BOS to start from)');
  const eos = (options.stopOnEos ?? true) ? asSet(options.eos ?? tokenizer?.eos) : new Set<number>();
  const sampler = createSampler(options);
  const candidates = samplerCandidates(options);
  const session = new DecodeSession(model, { ...(options.maxContext !== undefined ? { maxContext: options.maxContext } : {}), ...(candidates !== undefined ? { candidates } : {}) });
  const decoder = tokenizer?.createDecoder({ prefix: ids });
  const filter = new StopFilter(stops);
  if (maxTokens === 0) return;
  let logits = await session.append(ids);
  for (let n = 0; n < maxTokens; n++) {
    const id = sampler(logits);
    if (eos.has(id)) break;
    options.onToken?.(id);
    const text = filter.push(decoder ? decoder.push(id) : '');
    yield { id, text };
    if (filter.stopped) return;
    // the last token is never fed back: its logits are not needed
    if (n + 1 < maxTokens) logits = await session.append([id]);
  }
  const rest = filter.push(decoder ? decoder.flush() : '') + filter.end();
  if (rest) yield { id: -1, text: rest };
}

/** How many of the largest logits the sampler of these options reads (undefined: all of them). */
function samplerCandidates(options: GenerateOptions): number | undefined {
  if ((options.temperature ?? 0) === 0 || options.topK === 1) return 1;
  return options.topK ? options.topK : undefined;
}

/** Streams the generated text, piece by piece (see GenerateOptions). */
export async function* generate(
  model: LanguageModel,
  tokenizer: TextTokenizer,
  prompt: string | readonly number[],
  options: GenerateOptions = {},
): AsyncGenerator<string> {
  for await (const { text } of generateTokens(model, tokenizer, prompt, options)) if (text) yield text;
}

/**
 * The generated ids (EOS excluded; with a stop string, up to and including the token that completed it).
 * `tokenizer` may be undefined when the prompt is ids and no stop strings are given.
 */
export async function generateIds(
  model: LanguageModel,
  tokenizer: TextTokenizer | undefined,
  prompt: string | readonly number[],
  options: GenerateOptions = {},
): Promise<number[]> {
  const out: number[] = [];
  for await (const { id } of generateTokens(model, tokenizer, prompt, options)) if (id >= 0) out.push(id);
  return out;
}
