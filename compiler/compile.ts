// The pipeline, as a list of named steps: import → verify → infer shapes → fold constants → fuse RMSNorm →
// find linears → OneBit rewrite → remove unused → verify → codegen → write bundle.
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { byteSizeOf } from '../formats/tensor.ts';
import { WidenedTensor } from '../formats/widened-tensor.ts';
import { SUPPORTED_OPS } from '../runtime/kernels/index.ts';
import { BACKENDS } from '../runtime/model.ts';
import { writeBundle } from './bundle/write-bundle.ts';
import type { BundleFile } from './bundle/write-bundle.ts';
import { writeWeights } from './bundle/write-weights.ts';
import { bundleModelJs } from './codegen/js/bundle-model-js.ts';
import { buildPlan, planSource } from './codegen/js/emit-plan.ts';
import { importModel } from './import/import-model.ts';
import { cloneModel } from './ir/clone.ts';
import type { Fidelity } from './measure-fidelity.ts';
import { MAX_FIDELITY_WEIGHTS, measureFidelity } from './measure-fidelity.ts';
import { CompileError, throwIfErrors } from './ir/diagnostics.ts';
import type { Diagnostic } from './ir/diagnostics.ts';
import type { IrModel } from './ir/graph.ts';
import { allGraphs } from './ir/graph.ts';
import { inferShapes } from './ir/infer-shapes.ts';
import { printModel } from './ir/print.ts';
import { verifyModel } from './ir/verify.ts';
import { findLinears } from './passes/find-linears.ts';
import { foldConstants } from './passes/fold-constants.ts';
import { fuseRmsNorm } from './passes/fuse-rms-norm.ts';
import { removeUnused } from './passes/remove-unused.ts';
import type { LayerReport } from './passes/rewrite-linear-to-onebit.ts';
import { ONEBIT_OP, rewriteLinearToOnebit } from './passes/rewrite-linear-to-onebit.ts';
import { ONEBITC_VERSION } from './version.ts';
import { loadTokenizer } from '../runtime/tokenizer/tokenizer.ts';
import type { DistillSummary } from './train/distill.ts';
import type { DistillOptions } from './train/distill-options.ts';
import type { OneBitKernel } from './codegen/wasm/select-kernels.ts';

export { ONEBIT_KERNELS } from './codegen/wasm/select-kernels.ts';
export type { OneBitKernel } from './codegen/wasm/select-kernels.ts';

export interface CompileOptions {
  /** The bundle folder to write (replaced atomically). */
  output: string;
  /** Rewrite Linears to OneBit (default true). `false` emits the same bundle with the original weights. */
  quantize?: boolean;
  /** Globs of node/weight/layer names to keep in full precision (`*` matches across `/` and `.`). */
  keep?: readonly string[];
  /** Quantize the LM head of a checkpoint language model too (the paper keeps it in fp16). */
  quantizeHead?: boolean;
  /**
   * Store full-precision weights as fp16 (widened at load). Default: on for checkpoint language models made
   * 1-bit (the paper's setting), off otherwise.
   */
  fp16?: boolean;
  /** Kernels to generate besides the reference ones (default ['wasm', 'webgpu']; [] gives a reference-only bundle). */
  targets?: readonly Target[];
  /**
   * OneBit kernel of the WASM target per layer: 'exact' (fp32 sums), 'lut' (int8 table lookups for one row, ~1e-4
   * relative error, faster), or 'auto' (default): lut for layers
   * with out ≥ 512 and in ≥ 128, exact below. Several rows (prefill) run exactly either way.
   */
  kernel?: OneBitKernel;
  /**
   * Knowledge distillation of the 1-bit student from the original model before codegen (ONEBIT.md §3):
   * checkpoint language models only. The student's signs, g and h come from training instead of SVID alone.
   */
  distill?: DistillOptions;
  /** Progress of long steps (per layer SVID), for a progress bar. */
  onProgress?: (event: ProgressEvent) => void;
  /** 1: print the IR after each step; 2: also the generated JS. Defaults to ONEBITC_DEBUG. */
  debug?: number;
  log?: (line: string) => void;
}

