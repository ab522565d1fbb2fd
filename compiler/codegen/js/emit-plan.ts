// IR → Plan (plain data the runtime executes) → the plan module's source (`export const plan = {...}`),
// one line per node, stable order, no timestamps. Constants go to weights.safetensors (all graphs'
// initializers, hoisted: ONNX names are unique across subgraphs); string tensors, which safetensors
// cannot hold, stay inline.
import { basename } from 'node:path';
import type { Tensor } from '../../../formats/tensor.ts';
import { byteSizeOf } from '../../../formats/tensor.ts';
import { NarrowedTensor, WidenedTensor } from '../../../formats/widened-tensor.ts';
import type { AttrValue, GraphNode, RuntimeGraph } from '../../../runtime/graph.ts';
import { isRuntimeGraph } from '../../../runtime/graph.ts';
import type { LmPlan, Plan, TensorSpec, WasmPlan, WebGpuPlan } from '../../../runtime/plan.ts';
import { PLAN_FORMAT } from '../../../runtime/plan.ts';
import { CompileError } from '../../ir/diagnostics.ts';
import type { IrAttr, IrGraph, IrModel, ValueInfo } from '../../ir/graph.ts';
import { defaultOpset, isIrGraph } from '../../ir/graph.ts';

export interface BuiltPlan {
  plan: Plan;
  /** Tensors for weights.safetensors as stored (half-precision ones narrowed), sorted by name. */
  weights: [string, Tensor][];
}

export interface PlanOptions {
  wasm?: WasmPlan;
  webgpu?: WebGpuPlan;
  /** Float32 constants to store at half precision (widened at load). */
  storeHalf?: (name: string, tensor: Tensor) => boolean;
  lm?: LmPlan;
}

/** How a constant is stored: half-precision views keep their source bytes; others may be narrowed. */
function stored(name: string, t: Tensor, options: PlanOptions): { tensor: Tensor; widen: boolean } {
  if (t instanceof WidenedTensor) return { tensor: t.source, widen: true };
  if (t.dtype === 'float32' && options.storeHalf?.(name, t)) return { tensor: new NarrowedTensor(t as Tensor<'float32'>), widen: true };
  return { tensor: t, widen: false };
}

export function buildPlan(model: IrModel, weightsFile: string, options: PlanOptions = {}): BuiltPlan {
  const weights = new Map<string, Tensor>();
  const inline: Record<string, Tensor> = {};
  const hoist = (graph: IrGraph) => {
    for (const [name, t] of graph.initializers) {
      if (weights.has(name) || name in inline) {
        throw new CompileError([{ severity: 'error', file: model.source.path, graph: graph.name, value: name, message: 'this constant is defined in two graphs; names must be unique across subgraphs' }]);
      }
      if (t.dtype === 'string') inline[name] = t;
      else weights.set(name, t);
    }
  };
  const graph = { ...convertGraph(model.graph, hoist), initializers: inline };
  const sorted = [...weights].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, t]) => [name, stored(name, t, options)] as const);
  const widen = sorted.filter(([, s]) => s.widen).map(([name]) => name);
  const spec = (v: ValueInfo): TensorSpec => ({ name: v.name, dtype: v.dtype, dims: v.shape ?? [] });
  const plan: Plan = {
    format: PLAN_FORMAT,
    model: basename(model.source.path),
    opset: defaultOpset(model),
    inputs: model.graph.inputs.map(spec),
    outputs: model.graph.outputs.map(spec),
    graph,
    weights: { file: weightsFile, bytes: sorted.reduce((n, [, s]) => n + byteSizeOf(s.tensor), 0), ...(widen.length ? { widen } : {}) },
    ...(options.wasm ? { wasm: options.wasm } : {}),
    ...(options.webgpu ? { webgpu: options.webgpu } : {}),
    ...(options.lm ? { lm: options.lm } : {}),
  };
  return { plan, weights: sorted.map(([name, s]) => [name, s.tensor]) };
}

function convertGraph(graph: IrGraph, hoist: (g: IrGraph) => void): RuntimeGraph {
  hoist(graph);
  return {
    name: graph.name,
    inputs: graph.inputs.map((v) => v.name),
    outputs: graph.outputs.map((v) => v.name),
    nodes: graph.nodes.map((n): GraphNode => ({
      name: n.name, op: n.op, inputs: n.inputs, outputs: n.outputs,
      attrs: Object.fromEntries(Object.entries(n.attrs).map(([k, v]) => [k, convertAttr(v, hoist)])),
    })),
  };
}

function convertAttr(value: IrAttr, hoist: (g: IrGraph) => void): AttrValue {
  if (isIrGraph(value)) return convertGraph(value, hoist);
  if (Array.isArray(value) && value.length && typeof value[0] === 'object') return (value as IrGraph[]).map((g) => convertGraph(g, hoist));
  return value as AttrValue;
}

// ---- source ----

export function planSource(plan: Plan): string {
  const lines = ['export const plan = {'];
  for (const [key, value] of Object.entries(plan)) {
    if (key !== 'graph') lines.push(`  ${key}: ${literal(value)},`);
  }
  lines.push(`  graph: ${graphSource(plan.graph, '  ')},`, '};');
  return lines.join('\n') + '\n';
}

function graphSource(graph: RuntimeGraph, indent: string): string {
  const inner = indent + '  ';
  const attr = (v: AttrValue) => isRuntimeGraph(v) ? graphSource(v, inner + '  ')
    : Array.isArray(v) && v.length && isRuntimeGraph(v[0] as AttrValue) ? `[${(v as RuntimeGraph[]).map((g) => graphSource(g, inner + '  ')).join(', ')}]` : literal(v);
  const nodes = graph.nodes.map((n) => {
    const attrs = Object.entries(n.attrs).map(([k, v]) => `${JSON.stringify(k)}: ${attr(v)}`);
    return `${inner}  { name: ${JSON.stringify(n.name)}, op: ${JSON.stringify(n.op)}, inputs: ${literal(n.inputs)}, outputs: ${literal(n.outputs)}, attrs: { ${attrs.join(', ')} } },`;
  });
  return [
    '{',
    `${inner}name: ${JSON.stringify(graph.name)},`,
    `${inner}inputs: ${literal(graph.inputs)},`,
    `${inner}outputs: ${literal(graph.outputs)},`,
    ...(graph.initializers ? [`${inner}initializers: ${literal(graph.initializers)},`] : []),
    `${inner}nodes: [`,
    ...nodes,
    `${inner}],`,
    `${indent}}`,
  ].join('\n');
}

function number(n: number): string {
  return Object.is(n, -0) ? '-0' : Number.isNaN(n) ? 'NaN' : n === Infinity ? 'Infinity' : n === -Infinity ? '-Infinity' : String(n);
}

/** A JS literal for plain data, typed arrays and tensors (exact: numbers print round-trip). */
export function literal(value: unknown): string {
  if (typeof value === 'number') return number(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`;
  if (ArrayBuffer.isView(value)) return `new ${value.constructor.name}([${Array.from(value as unknown as ArrayLike<number | bigint>, literal).join(', ')}])`;
  const entries = Object.entries(value as object).map(([k, v]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${literal(v)}`);
  return `{ ${entries.join(', ')} }`;
}
