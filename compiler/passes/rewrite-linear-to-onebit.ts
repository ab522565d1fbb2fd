// Replaces each Linear found by find-linears with one OneBitLinear node whose sign bits and fp16 vectors
// come from SVID. Layers matched by --keep stay as they are. A weight shared by several nodes is
// decomposed once (one layer per weight and orientation).
import picomatch from 'picomatch';
import type { DType } from '../../formats/dtype.ts';
import { float32ToHalf, halfToFloat32, ONNX_DATA_TYPE } from '../../formats/dtype.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { byteSizeOf, sizeOf, tensor } from '../../formats/tensor.ts';
import { WidenedTensor } from '../../formats/widened-tensor.ts';
import type { FitReport } from '../onebit/fit-report.ts';
import { fitReport } from '../onebit/fit-report.ts';
import type { SvidProgress } from '../onebit/svid.ts';
import { svid } from '../onebit/svid.ts';
import type { IrGraph, IrModel, IrNode } from '../ir/graph.ts';
import { releaseMemory } from '../release-memory.ts';
import type { LinearSite } from './find-linears.ts';

export const ONEBIT_OP = 'OneBitLinear';
export const ONEBIT_DOMAIN = 'ai.onebitc';

export interface LayerReport {
  layer: string;
  /** Nodes that use this layer's weight. */
  nodes: string[];
  weight: string;
  /** The stored weight is [in, out] (W transposed), as for MatMul. */
  transposed: boolean;
  source: LinearSite['source'];
  out: number;
  in: number;
  /** Bytes of the original weight in its stored dtype. */
  bytesBefore: number;
  /** Bytes of sign bits + fp16 g and h (0 when kept). */
  bytesAfter: number;
  kept: boolean;
  /** Why the layer was kept (the --keep pattern that matched). */
  keptBy?: string;
  fit?: FitReport;
}

export interface RewriteOptions {
  /** Globs (bash-style: `*` crosses `/` and `.`) matched against node, weight and layer names. */
  keep?: readonly string[];
  onLayer?: (event: { layer: string; index: number; total: number; out: number; in: number }) => void;
  onSvidProgress?: (layer: string, progress: SvidProgress) => void;
}

export function rewriteLinearToOnebit(model: IrModel, sites: readonly LinearSite[], options: RewriteOptions = {}): LayerReport[] {
  const keepers = (options.keep ?? []).map((glob) => ({ glob, match: picomatch(glob, { bash: true, dot: true }) }));
  const keptBy = (site: LinearSite) => keepers.find((k) => [site.node.name, site.weight, site.layer].some((n) => k.match(n)))?.glob;

  const reports = new Map<string, LayerReport>();
  const layers = [...new Set(sites.map((s) => s.layer))];
  for (const site of sites) {
    let report = reports.get(site.layer);
    if (!report) {
      const w = site.scope.constant(site.weight)!;
      report = {
        layer: site.layer, nodes: [], weight: site.weight, transposed: site.transposed, source: site.source, out: site.out, in: site.in,
        bytesBefore: byteSizeOf(w instanceof WidenedTensor ? w.source : w), bytesAfter: 0, kept: false,
      };
      reports.set(site.layer, report);
    }
    report.nodes.push(site.node.name);
    const glob = keptBy(site);
    if (glob !== undefined) { report.kept = true; report.keptBy ??= glob; }
  }

  const root = model.graph;
  for (const site of sites) {
    const report = reports.get(site.layer)!;
    if (report.kept) continue;
    if (!root.initializers.has(`${site.layer}.sign`)) {
      options.onLayer?.({ layer: site.layer, index: layers.indexOf(site.layer), total: layers.length, out: site.out, in: site.in });
      decompose(root, site, report, options);
      if (site.out * site.in >= BIG_LAYER) releaseMemory(); // W's float32 copy is garbage now
    }
    replaceNode(site);
  }
  return [...reports.values()];
}

/** W as float32 [out, in], whatever the stored dtype and orientation. */
export function weightMatrix(w: Tensor, transposed: boolean): Float32Array {
  const data = w.data; // read once: the tensor may be loaded (and widened) lazily on every access
  const values = w.dtype === 'float16' || w.dtype === 'bfloat16' ? halfToFloat32(w.dtype, data as Uint16Array)
    : data instanceof Float32Array ? data : Float32Array.from(data as Float64Array);
  if (!transposed) return values;
  const [rows, cols] = w.dims as [number, number];
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  return out;
}

function decompose(root: IrGraph, site: LinearSite, report: LayerReport, options: RewriteOptions): void {
  const w = weightMatrix(site.scope.constant(site.weight)!, site.transposed);
  const onProgress = options.onSvidProgress;
  const result = svid(w, site.out, site.in, onProgress ? { onProgress: (p) => onProgress(site.layer, p) } : {});
  report.fit = fitReport(w, site.out, site.in, result);
  const add = (suffix: string, t: Tensor) => {
    root.initializers.set(`${site.layer}.${suffix}`, t);
    root.types.set(`${site.layer}.${suffix}`, { dtype: t.dtype, shape: [...t.dims] });
  };
  add('sign', tensor('uint8', [site.out, Math.ceil(site.in / 8)], result.sign));
  add('g', tensor('float16', [site.in], result.g));
  add('h', tensor('float16', [site.out], result.h));
  report.bytesAfter = result.sign.byteLength + result.g.byteLength + result.h.byteLength;
}

