// model.wasm and its plan: the kernels chosen by select-kernels, specialised to this model's sizes, and the
// memory layout — a reserved first KiB, the constants the kernels read (placed at load straight from
// weights.safetensors), one scratch region, then the activation arena. Arena values share slots when their
// lifetimes (in node order) do not overlap; slot sizes follow from the feeds' symbols at run time.
// A LLaMA-family model (model.decoder) also gets decode_step (decode-step.ts), its region between the
// constants and the scratch.
// When a layer gets the LUT kernel, model.relaxed.wasm is the same module with relaxed SIMD in those kernels
// (same exports and memory layout): the runtime loads it where the engine has relaxed SIMD.
import { sizeOf } from '../../../formats/tensor.ts';
import type { WasmCall, WasmConstant, WasmDecodeStepPart, WasmPlan } from '../../../runtime/plan.ts';
import { lutLayoutBytes, onebitLayoutBytes } from '../../../runtime/wasm/onebit-layout.ts';
import type { IrModel } from '../../ir/graph.ts';
import { emitDecodeStep, planDecodeStep } from './decode-step.ts';
import { addBinary, addUnary } from './elementwise.ts';
import { addBatchedMatMul, addMatMulConstB } from './matmul.ts';
import type { Module } from './module.ts';
import { ALIGN, align, createKernelModule, finishModule } from './module.ts';
import { addGather, addLayerNorm, addReduceMeanLastAxis, addRmsNorm, addSoftmaxLastAxis } from './normalize.ts';
import { addOneBitLinear, onebitScratchBytes } from './onebit-linear.ts';
import { addOneBitLinearRows } from './onebit-linear-rows.ts';
import { addOneBitLut, lutScratchBytes } from './onebit-lut.ts';
import type { KernelChoice, SelectOptions } from './select-kernels.ts';
import { selectKernels } from './select-kernels.ts';
import { addTransposeLastTwo } from './transpose.ts';

export const WASM_FILE = 'model.wasm';
export const RELAXED_WASM_FILE = 'model.relaxed.wasm';
const RESERVED = 1024;

export interface EmittedWasm {
  plan: WasmPlan;
  binary: Uint8Array;
  text: string;
  /** model.relaxed.wasm (plan.relaxedFile), when some kernel has a relaxed-SIMD variant. */
  relaxedBinary?: Uint8Array;
}

