// llama2.c's tokenizer.bin (karpathy/llama2.c, export of a SentencePiece BPE model):
//   int32 max_token_length, then per token: float32 score, int32 byte length, the bytes (little-endian).
// The number of tokens is not stored: the file is read to its end.
// encode() follows run.c: BOS (1), a dummy-prefix " ", one token per UTF-8 character found in the vocabulary
// and byte fallback (byte + 3) for the others, then repeatedly merge the adjacent pair whose concatenation
// is the vocabulary entry with the highest score (leftmost on ties).
// decode(): byte tokens "<0xNN>" become bytes; the leading space of a token right after BOS, or of the first
// token decoded, is dropped (run.c drops it after BOS; at the start as Hugging Face's Llama decoder does).
// Specials (0 <unk>, 1 <s>, 2 </s>) are skipped by default, else written as those names.
import type { DecodeOptions, EncodeOptions, StreamDecoder, StreamDecoderOptions, Tokenizer } from './tokenizer.ts';

const BOS = 1;
const EOS = 2;
const SPECIAL_NAMES = ['<unk>', '<s>', '</s>'];
const BYTE_OFFSET = 3;

/** Bytes as a string of char codes 0–255 (a lossless key for byte strings). */
function binary(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

export function tokenizerFromLlama2c(bytes: Uint8Array): Tokenizer {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4) throw new Error('tokenizer.bin: truncated (no max_token_length)');
  const maxTokenLength = view.getInt32(0, true);
  const pieces: string[] = []; // binary strings
  const scores: number[] = [];
  let offset = 4;
  while (offset < bytes.byteLength) {
    const id = pieces.length;
    if (offset + 8 > bytes.byteLength) throw new Error(`tokenizer.bin: truncated in the header of token ${id} (byte ${offset})`);
    const score = view.getFloat32(offset, true);
    const length = view.getInt32(offset + 4, true);
    offset += 8;
    if (length < 0 || offset + length > bytes.byteLength) {
      throw new Error(`tokenizer.bin: token ${id} has length ${length}, but only ${bytes.byteLength - offset} bytes are left`);
    }
    if (maxTokenLength > 0 && length > maxTokenLength) {
      throw new Error(`tokenizer.bin: token ${id} has length ${length} > max_token_length ${maxTokenLength}`);
    }
    pieces.push(binary(bytes.subarray(offset, offset + length)));
    scores.push(score);
    offset += length;
  }
  if (pieces.length < BYTE_OFFSET + 256) {
    throw new Error(`tokenizer.bin: ${pieces.length} tokens; expected at least ${BYTE_OFFSET + 256} (specials and 256 byte tokens)`);
  }
  return new Llama2cTokenizer(pieces, scores);
}

class Llama2cTokenizer implements Tokenizer {
  readonly bos = BOS;
  readonly eos = [EOS];
  readonly vocabSize: number;
  readonly #pieces: string[];
  readonly #scores: number[];
  readonly #lookup = new Map<string, number>();
  /** Per id: its bytes for decoding (byte tokens as the byte itself). */
  readonly #decoded: Uint8Array[];

  constructor(pieces: string[], scores: number[]) {
    this.#pieces = pieces;
    this.#scores = scores;
    this.vocabSize = pieces.length;
    for (let id = 0; id < pieces.length; id++) if (!this.#lookup.has(pieces[id]!)) this.#lookup.set(pieces[id]!, id);
    this.#decoded = pieces.map((piece, id) => {
      if (id < SPECIAL_NAMES.length) return new TextEncoder().encode(SPECIAL_NAMES[id]!);
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
      if (m) return Uint8Array.of(parseInt(m[1]!, 16));
      return Uint8Array.from(piece, (c) => c.charCodeAt(0));
    });
  }

  encode(text: string, options?: EncodeOptions): number[] {
    if (typeof text !== 'string') throw new TypeError('encode: text must be a string');
    const out: number[] = [];
    if (options?.addSpecialTokens ?? true) out.push(BOS);
    if (text === '') return out;
    const bytes = new TextEncoder().encode(text);
    const tokens: number[] = [];
    const space = this.#lookup.get(' ');
    if (space !== undefined) tokens.push(space);
    // One token per UTF-8 sequence (a lead byte and up to 3 continuation bytes), as run.c groups them.
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      if ((bytes[i]! & 0xc0) !== 0x80) start = i;
      const next = bytes[i + 1];
      if (next !== undefined && (next & 0xc0) === 0x80 && i + 1 - start < 4) continue;
      const id = this.#lookup.get(binary(bytes.subarray(start, i + 1)));
      if (id !== undefined) tokens.push(id);
      else for (let j = start; j <= i; j++) tokens.push(bytes[j]! + BYTE_OFFSET);
      start = i + 1;
    }
    // Merge the best-scoring pair until none is in the vocabulary. pair[i] is the id of tokens[i]+tokens[i+1].
    const pieces = this.#pieces;
    const scores = this.#scores;
    const pairOf = (i: number): number => this.#lookup.get(pieces[tokens[i]!]! + pieces[tokens[i + 1]!]!) ?? -1;
    const pair: number[] = [];
    for (let i = 0; i + 1 < tokens.length; i++) pair.push(pairOf(i));
    for (;;) {
      let best = -1;
      let bestScore = -1e10;
      for (let i = 0; i < pair.length; i++) {
        const id = pair[i]!;
        if (id !== -1 && scores[id]! > bestScore) {
          bestScore = scores[id]!;
          best = i;
        }
      }
      if (best === -1) break;
      tokens[best] = pair[best]!;
      tokens.splice(best + 1, 1);
      pair.splice(best, 1);
      if (best < pair.length) pair[best] = pairOf(best);
      if (best > 0) pair[best - 1] = pairOf(best - 1);
    }
    for (const t of tokens) out.push(t);
    return out;
  }


  decode(ids: readonly number[], options?: DecodeOptions): string {
    const decoder = this.createDecoder(options);
    let text = '';
    for (const id of ids) text += decoder.push(id);
    return text + decoder.flush();
  }

  createDecoder(options?: StreamDecoderOptions): StreamDecoder {
    const skip = options?.skipSpecialTokens ?? true;
    const utf8 = new TextDecoder('utf-8');
    let prev: number | undefined;
    let started = false; // a token that is not left out has been seen
    const take = (id: number): Uint8Array | null => {
      if (!(Number.isInteger(id) && id >= 0 && id < this.vocabSize)) return null; // unknown ids are ignored
      const after = prev;
      prev = id;
      if (id < SPECIAL_NAMES.length && skip) return null;
      const piece = this.#decoded[id]!;
      const first = !started;
      started = true;
      if (id >= SPECIAL_NAMES.length && (first || after === BOS) && piece[0] === 0x20) return piece.subarray(1);
      return piece;
    };
    for (const id of options?.prefix ?? []) take(id);
    return {
      push: (id: number): string => {
        const bytes = take(id);
        return bytes === null || bytes.length === 0 ? '' : utf8.decode(bytes, { stream: true });
      },
      flush: (): string => utf8.decode(),
    };
  }
}
