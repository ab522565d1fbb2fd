// `onebitc <model> -o out --distill text` as users run it: progress lines, Ctrl-C stops with a checkpoint and
// exit code 130, --resume finishes the run, and the bundle holds the trained 1-bit layers and generates.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onebitc, ROOT, tempDir } from '../helpers/cli.ts';
import { STORIES_DIR } from '../helpers/hf-checkpoint.ts';

const dir = tempDir('distill-cli');
const textFile = join(dir, 'train.txt');
writeFileSync(textFile, readFileSync(new URL('../fixtures/tinystories/valid_sample.txt', import.meta.url), 'utf8').slice(0, 30000));
const out = join(dir, 'out');
const args = [STORIES_DIR, '-o', out, '--distill', textFile, '--steps', '40', '--batch', '2', '--seq', '32', '--eval-every', '20', '--checkpoint-every', '100'];

test.serial('Ctrl-C stops after a step with a checkpoint (exit 130); --resume finishes; the bundle is the distilled student', async (t) => {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'onebitc.js'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const code = await new Promise<number | null>((resolve) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (/step 1\/40/.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    child.on('exit', resolve);
  });
  t.is(code, 130, stderr);
  t.regex(stderr, /stopping after this step/);
  t.regex(stderr, /distillation stopped at step \d+; checkpoint written to .*out\.distill \(continue with --resume/);
  t.false(existsSync(out), 'no bundle is written by an interrupted run');
  t.true(existsSync(join(`${out}.distill`, 'checkpoint', 'state.safetensors')));

  const mismatch = onebitc(...args.map((a) => (a === '40' ? '41' : a)), '--resume', `${out}.distill`);
  t.is(mismatch.code, 1);
  t.regex(mismatch.stderr, /onebitc: error: .*checkpoint: the checkpoint was trained with steps = 40, this run asks for 41; resume with the same options/);

  const resumed = onebitc(...args, '--resume', `${out}.distill`);
  t.is(resumed.code, 0, resumed.stderr);
  t.regex(resumed.stderr, /resumed at step \d+/);
  t.regex(resumed.stdout, /35 trained by distillation/);
  t.regex(resumed.stdout, /distilled: 40 steps, 2560 tokens .*held-out perplexity: teacher [\d.]+, student at start [\d.]+, distilled [\d.]+/);
  t.notRegex(resumed.stderr, /SVID alone/);
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { layers: { trained?: boolean }[] };
  t.is(manifest.layers.filter((l) => l.trained).length, 35);
  const log = readFileSync(join(`${out}.distill`, 'log.csv'), 'utf8').trim().split('\n');
  t.is(log.length, 41, 'a header and one line per step, across the interruption');

  const story = onebitc('run', out, '--prompt', 'Once upon a time', '--max-tokens', '8');
  t.is(story.code, 0, story.stderr);
  t.regex(story.stdout, /^Once upon a time/);
});

test('distillation flags without --distill, and a bad --ste, are usage errors', (t) => {
  const stray = onebitc(STORIES_DIR, '-o', join(dir, 'x'), '--steps', '5');
  t.not(stray.code, 0);
  t.regex(stray.stderr, /--steps only applies with --distill/);
  const ste = onebitc(STORIES_DIR, '-o', join(dir, 'x'), '--distill', textFile, '--ste', 'magic');
  t.not(ste.code, 0);
  t.regex(ste.stderr, /unsupported --ste "magic"/);
  const onnx = onebitc(join(STORIES_DIR, 'model.onnx'), '-o', join(dir, 'x'), '--distill', textFile);
  t.not(onnx.code, 0);
  t.regex(onnx.stderr, /onebitc: error: --distill needs a decoder language model from a Hugging Face checkpoint/);
});

test('problems with the training data or checkpoint are reported as errors, not internal ones', (t) => {
  const short = join(dir, 'short.txt');
  writeFileSync(short, 'Once upon a time there was a cat.\n\nThe end.\n');
  const few = onebitc(STORIES_DIR, '-o', join(dir, 'short'), '--distill', short, '--steps', '2');
  t.is(few.code, 1);
  t.regex(few.stderr, /onebitc: error: .*short\.txt: its training part has \d+ tokens, fewer than one window of --seq 256 \+ 1/);
  t.notRegex(few.stderr, /internal error/);
});