/** Layers whose float32 weight is worth collecting right away (16M weights = 64 MiB). */
const BIG_LAYER = 1 << 24;

function toFloat32(t: Tensor): Float32Array {
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') return halfToFloat32(t.dtype, t.data as Uint16Array);
  return Float32Array.from(t.data as ArrayLike<number>);
}

/** A fresh value or node name in `graph`, derived from `base`. */
function freshName(graph: IrGraph, base: string): string {
  const taken = (n: string) => graph.initializers.has(n) || graph.types.has(n) || graph.nodes.some((x) => x.name === n || x.outputs.includes(n));
  let name = base;
  for (let k = 2; taken(name); k++) name = `${base}_${k}`;
  return name;
}

function replaceNode(site: LinearSite): void {
  const { node, scope, layer } = site;
  const graph = scope.graph;
  const dtype = scope.constant(site.weight)!.dtype;
  const before: IrNode[] = [];
  const after: IrNode[] = [];
  const attrs: IrNode['attrs'] = { in: site.in, out: site.out };
  const addConstant = (base: string, t: Tensor) => {
    const name = freshName(graph, base);
    graph.initializers.set(name, t);
    graph.types.set(name, { dtype: t.dtype, shape: [...t.dims] });
    return name;
  };
  const addNode = (list: IrNode[], suffix: string, op: string, inputs: string[], output: string, nodeAttrs: IrNode['attrs'] = {}) =>
    list.push({ name: freshName(graph, `${node.name}/${suffix}`), op, domain: '', inputs, outputs: [output], attrs: nodeAttrs });

  let x = node.inputs[0]!;
  const output = site.biasAdd ? site.biasAdd.node.outputs[0]! : node.outputs[0]!;
  let bias: string | undefined;
  let addC: { c: string; beta: number } | undefined;
  if (site.biasAdd) {
    bias = addConstant(`${layer}.bias`, tensor('float32', [site.out], toFloat32(scope.constant(site.biasAdd.operand)!)));
    graph.nodes.splice(graph.nodes.indexOf(site.biasAdd.node), 1);
  }
  if (node.op === 'Gemm') {
    if (node.attrs['transA'] === 1) {
      const xt = freshName(graph, `${x}::transposed`);
      addNode(before, 'transpose_a', 'Transpose', [x], xt, { perm: [1, 0] });
      x = xt;
    }
    const alpha = typeof node.attrs['alpha'] === 'number' ? node.attrs['alpha'] : 1;
    if (alpha !== 1) attrs['alpha'] = alpha;
    const beta = typeof node.attrs['beta'] === 'number' ? node.attrs['beta'] : 1;
    const cName = node.inputs[2];
    const c = cName ? scope.constant(cName) : undefined;
    if (cName && beta !== 0) {
      if (c && (sizeOf(c.dims) === 1 || sizeOf(c.dims) === site.out) && (c.dims.length < 2 || (c.dims.length === 2 && c.dims[0] === 1))) {
        const values = toFloat32(c);
        const b = new Float32Array(site.out);
        for (let o = 0; o < site.out; o++) b[o] = beta * values[values.length === 1 ? 0 : o]!;
        bias = addConstant(`${layer}.bias`, tensor('float32', [site.out], b));
      } else {
        addC = { c: cName, beta }; // C varies per row or is computed: keep it as an Add after the linear
      }
    }
  }

  // Output chain: OneBitLinear (float32) → [Cast back to the model's float type] → [Add beta·C] → output.
  const linear = addC ? freshName(graph, `${output}::linear`) : output;
  const onebitOut = dtype === 'float32' ? linear : freshName(graph, `${linear}::float32`);
  if (dtype !== 'float32') {
    const cast = freshName(graph, `${x}::float32`);
    addNode(before, 'cast_in', 'Cast', [x], cast, { to: ONNX_DATA_TYPE['float32'] });
    x = cast;
    addNode(after, 'cast_out', 'Cast', [onebitOut], linear, { to: ONNX_DATA_TYPE[dtype] });
  }
  if (addC) {
    let c = addC.c;
    if (addC.beta !== 1) {
      const betaValue = addConstant(`${node.name}/beta`, castScalar(addC.beta, dtype));
      c = freshName(graph, `${addC.c}::scaled`);
      addNode(after, 'scale_c', 'Mul', [addC.c, betaValue], c);
    }
    addNode(after, 'add_c', 'Add', [linear, c], output);
  }
  const inputs = [x, `${layer}.sign`, `${layer}.g`, `${layer}.h`, ...(bias ? [bias] : [])];
  const replacement: IrNode = { name: node.name, op: ONEBIT_OP, domain: ONEBIT_DOMAIN, inputs, outputs: [onebitOut], attrs };
  graph.nodes.splice(graph.nodes.indexOf(node), 1, ...before, replacement, ...after);
}

function castScalar(value: number, dtype: DType): Tensor {
  if (dtype === 'float64') return tensor('float64', [], Float64Array.of(value));
  if (dtype === 'float16' || dtype === 'bfloat16') return tensor(dtype, [], float32ToHalf(dtype, [value]));
  return tensor('float32', [], Float32Array.of(value));
}
