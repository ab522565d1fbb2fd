// Shared fixtures for the tokenizer tests.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { StreamDecoderOptions, Tokenizer } from '../../../runtime/tokenizer/tokenizer.ts';

const fixture = (path: string): string => fileURLToPath(new URL(`../../fixtures/${path}`, import.meta.url));

export const STORIES = 'stories260K/';
export const readText = (path: string): string => readFileSync(fixture(path), 'utf8');
export const readBytes = (path: string): Uint8Array => new Uint8Array(readFileSync(fixture(path)));
export const readJson = <T = Record<string, unknown>>(path: string): T => JSON.parse(readText(path)) as T;

export interface Reference {
  prompt_text: string;
  prompt_ids: number[];
  greedy_continuation_ids: number[];
  greedy_continuation_text: string;
  greedy_from_bos_60_ids: number[];
  greedy_from_bos_60_text: string;
  check32: { ids: number[] };
}

/** The first `n` paragraphs of the TinyStories sample (paragraphs are separated by blank lines). */
export function paragraphs(n: number): string[] {
  return readText('tinystories/valid_sample.txt').split('\n\n').filter((p) => p !== '').slice(0, n);
}

/** Texts at the edges: empty, spaces, newlines, accents, CJK, emoji, the dataset's mojibake. */
export const EDGE_CASES = [
  '', ' ', '   ', '\n', '\n\n', ' leading', 'trailing ', '  both  ', 'a\tb', 'x\r\ny',
  'café naïve résumé', 'Crème brûlée', '日本語の物語', '你好，世界', '😀', 'Tom 👍🏽 and 👨‍👩‍👧',
  'â€œHelloâ€ he said. Itâ€™s', '\u00a0nbsp', 'Ünïcödé  \n  spaces',
];

/** Pushes ids one by one through a stream decoder and concatenates what comes out. */
export function streamed(tokenizer: Tokenizer, ids: readonly number[], options?: StreamDecoderOptions): string {
  const decoder = tokenizer.createDecoder(options);
  let text = '';
  for (const id of ids) text += decoder.push(id);
  return text + decoder.flush();
}

/** A small deterministic PRNG (mulberry32). */
export { rng as random } from '../../helpers/onnx-builder.ts';
