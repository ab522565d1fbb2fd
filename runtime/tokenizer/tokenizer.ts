// The tokenizer a language-model bundle ships: a thin wrapper over @huggingface/tokenizers (the pure-JS
// tokenizer of transformers.js; no dependencies, bundles for platform 'neutral'), which reads a Hugging Face
// tokenizer.json (SentencePiece-style BPE with byte fallback as in Llama, byte-level BPE as in GPT-2,
// WordPiece, Unigram) and follows its normalizer, pre-tokenizer, post-processor and decoder.
import { Tokenizer as HFTokenizer } from '@huggingface/tokenizers';

export interface EncodeOptions {
  /** Add the special tokens the tokenizer's post-processor adds (Llama: BOS). Default true. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out special tokens (BOS, EOS, unk, other added special tokens). Default true. */
  skipSpecialTokens?: boolean;
}

export interface StreamDecoderOptions extends DecodeOptions {
  /**
   * Ids that come before the streamed ones (usually the prompt): they give the context for the
   * leading-space rule and are not emitted themselves. Without them, the first streamed token is decoded
   * as the start of a text (Llama drops its leading space).
   */
  prefix?: readonly number[];
}

export interface StreamDecoder {
  /** Takes the next id; returns the text that is now complete (may be '' while a character is split). */
  push(id: number): string;
  /** Returns whatever is still held back (an incomplete character becomes U+FFFD). */
  flush(): string;
}

export interface Tokenizer {
  encode(text: string, options?: EncodeOptions): number[];
  /**
   * Ids to text. Special tokens are skipped by default. Leading-space rule (Llama, SentencePiece): the space
   * that encode put in front of the text (the "dummy prefix") is removed again at the start of the sequence,
   * so `decode(encode(x))` gives back `x`. Ids outside the vocabulary are ignored (as Hugging Face does).
   */
  decode(ids: readonly number[], options?: DecodeOptions): string;
  readonly bos?: number;
  readonly eos?: number[];
  /** Number of ids (vocabulary and added tokens: highest id + 1). */
  readonly vocabSize: number;
  /**
   * Streams text as tokens arrive: push() returns the new text for the ids so far (handles multi-byte
   * characters split across byte-fallback tokens and the leading-space rule). The pieces concatenated equal
   * `decode(ids, options)`.
   */
  createDecoder(options?: StreamDecoderOptions): StreamDecoder;
}

/** A tokenizer_config.json (only the fields read here are typed). */
export interface TokenizerConfig {
  bos_token?: string | { content: string } | null;
  eos_token?: string | { content: string } | null;
  /** As in generation_config.json: the EOS id(s). Takes precedence over eos_token. */
  eos_token_id?: number | number[] | null;
  bos_token_id?: number | null;
  clean_up_tokenization_spaces?: boolean;
  [key: string]: unknown;
}

type TokenizerJson = Record<string, unknown> & {
  model?: Record<string, unknown>;
  added_tokens?: { id: number; content: string; special?: boolean }[];
  post_processor?: Record<string, unknown> | null;
};

const REPLACEMENT = '\uFFFD';
/** Tokens held back while the text ends with U+FFFD before the stream decoder gives up waiting. */
const MAX_PENDING = 32;

/** Loads a Hugging Face tokenizer.json (text or parsed), with its tokenizer_config.json if there is one. */
export function loadTokenizer(json: string | object, config?: object): Tokenizer {
  let spec: TokenizerJson;
  try {
    spec = (typeof json === 'string' ? JSON.parse(json) : json) as TokenizerJson;
  } catch (error) {
    throw new Error(`tokenizer.json: not valid JSON (${(error as Error).message})`);
  }
  if (spec === null || typeof spec !== 'object' || typeof spec.model !== 'object' || spec.model === null) {
    throw new Error('tokenizer.json: expected an object with a "model" field');
  }
  const cfg = { ...(config ?? {}) } as TokenizerConfig;
  // tokenizer.json decodes without transformers' clean-up of spaces before punctuation unless the config
  // asks for it (the library's own default would be to clean up, which breaks round trips).
  cfg.clean_up_tokenization_spaces ??= false;
  const spec2: TokenizerJson = {
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    added_tokens: [],
    ...spec,
  };
  let hf: HFTokenizer;
  try {
    hf = new HFTokenizer(spec2, cfg);
  } catch (error) {
    throw new Error(`tokenizer.json: ${(error as Error).message}`);
  }
  return new HFTokenizerWrapper(hf, spec2, cfg);
}

function tokenContent(token: unknown): string | undefined {
  if (typeof token === 'string') return token;
  if (token !== null && typeof token === 'object' && typeof (token as { content?: unknown }).content === 'string') {
    return (token as { content: string }).content;
  }
  return undefined;
}

const COMMON_EOS = ['</s>', '<|endoftext|>', '<|end_of_text|>', '<|eot_id|>', '<|im_end|>', '<eos>', '<|end|>'];

