#!/usr/bin/env node
// A story generator on the command line: compiles stories260K into a 1-bit bundle with onebitc's
// programmatic API on first run (kept in a bundle folder afterwards), then streams a continuation.
//
//   node examples/node-story/story.js --prompt "Once upon a time" --max-tokens 80
//   node examples/node-story/story.js --original          # the same model with its original weights
//   node examples/node-story/story.js --model test/fixtures/onebit-stories260K   # a trained OneBit checkpoint
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { compile } from 'onebitc';

const { values: args } = parseArgs({
  options: {
    prompt: { type: 'string', default: 'Once upon a time' },
    'max-tokens': { type: 'string', default: '80' },
    temperature: { type: 'string', default: '0' },
    seed: { type: 'string' },
    model: { type: 'string', default: new URL('../../test/fixtures/stories260K', import.meta.url).pathname },
    original: { type: 'boolean', default: false },
    bundles: { type: 'string', default: join('node_modules', '.cache', 'onebitc', 'node-story') },
    backend: { type: 'string', default: 'auto' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write('usage: node story.js [--prompt TEXT] [--max-tokens N] [--temperature T] [--seed N] [--model PATH] [--original] [--bundles DIR] [--backend auto|wasm|js]\n');
  process.exit(0);
}

// ── the bundle: compiled once per model and variant ────────────────────────────────────────────────
const model = resolve(args.model);
const variant = args.original ? 'original' : '1bit';
const bundle = resolve(args.bundles, `${basename(model)}-${variant}`);
if (!existsSync(join(bundle, 'manifest.json'))) {
  process.stderr.write(`compiling ${model} (${variant}) → ${bundle}\n`);
  const started = performance.now();
  mkdirSync(resolve(args.bundles), { recursive: true });
  const result = await compile(model, { output: bundle, quantize: !args.original, log: () => {} });
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  process.stderr.write(`compiled in ${((performance.now() - started) / 1000).toFixed(1)} s: weights ${kib(result.sizeBefore)} → ${kib(result.sizeAfter)}` +
    (result.fidelity?.top1 !== undefined ? `; the 1-bit model picks the original's next token ${(100 * result.fidelity.top1).toFixed(0)}% of the time` : '') + '\n');
}

// ── generate ──────────────────────────────────────────────────────────────────────────────────────
const { load } = await import(pathToFileURL(join(bundle, 'model.js')).href);
const lm = await load({ backend: args.backend });
const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8'));
process.stdout.write(args.prompt);
const started = performance.now();
let tokens = 0;
const options = { maxTokens: Number(args['max-tokens']), temperature: Number(args.temperature), onToken: () => tokens++ };
if (args.seed !== undefined) options.seed = Number(args.seed);
for await (const piece of lm.generate(args.prompt, options)) process.stdout.write(piece);
const seconds = (performance.now() - started) / 1000;
process.stdout.write('\n');
process.stderr.write(`(${tokens} tokens in ${seconds.toFixed(2)} s, ${(tokens / seconds).toFixed(0)} tokens/s, ${lm.backend} backend; ` +
  `${manifest.quantized ? '1-bit' : 'original'} weights ${(manifest.size.after / 1024).toFixed(1)} KiB)\n`);
if (manifest.quantized && manifest.layers.every((l) => !l.trained)) {
  process.stderr.write('(SVID alone, without the OneBit paper\'s distillation, keeps little of a model this small: try --original,\n' +
    ' or --model test/fixtures/onebit-stories260K for a checkpoint trained with OneBit.)\n');
}
lm.dispose();
