// Shared by the decode-step tests: compile a Hugging Face folder, load its bundle on the WASM backend, and
// decode it twice — through the fused decode step and through the per-node graph (the same model with the
// step hidden from DecodeSession) — so the graph path is the oracle for the step.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CompileOptions } from '../../compiler/compile.ts';
import { compile } from '../../compiler/compile.ts';
import { DecodeSession } from '../../runtime/generate/session.ts';
import type { LanguageModel } from '../../runtime/generate/session.ts';
import type { Model } from '../../runtime/model.ts';
import { tempDir } from '../helpers/cli.ts';

export interface LoadedBundle { model: Model & LanguageModel; dir: string }

export async function compileAndLoad(input: string, options: Omit<CompileOptions, 'output'> = {}): Promise<LoadedBundle> {
  const dir = join(tempDir('decode-step'), 'bundle');
  await compile(input, { ...options, output: dir, log: () => {} });
  const { load } = await import(pathToFileURL(join(dir, 'model.js')).href) as { load(o: object): Promise<Model & LanguageModel> };
  return { model: await load({ backend: 'wasm' }), dir };
}

/** The model without its fused decoder: DecodeSession then runs the graph with past_key_values. */
export function graphOnly(model: Model & LanguageModel): LanguageModel {
  return { inputs: model.inputs, outputs: model.outputs, backend: model.backend, run: (feeds, options) => model.run(feeds, options) };
}

export function relativeL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) { num += (actual[i]! - expected[i]!) ** 2; den += expected[i]! ** 2; }
  return Math.sqrt(num / den);
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/**
 * Greedy decoding of `steps` tokens after `prompt` in both sessions, each step fed the graph's choice: the
 * largest relative L2 distance of the step's logits from the graph's, and both token lists.
 */
export async function decodeBoth(model: Model & LanguageModel, prompt: readonly number[], steps: number, maxContext?: number): Promise<{ worst: number; fused: number[]; graph: number[]; calls: ReadonlyMap<string, number>[] }> {
  const options = maxContext !== undefined ? { maxContext } : {};
  const fused = new DecodeSession(model, options);
  const graph = new DecodeSession(graphOnly(model), options);
  if (!fused.usesFusedStep) throw new Error('the model has no fused decode step');
  let a = (await fused.append(prompt)).slice(); // a view of WASM memory: copied before the graph runs
  const calls = [new Map(model.wasmCalls)];
  let b = await graph.append(prompt);
  let worst = relativeL2(a, b);
  const ids = { fused: [argmax(a)], graph: [argmax(b)] };
  for (let s = 1; s < steps; s++) {
    a = (await fused.append([ids.graph.at(-1)!])).slice();
    calls.push(new Map(model.wasmCalls));
    b = await graph.append([ids.graph.at(-1)!]);
    worst = Math.max(worst, relativeL2(a, b));
    ids.fused.push(argmax(a));
    ids.graph.push(argmax(b));
  }
  return { worst, ...ids, calls };
}
