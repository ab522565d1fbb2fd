// The models this page offers. (Interim: bundles compiled by the CLI into public/bundles/ and imported at
// run time; the Vite plugin replaces this with `?onebit` imports compiled at build time.)
export type Backend = 'wasm' | 'webgpu' | 'js';

/** What the page uses of a loaded language model. */
export interface StoryModel {
  readonly backend: string;
  generate(prompt: string, options?: { maxTokens?: number; onToken?(id: number): void }): AsyncGenerator<string>;
  dispose(): void;
}

/** What the page reads of a bundle's manifest.json. */
export interface Manifest {
  size: { before: number; after: number };
  layers: { name: string; out: number; in: number; bytesBefore: number; trained?: boolean }[];
}

export interface ModelEntry {
  readonly id: string;
  readonly label: string;
  load(backend: Backend): Promise<StoryModel>;
  readonly manifest: Promise<Manifest>;
}

function bundle(id: string, label: string): ModelEntry {
  const base = new URL(`bundles/${id}/`, document.baseURI).href;
  return {
    id,
    label,
    load: async (backend) => (await import(/* @vite-ignore */ `${base}model.js`)).load({ backend }),
    manifest: fetch(`${base}manifest.json`).then((r) => r.json()),
  };
}

export const MODELS: readonly ModelEntry[] = [
  bundle('onebit-stories260K', 'stories260K, trained with OneBit'),
  bundle('stories260K', 'stories260K, 1-bit by SVID only'),
];
