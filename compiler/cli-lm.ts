// `onebitc run` and `onebitc eval`: load a language-model bundle (its model.js and tokenizer.json) and
// generate text or measure perplexity. Thin: the work is runtime/generate's.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { generate } from '../runtime/generate/generate.ts';
import type { TextTokenizer } from '../runtime/generate/generate.ts';
import type { PerplexityProgress } from '../runtime/generate/perplexity.ts';
import { perplexity } from '../runtime/generate/perplexity.ts';
import type { LanguageModel } from '../runtime/generate/session.ts';
import type { Backend } from '../runtime/model.ts';
import { BACKENDS } from '../runtime/model.ts';
import type { GpuProvider } from '../runtime/webgpu/device.ts';
import { loadTokenizer } from '../runtime/tokenizer/tokenizer.ts';

/** A failure to report as one line (no stack trace). */
class LmCliError extends Error {}

interface LoadedBundle {
  model: LanguageModel & { dispose?(): void; backend?: string };
  tokenizer: TextTokenizer;
  maxContext: number | undefined;
}

interface BundleModule {
  load(options?: { backend?: Backend; gpu?: GpuProvider; threads?: number }): Promise<LanguageModel & { dispose?(): void; backend?: string }>;
}

/**
 * WebGPU for bundles outside any project: the optional `webgpu` package (Dawn) of onebitc itself. Under
 * 'auto' only a hardware adapter counts (a software one is slower than WASM).
 */
async function nodeGpu(backend: string): Promise<GpuProvider | undefined> {
  if (backend !== 'webgpu' && backend !== 'auto') return undefined;
  const dawn = await import('webgpu').catch(() => undefined) as { create(flags: string[]): GpuProvider; globals: object } | undefined;
  if (!dawn) return undefined;
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create([]);
  heldGpus.push(gpu); // Dawn must not be garbage-collected while in use
  if (backend === 'auto') {
    const adapter = await gpu.requestAdapter();
    if (!adapter || (adapter.info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter) return undefined;
  }
  return gpu;
}
const heldGpus: GpuProvider[] = [];

async function loadBundle(bundle: string, backend: string, threadsOption?: string): Promise<LoadedBundle> {
  const threads = option(parseNumber('--threads', true, 1), threadsOption);
  if (!(BACKENDS as readonly string[]).includes(backend)) throw new LmCliError(`unsupported backend "${backend}". Should be one of: ${BACKENDS.join(', ')}`);
  const dir = resolve(bundle);
  if (!existsSync(dir)) throw new LmCliError(`${bundle}: no such bundle folder`);
  const modelJs = join(dir, 'model.js');
  if (!existsSync(modelJs)) throw new LmCliError(`${bundle}: not a onebitc bundle (no model.js); compile one with \`onebitc <model> -o ${bundle}\``);
  const tokenizerPath = join(dir, 'tokenizer.json');
  if (!existsSync(tokenizerPath)) throw new LmCliError(`${bundle}: the bundle has no tokenizer.json (run and eval need a language model compiled with its tokenizer)`);
  let tokenizer: TextTokenizer;
  try {
    const configPath = join(dir, 'tokenizer_config.json');
    const config = existsSync(configPath) ? JSON.parse(await readFile(configPath, 'utf8')) as object : undefined;
    tokenizer = loadTokenizer(await readFile(tokenizerPath, 'utf8'), config);
  } catch (e) {
    throw new LmCliError(`${tokenizerPath}: ${(e as Error).message}`);
  }
  let mod: BundleModule;
  try {
    mod = await import(pathToFileURL(modelJs).href) as BundleModule;
  } catch (e) {
    throw new LmCliError(`${modelJs}: cannot import (${(e as Error).message})`);
  }
  if (typeof mod.load !== 'function') throw new LmCliError(`${modelJs}: not a onebitc model (no load())`);
  const gpu = await nodeGpu(backend);
  const model = await mod.load({ backend: backend as Backend, ...(gpu ? { gpu } : {}), ...(threads !== undefined ? { threads } : {}) });
  const maxContext = await contextOf(dir);
  return { model, tokenizer, maxContext };
}

/** The context length the compiler recorded (the plan's lm.contextLength, mirrored in the manifest if present). */
async function contextOf(dir: string): Promise<number | undefined> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { lm?: { contextLength?: unknown } };
    const n = manifest.lm?.contextLength;
    return typeof n === 'number' ? n : undefined;
  } catch {
    return undefined;
  }
}

