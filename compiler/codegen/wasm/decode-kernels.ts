// The small WASM-SIMD kernels of the fused decode step (decode-step.ts) that the graph kernels do not
// provide: rotate-half RoPE at one position, single-query attention over the KV cache, SiLU(gate)·up and the
// residual add. Every size is a compile-time constant; every pointer a byte offset into linear memory.
// Buffers the step owns are padded to whole v128s, so the element-wise loops run over whole vectors.
import { binaryen } from './module.ts';
import type { Module } from './module.ts';
import type { Expr } from './elementwise.ts';
import { emitSigmoid, f32Splat, FunctionBuilder, horizontalSum } from './elementwise.ts';

const { i32, f32, v128 } = binaryen;

export interface RopeSpec {
  heads: number;
  headDim: number;
  /** Byte offsets of the cos and sin tables, f32[position, headDim/2]. */
  cos: number;
  sin: number;
}

/**
 * Exports `name(x, pos)`: per head of x (heads × headDim f32), [x1, x2] ← [x1·cos − x2·sin, x2·cos + x1·sin]
 * with the table rows of `pos` — the graph's rotateHalf, operation for operation.
 */
export function addRope(mod: Module, name: string, spec: RopeSpec): void {
  const m = mod;
  const half = spec.headDim / 2;
  const vector = half % 4 === 0;
  const step = vector ? 16 : 4;
  const fb = new FunctionBuilder(mod, [i32, i32]);
  const [X, POS] = [0, 1];
  const head = fb.local(i32);
  const i = fb.local(i32);
  const row = fb.local(i32);
  const [x1, x2, c, s] = [0, 0, 0, 0].map(() => fb.local(vector ? v128 : f32)) as [number, number, number, number];
  const ops = vector ? m.f32x4 : m.f32;
  const load = (ptr: Expr, offset = 0): Expr => (vector ? m.v128.load(offset, 4, ptr) : m.f32.load(offset, 4, ptr));
  const store = (ptr: Expr, value: Expr, offset = 0): Expr => (vector ? m.v128.store(offset, 4, ptr, value) : m.f32.store(offset, 4, ptr, value));
  const at = (): Expr => m.i32.add(fb.get(head), fb.get(i));
  const table = (base: number): Expr => m.i32.add(m.i32.add(m.i32.const(base), fb.get(row)), fb.get(i));
  fb.finish(name, binaryen.none, [
    fb.set(row, m.i32.mul(fb.get(POS), m.i32.const(half * 4))),
    fb.forRange(head, fb.get(X), () => m.i32.add(fb.get(X), m.i32.const(spec.heads * spec.headDim * 4)), spec.headDim * 4, [
      fb.forRange(i, m.i32.const(0), () => m.i32.const(half * 4), step, [
        fb.set(x1, load(at())),
        fb.set(x2, load(at(), half * 4)),
        fb.set(c, load(table(spec.cos))),
        fb.set(s, load(table(spec.sin))),
        store(at(), ops.sub(ops.mul(fb.get(x1), fb.get(c)), ops.mul(fb.get(x2), fb.get(s)))),
        store(at(), ops.add(ops.mul(fb.get(x2), fb.get(c)), ops.mul(fb.get(x1), fb.get(s))), half * 4),
      ]),
    ]),
  ]);
}

export interface AttentionSpec {
  heads: number;
  kvHeads: number;
  /** A multiple of 4. */
  headDim: number;
  scale: number;
  /** Byte offset of f32[heads / kvHeads, contextLength] for the scores (attentionScoresLength). */
  scores: number;
  contextLength: number;
  /** Export `softmax(x, y, rows, cols)` of the module (normalize.ts). */
  softmax: string;
  slidingWindow?: number;
}

/** Floats of the scores buffer addAttention needs. */
export const attentionScoresLength = (heads: number, kvHeads: number, contextLength: number): number => (heads / kvHeads) * contextLength;

/**
 * Exports `name(q, keys, values, out, pos)`: for each query head h (kv head ⌊h / groups⌋), over the cached
 * positions j ≤ pos (and > pos − window): scores_j = q_h·k_j · scale, softmax, out_h = Σ_j p_j v_j. The cache
 * is [position, kvHeads, headDim] per layer. The query heads sharing a kv head go together, so each key and
 * value row is loaded once for all of them (grouped-query attention).
 */
