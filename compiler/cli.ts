// The command line: thin, it parses arguments, shows progress and turns failures into one clear line.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { FormatError } from '../formats/errors.ts';
import { BundleWriteError } from './bundle/write-bundle.ts';
import type { ProgressEvent, Target } from './compile.ts';
import type { Fidelity } from './measure-fidelity.ts';
import type { LayerReport } from './passes/rewrite-linear-to-onebit.ts';
import type { OneBitKernel } from './compile.ts';
import { compile, ONEBIT_KERNELS, TARGETS } from './compile.ts';
import { formatBytes, inspect } from './inspect.ts';
import { CompileError, formatDiagnostic } from './ir/diagnostics.ts';
import { registerLmCommands } from './cli-lm.ts';
import { exportTraining } from './train/export-pytorch.ts';
import type { LatentInit } from './train/init-weights.ts';
import { LATENT_INITS } from './train/init-weights.ts';
import { ONEBITC_VERSION } from './version.ts';
import type { SteKind } from './train/autodiff/ste.ts';
import { STE_KINDS } from './train/autodiff/ste.ts';
import type { DistillSummary } from './train/distill.ts';
import { DistillError, DistillInterrupted } from './train/distill-errors.ts';
import type { DistillOptions } from './train/distill-options.ts';

const isTTY = Boolean(process.stderr.isTTY);

// `onebitc inspect model.onnx | head`: a reader that stops early is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

/** A bar on a terminal; otherwise a plain line at most every few seconds (logs stay short). */
function progressReporter(): { onProgress: (e: ProgressEvent) => void; stop: () => void } {
  let bar: cliProgress.SingleBar | undefined;
  let lastLine = performance.now();
  return {
    onProgress(e) {
      if (e.kind !== 'layer') return;
      if (!isTTY) {
        if (performance.now() - lastLine < 3000) return;
        lastLine = performance.now();
        process.stderr.write(`onebitc: SVID ${e.index + 1}/${e.total} layers (${e.layer}, ${e.out}×${e.in})\n`);
        return;
      }
      bar ??= new cliProgress.SingleBar({ format: 'SVID {bar} {value}/{total} layers | {layer}', stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
      if (e.index === 0) bar.start(e.total, 0, { layer: '' });
      bar.update(e.index + 1, { layer: `${e.layer} ${e.out}×${e.in}` });
    },
    stop: () => bar?.stop(),
  };
}

function fail(error: unknown): never {
  if (error instanceof CompileError) {
    for (const d of error.diagnostics.filter((x) => x.severity === 'error')) process.stderr.write(`onebitc: error: ${formatDiagnostic(d)}\n`);
  } else if (error instanceof FormatError || error instanceof BundleWriteError) {
    process.stderr.write(`onebitc: error: ${error.message}\n`);
  } else {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`onebitc: internal error: ${message}\n`);
    if (process.env['ONEBITC_DEBUG'] && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    else process.stderr.write('onebitc: run with ONEBITC_DEBUG=1 for the stack trace, and please report it\n');
  }
  process.exit(1);
}

/** One note per kind of poor fit, naming the layers (details per layer go to --report). */
function fitNotes(layers: readonly LayerReport[]): string[] {
  const byCode = new Map<string, { message: string; layers: string[] }>();
  for (const l of layers) {
    for (const f of l.fit?.flags ?? []) {
      const entry = byCode.get(f.code) ?? { message: f.message, layers: [] };
      entry.layers.push(l.layer);
      byCode.set(f.code, entry);
    }
  }
  return [...byCode].map(([code, { message, layers: names }]) => {
    const shown = names.length > 4 ? `${names.slice(0, 4).join(', ')} and ${names.length - 4} more` : names.join(', ');
    const detail = names.length === 1 ? message : `${code} (e.g. ${message})`;
    return `note: ${names.length} layer${names.length > 1 ? 's' : ''} may be a poor fit for 1 bit: ${shown}: ${detail}; --keep <name> keeps a layer in full precision, --report has the numbers`;
  });
}

/** SVID's relative weight error ‖W − Ŵ‖/‖W‖ over the converted layers: the spread and the worst. */
function svidErrorLine(layers: readonly LayerReport[]): string {
  const errors = layers.filter((l) => l.fit).map((l) => ({ layer: l.layer, error: l.fit!.svidRelativeError })).sort((a, b) => a.error - b.error);
  const median = errors[Math.floor(errors.length / 2)]!;
  const worst = errors.at(-1)!;
  return `SVID weight error ‖W−Ŵ‖/‖W‖: median ${median.error.toFixed(3)}, worst ${worst.error.toFixed(3)} (${worst.layer}); per layer in --report`;
}

function fidelityLine(f: Fidelity): string {
  const lm = f.kl !== undefined ? `, KL ${f.kl.toFixed(3)} nats/token, top-1 agreement ${(100 * f.top1!).toFixed(0)}%` : '';
  return `fidelity (1-bit vs original outputs on ${f.sample}): cosine ${f.cosine.toFixed(4)}${lm}`;
}

const collect = (value: string, previous: string[]) => [...previous, value];

interface CompileCliOptions {
  output?: string; quantize: boolean; keep: string[]; report?: string; target: string; kernel: string; quantizeHead?: boolean; fp16?: boolean;
  distill?: string; steps?: string; lr?: string; alpha?: string; seq?: string; batch?: string; seed?: string; warmup?: string; clip?: string;
  ste: string; latentInit: string; postNorm: boolean; checkpointDir?: string; checkpointEvery?: string; evalEvery?: string; resume?: string;
}

/** A number option, or a clear error naming it. */
function numberOption(name: string, value: string | undefined, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) program.error(`onebitc: error: --${name} must be ${integer ? 'an integer' : 'a number'}, got "${value}"`);
  return n;
}

/** The --distill options, or undefined; distillation flags without --distill are an error. */
function distillOptions(opts: CompileCliOptions, output: string): DistillOptions | undefined {
  const data = opts.distill;
  const flags = ['steps', 'lr', 'alpha', 'seq', 'batch', 'seed', 'warmup', 'clip', 'checkpointDir', 'checkpointEvery', 'evalEvery', 'resume'] as const;
  if (data === undefined) {
    const stray = flags.find((f) => opts[f] !== undefined);
    if (stray) program.error(`onebitc: error: --${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} only applies with --distill <data>`);
    return undefined;
  }
  if (!(STE_KINDS as readonly string[]).includes(opts.ste)) program.error(`onebitc: error: unsupported --ste "${opts.ste}". Should be one of: ${STE_KINDS.join(', ')}`);
  if (opts.latentInit !== 'weight' && opts.latentInit !== 'sign') program.error(`onebitc: error: unsupported --latent-init "${opts.latentInit}". Should be one of: weight, sign`);
  const o: DistillOptions = {
    data, checkpointDir: opts.resume ?? opts.checkpointDir ?? `${output.replace(/\/+$/, '')}.distill`, resume: opts.resume !== undefined,
    ste: opts.ste as SteKind, latentInit: opts.latentInit as 'weight' | 'sign', postNorm: opts.postNorm,
  };
  const numbers = { steps: true, lr: false, alpha: false, seq: true, batch: true, seed: true, warmup: true, clip: false, checkpointEvery: true, evalEvery: true } as const;
  for (const [key, integer] of Object.entries(numbers) as [keyof typeof numbers, boolean][]) {
    const n = numberOption(key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), opts[key], integer);
    if (n !== undefined) o[key] = n;
  }
  return o;
}