function fail(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`onebitc: error: ${message}\n`);
  if (process.env['ONEBITC_DEBUG'] && error instanceof Error && !(error instanceof LmCliError)) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
}

function parseNumber(name: string, integer: boolean, min: number, max = Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
      throw new LmCliError(`${name} must be ${integer ? 'an integer' : 'a number'} ${max === Infinity ? `≥ ${min}` : `in [${min}, ${max}]`}, got "${value}"`);
    }
    return n;
  };
}

/** Parses an option now, turning a bad value into a one-line error. */
function option<T>(parse: (v: string) => T, value: string | undefined): T | undefined {
  return value === undefined ? undefined : parse(value);
}

interface RunOptions { prompt?: string; maxTokens?: string; temperature?: string; topK?: string; topP?: string; seed?: string; backend: string; maxContext?: string; threads?: string }
interface EvalOptions { text?: string; context?: string; maxChunks?: string; backend: string; threads?: string }

async function runCommand(bundle: string, opts: RunOptions): Promise<void> {
  if (opts.prompt === undefined) throw new LmCliError('missing --prompt <text>');
  const maxTokens = option(parseNumber('--max-tokens', true, 0), opts.maxTokens) ?? 128;
  const temperature = option(parseNumber('--temperature', false, 0), opts.temperature);
  const topK = option(parseNumber('--top-k', true, 0), opts.topK);
  const topP = option(parseNumber('--top-p', false, Number.MIN_VALUE, 1), opts.topP);
  const seed = option(parseNumber('--seed', true, 0, 2 ** 32 - 1), opts.seed);
  const maxContextOption = option(parseNumber('--max-context', true, 1), opts.maxContext);
  const { model, tokenizer, maxContext } = await loadBundle(bundle, opts.backend, opts.threads);
  let tokens = 0;
  let first: number | undefined;
  const started = performance.now();
  const context = maxContextOption ?? maxContext;
  process.stdout.write(opts.prompt); // the continuation reads on from the prompt
  for await (const piece of generate(model, tokenizer, opts.prompt, {
    maxTokens,
    ...(temperature !== undefined ? { temperature } : {}),
    ...(topK !== undefined ? { topK } : {}),
    ...(topP !== undefined ? { topP } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(context !== undefined ? { maxContext: context } : {}),
    onToken: () => { tokens++; first ??= performance.now(); },
  })) {
    process.stdout.write(piece);
  }
  const end = performance.now();
  process.stdout.write('\n');
  const seconds = (end - started) / 1000;
  const decodeSeconds = first === undefined ? 0 : (end - first) / 1000;
  const rate = tokens > 1 && decodeSeconds > 0 ? (tokens - 1) / decodeSeconds : tokens / Math.max(seconds, 1e-9);
  process.stderr.write(`onebitc: ${tokens} tokens in ${seconds.toFixed(2)} s, ${rate.toFixed(1)} tokens/s (${model.backend ?? opts.backend} backend; first token after ${first === undefined ? '-' : ((first - started) / 1000).toFixed(3)} s)\n`);
  model.dispose?.();
}

function evalProgress(): { onProgress: (p: PerplexityProgress) => void; stop: () => void } {
  const tty = Boolean(process.stderr.isTTY);
  let bar: cliProgress.SingleBar | undefined;
  let last = performance.now();
  return {
    onProgress(p) {
      if (!tty) {
        if (performance.now() - last < 3000 && p.chunk !== p.chunks) return;
        last = performance.now();
        process.stderr.write(`onebitc: eval ${p.chunk}/${p.chunks} chunks, ${p.tokens}/${p.totalTokens} tokens, ${p.seconds.toFixed(1)} s\n`);
        return;
      }
      if (!bar) {
        bar = new cliProgress.SingleBar({ format: 'eval {bar} {value}/{total} chunks | {tokens} tokens | {rate} tokens/s', stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
        bar.start(p.chunks, 0, { tokens: 0, rate: '-' });
      }
      bar.update(p.chunk, { tokens: p.tokens, rate: (p.tokens / Math.max(p.seconds, 1e-9)).toFixed(0) });
    },
    stop: () => bar?.stop(),
  };
}

async function evalCommand(bundle: string, opts: EvalOptions): Promise<void> {
  if (opts.text === undefined) throw new LmCliError('missing --text <file>: the text to measure perplexity on');
  const contextLength = option(parseNumber('--context', true, 2), opts.context);
  const maxChunks = option(parseNumber('--max-chunks', true, 1), opts.maxChunks);
  let text: string;
  try {
    text = await readFile(opts.text, 'utf8');
  } catch (e) {
    throw new LmCliError(`${opts.text}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const { model, tokenizer, maxContext } = await loadBundle(bundle, opts.backend, opts.threads);
  const progress = evalProgress();
  try {
    const r = await perplexity(model, tokenizer, text, {
      ...(contextLength !== undefined ? { contextLength } : {}),
      ...(maxChunks !== undefined ? { maxChunks } : {}),
      ...(maxContext !== undefined ? { maxContext } : {}),
      onProgress: progress.onProgress,
    });
    progress.stop();
    const out = process.stdout;
    out.write(`perplexity: ${r.perplexity.toFixed(4)} (mean NLL ${r.nll.toFixed(4)} nats)\n`);
    out.write(`tokens: ${r.tokens} scored in ${r.chunks} chunks\n`);
    out.write(`chunking: ${r.method}\n`);
    out.write(`speed: ${(r.tokens / Math.max(r.seconds, 1e-9)).toFixed(1)} tokens/s (${r.seconds.toFixed(2)} s, ${model.backend ?? opts.backend} backend)\n`);
  } finally {
    progress.stop();
    model.dispose?.();
  }
}

/** Adds `run` and `eval` to the onebitc command line. */
export function registerLmCommands(program: Command): void {
  const backendHelp = `backend: ${BACKENDS.join(', ')}`;
  const threadsHelp = 'threads for the WASM backend\'s large OneBit layers (default 1)';
  program
    .command('run')
    .description('generate text with a language-model bundle (streams to stdout; speed on stderr)')
    .argument('<bundle>', 'a bundle folder with tokenizer.json')
    .option('--prompt <text>', 'the text to continue (required)')
    .option('--max-tokens <n>', 'most tokens to generate (default 128)')
    .option('--temperature <t>', 'sampling temperature; 0 (default) is greedy')
    .option('--top-k <k>', 'sample among the k most likely tokens (0: all)')
    .option('--top-p <p>', 'sample among the most likely tokens holding probability mass p')
    .option('--seed <s>', 'seed of the sampler (same seed, same text)')
    .option('--max-context <n>', 'longest context, prompt included (default: the model\'s)')
    .option('--backend <name>', backendHelp, 'auto')
    .option('--threads <n>', threadsHelp)
    .action(async (bundle: string, opts: RunOptions) => {
      try {
        await runCommand(bundle, opts);
      } catch (e) {
        fail(e);
      }
    });
  program
    .command('eval')
    .description('perplexity of a language-model bundle on a text file, and its speed')
    .argument('<bundle>', 'a bundle folder with tokenizer.json')
    .option('--text <file>', 'UTF-8 text; paragraphs on their own lines (required)')
    .option('--context <n>', 'tokens per chunk, BOS included (default 512)')
    .option('--max-chunks <n>', 'score only the first n chunks')
    .option('--backend <name>', backendHelp, 'auto')
    .option('--threads <n>', threadsHelp)
    .action(async (bundle: string, opts: EvalOptions) => {
      try {
        await evalCommand(bundle, opts);
      } catch (e) {
        fail(e);
      }
    });
}