export function addAttention(mod: Module, name: string, spec: AttentionSpec): void {
  const m = mod;
  const { heads, kvHeads, headDim: d } = spec;
  if (d % 4 !== 0) throw new Error(`attention: head_dim ${d} is not a multiple of 4`);
  const groups = heads / kvHeads;
  const rowBytes = kvHeads * d * 4;
  const vectors = d / 4;
  const groupBytes = groups * d * 4;
  // q and the outputs of a kv head's group in locals (registers) when they are at most 16 vectors, else in memory
  const held = groups * vectors <= 16;
  const fb = new FunctionBuilder(mod, [i32, i32, i32, i32, i32]);
  const [Q, K, V, OUT, POS] = [0, 1, 2, 3, 4];
  const kvh = fb.local(i32);
  const qg = fb.local(i32); // q of the group's first head
  const og = fb.local(i32);
  const kv = fb.local(i32); // byte offset of the kv head's row within a position
  const start = fb.local(i32);
  const j = fb.local(i32);
  const row = fb.local(i32);
  const rowVectors = Array.from({ length: vectors }, () => fb.local(v128));
  const ps = Array.from({ length: groups }, () => fb.local(v128));
  const qs = held ? Array.from({ length: groups * vectors }, () => fb.local(v128)) : [];
  const os = held ? Array.from({ length: groups * vectors }, () => fb.local(v128)) : [];
  const perGroup = Math.min(groups > 1 ? 2 : 4, vectors);
  const accs = Array.from({ length: groups }, () => Array.from({ length: perGroup }, () => fb.local(v128)));
  const end = (): Expr => m.i32.add(fb.get(POS), m.i32.const(1));
  const scoresOf = (g: number): number => spec.scores + g * spec.contextLength * 4;
  const score = (g: number): Expr => m.i32.add(m.i32.const(scoresOf(g)), m.i32.shl(fb.get(j), m.i32.const(2)));
  const q = (g: number, t: number): Expr => (held ? fb.get(qs[g * vectors + t]!) : m.v128.load(g * d * 4 + 16 * t, 4, fb.get(qg)));
  const combined = (list: number[]): Expr => {
    let level = list.map((a) => fb.get(a));
    while (level.length > 1) level = Array.from({ length: Math.ceil(level.length / 2) }, (_, i) => (level[2 * i + 1] === undefined ? level[2 * i]! : m.f32x4.add(level[2 * i]!, level[2 * i + 1]!)));
    return level[0]!;
  };
  const loadRow = (base: number): Expr[] => [
    fb.set(row, m.i32.add(m.i32.add(fb.get(base), m.i32.mul(fb.get(j), m.i32.const(rowBytes))), fb.get(kv))),
    ...rowVectors.map((r, t) => fb.set(r, m.v128.load(16 * t, 4, fb.get(row)))),
  ];
  // scores_g[j] = (q_g·k_j)·scale, each head's vectors spread over its accumulators
  const dot: Expr[] = [
    ...loadRow(K),
    ...Array.from({ length: vectors }, (_, t) => Array.from({ length: groups }, (_, g) => {
      const term = m.f32x4.mul(q(g, t), fb.get(rowVectors[t]!));
      const a = accs[g]![t % perGroup]!;
      return fb.set(a, t < perGroup ? term : m.f32x4.add(fb.get(a), term));
    })).flat(),
    ...Array.from({ length: groups }, (_, g) => [
      fb.set(accs[g]![0]!, combined(accs[g]!)),
      m.f32.store(0, 4, score(g), m.f32.mul(horizontalSum(fb, accs[g]![0]!), m.f32.const(spec.scale))),
    ]).flat(),
  ];
  // out_g += p_g[j] · v_j
  const outAt = (g: number, t: number): number => g * d * 4 + 16 * t;
  const accumulate: Expr[] = [
    ...loadRow(V),
    ...ps.map((p, g) => fb.set(p, m.v128.load32_splat(0, 4, score(g)))),
    ...Array.from({ length: vectors }, (_, t) => Array.from({ length: groups }, (_, g) => {
      const term = m.f32x4.mul(fb.get(ps[g]!), fb.get(rowVectors[t]!));
      return held ? fb.set(os[g * vectors + t]!, m.f32x4.add(fb.get(os[g * vectors + t]!), term))
        : m.v128.store(outAt(g, t), 4, fb.get(og), m.f32x4.add(m.v128.load(outAt(g, t), 4, fb.get(og)), term));
    })).flat(),
  ];
  const window = spec.slidingWindow;
  const from = (g: number): Expr => m.i32.add(m.i32.const(scoresOf(g)), m.i32.shl(fb.get(start), m.i32.const(2)));
  fb.finish(name, binaryen.none, [
    fb.set(start, window === undefined ? m.i32.const(0)
      : m.select(m.i32.gt_s(fb.get(POS), m.i32.const(window - 1)), m.i32.sub(fb.get(POS), m.i32.const(window - 1)), m.i32.const(0))),
    fb.forRange(kvh, m.i32.const(0), () => m.i32.const(kvHeads), 1, [
      fb.set(qg, m.i32.add(fb.get(Q), m.i32.mul(fb.get(kvh), m.i32.const(groupBytes)))),
      fb.set(og, m.i32.add(fb.get(OUT), m.i32.mul(fb.get(kvh), m.i32.const(groupBytes)))),
      fb.set(kv, m.i32.mul(fb.get(kvh), m.i32.const(d * 4))),
      ...qs.map((l, i) => fb.set(l, m.v128.load(outAt(Math.floor(i / vectors), i % vectors), 4, fb.get(qg)))),
      fb.forRange(j, fb.get(start), end, 1, dot),
      ...Array.from({ length: groups }, (_, g) =>
        m.call(spec.softmax, [from(g), from(g), m.i32.const(1), m.i32.sub(end(), fb.get(start))], binaryen.none)),
      ...(held ? os.map((l) => fb.set(l, f32Splat(m, 0)))
        : Array.from({ length: groups * vectors }, (_, i) => m.v128.store(outAt(Math.floor(i / vectors), i % vectors), 4, fb.get(og), f32Splat(m, 0)))),
      fb.forRange(j, fb.get(start), end, 1, accumulate),
      ...os.map((l, i) => m.v128.store(outAt(Math.floor(i / vectors), i % vectors), 4, fb.get(og), fb.get(l))),
    ]),
  ]);
}

