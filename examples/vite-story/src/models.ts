// The models this page offers. Each `?onebit` import is compiled into a 1-bit bundle at build time by
// onebitc's Vite plugin: its weights, model.wasm and tokenizer become hashed assets loaded by URL, and the
// dynamic import() puts each model's code in its own chunk, fetched when the model is first chosen.
import type { OnebitModule } from 'onebitc';

export type StoryModel = Awaited<ReturnType<OnebitModule['load']>>;

export interface ModelEntry {
  readonly id: string;
  readonly label: string;
  readonly module: () => Promise<OnebitModule>;
}

export const MODELS: readonly ModelEntry[] = [
  {
    id: 'onebit-stories260K',
    label: 'stories260K, trained with OneBit',
    module: () => import('../../../test/fixtures/onebit-stories260K?onebit').then((m) => m.default),
  },
  {
    id: 'stories260K',
    label: 'stories260K, 1-bit by SVID only',
    module: () => import('../../../test/fixtures/stories260K?onebit').then((m) => m.default),
  },
];
