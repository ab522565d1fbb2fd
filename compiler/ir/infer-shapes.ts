// Shape and dtype inference: fills `graph.types` for every value of every graph, subgraphs included.
//
// Types start at the graph inputs (declared, symbolic dims allowed) and initializers and flow through one
// rule per op (shape-rules/). Small int tensors that hold shapes (Shape → Gather → Unsqueeze → Concat …)
// also carry their known elements, so Reshape/Expand/Slice/Range targets come out exact, symbols included.
// Dims nobody can know become fresh symbols `unk_<node>_<k>`; inference never fails on unknown shapes alone.
import type { Dim, IrGraph, IrModel, IrNode, ValueInfo, ValueType } from './graph.ts';
import { defaultOpset } from './graph.ts';
import type { Diagnostic } from './diagnostics.ts';
import type { Inferred, KnownValue, ShapeContext, ShapeRule } from './shape-rules/common.ts';
import { ShapeError, tensorValue } from './shape-rules/common.ts';
import { formatShape, isFreshDim, normalizeDim } from './shape-rules/dims.ts';
import { controlFlowRules } from './shape-rules/control-flow.ts';
import { elementwiseRules } from './shape-rules/elementwise.ts';
import { nnRules } from './shape-rules/nn.ts';
import { oneBitRules } from './shape-rules/onebit.ts';
import { reduceRules } from './shape-rules/reduce.ts';
import { tensorOpRules } from './shape-rules/tensor-ops.ts';

/** One shape rule per op. */
export const SHAPE_RULES: Readonly<Record<string, ShapeRule>> = {
  ...elementwiseRules,
  ...reduceRules,
  ...tensorOpRules,
  ...nnRules,
  ...controlFlowRules,
  ...oneBitRules,
};

/** The ops inference knows, sorted. */
export const INFERABLE_OPS: readonly string[] = Object.keys(SHAPE_RULES).sort();

export type { Inferred, KnownValue, ShapeContext, ShapeRule };
export { dimAdd, dimDiv, dimEquals, dimMul, dimProduct, dimSub, evalDim, isFreshDim, normalizeDim } from './shape-rules/dims.ts';

interface State {
  opset: number;
  file?: string;
  diagnostics: Diagnostic[];
}

/** What a graph sees: its own values, then its enclosing graphs' (for subgraphs). */
class Scope {
  readonly values = new Map<string, KnownValue>();
  /** Values defined so far in this graph (inputs, initializers, outputs of nodes already visited). */
  readonly defined = new Set<string>();
  constructor(readonly types: Map<string, ValueType>, readonly parent?: Scope) {}
  type(name: string): ValueType | undefined {
    return this.types.get(name) ?? this.parent?.type(name);
  }
  value(name: string): KnownValue | undefined {
    return this.types.has(name) ? this.values.get(name) : this.parent?.value(name);
  }
  isDefined(name: string): boolean {
    return this.defined.has(name) || (this.parent?.isDefined(name) ?? false);
  }
}

/** Infers every value's type in place; returns what went wrong (shape conflicts, undefined inputs …). */
export function inferShapes(model: IrModel): Diagnostic[] {
  const state: State = { opset: defaultOpset(model), file: model.source?.path, diagnostics: [] };
  inferGraph(state, model.graph, undefined, undefined, undefined);
  return state.diagnostics;
}

function report(state: State, d: Omit<Diagnostic, 'file'>): void {
  state.diagnostics.push(state.file ? { file: state.file, ...d } : { ...d });
}

/** A declared dim as inference uses it: canonical symbols; unknown ('' or negative) becomes a fresh symbol. */
function declaredShape(v: ValueInfo): Dim[] | undefined {
  return v.shape?.map((d, i) => {
    if (typeof d === 'string') return d === '' ? `unk_${v.name}_${i}` : normalizeDim(d);
    return Number.isInteger(d) && d >= 0 ? d : `unk_${v.name}_${i}`;
  });
}

/** Fills dims inference could not know (fresh symbols, unknown rank) from an earlier or declared type. */
function withHint(t: ValueType, hint: ValueType | undefined): ValueType {
  if (!hint || !hint.shape || hint.dtype !== t.dtype) return t;
  if (!t.shape) return { dtype: t.dtype, shape: [...hint.shape] };
  if (t.shape.length !== hint.shape.length) return t;
  return { dtype: t.dtype, shape: t.shape.map((d, i) => (isFreshDim(d) && !isFreshDim(hint.shape![i]!) ? hint.shape![i]! : d)) };
}

