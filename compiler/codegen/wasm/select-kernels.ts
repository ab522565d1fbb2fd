// Which nodes of the main graph get a WASM kernel, and with which specialisation. A node qualifies when its
// op and dtypes have a kernel, its constant inputs are float tensors the kernel can take, and every other
// input and output has dims the runtime can evaluate from the graph inputs' symbols (so the activation
// arena can be planned). Everything else keeps its TypeScript kernel.
import type { Tensor } from '../../../formats/tensor.ts';
import { symbolsOf } from '../../../runtime/dims.ts';
import type { WasmCallKind } from '../../../runtime/plan.ts';
import type { IrModel, IrNode, ValueType } from '../../ir/graph.ts';
import { defaultOpset } from '../../ir/graph.ts';
import { floatScalar, smallInts } from '../../ir/constant-values.ts';

export interface KernelChoice {
  node: IrNode;
  kind: WasmCallKind;
  /** Input indexes read from the constant region (the rest are arena values). */
  constantInputs: number[];
  sizes: Record<string, number>;
  /** binary/unary op name for the shared kernels. */
  variant?: string;
}

/** Which OneBit kernel a layer gets: `exact` (fp32, onebit-linear.ts), `lut` (int8 tables, onebit-lut.ts), or `auto`. */
export const ONEBIT_KERNELS = ['auto', 'exact', 'lut'] as const;
export type OneBitKernel = (typeof ONEBIT_KERNELS)[number];

/** Smallest out and in for which `auto` picks the LUT kernel. */
export const LUT_MIN_OUT = 512;
export const LUT_MIN_IN = 128;

/**
 * The rule of `auto`: the LUT kernel for layers with out ≥ 512 and in ≥ 128, the exact kernel below. Only
 * one-row calls (decoding) differ: several rows run the exact GEMM either way. The LUT GEMV's error (~1e-4
 * relative) is far below the 1-bit quantisation's own at every size; its speed is not: per call it builds
 * tables for all of `in` and sweeps `out` in tiles of 16 rows, which pays off from about 512 outputs
 * (measured one thread: at out 256 the exact GEMV is faster for every in up to 4096 — 0.035 vs 0.044 ms at
 * 256×4096 —, at out 512 the LUT GEMV is 5–10 % faster, at out ≥ 768 20–40 %, at 4096×4096 1.6×; with
 * fewer than 128 inputs there is nothing to gain: 1.16 vs 1.19 µs at 512×64).
 */
export function onebitKernelFor(kernel: OneBitKernel, inDim: number, out: number): 'onebit-linear' | 'onebit-lut' {
  if (kernel === 'exact') return 'onebit-linear';
  if (kernel === 'lut') return 'onebit-lut';
  return out >= LUT_MIN_OUT && inDim >= LUT_MIN_IN ? 'onebit-lut' : 'onebit-linear';
}

export interface SelectOptions {
  /** OneBit kernel per layer (default 'auto'). */
  kernel?: OneBitKernel;
}

const BINARY = new Set(['Add', 'Sub', 'Mul', 'Div']);
const UNARY = new Set(['Neg', 'Abs', 'Sqrt', 'Reciprocal', 'Relu', 'Exp', 'Sigmoid', 'Tanh']);

export function selectKernels(model: IrModel, options: SelectOptions = {}): KernelChoice[] {
  const graph = model.graph;
  const opset = defaultOpset(model);
  const inputSymbols = new Set(graph.inputs.flatMap((v) => (v.shape ?? []).flatMap(symbolsOf)));
  const constant = (name: string | undefined) => (name ? graph.initializers.get(name) : undefined);
  const type = (name: string): ValueType | undefined => graph.types.get(name);
  const plannable = (name: string) => {
    // an arena value is written by its producer or fed in: a constant read as an activation never would be
    if (graph.initializers.has(name)) return false;
    const t = type(name);
    return !!t && (t.dtype === 'float32' || t.dtype === 'int64') && !!t.shape && t.shape.every((d) => symbolsOf(d).every((s) => inputSymbols.has(s)));
  };
  const floatConstant = (t: Tensor | undefined) => !!t && (t.dtype === 'float32' || t.dtype === 'float16');
  const choices: KernelChoice[] = [];
  for (const node of graph.nodes) {
    if (subgraphFree(node) && node.outputs.length >= 1) {
      const choice = choose(node, opset, constant, type, options.kernel ?? 'auto');
      if (!choice) continue;
      const values = [...node.inputs.filter((n, i) => n && !choice.constantInputs.includes(i)), node.outputs[0]!];
      // Constants are placed as float32 (the sign bits of a OneBitLinear as they are).
      const onebit = choice.kind === 'onebit-linear' || choice.kind === 'onebit-lut';
      const placeable = (i: number) => (onebit && i === 1 ? constant(node.inputs[i])?.dtype === 'uint8' : floatConstant(constant(node.inputs[i])));
      if (!choice.constantInputs.every(placeable)) continue;
      if (values.every(plannable) && node.outputs.slice(1).every((o) => o === '')) choices.push(choice);
    }
  }
  return choices;
}

const subgraphFree = (node: IrNode) => Object.values(node.attrs).every((a) => typeof a !== 'object' || a === null || Array.isArray(a) || !('nodes' in a));

