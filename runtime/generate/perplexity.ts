// Perplexity over a text, chunked as the stories260K reference does (test/fixtures/stories260K/reference.json,
// `perplexity_tinystories_valid_sample`): every non-empty line is a paragraph, tokenized on its own (with the
// tokenizer's dummy prefix, no BOS, no separator between paragraphs); a chunk is BOS + as many whole
// paragraphs as fit in the context length; each chunk is a fresh context; every token after BOS is scored.
import type { TextTokenizer } from './generate.ts';
import type { LanguageModel } from './session.ts';
import { DecodeSession } from './session.ts';

export interface PerplexityOptions {
  /** Tokens per chunk, BOS included (default 512, the reference's). */
  contextLength?: number;
  /** Score only the first N chunks (default: the whole text). The stories260K reference scores 44. */
  maxChunks?: number;
  /** Longest context the model takes (default: the model's metadata, else 2048); contextLength must fit. */
  maxContext?: number;
  onProgress?(progress: PerplexityProgress): void;
}

export interface PerplexityProgress {
  /** Chunks done, of `chunks`. */
  readonly chunk: number;
  readonly chunks: number;
  /** Tokens scored so far, of `totalTokens`. */
  readonly tokens: number;
  readonly totalTokens: number;
  readonly seconds: number;
}

export interface PerplexityResult {
  /** exp(mean negative log-likelihood). */
  readonly perplexity: number;
  /** Mean negative log-likelihood per scored token, in nats. */
  readonly nll: number;
  /** Tokens scored. */
  readonly tokens: number;
  readonly chunks: number;
  readonly seconds: number;
  /** The chunking, in words. */
  readonly method: string;
}

export const DEFAULT_CONTEXT_LENGTH = 512;

/** Paragraphs: the non-empty lines of the text, trimmed (blank lines, single or repeated, separate them). */
export function paragraphs(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
}

/**
 * The chunks: BOS + whole paragraphs, at most `contextLength` tokens each. A paragraph longer than a chunk
 * can hold is split into pieces of that size. Without a BOS, a chunk starts with its first paragraph token
 * (not scored).
 */
export function chunkText(tokenizer: TextTokenizer, text: string, contextLength = DEFAULT_CONTEXT_LENGTH, maxChunks = Infinity): number[][] {
  const bos = tokenizer.bos;
  const head = bos === undefined ? [] : [bos];
  const room = contextLength - head.length;
  if (!Number.isInteger(contextLength) || room < 1 + (bos === undefined ? 1 : 0)) throw new RangeError(`contextLength must be an integer ≥ 2, got ${contextLength}`);
  const chunks: number[][] = [];
  let current: number[] = [];
  const close = () => {
    if (current.length) chunks.push([...head, ...current]);
    current = [];
  };
  for (const p of paragraphs(text)) {
    if (chunks.length >= maxChunks) break;
    let ids = [...tokenizer.encode(p)];
    if (bos !== undefined && ids[0] === bos) ids = ids.slice(1);
    if (ids.length === 0) continue;
    if (current.length + ids.length > room) close();
    for (let at = 0; at < ids.length; at += room) {
      const piece = ids.slice(at, at + room);
      if (current.length + piece.length > room) close();
      current.push(...piece);
    }
  }
  close();
  return chunks.slice(0, maxChunks);
}

/** Negative log-likelihood (nats) of `target` under `logits`: logsumexp(logits) − logits[target], in float64. */
export function tokenNll(logits: Float32Array, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return max + Math.log(sum) - logits[target]!;
}

export function chunkingMethod(contextLength: number, hasBos: boolean): string {
  return `${hasBos ? 'BOS + ' : ''}whole paragraphs (non-empty lines, each tokenized on its own) up to ${contextLength} tokens per chunk, fresh context per chunk${hasBos ? ', every token after BOS scored' : ', first token of each chunk unscored'}`;
}

/** Perplexity of `model` on `text` (see the file header for the method). */
export async function perplexity(model: LanguageModel, tokenizer: TextTokenizer, text: string, options: PerplexityOptions = {}): Promise<PerplexityResult> {
  const contextLength = options.contextLength ?? DEFAULT_CONTEXT_LENGTH;
  const session = new DecodeSession(model, options.maxContext !== undefined ? { maxContext: options.maxContext } : {});
  if (contextLength > session.maxContext) throw new Error(`context length ${contextLength} exceeds the model's maximum ${session.maxContext}`);
  const started = performance.now();
  const chunks = chunkText(tokenizer, text, contextLength, options.maxChunks ?? Infinity);
  if (chunks.length === 0) throw new Error('no text to score (every line is empty)');
  const totalTokens = chunks.reduce((n, c) => n + c.length - 1, 0);
  let nll = 0;
  let tokens = 0;
  for (let c = 0; c < chunks.length; c++) {
    const chunk = chunks[c]!;
    const rows = await session.logitsFor(chunk);
    for (let i = 1; i < chunk.length; i++) nll += tokenNll(rows[i - 1]!, chunk[i]!);
    tokens += chunk.length - 1;
    options.onProgress?.({ chunk: c + 1, chunks: chunks.length, tokens, totalTokens, seconds: (performance.now() - started) / 1000 });
  }
  const mean = nll / tokens;
  return {
    perplexity: Math.exp(mean),
    nll: mean,
    tokens,
    chunks: chunks.length,
    seconds: (performance.now() - started) / 1000,
    method: chunkingMethod(contextLength, tokenizer.bos !== undefined),
  };
}