function inferGraph(
  state: State, graph: IrGraph, parent: Scope | undefined, inputTypes: ValueType[] | undefined, label: string | undefined,
): (ValueType | undefined)[] {
  const hints = new Map(graph.types);
  graph.types.clear();
  const scope = new Scope(graph.types, parent);
  const where = label === undefined ? {} : { graph: label };

  graph.inputs.forEach((input, i) => {
    const given = inputTypes?.[i];
    graph.types.set(input.name, given ? { dtype: given.dtype, shape: given.shape && [...given.shape] } : { dtype: input.dtype, shape: declaredShape(input) });
    scope.defined.add(input.name);
  });
  for (const [name, t] of graph.initializers) {
    graph.types.set(name, { dtype: t.dtype, shape: [...t.dims] });
    const value = tensorValue(t);
    if (value) scope.values.set(name, value);
    scope.defined.add(name);
  }

  for (const node of graph.nodes) inferNode(state, node, scope, hints, where);

  return graph.outputs.map((declared) => {
    const inferred = scope.type(declared.name);
    const at = { ...where, value: declared.name };
    if (!inferred) {
      if (!scope.isDefined(declared.name)) {
        report(state, { severity: 'error', ...at, message: `graph output '${declared.name}' is not produced by any node, input or initializer` });
      }
      return undefined;
    }
    // Subgraph outputs often carry no declared type (importers then default the dtype): check the main graph only.
    if (label !== undefined) {
      const merged = withHint(inferred, hints.get(declared.name));
      graph.types.set(declared.name, merged);
      return merged;
    }
    const want = declaredShape(declared);
    if (inferred.dtype !== declared.dtype) {
      report(state, { severity: 'error', ...at, message: `output '${declared.name}' is declared ${declared.dtype} but computed as ${inferred.dtype}` });
      return inferred;
    }
    if (want && inferred.shape) {
      const clash = want.length !== inferred.shape.length
        || want.some((d, i) => typeof d === 'number' && typeof inferred.shape![i] === 'number' && d !== inferred.shape![i]);
      if (clash) {
        report(state, {
          severity: 'warning', ...at,
          message: `output '${declared.name}' is declared ${declared.dtype}${formatShape(want)} but inferred ${inferred.dtype}${formatShape(inferred.shape)}`,
        });
      }
    }
    const merged = want ? withHint(inferred, { dtype: declared.dtype, shape: want }) : inferred;
    graph.types.set(declared.name, merged);
    return merged;
  });
}

function inferNode(state: State, node: IrNode, scope: Scope, hints: Map<string, ValueType>, where: { graph?: string }): void {
  const at = { ...where, node: node.name, op: node.op };
  const inputs: (ValueType | undefined)[] = [];
  let ready = true;
  node.inputs.forEach((name, i) => {
    if (name === '') {
      inputs.push(undefined);
      return;
    }
    const t = scope.type(name);
    if (!t) {
      ready = false;
      // A value whose producer could not be typed was already reported there.
      if (!scope.isDefined(name)) report(state, { severity: 'error', ...at, message: `input ${i} '${name}' is not defined before this node` });
    }
    inputs.push(t);
  });
  for (const name of node.outputs) if (name) scope.defined.add(name);
  if (!ready) return;

  const rule = SHAPE_RULES[node.op];
  if (!rule) {
    // Keep what the importer or a pass recorded for this op's outputs, if anything.
    let untyped = false;
    for (const name of node.outputs) {
      const hint = name ? hints.get(name) : undefined;
      if (hint) scope.types.set(name, hint);
      else if (name) untyped = true;
    }
    if (untyped) report(state, { severity: 'warning', ...at, message: `no shape rule for op '${node.op}'; its outputs stay untyped` });
    return;
  }
  let fresh = 0;
  const ctx: ShapeContext = {
    node,
    opset: state.opset,
    inputs,
    has: (i) => inputs[i] !== undefined,
    input: (i) => {
      const t = inputs[i];
      if (!t) throw new ShapeError(`input ${i} is missing`);
      return t;
    },
    value: (i) => (node.inputs[i] ? scope.value(node.inputs[i]!) : undefined),
    fresh: () => `unk_${node.name}_${fresh++}`,
    warn: (message, hint) => report(state, { severity: 'warning', ...at, message, ...(hint ? { hint } : {}) }),
    inferSubgraph: (graph, types) => inferGraph(state, graph, scope, types, graph.name || node.name),
  };
  let results: (Inferred | undefined)[];
  try {
    results = rule(ctx);
  } catch (e) {
    if (e instanceof ShapeError) {
      report(state, { severity: 'error', ...at, message: e.message, ...(e.hint ? { hint: e.hint } : {}) });
    } else {
      report(state, { severity: 'error', ...at, message: `shape rule failed: ${e instanceof Error ? e.message : String(e)}` });
    }
    return;
  }
  node.outputs.forEach((name, i) => {
    const r = results[i];
    if (!name || !r) return;
    const t = withHint({ dtype: r.dtype, shape: r.shape }, hints.get(name));
    scope.types.set(name, t.shape === undefined ? { dtype: t.dtype } : t);
    if (r.value) scope.values.set(name, r.value);
  });
}
