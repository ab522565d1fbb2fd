// `onebitc inspect`: what a model (or a compiled bundle) holds: inputs, outputs, ops, every Linear and its size.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { byteSizeOf } from '../formats/tensor.ts';
import { SUPPORTED_OPS } from '../runtime/kernels/index.ts';
import { importModel } from './import/import-model.ts';
import type { Manifest } from './compile.ts';
import { formatDiagnostic } from './ir/diagnostics.ts';
import type { Dim } from './ir/graph.ts';
import { allGraphs } from './ir/graph.ts';
import { inferShapes } from './ir/infer-shapes.ts';
import { verifyModel } from './ir/verify.ts';
import { findLinears } from './passes/find-linears.ts';
import { foldConstants } from './passes/fold-constants.ts';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** Bytes a OneBit layer of this shape stores: sign bits plus fp16 g and h (ONEBIT.md). */
export function onebitBytes(out: number, inDim: number): number {
  return out * Math.ceil(inDim / 8) + 2 * (inDim + out);
}

const shape = (dims: readonly Dim[] | undefined) => `[${(dims ?? ['?']).join(', ')}]`;

export async function inspect(path: string): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  if (info?.isDirectory()) {
    const manifest = await readFile(join(path, 'manifest.json'), 'utf8').catch(() => undefined);
    if (manifest) return inspectBundle(path, JSON.parse(manifest) as Manifest);
  }
  const { model } = await importModel(path);
  const lines: string[] = [];
  const diagnostics = [...verifyModel(model, { supportedOps: SUPPORTED_OPS }), ...inferShapes(model)];
  foldConstants(model);
  lines.push(`${path}: ${model.source.format === 'onnx' ? 'ONNX' : `Hugging Face checkpoint (${model.source.format})`}, opsets ${Object.entries(model.opsets).map(([d, v]) => `${d || 'ai.onnx'} ${v}`).join(', ')}${model.source.producer ? `, from ${model.source.producer}` : ''}`);
  lines.push('inputs:');
  for (const v of model.graph.inputs) lines.push(`  ${v.name}: ${v.dtype} ${shape(v.shape)}`);
  lines.push('outputs:');
  for (const v of model.graph.outputs) lines.push(`  ${v.name}: ${v.dtype} ${shape(model.graph.types.get(v.name)?.shape ?? v.shape)}`);
  const ops = new Map<string, number>();
  for (const g of allGraphs(model.graph)) for (const n of g.nodes) ops.set(n.op, (ops.get(n.op) ?? 0) + 1);
  lines.push(`ops (${[...ops.values()].reduce((a, b) => a + b, 0)} nodes): ${[...ops].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([op, n]) => `${op} ${n}`).join(', ')}`);
  const sites = findLinears(model);
  const layers = new Map<string, (typeof sites)[number]>();
  for (const s of sites) if (!layers.has(s.layer)) layers.set(s.layer, s);
  let before = 0;
  let after = 0;
  lines.push(`linears (${layers.size}):`);
  for (const s of layers.values()) {
    const w = s.scope.constant(s.weight)!;
    const bytes = byteSizeOf(w);
    before += bytes;
    after += onebitBytes(s.out, s.in);
    lines.push(`  ${s.layer}  ${s.out}×${s.in}  ${s.source}  ${w.dtype}  ${formatBytes(bytes)} → ${formatBytes(onebitBytes(s.out, s.in))}  (node ${s.node.name}, weight ${s.weight})`);
  }
  if (layers.size) lines.push(`linear weights: ${formatBytes(before)} → ${formatBytes(after)} as OneBit (${(before / after).toFixed(1)}× smaller)`);
  for (const d of diagnostics) lines.push(formatDiagnostic(d));
  return lines.join('\n');
}

function inspectBundle(path: string, m: Manifest): string {
  const lines = [`${path}: onebitc bundle (format ${m.formatVersion}, onebitc ${m.onebitc}) of ${m.source}, targets ${m.targets.join(', ')}${m.quantized ? '' : ', not quantized'}`];
  const specs = (list: unknown) => (list as { name: string; dtype: string; dims: Dim[] }[]).map((s) => `  ${s.name}: ${s.dtype} ${shape(s.dims)}`);
  lines.push('inputs:', ...specs(m.inputs), 'outputs:', ...specs(m.outputs));
  lines.push(`layers (${m.layers.length}):`);
  for (const l of m.layers) lines.push(`  ${l.name}  ${l.out}×${l.in}  ${formatBytes(l.bytesBefore)} → ${l.kept ? 'kept' : formatBytes(l.bytesAfter)}${l.trained ? ' (trained OneBit)' : ''}`);
  lines.push(`size: ${formatBytes(m.size.before)} → ${formatBytes(m.size.after)}`);
  return lines.join('\n');
}