/** Ctrl-C during distillation stops after the current step with a checkpoint; a second Ctrl-C quits at once. */
function interruptible(o: DistillOptions): () => void {
  const controller = new AbortController();
  o.signal = controller.signal;
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\nonebitc: stopping after this step (Ctrl-C again to quit without a checkpoint)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  return () => process.off('SIGINT', onSigint);
}

function distillLine(d: DistillSummary, dir: string): string {
  const h = d.heldOut;
  const ppl = h ? `; held-out perplexity: teacher ${h.teacher.toFixed(2)}, student at start ${h.initial.toFixed(2)}, distilled ${h.final.toFixed(2)}` : '';
  return `distilled: ${d.steps} steps, ${d.tokens} tokens in ${d.seconds.toFixed(0)} s (${d.tokensPerSecond.toFixed(0)} tokens/s)${ppl}; log, curve and checkpoint in ${dir}`;
}

const program = new Command('onebitc')
  .description('Compile a model (ONNX, or a Hugging Face checkpoint) into a 1-bit (OneBit) bundle that runs anywhere JavaScript runs')
  .version(ONEBITC_VERSION)
  .enablePositionalOptions() // `export-training <model> -o <dir>`: the -o after a subcommand is the subcommand's
  .argument('<input>', 'model to compile: a .onnx file, a Hugging Face folder, or a .safetensors file with config.json beside it')
  .option('-o, --output <dir>', 'bundle folder to write (replaced atomically); required')
  .option('--no-quantize', 'keep every Linear in full precision (the reference bundle)')
  .option('--keep <glob>', 'keep Linears whose node, weight or layer name matches in full precision (repeatable)', collect, [])
  .option('--quantize-head', 'also make the LM head of a checkpoint language model 1-bit (the paper keeps it in fp16)')
  .option('--fp16', 'store full-precision weights as fp16 (default for checkpoint language models made 1-bit)')
  .option('--no-fp16', 'store full-precision weights as they are')
  .option('--report <file>', 'write a JSON report of every layer (shapes, sizes, SVID fit, flags)')
  .option('--target <list>', "kernels to generate, comma-separated: 'wasm' (WASM-SIMD) and 'webgpu' (WGSL shaders), or 'js' (reference kernels only)", 'wasm,webgpu')
  .option('--kernel <kind>', "OneBit kernel of the WASM target: 'exact' (fp32 sums), 'lut' (int8 table lookups: faster, ~1e-4 relative error), or 'auto' (lut for layers with out ≥ 512 and in ≥ 128)", 'auto')
  .option('--distill <data>', "fine-tune the 1-bit student by knowledge distillation from the original model (ONEBIT.md §3): a text file (10% held out), or 'self:N' for N tokens sampled from the teacher")
  .option('--steps <n>', 'distillation: optimizer steps (default 1000)')
  .option('--lr <x>', 'distillation: peak learning rate (default 4e-3 up to 100M parameters, else 4e-4)')
  .option('--alpha <x>', 'distillation: weight of the hidden-state MSE term (default 1)')
  .option('--seq <n>', 'distillation: tokens per training window (default 256)')
  .option('--batch <n>', 'distillation: windows per step (default 16)')
  .option('--seed <n>', 'distillation: seed of the data order and sampling (default 0)')
  .option('--warmup <n>', 'distillation: linear warm-up steps before the cosine decay (default 5% of the steps, at most 200)')
  .option('--clip <x>', 'distillation: global gradient-norm clip (default 1)')
  .option('--ste <kind>', "distillation: straight-through estimator of sign: 'tanh' (1.001 − tanh², the reference's) or 'clip' (identity where |w| ≤ 1)", 'tanh')
  .option('--latent-init <kind>', "distillation: latent weights start as 'weight' (W itself) or 'sign' (sign(W)·0.01, the reference's)", 'weight')
  .option('--no-post-norm', "distillation: leave out the paper's LayerNorm after each 1-bit linear")
  .option('--checkpoint-dir <dir>', 'distillation: folder for checkpoints, log.csv/log.json, curve.svg and the held-out text (default <output>.distill)')
  .option('--checkpoint-every <n>', 'distillation: steps between checkpoints (default a tenth of the steps, at most 100)')
  .option('--eval-every <n>', 'distillation: steps between held-out perplexity checks (default a tenth of the steps)')
  .option('--resume <dir>', 'distillation: continue the run whose checkpoint folder is <dir>, with the same options')
  .showHelpAfterError()
  .action(async (input: string, opts: CompileCliOptions) => {
    const output = opts.output ?? program.error('onebitc: error: missing -o <dir>: the folder to write the bundle to');
    if (!(ONEBIT_KERNELS as readonly string[]).includes(opts.kernel)) program.error(`onebitc: error: unsupported kernel "${opts.kernel}". Should be one of: ${ONEBIT_KERNELS.join(', ')}`);
    const kernel = opts.kernel as OneBitKernel;
    const targets = opts.target.split(',').map((t) => t.trim());
    const unknown = targets.find((t) => t !== 'js' && !(TARGETS as readonly string[]).includes(t));
    if (unknown !== undefined) program.error(`onebitc: error: unsupported target "${unknown}". Should be one of: ${[...TARGETS, 'js'].join(', ')}`);
    const progress = progressReporter();
    try {
      const distill = distillOptions(opts, output);
      const stopOnCtrlC = distill ? interruptible(distill) : undefined;
      const result = await compile(input, { output, targets: targets.filter((t): t is Target => t !== 'js'), quantize: opts.quantize, quantizeHead: opts.quantizeHead ?? false, kernel, ...(opts.fp16 !== undefined ? { fp16: opts.fp16 } : {}), keep: opts.keep, onProgress: progress.onProgress, ...(distill ? { distill } : {}) }).finally(() => stopOnCtrlC?.());
      progress.stop();
      const converted = result.layers.filter((l) => !l.kept);
      const kept = result.layers.filter((l) => l.kept);
      const out = process.stdout;
      const trained = result.trainedOneBitLayers ? `, ${result.trainedOneBitLayers} ${result.distill ? 'trained by distillation' : 'already OneBit in the checkpoint'}` : '';
      out.write(`onebitc: ${input} → ${output.replace(/\/+$/, "")}/ (${converted.length} OneBit layers by SVID${trained}${kept.length ? `, ${kept.length} kept: ${kept.map((l) => l.layer).join(', ')}` : ''})\n`);
      const ratio = result.sizeAfter ? ` (${(result.sizeBefore / result.sizeAfter).toFixed(2)}× smaller)` : '';
      out.write(`size: ${formatBytes(result.sizeBefore)} before → ${formatBytes(result.sizeAfter)} after${ratio}\n`);
      for (const line of fitNotes(converted)) out.write(line + '\n');
      if (converted.length) out.write(svidErrorLine(converted) + '\n');
      if (result.distill) out.write(distillLine(result.distill, distill!.checkpointDir) + '\n');
      if (result.fidelity) out.write(fidelityLine(result.fidelity) + '\n');
      else if (converted.length) out.write('fidelity: not measured (the model is too large to run twice at compile time)\n');
      if (result.languageModel && converted.length) {
        process.stderr.write('onebitc: warning: SVID alone (no distillation) keeps little of a language model\'s quality' +
          (result.fidelity?.top1 !== undefined ? ` (here the 1-bit model picks the original's next token ${(100 * result.fidelity.top1).toFixed(0)}% of the time)` : '') +
          '. The OneBit paper recovers it by knowledge distillation from the original model: --distill <text file> (in-process, for small models) or export-training (for a GPU cluster). A checkpoint already trained with OneBit (model_type bitllama) needs neither.\n');
      }
      for (const w of result.warnings) process.stderr.write(`onebitc: ${formatDiagnostic(w)}\n`);
      if (opts.report) {
        await writeFile(opts.report, JSON.stringify({ onebitc: ONEBITC_VERSION, input, output, sizeBefore: result.sizeBefore, sizeAfter: result.sizeAfter, fidelity: result.fidelity ?? null, layers: result.layers }, null, 2) + '\n');
      }
    } catch (e) {
      progress.stop();
      if (e instanceof DistillInterrupted) {
        process.stderr.write(`onebitc: ${e.message}\n`);
        process.exit(130);
      }
      if (e instanceof DistillError || e instanceof RangeError) {
        process.stderr.write(`onebitc: error: ${e.message}\n`);
        process.exit(1);
      }
      fail(e);
    }
  });