function choose(node: IrNode, opset: number, constant: (n: string | undefined) => Tensor | undefined, type: (n: string) => ValueType | undefined, kernel: OneBitKernel): KernelChoice | undefined {
  const f32 = (name: string | undefined) => !!name && type(name)?.dtype === 'float32';
  const rank = (name: string) => type(name)?.shape?.length ?? -1;
  const pick = (kind: WasmCallKind, constantInputs: number[], sizes: Record<string, number> = {}, variant?: string): KernelChoice =>
    ({ node, kind, constantInputs, sizes, ...(variant ? { variant } : {}) });
  const [a, b] = node.inputs;
  const isConst = (n: string | undefined) => !!constant(n);
  if (node.domain === 'ai.onebitc') {
    if (node.op === 'OneBitLinear' && f32(a)) {
      const sizes = { in: node.attrs['in'] as number, out: node.attrs['out'] as number };
      return pick(onebitKernelFor(kernel, sizes.in, sizes.out), node.inputs.slice(1).map((_, i) => i + 1), sizes);
    }
    if (node.op === 'RMSNorm' && f32(a) && (!b || isConst(b))) {
      const width = type(a!)?.shape?.at(-1);
      return typeof width === 'number' ? pick('rms-norm', b ? [1] : [], { width }) : undefined;
    }
    return undefined;
  }
  if (node.domain !== '') return undefined;
  switch (node.op) {
    case 'MatMul': {
      if (!f32(a) || rank(a!) < 1) return undefined;
      const w = constant(b);
      if (w) return w.dims.length === 2 && !isConst(a) ? pick('matmul-const', [1], { k: w.dims[0]!, n: w.dims[1]! }) : undefined;
      return f32(b) && rank(a!) >= 2 && rank(b!) >= 2 ? pick('matmul', []) : undefined;
    }
    case 'Transpose': {
      // only the swap of the last two axes (attention's Kᵀ), the rest stays in place
      const perm = node.attrs['perm'];
      const r = rank(a!);
      const swapLast = Array.isArray(perm) && r >= 2 && perm.length === r && perm.every((p, i) => p === (i < r - 2 ? i : i === r - 2 ? r - 1 : r - 2));
      return f32(a) && swapLast ? pick('transpose', []) : undefined;
    }
    case 'Gemm': {
      // y = A·Bᵀ (+ c) with a constant B [n, k] (an HF Linear kept in full precision): B is placed transposed.
      const w = constant(b);
      const c = node.inputs[2] ? constant(node.inputs[2]) : undefined;
      const plain = node.attrs['transA'] !== 1 && (node.attrs['alpha'] ?? 1) === 1 && (node.attrs['beta'] ?? 1) === 1;
      const biasOk = !node.inputs[2] || (c !== undefined && c.dims.length === 1);
      if (!plain || !w || w.dims.length !== 2 || !f32(a) || rank(a!) !== 2 || !biasOk) return undefined;
      const transposed = node.attrs['transB'] === 1;
      const [k, n] = transposed ? [w.dims[1]!, w.dims[0]!] : [w.dims[0]!, w.dims[1]!];
      if (c && c.dims[0] !== n) return undefined;
      return pick('matmul-const', node.inputs[2] ? [1, 2] : [1], { k, n, transposed: transposed ? 1 : 0 });
    }
    case 'Softmax': {
      const axis = (node.attrs['axis'] as number | undefined) ?? (opset >= 13 ? -1 : 1);
      return f32(a) && (axis === -1 || axis === rank(a!) - 1) ? pick('softmax', []) : undefined;
    }
    case 'ReduceMean': {
      const axes = opset >= 18 ? (node.inputs[1] ? smallInts(constant(node.inputs[1])) : undefined) : node.attrs['axes'];
      const last = Array.isArray(axes) && axes.length === 1 && (axes[0] === -1 || axes[0] === rank(a!) - 1);
      return f32(a) && last && node.attrs['keepdims'] !== 0 ? pick('reduce-mean', []) : undefined;
    }
    case 'Pow': {
      const e = constant(b);
      const exponent = floatScalar(e);
      if (!f32(a)) return undefined;
      if (exponent === 2) return { ...pick('unary', [], {}, 'Square'), node: { ...node, inputs: [a!] } };
      if (exponent === 0.5) return { ...pick('unary', [], {}, 'Sqrt'), node: { ...node, inputs: [a!] } };
      return undefined;
    }
    case 'LayerNormalization': {
      const axis = (node.attrs['axis'] as number | undefined) ?? -1;
      const width = type(a!)?.shape?.at(-1);
      const extras = node.inputs.slice(1).map((n, i) => (n ? i + 1 : -1)).filter((i) => i > 0);
      const ok = f32(a) && typeof width === 'number' && (axis === -1 || axis === rank(a!) - 1) && extras.every((i) => isConst(node.inputs[i]));
      return ok ? pick('layer-norm', extras, { width }) : undefined;
    }
    case 'Gather': {
      const data = constant(a);
      const ok = data?.dtype === 'float32' && data.dims.length === 2 && type(b!)?.dtype === 'int64' && !isConst(b) && ((node.attrs['axis'] as number | undefined) ?? 0) === 0;
      return ok ? pick('gather', [0], { rows: data.dims[0]!, width: data.dims[1]! }) : undefined;
    }
    default:
      if (BINARY.has(node.op) && f32(a) && f32(b) && !(isConst(a) && isConst(b))) return pick('binary', [0, 1].filter((i) => isConst(node.inputs[i])), {}, node.op);
      if (UNARY.has(node.op) && f32(a)) return pick('unary', [], {}, node.op);
      return undefined;
  }
}