export type ProgressEvent =
  | { kind: 'step'; step: string }
  | { kind: 'layer'; layer: string; index: number; total: number; out: number; in: number };

export interface CompileResult {
  outDir: string;
  layers: LayerReport[];
  /** Bytes of all constants before (as imported) and after (weights.safetensors data). */
  sizeBefore: number;
  sizeAfter: number;
  warnings: Diagnostic[];
  manifest: Manifest;
  /** The 1-bit model's outputs against the original's on sample inputs (absent when nothing was converted or the model is too big to run twice at compile time). */
  fidelity?: Fidelity;
  /** The input is a language model (the bundle can generate). */
  languageModel: boolean;
  /** OneBit layers that came trained in the checkpoint (official OneBit format) or from --distill, not from SVID. */
  trainedOneBitLayers: number;
  /** What --distill did: steps, throughput, held-out perplexities. */
  distill?: DistillSummary;
}

export interface Manifest {
  format: 'onebitc-bundle';
  formatVersion: 1;
  onebitc: string;
  source: string;
  targets: string[];
  quantized: boolean;
  inputs: unknown;
  outputs: unknown;
  files: Record<string, { bytes: number }>;
  size: { before: number; after: number };
  /** Every Linear: made OneBit by SVID, kept, or (trained) OneBit already in the checkpoint. */
  layers: { name: string; out: number; in: number; bytesBefore: number; bytesAfter: number; kept: boolean; trained?: boolean }[];
}

export const MANIFEST_FORMAT_VERSION = 1;
export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';

export const TARGETS = ['wasm', 'webgpu'] as const;
export type Target = (typeof TARGETS)[number];


function constantBytes(model: IrModel): number {
  let n = 0;
  for (const g of allGraphs(model.graph)) for (const t of g.initializers.values()) n += byteSizeOf(t instanceof WidenedTensor ? t.source : t);
  return n;
}

/** The OneBit layers a checkpoint brought already trained (their sign tensors are not SVID's). */
function trainedLayers(model: IrModel, converted: readonly LayerReport[]): Manifest['layers'] {
  const fromSvid = new Set(converted.map((l) => `${l.layer}.sign`));
  const seen = new Set<string>();
  const out: Manifest['layers'] = [];
  for (const g of allGraphs(model.graph)) {
    for (const n of g.nodes) {
      const sign = n.inputs[1]!;
      if (n.op !== ONEBIT_OP || fromSvid.has(sign) || seen.has(sign)) continue;
      seen.add(sign);
      const bytes = n.inputs.slice(1, 4).reduce((sum, name) => sum + byteSizeOf(g.initializers.get(name) ?? model.graph.initializers.get(name)!), 0);
      out.push({ name: sign.replace(/\.(weight|sign)$/, ''), out: n.attrs['out'] as number, in: n.attrs['in'] as number, bytesBefore: bytes, bytesAfter: bytes, kept: false, trained: true });
    }
  }
  return out;
}