export function emitWasm(model: IrModel, options: SelectOptions = {}): EmittedWasm | undefined {
  const choices = selectKernels(model, options);
  if (!choices.length) return undefined;
  const graph = model.graph;

  // ---- constants ----
  const constants: WasmConstant[] = [];
  const placed = new Map<string, number>();
  let offset = RESERVED;
  const place = (name: string, as: WasmConstant['as'], bytes: number, extra: Partial<WasmConstant> = {}) => {
    const key = `${as}:${name}`;
    const known = placed.get(key);
    if (known !== undefined) return known;
    const at = offset;
    constants.push({ name, offset: at, bytes, as, ...extra });
    placed.set(key, at);
    offset = align(at + bytes);
    return at;
  };
  const constantOffsets = (c: KernelChoice): Record<number, number> => Object.fromEntries(c.constantInputs.map((i) => {
    const name = c.node.inputs[i]!;
    const t = graph.initializers.get(name)!;
    if ((c.kind === 'onebit-linear' || c.kind === 'onebit-lut') && i === 1) {
      const { in: inDim, out } = c.sizes as { in: number; out: number };
      const lut = c.kind === 'onebit-lut';
      return [i, place(name, lut ? 'onebit-signs-lut' : 'onebit-signs', (lut ? lutLayoutBytes : onebitLayoutBytes)(out, inDim), { out, in: inDim })];
    }
    const transposed = c.kind === 'matmul-const' && i === 1 && c.sizes['transposed'] === 1;
    return [i, place(name, transposed ? 'f32-transposed' : 'f32', sizeOf(t.dims) * 4)];
  }));
  const withConstants = choices.map((c) => ({ choice: c, offsets: constantOffsets(c) }));

  // ---- the fused decode step's region (LLaMA-family models) ----
  const allocate = (bytes: number) => { const at = offset; offset = align(at + bytes); return at; };
  const byNode = new Map(choices.map((c) => [c.node.name, c]));
  const decode = model.decoder ? planDecodeStep(model.decoder, byNode, allocate) : undefined;

  // ---- scratch ----
  const scratchBytes = Math.max(ALIGN,
    ...choices.filter((c) => c.kind === 'onebit-linear').map((c) => onebitScratchBytes(c.sizes['in']!, c.sizes['out']!)),
    ...choices.filter((c) => c.kind === 'onebit-lut').map((c) => lutScratchBytes(c.sizes['in']!, c.sizes['out']!)));
  const scratch = offset;
  const arenaBase = align(scratch + scratchBytes);

  // ---- kernels (twice when some have a relaxed-SIMD variant) ----
  const calls: Record<string, WasmCall> = {};
  const build = (relaxed: boolean) => {
    const mod = createKernelModule(relaxed);
    const shared = new Set<string>();
    const once = (fn: string, add: (m: Module) => void) => {
      if (!shared.has(fn)) { add(mod); shared.add(fn); }
      return fn;
    };
    withConstants.forEach(({ choice: c, offsets }, k) => {
      const fn = emitKernel(mod, c, offsets, k, scratch, once, relaxed);
      calls[c.node.name] = { kind: c.kind, fn, constants: offsets, sizes: c.sizes };
    });
    if (decode) {
      const index = new Map(choices.map((c, k) => [c.node.name, k]));
      decodeSteps = emitDecodeStep(mod, decode, calls, (node, g) => {
        const { choice, offsets } = withConstants[index.get(node)!]!;
        return emitKernel(mod, choice, { ...offsets, 2: g }, `${index.get(node)!}_folded`, scratch, once, relaxed);
      });
    }
    const emitted = finishModule(mod);
    mod.dispose();
    return emitted;
  };
  let decodeSteps: WasmDecodeStepPart[] = [];
  const { binary, text } = build(false);
  const relaxedBinary = choices.some((c) => c.kind === 'onebit-lut') ? build(true).binary : undefined;

  // ---- arena slots ----
  const { values, slots } = planSlots(model, choices);
  return {
    plan: {
      file: WASM_FILE, ...(relaxedBinary ? { relaxedFile: RELAXED_WASM_FILE } : {}), arenaBase, constants, calls, values, slots,
      ...(decode ? { decode: { ...decode.plan, steps: decodeSteps } } : {}),
    },
    binary, text, ...(relaxedBinary ? { relaxedBinary } : {}),
  };
}

