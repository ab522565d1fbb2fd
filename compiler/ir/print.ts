// The IR as readable text (`onebitc inspect`, ONEBITC_DEBUG=1). One line per node:
//   %out:float32[batch,sequence,64] = MatMul(%x, @weight) {attr=value}
// `%` marks values, `@` constants (initializers); subgraphs are printed indented under their node.
// Output depends only on the model: same model, same text.
import type { Tensor } from '../../formats/tensor.ts';
import type { IrAttr, IrGraph, IrModel, ValueType } from './graph.ts';
import { isIrGraph } from './graph.ts';
import { isTensor } from './shape-rules/common.ts';

/** The whole model: header, then the main graph and its subgraphs. */
export function printModel(model: IrModel): string {
  const opsets = Object.keys(model.opsets).sort().map((d) => `${d || 'ai.onnx'} ${model.opsets[d]}`).join(', ');
  const source = [model.source.format, model.source.producer].filter(Boolean).join(', ');
  const lines = [`model '${model.source.path}' (${source}); opsets: ${opsets}`];
  printGraph(model.graph, { lines });
  return lines.join('\n') + '\n';
}

export interface PrintGraphOptions {
  /** Prefix of every line. */
  indent?: string;
  /** Text before the graph's header (`then_branch: `). */
  title?: string;
  /** Constants of enclosing graphs, printed with `@`. */
  outerConstants?: ReadonlySet<string>;
  /** Lines are appended here. */
  lines?: string[];
}

/** One graph alone (no model header), as lines. */
export function printGraph(graph: IrGraph, options: PrintGraphOptions = {}): string[] {
  const { indent = '', title = '', outerConstants = new Set<string>(), lines = [] } = options;
  const constants = new Set([...outerConstants, ...graph.initializers.keys()]);
  const ref = (name: string) => (name === '' ? '_' : `${constants.has(name) ? '@' : '%'}${name}`);
  const typed = (name: string, declared?: ValueType) => `${ref(name)}:${formatType(graph.types.get(name) ?? declared)}`;

  lines.push(`${indent}${title}graph '${graph.name}'`);
  if (graph.inputs.length > 0) lines.push(`${indent}  inputs:`);
  for (const v of graph.inputs) lines.push(`${indent}    ${typed(v.name, v)}`);
  if (graph.outputs.length > 0) lines.push(`${indent}  outputs:`);
  for (const v of graph.outputs) lines.push(`${indent}    ${typed(v.name, v)}`);
  if (graph.initializers.size > 0) {
    lines.push(`${indent}  initializers (${graph.initializers.size}):`);
    for (const [name, t] of graph.initializers) {
      const values = formatValues(t);
      lines.push(`${indent}    @${name}: ${t.dtype}[${t.dims.join(',')}]${values ? ` = ${values}` : ''}`);
    }
  }
  lines.push(`${indent}  nodes (${graph.nodes.length}):`);
  for (const node of graph.nodes) {
    const outs = node.outputs.map((o) => (o === '' ? '_' : typed(o))).join(', ');
    const keys = Object.keys(node.attrs).sort();
    const attrs = keys.length ? ` {${keys.map((k) => `${k}=${formatAttr(node.attrs[k]!)}`).join(', ')}}` : '';
    const domain = node.domain ? `${node.domain}.` : '';
    lines.push(`${indent}    ${outs} = ${domain}${node.op}(${node.inputs.map(ref).join(', ')})${attrs}`);
    for (const k of keys) {
      const a = node.attrs[k]!;
      const subs = isIrGraph(a) ? [a] : Array.isArray(a) ? (a as unknown[]).filter((x): x is IrGraph => isIrGraph(x as IrAttr)) : [];
      subs.forEach((g, i) => {
        printGraph(g, { indent: `${indent}      `, title: `${k}${Array.isArray(a) ? `[${i}]` : ''}: `, outerConstants: constants, lines });
      });
    }
  }
  return lines;
}

/** `float32[batch,sequence,64]`; `float32[?]` for unknown rank; `?` when untyped. */
export function formatType(t: ValueType | undefined): string {
  if (!t) return '?';
  return `${t.dtype}[${t.shape ? t.shape.join(',') : '?'}]`;
}

const MAX_SHOWN = 8;

function formatNumber(x: number | bigint): string {
  if (typeof x === 'bigint' || Number.isInteger(x)) return String(x);
  return String(Number(x.toPrecision(7)));
}

/** The elements of a small tensor (up to 8), or '' for bigger ones. */
function formatValues(t: Tensor): string {
  if (t.dims.reduce((a, b) => a * b, 1) > MAX_SHOWN || t.dtype === 'float16' || t.dtype === 'bfloat16') return '';
  const items = t.dtype === 'string'
    ? (t.data as string[]).map((s) => JSON.stringify(s))
    : [...(t.data as unknown as Iterable<number | bigint>)].map(formatNumber);
  return t.dims.length === 0 ? items[0] ?? '' : `[${items.join(', ')}]`;
}

function formatAttr(a: IrAttr): string {
  if (typeof a === 'number') return formatNumber(a);
  if (typeof a === 'string') return JSON.stringify(a);
  if (isIrGraph(a)) return `<graph '${a.name}'>`;
  if (isTensor(a)) {
    const values = formatValues(a);
    return `${a.dtype}[${a.dims.join(',')}]${values ? ` ${values}` : ''}`;
  }
  return `[${(a as unknown[]).map((x) => formatAttr(x as IrAttr)).join(', ')}]`;
}
