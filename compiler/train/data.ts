// Training text: a plain text file (TinyStories style: stories and their paragraphs separated by blank lines)
// split by characters into train and held-out parts at a blank line, tokenized, and served as batches of
// fixed windows in a per-epoch shuffled order that a checkpoint can resume exactly.
import { readFile } from 'node:fs/promises';
import { FormatError, unreadableFile } from '../../formats/errors.ts';
import type { Rng } from './rng.ts';

/** What data needs of the model tokenizer (runtime/tokenizer/tokenizer.ts's Tokenizer has it). */
export interface TextTokenizer {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  readonly bos?: number;
}

export interface TextDataOptions {
  /** Share of the text's characters held out (from its end). Default 0.1. */
  heldOutFraction?: number;
}

export interface TextData {
  /** Token ids of the first part; every blank-line-separated paragraph prefixed by BOS when there is one. */
  train: Int32Array;
  /** The same for the held-out part. */
  heldOut: Int32Array;
  /** The held-out text itself (for a perplexity evaluation that tokenizes on its own). */
  heldOutText: string;
}

const PARAGRAPH_BREAK = '\n\n';
/** Each part must hold at least this many tokens to be of any use. */
const MIN_TOKENS = 2;

/**
 * Reads `path` and splits it at the paragraph boundary ("\n\n") nearest to the (1 − heldOutFraction) point
 * of its characters: text before it is for training, after it held out. Each part is split into paragraphs at
 * blank lines, and each paragraph is encoded without the tokenizer's own special tokens, BOS put in front.
 * A missing, empty or too short file is a FormatError naming it.
 */
export async function loadTextData(path: string, tokenizer: TextTokenizer, options: TextDataOptions = {}): Promise<TextData> {
  const fraction = options.heldOutFraction ?? 0.1;
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`loadTextData: heldOutFraction must be in (0, 1), got ${fraction}`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw unreadableFile(path, e);
  }
  text = text.replace(/\r\n/g, '\n');
  if (text.trim() === '') throw new FormatError(path, 'the training text is empty');
  const cut = paragraphBoundaryNear(text, Math.floor(text.length * (1 - fraction)));
  if (cut === undefined) throw new FormatError(path, 'has no blank line to split the held-out part at; training text needs paragraphs separated by blank lines');
  const heldOutText = text.slice(cut + PARAGRAPH_BREAK.length);
  const train = encodeParagraphs(text.slice(0, cut), tokenizer);
  const heldOut = encodeParagraphs(heldOutText, tokenizer);
  for (const [name, ids] of [['training', train], ['held-out', heldOut]] as const) {
    if (ids.length < MIN_TOKENS) throw new FormatError(path, `is too short: the ${name} part has ${ids.length} tokens`);
  }
  return { train, heldOut, heldOutText };
}

/** The index of the "\n\n" closest to `target` (either side), or undefined when there is none. */
function paragraphBoundaryNear(text: string, target: number): number | undefined {
  const before = text.lastIndexOf(PARAGRAPH_BREAK, target);
  const after = text.indexOf(PARAGRAPH_BREAK, target);
  if (before < 0 && after < 0) return undefined;
  if (before < 0) return after;
  if (after < 0) return before;
  return target - before <= after - target ? before : after;
}

function encodeParagraphs(text: string, tokenizer: TextTokenizer): Int32Array {
  const ids: number[] = [];
  for (const paragraph of text.split(/\n[ \t]*\n/)) {
    const trimmed = paragraph.trim();
    if (trimmed === '') continue;
    if (tokenizer.bos !== undefined) ids.push(tokenizer.bos);
    for (const id of tokenizer.encode(trimmed, { addSpecialTokens: false })) ids.push(id);
  }
  return Int32Array.from(ids);
}

// ---- batches ----

export interface BatchShape {
  /** Windows per batch. */
  batch: number;
  /** Tokens predicted per window: each window holds seq + 1 tokens (inputs and shifted targets). */
  seq: number;
}

export interface Batch {
  /** (batch, seq + 1) token ids, row-major. */
  ids: Int32Array;
  /** The window index of each row: row r is tokens [w·seq, w·seq + seq] of the stream. */
  windows: number[];
  /** The epoch of the last row. */
  epoch: number;
}

/** A BatchSampler's position: the epoch, windows used in it, and the RNG state its order was shuffled from. */
export interface BatchSamplerState {
  epoch: number;
  cursor: number;
  rng: number[];
}

/**
 * Serves epochs over the non-overlapping windows of seq + 1 tokens (stride seq, so consecutive windows share one
 * token: the last target of one is the first input of the next), each epoch in an order shuffled by `rng`.
 * The sampler owns `rng` (it draws from it at each epoch start); state()/restore() resume exactly.
 */
export class BatchSampler {
  /** How many windows an epoch has. */
  readonly windowCount: number;
  private readonly order: Uint32Array;
  private epoch = 0;
  private cursor = 0;
  private epochRng: number[] = [];

  constructor(private readonly tokens: Int32Array, private readonly shape: BatchShape, private readonly rng: Rng) {
    const { batch, seq } = shape;
    if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`BatchSampler: batch must be a positive integer, got ${batch}`);
    if (!Number.isInteger(seq) || seq < 1) throw new RangeError(`BatchSampler: seq must be a positive integer, got ${seq}`);
    this.windowCount = Math.floor((tokens.length - 1) / seq);
    if (this.windowCount < 1) throw new RangeError(`BatchSampler: ${tokens.length} tokens are fewer than one window of seq + 1 = ${seq + 1}`);
    this.order = new Uint32Array(this.windowCount);
    this.shuffle();
  }

  next(): Batch {
    const { batch, seq } = this.shape;
    const ids = new Int32Array(batch * (seq + 1));
    const windows: number[] = [];
    for (let r = 0; r < batch; r++) {
      if (this.cursor === this.windowCount) {
        this.epoch++;
        this.shuffle();
      }
      const w = this.order[this.cursor++]!;
      windows.push(w);
      ids.set(this.tokens.subarray(w * seq, w * seq + seq + 1), r * (seq + 1));
    }
    return { ids, windows, epoch: this.epoch };
  }

  state(): BatchSamplerState {
    return { epoch: this.epoch, cursor: this.cursor, rng: [...this.epochRng] };
  }

  /** Continues from state() (taken from a sampler over the same tokens and shape). */
  restore(state: BatchSamplerState): void {
    if (!Number.isInteger(state.epoch) || state.epoch < 0) throw new RangeError(`BatchSampler.restore: bad epoch ${state.epoch}`);
    if (!Number.isInteger(state.cursor) || state.cursor < 0 || state.cursor > this.windowCount) {
      throw new RangeError(`BatchSampler.restore: cursor ${state.cursor} is outside the epoch's ${this.windowCount} windows (a different data set or seq?)`);
    }
    this.rng.restore(state.rng);
    this.shuffle();
    this.epoch = state.epoch;
    this.cursor = state.cursor;
  }

  /** A fresh Fisher–Yates permutation for a new epoch; remembers the RNG state it started from. */
  private shuffle(): void {
    this.epochRng = this.rng.state();
    const order = this.order;
    for (let i = 0; i < order.length; i++) order[i] = i;
    for (let i = order.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    this.cursor = 0;
  }
}