program
  .command('inspect')
  .description('list inputs, outputs, op counts and every Linear of a model (or a compiled bundle)')
  .argument('<model>', 'a .onnx file or a bundle folder')
  .action(async (model: string) => {
    try {
      process.stdout.write((await inspect(model)) + '\n');
    } catch (e) {
      fail(e);
    }
  });

program
  .command('export-training')
  .description('write a PyTorch project that trains the OneBit student of a Hugging Face LLaMA by distillation (for a GPU cluster); its checkpoints compile with onebitc')
  .argument('<model>', 'a Hugging Face LLaMA folder (config.json + safetensors)')
  .option('-o, --output <dir>', 'project folder to create; required')
  .option('--latent-init <kind>', "latent weight init: 'svid' (W itself) or 'sign' (sign(W)·0.01)", 'svid')
  .option('--no-post-norm', 'train without the LayerNorm after each OneBit projection')
  .action(async (model: string, opts: { output?: string; latentInit: string; postNorm: boolean }) => {
    const output = opts.output ?? program.error('onebitc: error: missing -o <dir>: the project folder to write');
    if (!(LATENT_INITS as readonly string[]).includes(opts.latentInit)) program.error(`onebitc: error: unsupported latent init "${opts.latentInit}". Should be one of: ${LATENT_INITS.join(', ')}`);
    try {
      const result = await exportTraining(model, {
        output, latentInit: opts.latentInit as LatentInit, postNorm: opts.postNorm,
        onLayer: (p) => process.stderr.write(`onebitc: layer ${p.layer + 1}/${p.layers}: SVID of 7 projections, worst residual ${p.worstResidual.toFixed(3)} (${p.seconds.toFixed(1)} s)\n`),
      });
      process.stdout.write(`onebitc: ${model} → ${output.replace(/\/+$/, '')}/ (PyTorch OneBit training project: ${result.projections} projections in ${result.layers} layer${result.layers === 1 ? '' : 's'}, init ${formatBytes(result.initBytes)})\n`);
      process.stdout.write(`next: python ${join(output, 'train.py')} --data tokens.bin (see ${join(output, 'README.md')}), then onebitc ${join(output, 'checkpoint-final')} -o <bundle>\n`);
    } catch (e) {
      fail(e);
    }
  });

registerLmCommands(program);

await program.parseAsync(process.argv);
