// The fused decode step of a LLaMA-family model: one exported `decode_step(token, pos)` running the whole
// one-token forward inside model.wasm, so decoding makes one JS→WASM call per token and allocates nothing.
//   x = embed[token]
//   per layer: x̂ = x / rms(x); q, k, v = proj(x̂) with the RMSNorm weight folded into each OneBit
//              projection's g (g ⊙ w, filled in at load), k and v written straight into the KV cache row of
//              `pos`; RoPE on q and that row; attention over the cache; x += o(·); the same norm folding
//              for gate and up; x += down(silu(gate) ⊙ up)
//   logits = head(RMSNorm(x))
// Projections, norms and the head call the graph's own kernels (one row); a projection that is not OneBit
// (--no-quantize, --keep) reads the weighted norm computed by the graph's RMSNorm kernel instead.
// Memory (planned here once, all pointers constants): folded g vectors, the step's activations, the RoPE
// tables and the KV cache [layer][key|value][position, kvHeads, headDim] for max_position_embeddings positions
// (at most DECODE_MAX_POSITIONS and DECODE_MAX_CACHE_BYTES).
import type { WasmCall, WasmDecodePlan, WasmDecodeStepPart } from '../../../runtime/plan.ts';
import type { DecoderSpec } from '../../ir/decoder-spec.ts';
import { addAttention, addResidual, addRope, addSiluMul, attentionScoresLength } from './decode-kernels.ts';
import type { Expr } from './elementwise.ts';
import { binaryen } from './module.ts';
import type { Module } from './module.ts';
import { addRmsNorm, addSoftmaxLastAxis } from './normalize.ts';
import type { KernelChoice } from './select-kernels.ts';

export const DECODE_STEP = 'decode_step';
/** Most positions the step's KV cache holds, and most bytes it may take (it is allocated at every load). */
export const DECODE_MAX_POSITIONS = 4096;
export const DECODE_MAX_CACHE_BYTES = 1 << 30;
const PROJECTION_KINDS = new Set(['onebit-linear', 'onebit-lut', 'matmul-const']);

/** The step's memory and what it calls, as planned before the kernels are built. */
export interface DecodeLayout {
  plan: WasmDecodePlan;
  spec: DecoderSpec;
  /** Byte offsets of the step's activations (f32, padded to whole v128s). */
  x: number; xn: number; xw: number; q: number; ctx: number; t: number; gate: number; up: number; scores: number;
  cache: { key: number; value: number }[];
  /** OneBit projection node → byte offset of its folded g. */
  folded: Map<string, number>;
  /** epsilon of the RMSNorm nodes. */
  eps: number;
}

/**
 * Plans the step for `spec`, allocating with `alloc(bytes)` (16-aligned offsets), or undefined when some
 * node of the spec has no WASM kernel of the kind the step calls, or the sizes are outside what it handles.
 */