/** Exports `name(gate, up)`: gate ← gate·sigmoid(gate)·up over `width` (rounded up to whole vectors), as the graph's Mul(Mul(x, Sigmoid(x)), up). */
export function addSiluMul(mod: Module, name: string, width: number): void {
  const m = mod;
  const fb = new FunctionBuilder(mod, [i32, i32]);
  const [G, U] = [0, 1];
  const off = fb.local(i32);
  const x = fb.local(v128);
  const s = fb.local(v128);
  fb.finish(name, binaryen.none, [
    fb.forRange(off, m.i32.const(0), () => m.i32.const(Math.ceil(width / 4) * 16), 16, [
      fb.set(x, m.v128.load(0, 16, m.i32.add(fb.get(G), fb.get(off)))),
      ...emitSigmoid(fb, x, s),
      m.v128.store(0, 16, m.i32.add(fb.get(G), fb.get(off)),
        m.f32x4.mul(m.f32x4.mul(fb.get(x), fb.get(s)), m.v128.load(0, 16, m.i32.add(fb.get(U), fb.get(off))))),
    ]),
  ]);
}

/** Exports `name(x, t)`: x ← x + t over `width` (rounded up to whole vectors). */
export function addResidual(mod: Module, name: string, width: number): void {
  const m = mod;
  const fb = new FunctionBuilder(mod, [i32, i32]);
  const [X, T] = [0, 1];
  const off = fb.local(i32);
  const at = (base: number): Expr => m.i32.add(fb.get(base), fb.get(off));
  fb.finish(name, binaryen.none, [
    fb.forRange(off, m.i32.const(0), () => m.i32.const(Math.ceil(width / 4) * 16), 16, [
      m.v128.store(0, 16, at(X), m.f32x4.add(m.v128.load(0, 16, at(X)), m.v128.load(0, 16, at(T)))),
    ]),
  ]);
}