export async function compile(input: string, options: CompileOptions): Promise<CompileResult> {
  const debug = options.debug ?? Number(process.env['ONEBITC_DEBUG'] ?? 0);
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const step = (name: string, model?: IrModel) => {
    options.onProgress?.({ kind: 'step', step: name });
    if (debug >= 1 && model) log(`--- IR after ${name} ---\n${printModel(model)}`);
  };
  const warnings: Diagnostic[] = [];
  const check = (diagnostics: Diagnostic[]) => {
    throwIfErrors(diagnostics);
    for (const d of diagnostics) if (!warnings.some((w) => w.message === d.message && w.node === d.node)) warnings.push(d);
  };

  const imported = await importModel(input);
  const { lm } = imported;
  let model = imported.model;
  step('import', model);
  const sizeBefore = constantBytes(model);
  check(verifyModel(model, { supportedOps: SUPPORTED_OPS }));
  check(inferShapes(model));
  step('verify + infer-shapes', model);
  foldConstants(model);
  step('fold-constants', model);
  fuseRmsNorm(model);
  step('fuse-rms-norm', model);

  let layers: LayerReport[] = [];
  // The original graph, kept (sharing its weights) to measure the 1-bit model's fidelity against.
  const original = options.quantize !== false && sizeBefore <= MAX_FIDELITY_WEIGHTS * 4 ? cloneModel(model) : undefined;
  let distilled: DistillSummary | undefined;
  if (options.distill) {
    if (options.quantize === false) throw new CompileError([{ severity: 'error', file: input, message: '--distill trains the 1-bit student: it cannot be combined with --no-quantize' }]);
    if (!lm) throw new CompileError([{ severity: 'error', file: input, message: '--distill needs a language model with its tokenizer (tokenizer.json)' }]);
    const { distill } = await import('./train/distill.ts');
    const tokenizer = loadTokenizer(lm.tokenizer, lm.tokenizerConfig ? JSON.parse(lm.tokenizerConfig) as object : undefined);
    const result = await distill({ teacher: model, tokenizer, contextLength: lm.contextLength, ...(imported.headWeight ? { headWeight: imported.headWeight } : {}) }, options.distill);
    model = result.model;
    distilled = result.summary;
    step('distill', model);
  }
  if (options.quantize !== false) {
    const sites = findLinears(model);
    // Paper default for language models from checkpoints: the LM head stays in higher precision.
    const keepHead = imported.headWeight && !options.quantizeHead ? [imported.headWeight] : [];
    layers = rewriteLinearToOnebit(model, sites, {
      keep: [...(options.keep ?? []), ...keepHead],
      onLayer: (e) => options.onProgress?.({ kind: 'layer', ...e }),
    });
    step('rewrite-linear-to-onebit', model);
  }
  removeUnused(model);
  check(verifyModel(model, { supportedOps: SUPPORTED_OPS }));
  check(inferShapes(model));
  step('remove-unused + verify', model);
  const fidelity = original && layers.some((l) => !l.kept) ? measureFidelity(original, model, lm) : undefined;
  if (fidelity) step('measure-fidelity');

  const header = `// Generated by onebitc ${ONEBITC_VERSION} from ${basename(input)}. Do not edit.`;
  const targets = options.targets ?? TARGETS;
  // binaryen and ts-morph are big: loaded only now, after the weights have been streamed through SVID.
  const { emitWasm, WASM_FILE, RELAXED_WASM_FILE } = await import('./codegen/wasm/emit-wasm.ts');
  const { emitTypes } = await import('./codegen/js/emit-types.ts');
  const wasm = targets.includes('wasm') ? emitWasm(model, { kernel: options.kernel ?? 'auto' }) : undefined;
  step('codegen-wasm');
  if (wasm && debug >= 2) log(`--- ${WASM_FILE} ---\n${wasm.text}`);
  const { emitWebGpu, SHADERS_FILE } = await import('./codegen/wgsl/emit-webgpu.ts');
  const webgpu = targets.includes('webgpu') ? emitWebGpu(model) : undefined;
  step('codegen-wgsl');
  if (webgpu && debug >= 2) log(`--- ${SHADERS_FILE} ---\n${webgpu.shaders.join('\n')}`);
  // Full-precision weights are stored as fp16 when asked, and by default for checkpoint LMs turned 1-bit
  // (the paper keeps embeddings, norms and the head in fp16); the runtime widens them at load.
  // A checkpoint that is already OneBit (trained with the paper's code) keeps its weights as released.
  const half = options.fp16 ?? (options.quantize !== false && imported.checkpointWeights !== undefined && !imported.alreadyOneBit);
  // The g and h of a OneBit layer stay as they are: rounding a trained checkpoint's vectors moves its logits.
  const oneBitVectors = new Set([...allGraphs(model.graph)].flatMap((g) => g.nodes).filter((n) => n.op === ONEBIT_OP).flatMap((n) => n.inputs.slice(2, 4)));
  const storeHalf = half ? (name: string) => (imported.checkpointWeights?.has(name) ?? true) && !oneBitVectors.has(name) : undefined;
  const plan = buildPlan(model, 'weights.safetensors', {
    ...(wasm ? { wasm: wasm.plan } : {}),
    ...(webgpu ? { webgpu: webgpu.plan } : {}),
    ...(storeHalf ? { storeHalf } : {}),
    ...(lm ? { lm: { tokenizer: TOKENIZER_FILE, ...(lm.bos !== undefined ? { bos: lm.bos } : {}), eos: lm.eos, contextLength: lm.contextLength, cache: lm.cache } } : {}),
  });
  const source = planSource(plan.plan);
  if (debug >= 2) log(`--- plan ---\n${source}`);
  const modelJs = await bundleModelJs(source, header, lm !== undefined);
  const inputs = model.graph.inputs.map((v) => ({ name: v.name, dtype: v.dtype, dims: v.shape ?? [] }));
  const outputs = model.graph.outputs.map((v) => ({ name: v.name, dtype: v.dtype, dims: v.shape ?? [] }));
  const types = emitTypes(header, inputs, outputs, BACKENDS, lm !== undefined);
  const sizeAfter = plan.weights.reduce((n, [, t]) => n + byteSizeOf(t), 0);

  const manifest: Manifest = {
    format: 'onebitc-bundle',
    formatVersion: MANIFEST_FORMAT_VERSION,
    onebitc: ONEBITC_VERSION,
    source: basename(input),
    targets: [...(webgpu ? ['webgpu'] : []), ...(wasm ? ['wasm'] : []), 'js'],
    quantized: options.quantize !== false,
    inputs,
    outputs,
    files: {
      'model.js': { bytes: Buffer.byteLength(modelJs) },
      'model.d.ts': { bytes: Buffer.byteLength(types) },
      ...(wasm ? { [WASM_FILE]: { bytes: wasm.binary.byteLength } } : {}),
      ...(wasm?.relaxedBinary ? { [RELAXED_WASM_FILE]: { bytes: wasm.relaxedBinary.byteLength } } : {}),
      ...(webgpu ? { [SHADERS_FILE]: { bytes: Buffer.byteLength(webgpu.json) } } : {}),
    },
    size: { before: sizeBefore, after: sizeAfter },
    layers: [...layers.map((l) => ({ name: l.layer, out: l.out, in: l.in, bytesBefore: l.bytesBefore, bytesAfter: l.bytesAfter, kept: l.kept })), ...trainedLayers(model, layers)],
  };
  const files = new Map<string, BundleFile>([
    ['model.js', modelJs],
    ['model.d.ts', types],
    ...(wasm ? [[WASM_FILE, wasm.binary] as [string, BundleFile]] : []),
    ...(wasm?.relaxedBinary ? [[RELAXED_WASM_FILE, wasm.relaxedBinary] as [string, BundleFile]] : []),
    ...(webgpu ? [[SHADERS_FILE, webgpu.json] as [string, BundleFile]] : []),
    ...(lm ? [[TOKENIZER_FILE, lm.tokenizer] as [string, BundleFile]] : []),
    ...(lm?.tokenizerConfig ? [[TOKENIZER_CONFIG_FILE, lm.tokenizerConfig] as [string, BundleFile]] : []),
    ['weights.safetensors', async (path) => { manifest.files['weights.safetensors'] = { bytes: await writeWeights(path, plan.weights, header.replace(/^\/\/ /, '')) }; }],
  ]);
  files.set('manifest.json', async (path) => {
    await writeFile(path, JSON.stringify(manifest, null, 2) + '\n');
  });
  await writeBundle(options.output, files);
  step('write-bundle');
  const trainedOneBitLayers = manifest.layers.filter((l) => l.trained).length;
  return { outDir: options.output, layers, sizeBefore, sizeAfter, warnings, manifest, ...(fidelity ? { fidelity } : {}), ...(distilled ? { distill: distilled } : {}), languageModel: lm !== undefined, trainedOneBitLayers };
}