export function planDecodeStep(spec: DecoderSpec, choices: ReadonlyMap<string, KernelChoice>, alloc: (bytes: number) => number): DecodeLayout | undefined {
  const kind = (node: string) => choices.get(node)?.kind;
  const projections = spec.layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]).concat(spec.head);
  const norms = spec.layers.flatMap((l) => [l.inputNorm, l.postNorm]).concat(spec.finalNorm);
  const epsilons = new Set(norms.map((n) => choices.get(n)?.node.attrs['epsilon']));
  const [eps] = epsilons;
  if (kind(spec.embed) !== 'gather' || !projections.every((p) => PROJECTION_KINDS.has(kind(p) ?? ''))
    || !norms.every((n) => kind(n) === 'rms-norm' && choices.get(n)!.node.inputs[1]) || epsilons.size !== 1 || typeof eps !== 'number'
    || spec.headDim % 4 !== 0 || spec.heads % spec.kvHeads !== 0) return undefined;
  const { hidden: H, intermediate: I, heads, kvHeads, headDim: d, vocab: V } = spec;
  // Every kernel must have the sizes the step's buffers are planned for.
  const sized = (node: string, inDim: number, out: number) => {
    const s = choices.get(node)!.sizes;
    return (s['in'] ?? s['k'] ?? s['width']) === inDim && (s['out'] ?? s['n'] ?? s['width']) === out;
  };
  const embed = choices.get(spec.embed)!.sizes;
  if (embed['rows'] !== V || embed['width'] !== H || !norms.every((n) => sized(n, H, H)) || !sized(spec.head, H, V)
    || !spec.layers.every((l) => sized(l.q, H, heads * d) && sized(l.k, H, kvHeads * d) && sized(l.v, H, kvHeads * d) && sized(l.o, heads * d, H)
      && sized(l.gate, H, I) && sized(l.up, H, I) && sized(l.down, I, H))) return undefined;
  // Longer contexts go on through the graph path (DecodeSession switches when the cache is full).
  const perPosition = spec.layers.length * 2 * kvHeads * d * 4;
  const C = Math.min(spec.contextLength, DECODE_MAX_POSITIONS, Math.floor(DECODE_MAX_CACHE_BYTES / perPosition));
  if (C < 1) return undefined;

  const f32 = (n: number) => alloc(Math.ceil(n / 4) * 16);
  const folded = new Map<string, number>();
  const foldedPlan: WasmDecodePlan['folded'][number][] = [];
  for (const l of spec.layers) {
    for (const [norm, nodes] of [[l.inputNorm, [l.q, l.k, l.v]], [l.postNorm, [l.gate, l.up]]] as const) {
      for (const p of nodes) {
        const c = choices.get(p)!;
        if (c.kind === 'matmul-const') continue;
        const offset = f32(c.sizes['in']!);
        folded.set(p, offset);
        foldedPlan.push({ offset, g: c.node.inputs[2]!, norm: choices.get(norm)!.node.inputs[1]!, length: c.sizes['in']! });
      }
    }
  }
  const half = d / 2;
  const layout = {
    x: f32(H), xn: f32(H), xw: f32(H), q: f32(heads * d), ctx: f32(heads * d), t: f32(H), gate: f32(I), up: f32(I), scores: f32(attentionScoresLength(heads, kvHeads, C)),
  };
  const logits = f32(V);
  const cos = f32(C * half);
  const sin = f32(C * half);
  const cache = spec.layers.map(() => ({ key: f32(C * kvHeads * d), value: f32(C * kvHeads * d) }));
  return {
    plan: {
      fn: DECODE_STEP, contextLength: C, vocab: V, hidden: H, kvHeads, headDim: d, cache, logits, folded: foldedPlan,
      rope: { cos, sin, inverseFrequencies: spec.ropeInverseFrequencies },
    },
    spec, ...layout, cache, folded, eps,
  };
}

/**
 * Adds decode_step and its kernels to `mod`, whose graph kernels are `calls` (by node name). `foldedKernel`
 * emits a copy of a OneBit projection's kernel reading g at another offset and returns its name.
 */
