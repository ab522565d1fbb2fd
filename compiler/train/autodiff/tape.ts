// Reverse-mode automatic differentiation over the IR: run() evaluates a graph node by node and keeps every
// value; backward() walks the nodes in reverse, applying each op's VJP rule, and returns the gradients of the
// trained parameters. Ops off the path from a parameter (shape arithmetic, masks, RoPE tables) run forward only.
import type { Tensor } from '../../../formats/tensor.ts';
import { tensor } from '../../../formats/tensor.ts';
import type { KernelContext, KernelTable } from '../../../runtime/kernel.ts';
import { Attributes } from '../../../runtime/kernel.ts';
import { KERNELS } from '../../../runtime/kernels/index.ts';
import type { IrGraph, IrNode } from '../../ir/graph.ts';
import type { Floats, FloatDType } from './floats.ts';
import { isFloats } from './floats.ts';
import { ATTENTION_OP, attentionVjps, FusedAttention } from './attention.ts';
import { FAST_KERNELS } from './fast-kernels.ts';
import { OneBitTrain, ONEBIT_TRAIN_OP, oneBitTrainVjps } from './onebit-train.ts';
import { elementwiseVjps } from './vjp-elementwise.ts';
import { layoutVjps } from './vjp-layout.ts';
import { Gemm, linearAlgebraVjps, MatMul } from './vjp-linear-algebra.ts';
import { nnVjps, RMSNorm } from './vjp-nn.ts';
import type { VjpTable } from './vjp.ts';

/** Forward kernels: the runtime's reference kernels, with the training engine's own where it needs them. */
export const TRAIN_KERNELS: KernelTable = { ...KERNELS, ...FAST_KERNELS, MatMul, Gemm, RMSNorm, [ONEBIT_TRAIN_OP]: OneBitTrain, [ATTENTION_OP]: FusedAttention };
export const VJPS: VjpTable = { ...attentionVjps, ...elementwiseVjps, ...layoutVjps, ...linearAlgebraVjps, ...nnVjps, ...oneBitTrainVjps };

export interface TapeOptions {
  /** float32 (training) or float64 (gradient checks: every float value is widened). */
  dtype?: FloatDType;
  opset?: number;
}

export class GradientError extends Error {
  override name = 'GradientError';
}

export class Tape {
  readonly values = new Map<string, Tensor>();
  /** Values that depend on a trained parameter. */
  private readonly tracked = new Set<string>();
  private readonly dtype: FloatDType;
  private readonly ctx: KernelContext;

  constructor(private readonly graph: IrGraph, options: TapeOptions = {}) {
    this.dtype = options.dtype ?? 'float32';
    this.ctx = { opset: options.opset ?? 18, outputCount: 1, runSubgraph: () => { throw new GradientError('subgraphs (If/Loop) are not differentiable here'); } };
  }

  /**
   * Runs the graph. `params` are the trained parameters (they override initializers of the same name);
   * `feeds` bind graph inputs. Returns this tape, whose `values` hold every value computed.
   */
  run(feeds: ReadonlyMap<string, Tensor>, params: ReadonlyMap<string, Tensor>, frozen?: ReadonlyMap<string, Tensor>): this {
    this.values.clear();
    this.tracked.clear();
    const lookup = (name: string): Tensor | undefined => {
      const known = this.values.get(name);
      if (known) return known;
      const t = this.widen(params.get(name) ?? frozen?.get(name) ?? this.graph.initializers.get(name), name);
      if (t) this.values.set(name, t);
      return t;
    };
    for (const [name, t] of feeds) this.values.set(name, this.widen(t, name)!);
    for (const name of params.keys()) this.tracked.add(name);
    for (const node of this.graph.nodes) this.runNode(node, lookup);
    return this;
  }

  private widen(t: Tensor | undefined, name: string): Tensor | undefined {
    if (!t || this.dtype === 'float32' || t.dtype !== 'float32') return t;
    const wide = tensor('float64', t.dims, Float64Array.from(t.data as Float32Array));
    this.values.set(name, wide);
    return wide;
  }

  private runNode(node: IrNode, lookup: (name: string) => Tensor | undefined): void {
    const kernel = TRAIN_KERNELS[node.op];
    if (!kernel) throw new GradientError(`node '${node.name}' (${node.op}): no kernel for this op`);
    const inputs = node.inputs.map((name) => {
      if (name === '') return undefined;
      const t = lookup(name);
      if (!t) throw new GradientError(`node '${node.name}' (${node.op}): input '${name}' is not defined`);
      return t;
    });
    let outputs: Tensor[];
    try {
      outputs = kernel(inputs, new Attributes(node.attrs as never), { ...this.ctx, outputCount: node.outputs.length });
    } catch (e) {
      throw new GradientError(`node '${node.name}' (${node.op}): ${e instanceof Error ? e.message : String(e)}`);
    }
    const tracked = node.inputs.some((n) => this.tracked.has(n));
    if (tracked && !VJPS[node.op] && outputs.some((t) => isFloats(t.data))) {
      throw new GradientError(`node '${node.name}' (${node.op}): no gradient rule for this op, and a trained parameter flows through it`);
    }
    node.outputs.forEach((name, i) => {
      if (!name) return;
      const t = this.widen(outputs[i], name) ?? outputs[i]!;
      this.values.set(name, t);
      if (tracked && isFloats(t.data)) this.tracked.add(name);
    });
  }

  /** Whether `name` depends on a trained parameter (only such values can be seeded). */
  isTracked(name: string): boolean {
    return this.tracked.has(name);
  }

  /**
   * Back-propagates `seeds` (dL/dvalue for some computed values) and returns dL/dparam for every parameter of
   * the last run() that the seeds reach.
   */
  backward(seeds: ReadonlyMap<string, Floats>, params: Iterable<string>): Map<string, Floats> {
    const grads = new Map<string, Floats>();
    const owned = new Set<string>();
    const accumulate = (name: string, g: Floats) => {
      const prior = grads.get(name);
      if (!prior) { grads.set(name, g); return; }
      const sum = owned.has(name) ? prior : prior.slice();
      for (let i = 0; i < g.length; i++) sum[i] += g[i]!;
      grads.set(name, sum);
      owned.add(name);
    };
    for (const [name, g] of seeds) if (this.tracked.has(name)) accumulate(name, g);
    const wanted = new Set(params);
    for (let n = this.graph.nodes.length - 1; n >= 0; n--) {
      const node = this.graph.nodes[n]!;
      const outGrads = node.outputs.map((name) => (name ? grads.get(name) : undefined));
      if (outGrads.every((g) => g === undefined)) continue;
      const needs = node.inputs.map((name) => name !== '' && this.tracked.has(name));
      if (!needs.some(Boolean)) continue;
      const inputs = node.inputs.map((name) => (name === '' ? undefined : this.values.get(name)));
      let inGrads: (Floats | undefined)[];
      try {
        inGrads = VJPS[node.op]!({ inputs, outputs: node.outputs.map((o) => this.values.get(o)!), grads: outGrads, needs, attrs: new Attributes(node.attrs as never) });
      } catch (e) {
        throw new GradientError(`node '${node.name}' (${node.op}) backward: ${e instanceof Error ? e.message : String(e)}`);
      }
      node.inputs.forEach((name, i) => { const g = inGrads[i]; if (g && needs[i]) accumulate(name, g); });
      for (const name of node.outputs) if (!wanted.has(name)) grads.delete(name);
    }
    return new Map([...grads].filter(([name]) => wanted.has(name)));
  }
}
