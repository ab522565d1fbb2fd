// The page: a prompt, a Generate button, the story streamed in token by token with tokens/s, a backend
// switch, and the model's size in 1 bit next to its size at fp32.
import type { OnebitModule } from 'onebitc';
import type { ModelEntry, StoryModel } from './models.ts';
import { MODELS } from './models.ts';

type Backend = 'wasm' | 'webgpu' | 'js';
/** The backends in the switch, in this order: those the bundle was compiled for that this browser can run. */
const BACKENDS: readonly Backend[] = ['wasm', 'webgpu', 'js'];
const runnable = (b: Backend, targets: readonly string[]) => targets.includes(b) && (b !== 'webgpu' || 'gpu' in navigator);

const element = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const form = element<HTMLFormElement>('form');
const prompt = element<HTMLTextAreaElement>('prompt');
const modelSelect = element<HTMLSelectElement>('model');
const backendSelect = element<HTMLSelectElement>('backend');
const maxTokens = element<HTMLInputElement>('max-tokens');
const button = element<HTMLButtonElement>('generate');
const story = element<HTMLParagraphElement>('story');
const storyPrompt = element<HTMLElement>('story-prompt');
const continuation = element<HTMLSpanElement>('continuation');
const status = element<HTMLParagraphElement>('status');
const size = element<HTMLParagraphElement>('size');

for (const m of MODELS) modelSelect.add(new Option(m.label, m.id));

/** `state` (idle, loading, generating, done, error) is for tests and styles; `text` for people. */
function setStatus(state: string, text: string): void {
  status.dataset['state'] = state;
  status.textContent = text;
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

/**
 * The weights' bytes at fp32: the size before compiling (these fixtures are F32), with every linear layer
 * counted at 4 bytes per weight (a checkpoint trained with OneBit stores its layers in 1 bit already).
 */
function fp32Bytes({ manifest }: OnebitModule): number {
  return manifest.layers.reduce((n, l) => n + 4 * l.out * l.in - l.bytesBefore, manifest.size.before);
}

/** Shows the selected model's size and the backends it can run on here (keeping the choice when it can). */
async function showModel(entry: ModelEntry): Promise<void> {
  const module = await entry.module();
  const { manifest } = module;
  const fp32 = fp32Bytes(module);
  size.textContent = `Weights: ${kib(manifest.size.after)} with 1-bit linears vs ${kib(fp32)} at fp32 ` +
    `(${(fp32 / manifest.size.after).toFixed(1)}× smaller).`;
  const previous = backendSelect.value;
  backendSelect.replaceChildren(...BACKENDS.filter((b) => runnable(b, manifest.targets)).map((b) => new Option(b, b)));
  if ([...backendSelect.options].some((o) => o.value === previous)) backendSelect.value = previous;
}

const selected = () => MODELS.find((m) => m.id === modelSelect.value)!;
const showSelected = () => showModel(selected()).catch((e: Error) => setStatus('error', e.message));
modelSelect.addEventListener('change', () => void showSelected());
void showSelected();

/** Loaded models by model and backend: each loads once. */
const loaded = new Map<string, Promise<StoryModel>>();
function loadModel(entry: ModelEntry, backend: Backend): Promise<StoryModel> {
  const key = `${entry.id}/${backend}`;
  let model = loaded.get(key);
  if (!model) {
    model = entry.module().then((m) => m.load({ backend }));
    model.catch(() => loaded.delete(key));
    loaded.set(key, model);
  }
  return model;
}

/** Yields to the browser (it renders when a frame is due) without setTimeout's 4 ms clamp. */
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

async function generate(): Promise<void> {
  const entry = selected();
  const backend = backendSelect.value as Backend;
  button.disabled = true;
  storyPrompt.textContent = prompt.value;
  continuation.textContent = '';
  delete story.dataset['ids'];
  try {
    setStatus('loading', `Loading ${entry.label} (${backend})…`);
    const model = await loadModel(entry, backend);
    setStatus('generating', `Generating with the ${model.backend} backend…`);
    const ids: number[] = [];
    const pieces = model.generate(prompt.value, { maxTokens: Number(maxTokens.value), onToken: (id) => ids.push(id) });
    let busy = 0; // ms spent in the model (rendering excluded)
    for (;;) {
      const started = performance.now();
      const next = await pieces.next();
      busy += performance.now() - started;
      if (next.done) break;
      continuation.append(next.value);
      setStatus('generating', `${ids.length} tokens · ${(ids.length / (busy / 1000)).toFixed(0)} tokens/s · ${model.backend}`);
      await nextTask();
    }
    story.dataset['ids'] = ids.join(',');
    setStatus('done', `${ids.length} tokens in ${(busy / 1000).toFixed(2)} s · ${(ids.length / (busy / 1000)).toFixed(0)} tokens/s · ${model.backend}`);
  } catch (e) {
    console.error(e);
    setStatus('error', (e as Error).message);
  } finally {
    button.disabled = false;
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  void generate();
});