export function emitDecodeStep(mod: Module, layout: DecodeLayout, calls: Readonly<Record<string, WasmCall>>, foldedKernel: (node: string, g: number) => string): WasmDecodeStepPart[] {
  const m = mod;
  const { spec } = layout;
  const { hidden: H, heads, kvHeads, headDim: d } = spec;
  addRmsNorm(mod, 'decode_rms_scale', { width: H, eps: layout.eps });
  addSoftmaxLastAxis(mod, 'decode_softmax');
  addRope(mod, 'decode_rope_q', { heads, headDim: d, cos: layout.plan.rope.cos, sin: layout.plan.rope.sin });
  addRope(mod, 'decode_rope_k', { heads: kvHeads, headDim: d, cos: layout.plan.rope.cos, sin: layout.plan.rope.sin });
  addAttention(mod, 'decode_attention', {
    heads, kvHeads, headDim: d, scale: spec.scale, scores: layout.scores, contextLength: layout.plan.contextLength, softmax: 'decode_softmax',
    ...(spec.slidingWindow !== undefined ? { slidingWindow: spec.slidingWindow } : {}),
  });
  addSiluMul(mod, 'decode_silu_mul', spec.intermediate);
  addResidual(mod, 'decode_residual', H);

  const TOKEN = 0;
  const POS = 1;
  const c = (n: number): Expr => m.i32.const(n);
  const call = (fn: string, args: Expr[]): Expr => {
    const results = binaryen.getFunctionInfo(m.getFunction(fn)).results;
    const e = m.call(fn, args, results);
    return results === binaryen.none ? e : m.drop(e);
  };
  const kernels = new Map<string, string>();
  const kernelOf = (node: string): string => {
    let fn = kernels.get(node);
    if (!fn) {
      const g = layout.folded.get(node);
      fn = g === undefined ? calls[node]!.fn : foldedKernel(node, g);
      kernels.set(node, fn);
    }
    return fn;
  };
  // The step as a list: runs of kernel calls (segments), and the OneBit projections between them, which the
  // runtime may split between threads (plan.steps); decode_step itself calls them all in order.
  type Projection = { node: string; x: number; y: number; yPerPos: number };
  const ops: (Expr | Projection)[] = [];
  const isOneBit = (node: string): boolean => calls[node]!.kind !== 'matmul-const';
  const project = (node: string, x: number, y: number, yPerPos = 0): void => {
    if (isOneBit(node)) ops.push({ node, x, y, yPerPos });
    else ops.push(call(kernelOf(node), [c(x), yPerPos ? m.i32.add(c(y), m.i32.mul(m.local.get(POS, binaryen.i32), c(yPerPos))) : c(y), c(1)]));
  };
  /** The norm, then each projection from the input it needs: x̂ (folded g) or the weighted norm. */
  const normed = (norm: string, projections: readonly (readonly [string, number, number?])[]): void => {
    const folded = projections.filter(([p]) => layout.folded.has(p));
    if (folded.length) ops.push(call('decode_rms_scale', [c(layout.x), c(layout.xn), c(1)]));
    if (folded.length < projections.length) ops.push(call(calls[norm]!.fn, [c(layout.x), c(layout.xw), c(1)]));
    for (const [p, y, perPos] of projections) project(p, layout.folded.has(p) ? layout.xn : layout.xw, y, perPos);
  };
  const rowBytes = kvHeads * d * 4;
  const cacheRow = (base: number): Expr => m.i32.add(c(base), m.i32.mul(m.local.get(POS, binaryen.i32), c(rowBytes)));
  ops.push(
    m.if(m.i32.ge_u(m.local.get(TOKEN, binaryen.i32), c(spec.vocab)), m.return(c(1))),
    m.if(m.i32.ge_u(m.local.get(POS, binaryen.i32), c(layout.plan.contextLength)), m.return(c(2))),
    m.memory.copy(c(layout.x), m.i32.add(c(calls[spec.embed]!.constants[0]!), m.i32.mul(m.local.get(TOKEN, binaryen.i32), c(H * 4))), c(H * 4)),
  );
  spec.layers.forEach((l, i) => {
    const { key, value } = layout.cache[i]!;
    normed(l.inputNorm, [[l.q, layout.q], [l.k, key, rowBytes], [l.v, value, rowBytes]]);
    ops.push(
      call('decode_rope_q', [c(layout.q), m.local.get(POS, binaryen.i32)]),
      call('decode_rope_k', [cacheRow(key), m.local.get(POS, binaryen.i32)]),
      call('decode_attention', [c(layout.q), c(key), c(value), c(layout.ctx), m.local.get(POS, binaryen.i32)]),
    );
    project(l.o, layout.ctx, layout.t);
    ops.push(call('decode_residual', [c(layout.x), c(layout.t)]));
    normed(l.postNorm, [[l.gate, layout.gate], [l.up, layout.up]]);
    ops.push(call('decode_silu_mul', [c(layout.gate), c(layout.up)]));
    project(l.down, layout.gate, layout.t);
    ops.push(call('decode_residual', [c(layout.x), c(layout.t)]));
  });
  ops.push(call(calls[spec.finalNorm]!.fn, [c(layout.x), c(layout.xw), c(1)]));
  project(spec.head, layout.xw, layout.plan.logits);

  const stepType = binaryen.createType([binaryen.i32, binaryen.i32]);
  const steps: WasmDecodeStepPart[] = [];
  const body: Expr[] = [];
  const STATUS = 2;
  let run: Expr[] = [];
  const closeSegment = (): void => {
    if (!run.length) return;
    const fn = `${DECODE_STEP}$${steps.length}`;
    m.addFunction(fn, stepType, binaryen.i32, [], m.block(null, [...run, c(0)], binaryen.i32));
    m.addFunctionExport(fn, fn);
    steps.push({ segment: fn });
    body.push(m.local.set(STATUS, m.call(fn, [m.local.get(TOKEN, binaryen.i32), m.local.get(POS, binaryen.i32)], binaryen.i32)),
      m.if(m.local.get(STATUS, binaryen.i32), m.return(m.local.get(STATUS, binaryen.i32))));
    run = [];
  };
  for (const op of ops) {
    if (typeof op === 'number') { run.push(op); continue; }
    closeSegment();
    const fn = kernelOf(op.node);
    const { in: inDim, out } = calls[op.node]!.sizes as { in: number; out: number };
    steps.push({ fn, x: op.x, y: op.y, yPerPos: op.yPerPos, in: inDim, out });
    const y = op.yPerPos ? m.i32.add(c(op.y), m.i32.mul(m.local.get(POS, binaryen.i32), c(op.yPerPos))) : c(op.y);
    body.push(call(fn, [c(op.x), y, c(1)]));
  }
  closeSegment();
  body.push(c(0));
  m.addFunction(DECODE_STEP, stepType, binaryen.i32, [binaryen.i32], m.block(null, body, binaryen.i32));
  m.addFunctionExport(DECODE_STEP, DECODE_STEP);
  return steps;
}
