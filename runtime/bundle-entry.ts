// The entry of every generated model.js: this model's plan plus the runtime, nothing imported from outside.
import { plan } from 'onebitc:plan';
import type { LoadOptions, Model } from './model.ts';
import { loadModel } from './model.ts';

export type { Feed, LoadOptions, Model } from './model.ts';
export type { TensorSpec } from './plan.ts';

/** Input names, dtypes and dims (symbolic dims as strings). */
export const inputs = plan.inputs;
/** Output names, dtypes and dims. */
export const outputs = plan.outputs;

/** Loads the weights that sit beside this file (or `options.weights`) and returns a runnable model. */
export function load(options?: LoadOptions): Promise<Model> {
  return loadModel(plan, import.meta.url, options);
}