function emitKernel(mod: Module, c: KernelChoice, at: Record<number, number>, k: number | string, scratch: number, once: (fn: string, add: (m: Module) => void) => string, relaxed: boolean): string {
  const s = c.sizes;
  switch (c.kind) {
    case 'onebit-linear': {
      const fn = `onebit_linear_${k}`;
      const alpha = typeof c.node.attrs['alpha'] === 'number' ? c.node.attrs['alpha'] : 1;
      const eps = c.node.attrs['post_norm_eps'];
      const spec = {
        in: s['in']!, out: s['out']!, sign: at[1]!, g: at[2]!, h: at[3]!, ...(at[4] !== undefined ? { bias: at[4] } : {}), alpha, scratch,
        ...(typeof eps === 'number' ? { postNormEps: eps } : {}),
      };
      addOneBitLinear(mod, fn, spec);
      addOneBitLinearRows(mod, fn, spec); // fn$tables, fn$rows: the GEMV split between threads
      return fn;
    }
    case 'onebit-lut': {
      const fn = `onebit_lut_${k}`;
      const alpha = typeof c.node.attrs['alpha'] === 'number' ? c.node.attrs['alpha'] : 1;
      const eps = c.node.attrs['post_norm_eps'];
      addOneBitLut(mod, fn, {
        in: s['in']!, out: s['out']!, sign: at[1]!, g: at[2]!, h: at[3]!, ...(at[4] !== undefined ? { bias: at[4] } : {}), alpha, scratch, relaxed,
        ...(typeof eps === 'number' ? { postNormEps: eps } : {}),
      });
      return fn;
    }
    case 'matmul-const': {
      const fn = `matmul_const_${k}`;
      addMatMulConstB(mod, fn, { k: s['k']!, n: s['n']!, b: at[1]!, ...(at[2] !== undefined ? { bias: at[2] } : {}) });
      return fn;
    }
    case 'rms-norm': {
      const fn = `rms_norm_${k}`;
      addRmsNorm(mod, fn, { width: s['width']!, eps: c.node.attrs['epsilon'] as number, ...(at[1] !== undefined ? { weight: at[1] } : {}) });
      return fn;
    }
    case 'layer-norm': {
      const fn = `layer_norm_${k}`;
      const eps = typeof c.node.attrs['epsilon'] === 'number' ? c.node.attrs['epsilon'] : 1e-5;
      addLayerNorm(mod, fn, { width: s['width']!, eps, ...(at[1] !== undefined ? { scale: at[1] } : {}), ...(at[2] !== undefined ? { bias: at[2] } : {}) });
      return fn;
    }
    case 'gather': {
      const fn = `gather_${k}`;
      addGather(mod, fn, { data: at[0]!, rows: s['rows']!, width: s['width']! });
      return fn;
    }
    case 'matmul': return once('matmul', (m) => addBatchedMatMul(m, 'matmul'));
    case 'softmax': return once('softmax', (m) => addSoftmaxLastAxis(m, 'softmax'));
    case 'transpose': return once('transpose_last_two', (m) => addTransposeLastTwo(m, 'transpose_last_two'));
    case 'reduce-mean': return once('reduce_mean', (m) => addReduceMeanLastAxis(m, 'reduce_mean'));
    case 'binary': return once(`binary_${c.variant}`, (m) => addBinary(m, `binary_${c.variant}`, c.variant as 'Add'));
    case 'unary': return once(`unary_${c.variant}`, (m) => addUnary(m, `unary_${c.variant}`, c.variant as 'Neg'));
  }
}

/**
 * Interval colouring of the arena values' lifetimes (index of the producing node, or -1 for graph inputs,
 * to the last reading node, or the end for graph outputs). A slot is reused only by a value that starts
 * after its current occupant's last use; among free slots, one that held the same dims is preferred.
 */
function planSlots(model: IrModel, choices: KernelChoice[]): Pick<WasmPlan, 'values' | 'slots'> {
  const graph = model.graph;
  const resident = new Set<string>();
  for (const c of choices) {
    c.node.inputs.forEach((n, i) => { if (n && !c.constantInputs.includes(i)) resident.add(n); });
    resident.add(c.node.outputs[0]!);
  }
  const start = new Map<string, number>(graph.inputs.map((v) => [v.name, -1]));
  const end = new Map<string, number>();
  graph.nodes.forEach((node, i) => {
    for (const o of node.outputs) if (!start.has(o)) start.set(o, i);
    for (const n of node.inputs) if (n) end.set(n, i);
  });
  for (const o of graph.outputs) end.set(o.name, Infinity);
  const ordered = [...resident].sort((a, b) => start.get(a)! - start.get(b)! || (a < b ? -1 : 1));
  const slots: { end: number; dims: string }[] = [];
  const values: Record<string, WasmPlan['values'][string]> = {};
  for (const name of ordered) {
    const t = graph.types.get(name)!;
    const dims = JSON.stringify(t.shape);
    const s = start.get(name)!;
    const free = slots.map((slot, i) => ({ slot, i })).filter(({ slot }) => slot.end < s);
    const chosen = free.find(({ slot }) => slot.dims === dims) ?? free[0];
    const slot = chosen ? chosen.i : slots.length;
    slots[slot] = { end: end.get(name) ?? s, dims };
    values[name] = { slot, dtype: t.dtype as 'float32' | 'int64', dims: t.shape! };
  }
  return { values, slots: slots.length };
}
