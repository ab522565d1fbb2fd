// shaders.json and the WebGPU part of the plan: every node of the main graph that a kernel family takes
// gets a shader specialised to it (identical shaders are stored once), validated by naga here.
import type { GpuCall, WebGpuPlan } from '../../../runtime/plan.ts';
import type { IrModel } from '../../ir/graph.ts';
import { defaultOpset, isIrGraph } from '../../ir/graph.ts';
import { GPU_KERNEL_FAMILIES } from './families.ts';
import type { GpuKernelContext } from './kernel.ts';
import { TOP_K_MAX, topKShader } from './top-k.ts';
import { wgslError } from './validate-wgsl.ts';

export const SHADERS_FILE = 'shaders.json';
export const SHADERS_FORMAT = 1;

export interface EmittedWebGpu {
  plan: WebGpuPlan;
  /** The contents of shaders.json. */
  json: string;
  shaders: string[];
}

export function emitWebGpu(model: IrModel): EmittedWebGpu | undefined {
  const graph = model.graph;
  const ctx: GpuKernelContext = {
    opset: defaultOpset(model),
    constant: (name) => (name ? graph.initializers.get(name) : undefined),
    type: (name) => (name ? graph.types.get(name) : undefined),
  };
  const shaders: string[] = [];
  const index = new Map<string, number>();
  const calls: Record<string, GpuCall> = {};
  for (const node of graph.nodes) {
    if (Object.values(node.attrs).some((a) => isIrGraph(a) || (Array.isArray(a) && a.some((g) => typeof g === 'object')))) continue;
    for (const family of GPU_KERNEL_FAMILIES) {
      const kernel = family(node, ctx);
      if (!kernel) continue;
      const outputs = kernel.outputs ?? 1;
      if (node.outputs.slice(0, outputs).some((o) => o === '' || graph.types.get(o)?.dtype !== 'float32')) break;
      let shader = index.get(kernel.shader.source);
      if (shader === undefined) {
        const error = wgslError(kernel.shader.source);
        if (error) throw new Error(`internal error: the WGSL shader generated for node '${node.name}' (${node.op}) is invalid: ${error}\n${kernel.shader.source}`);
        shader = shaders.push(kernel.shader.source) - 1;
        index.set(kernel.shader.source, shader);
      }
      calls[node.name] = {
        kind: kernel.kind,
        shader,
        bindings: kernel.bindings,
        constants: kernel.constants ?? {},
        outputs,
        params: kernel.shader.params,
        dispatch: kernel.dispatch,
        sizes: kernel.sizes ?? {},
      };
      break;
    }
  }
  if (!shaders.length) return undefined;
  const logits = graph.outputs.find((o) => o.name === 'logits');
  const vocab = logits?.shape?.at(-1);
  let topK: WebGpuPlan['topK'];
  if (logits?.dtype === 'float32' && typeof vocab === 'number' && vocab > 0) {
    const source = topKShader(vocab);
    const error = wgslError(source);
    if (error) throw new Error(`internal error: the WGSL top-k shader is invalid: ${error}\n${source}`);
    topK = { shader: shaders.push(source) - 1, output: logits.name, vocab, maxK: TOP_K_MAX };
  }
  return { plan: { file: SHADERS_FILE, calls, ...(topK ? { topK } : {}) }, json: JSON.stringify({ format: SHADERS_FORMAT, shaders }), shaders };
}