class HFTokenizerWrapper implements Tokenizer {
  readonly bos?: number;
  readonly eos?: number[];
  readonly vocabSize: number;
  readonly #hf: HFTokenizer;

  constructor(hf: HFTokenizer, spec: TokenizerJson, cfg: TokenizerConfig) {
    this.#hf = hf;
    const id = (token: unknown): number | undefined => {
      const content = tokenContent(token);
      return content === undefined ? undefined : hf.token_to_id(content);
    };
    let vocabSize = 0;
    for (const v of hf.get_vocab(true).values()) vocabSize = Math.max(vocabSize, v + 1);
    this.vocabSize = vocabSize;

    const bos = typeof cfg.bos_token_id === 'number' ? cfg.bos_token_id : id(cfg.bos_token) ?? templateBos(spec, id);
    if (bos !== undefined) this.bos = bos;
    let eos: number[] | undefined;
    if (typeof cfg.eos_token_id === 'number') eos = [cfg.eos_token_id];
    else if (Array.isArray(cfg.eos_token_id)) eos = [...cfg.eos_token_id];
    else {
      const fromConfig = id(cfg.eos_token);
      if (fromConfig !== undefined) eos = [fromConfig];
      else {
        const special = new Set((spec.added_tokens ?? []).filter((t) => t.special).map((t) => t.content));
        for (const name of COMMON_EOS) {
          const found = special.has(name) ? hf.token_to_id(name) : undefined;
          if (found !== undefined) { eos = [found]; break; }
        }
      }
    }
    if (eos !== undefined) this.eos = eos;
  }

  encode(text: string, options?: EncodeOptions): number[] {
    if (typeof text !== 'string') throw new TypeError('encode: text must be a string');
    return this.#hf.encode(text, { add_special_tokens: options?.addSpecialTokens ?? true }).ids;
  }

  decode(ids: readonly number[], options?: DecodeOptions): string {
    const known = ids.filter((i) => Number.isInteger(i) && this.#hf.id_to_token(i) !== undefined);
    if (known.length === 0) return '';
    return this.#hf.decode(known, { skip_special_tokens: options?.skipSpecialTokens ?? true });
  }

  createDecoder(options?: StreamDecoderOptions): StreamDecoder {
    const decodeOptions: DecodeOptions = { skipSpecialTokens: options?.skipSpecialTokens ?? true };
    return windowedStreamDecoder((ids) => this.decode(ids, decodeOptions), options?.prefix ?? []);
  }
}

/** BOS from a TemplateProcessing post-processor: the special token before $A in the single template. */
function templateBos(spec: TokenizerJson, id: (token: unknown) => number | undefined): number | undefined {
  const processors: unknown[] = [];
  const post = spec.post_processor as { type?: string; processors?: unknown[] } | null | undefined;
  if (post?.type === 'Sequence' && Array.isArray(post.processors)) processors.push(...post.processors);
  else if (post) processors.push(post);
  for (const p of processors) {
    const single = (p as { type?: string; single?: unknown[] }).single;
    if ((p as { type?: string }).type !== 'TemplateProcessing' || !Array.isArray(single)) continue;
    const first = single[0] as { SpecialToken?: { id?: string } } | undefined;
    if (first?.SpecialToken?.id !== undefined) return id(first.SpecialToken.id);
  }
  return undefined;
}

/**
 * A stream decoder for any `decode` whose output for ids A is a prefix of its output for A + B when the
 * former does not end in an incomplete character (U+FFFD): it decodes a short window of recent ids, emits
 * what is new, and slides the window forward keeping the last id that gives text as context (so the
 * leading-space rule sees the same neighbours as a whole decode).
 */
export function windowedStreamDecoder(decode: (ids: readonly number[]) => string, prefix: readonly number[]): StreamDecoder {
  let window: number[] = [];
  let emitted = 0; // characters of decode(window) already handed out (or belonging to the prefix)
  const restart = (): void => {
    // Keep the last id that decodes to some text (a skipped special token gives no context: after it the
    // next token would be decoded as the start of the text).
    let k = window.length - 1;
    while (k > 0 && decode([window[k]!]) === '') k--;
    window = window.slice(Math.max(k, 0));
    emitted = decode(window).length;
  };
  if (prefix.length > 0) {
    window = [...prefix];
    restart();
  }
  return {
    push(id: number): string {
      window.push(id);
      const text = decode(window);
      if (text.endsWith(REPLACEMENT) && window.length <= MAX_PENDING) return '';
      const out = text.length > emitted ? text.slice(emitted) : '';
      restart();
      return out;
    },
    flush(): string {
      const text = decode(window);
      const out = text.length > emitted ? text.slice(emitted) : '';
      emitted = Math.max(emitted, text.length);
      return out;
    },
  };
}
