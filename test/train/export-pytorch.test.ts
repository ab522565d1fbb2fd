// `onebitc export-training` on stories260K, then the exported PyTorch project run with Debian's torch
// (/usr/bin/python3, CPU): the teacher against the fixture's independent reference logits, the student at init
// and after a few distillation steps against the bundles onebitc compiles from the project's checkpoints (max
// |Δ| of the logits, absolute), resuming, and bad input. Without torch the tests fail, naming the package.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { halfToFloat32 } from '../../formats/dtype.ts';
import { openSafetensors } from '../../formats/safetensors/read-file.ts';
import { writeSafetensors } from '../../formats/safetensors/write-file.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { svid } from '../../compiler/onebit/svid.ts';
import { loadTokenizer } from '../../runtime/tokenizer/tokenizer.ts';
import { maxAbsDiff } from '../helpers/compare.ts';
import { ROOT, onebitc, runBundle, tempDir } from '../helpers/cli.ts';

const PYTHON = '/usr/bin/python3';
const FIXTURE = join(ROOT, 'test/fixtures/stories260K');
const reference = JSON.parse(readFileSync(join(FIXTURE, 'reference.json'), 'utf8')) as { prompt_ids: number[] };
const IDS = reference.prompt_ids;
const torchMissing = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status !== 0
  ? `${PYTHON} cannot import torch and numpy: install Debian's python3-torch (.ci/run does)` : undefined;

function python(project: string, script: string, ...args: string[]): string {
  const r = spawnSync(PYTHON, [join(project, script), ...args], { encoding: 'utf8', cwd: project, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '2' } });
  if (r.status !== 0) throw new Error(`${script} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Logits [ids, vocab] from the project's logits.py (the exported student, a checkpoint, or the teacher). */
function torchLogits(project: string, ...args: string[]): Float32Array {
  const out = join(tempDir('logits'), 'logits.bin');
  python(project, 'logits.py', '--ids', IDS.join(','), '--out', out, ...args);
  return new Float32Array(readFileSync(out).buffer.slice(0));
}

/** Logits of the bundle onebitc compiles from `checkpoint`, run on the prompt with an empty cache. */
function bundleLogits(checkpoint: string, ...flags: string[]): Float32Array {
  const out = join(tempDir('bundle'), 'bundle');
  const r = onebitc(checkpoint, '-o', out, '--target', 'js', ...flags);
  if (r.code !== 0) throw new Error(`onebitc ${checkpoint}: ${r.stderr}`);
  const feeds: Record<string, Tensor> = { input_ids: { dtype: 'int64', dims: [1, IDS.length], data: BigInt64Array.from(IDS.map(BigInt)) } };
  for (let i = 0; i < 5; i++) for (const kind of ['key', 'value']) feeds[`past_key_values.${i}.${kind}`] = { dtype: 'float32', dims: [1, 4, 0, 8], data: new Float32Array(0) };
  return runBundle(out, feeds)['logits']!.data as Float32Array;
}

function exportProject(...flags: string[]): string {
  const project = join(tempDir('export'), 'project');
  const r = onebitc('export-training', FIXTURE, '-o', project, ...flags);
  if (r.code !== 0) throw new Error(`export-training: ${r.stderr}`);
  return project;
}

/** int32 ids of the TinyStories sample (BOS + each paragraph), for train.py --data. */
function tokens(): string {
  const tokenizer = loadTokenizer(readFileSync(join(FIXTURE, 'tokenizer.json'), 'utf8'));
  const text = readFileSync(join(ROOT, 'test/fixtures/tinystories/valid_sample.txt'), 'utf8').split('\n').filter((l) => l.trim()).slice(0, 200);
  const ids = text.flatMap((line) => [1, ...tokenizer.encode(line, { addSpecialTokens: false })]);
  const path = join(tempDir('tokens'), 'tokens.bin');
  writeFileSync(path, Int32Array.from(ids));
  return path;
}

const jsonLines = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | boolean>);

test('export-training writes the project: sources, config, tokenizer, and init weights (latent W, g and h by SVID)', async (t) => {
  const project = join(tempDir('export'), 'project');
  const r = onebitc('export-training', FIXTURE, '-o', project);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr.trim().split('\n').filter((l) => /^onebitc: layer \d\/5: SVID/.test(l)).length, 5, r.stderr);
  for (const f of ['train.py', 'model.py', 'onebit.py', 'kd.py', 'data.py', 'launch.sh', 'README.md', 'config.json', 'tokenizer.json', 'onebit.json']) t.true(existsSync(join(project, f)), f);
  t.true((statSync(join(project, 'launch.sh')).mode & 0o100) !== 0, 'launch.sh is executable');
  t.like(JSON.parse(readFileSync(join(project, 'onebit.json'), 'utf8')), { post_norm: true, latent_init: 'svid' });
  const init = await openSafetensors(join(project, 'init', 'model.safetensors'));
  const source = await openSafetensors(join(FIXTURE, 'model.safetensors'));
  try {
    const names = init.entries.map((e) => e.name);
    t.is(names.length, 1 + 5 * (2 + 7 * 3) + 1); // embeddings, per layer 2 norms + 7 × (weight, g, h), final norm; tied head
    t.false(names.includes('lm_head.weight'));
    const p = 'model.layers.2.mlp.down_proj';
    const w = (await source.readTensor('model.layers.2.mlp.down_proj.weight')).data as Float32Array;
    const expected = svid(w, 64, 172);
    t.deepEqual((await init.readTensor(`${p}.weight`)).data, w);
    t.deepEqual((await init.readTensor(`${p}.g`)).data, halfToFloat32('float16', expected.g));
    t.deepEqual((await init.readTensor(`${p}.h`)).data, halfToFloat32('float16', expected.h));
  } finally {
    await init.close();
    await source.close();
  }
});

test('the PyTorch teacher reproduces the fixture\'s reference logits (HF LLaMA semantics), with either latent init', (t) => {
  if (torchMissing) return t.fail(torchMissing);
  const expected = new Float32Array(readFileSync(join(FIXTURE, 'reference_logits.bin')).buffer.slice(0));
  for (const flags of [[], ['--latent-init', 'sign']]) {
    const project = exportProject(...flags);
    const diff = maxAbsDiff(torchLogits(project, '--teacher'), expected);
    t.log(`teacher ${flags.join(' ') || '(svid)'}: max |Δ| ${diff.toExponential(2)}`);
    t.true(diff <= 1e-4);
  }
});

test('the student at init: its step-0 checkpoint compiled by onebitc gives the PyTorch logits (max |Δ| ≤ 1e-4)', (t) => {
  if (torchMissing) return t.fail(torchMissing);
  const project = exportProject();
  python(project, 'train.py', '--steps', '0', '--out', join(project, 'step0'));
  const checkpoint = join(project, 'step0', 'checkpoint-final');
  t.like(JSON.parse(readFileSync(join(checkpoint, 'config.json'), 'utf8')), { model_type: 'bitllama', architectures: ['BitLlamaForCausalLMInf'], tie_word_embeddings: false });
  const student = torchLogits(project);
  t.deepEqual(torchLogits(project, '--checkpoint', checkpoint), student); // the checkpoint holds the student exactly
  const diff = maxAbsDiff(bundleLogits(checkpoint), student);
  t.log(`step 0: max |Δ| ${diff.toExponential(2)} (logits up to ${Math.max(...student.map(Math.abs)).toFixed(1)})`);
  t.true(diff <= 1e-4);
});

test('5 distillation steps lower the KD loss; the final checkpoint compiles to the trained student; resume continues exactly', (t) => {
  if (torchMissing) return t.fail(torchMissing);
  const project = exportProject();
  const data = tokens();
  const args = ['--data', data, '--steps', '5', '--batch', '2', '--seq', '32', '--lr', '5e-3', '--warmup', '0', '--save-every', '3'];
  python(project, 'train.py', ...args, '--out', join(project, 'run'));
  const log = jsonLines(join(project, 'run', 'train_log.jsonl'));
  const evals = log.filter((l) => l['eval']);
  t.log(`KD loss on the eval batch: ${evals[0]!['loss']} → ${evals.at(-1)!['loss']}`);
  t.true((evals.at(-1)!['loss'] as number) < 0.9 * (evals[0]!['loss'] as number));
  t.deepEqual(readdirSync(join(project, 'run')).filter((f) => f.startsWith('checkpoint-')).sort(), ['checkpoint-3', 'checkpoint-final']);

  const final = join(project, 'run', 'checkpoint-final');
  const trained = torchLogits(project, '--checkpoint', final);
  t.true(maxAbsDiff(trained, torchLogits(project)) > 0.1, 'training changed the student');
  const diff = maxAbsDiff(bundleLogits(final), trained);
  t.log(`after 5 steps: max |Δ| ${diff.toExponential(2)}`);
  t.true(diff <= 1e-4);

  python(project, 'train.py', ...args, '--out', join(project, 'resumed'), '--resume', join(project, 'run', 'checkpoint-3'));
  t.deepEqual(readFileSync(join(project, 'resumed', 'checkpoint-final', 'model.safetensors')), readFileSync(join(final, 'model.safetensors')));
});

test('--no-post-norm: the checkpoint is a plain LlamaForCausalLM whose SVID gives back the trained student (g, h at fp16)', (t) => {
  if (torchMissing) return t.fail(torchMissing);
  const project = exportProject('--no-post-norm');
  python(project, 'train.py', '--data', tokens(), '--steps', '5', '--batch', '2', '--seq', '32', '--lr', '5e-3', '--warmup', '0', '--out', join(project, 'run'));
  const checkpoint = join(project, 'run', 'checkpoint-final');
  t.like(JSON.parse(readFileSync(join(checkpoint, 'config.json'), 'utf8')), { architectures: ['LlamaForCausalLM'] });
  const student = torchLogits(project, '--checkpoint', checkpoint);
  const diff = maxAbsDiff(bundleLogits(checkpoint, '--no-fp16'), student);
  t.log(`no post-norm, 5 steps: max |Δ| ${diff.toExponential(2)} (g and h rounded to fp16 by the compile)`);
  t.true(diff <= 2e-2);
});

test('bad input: one line naming the file, exit code 1, no project folder', async (t) => {
  const out = (name: string) => join(tempDir('bad'), name);
  const bitllama = out('a');
  let r = onebitc('export-training', join(ROOT, 'test/fixtures/onebit-stories260K'), '-o', bitllama);
  t.is(r.code, 1);
  t.regex(r.stderr, /^onebitc: error: .*onebit-stories260K\/config\.json: architecture BitLlamaForCausalLMInf: export-training builds LLaMA students only/);
  t.false(existsSync(bitllama));

  const model = join(tempDir('missing'), 'model');
  mkdirSync(model);
  copyFileSync(join(FIXTURE, 'config.json'), join(model, 'config.json'));
  const source = await openSafetensors(join(FIXTURE, 'model.safetensors'));
  const kept = source.entries.filter((e) => e.name !== 'model.layers.3.mlp.up_proj.weight');
  const bytes = await Promise.all(kept.map(async (e) => (await source.readTensor(e.name)).data as Float32Array));
  await source.close();
  await writeSafetensors(join(model, 'model.safetensors'), kept, bytes);
  const missing = out('b');
  r = onebitc('export-training', model, '-o', missing);
  t.is(r.code, 1);
  t.regex(r.stderr, /model\.safetensors: tensor 'model\.layers\.3\.mlp\.up_proj\.weight': missing/);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.false(existsSync(missing));

  const existing = tempDir('existing');
  writeFileSync(join(existing, 'keep.txt'), 'mine');
  r = onebitc('export-training', FIXTURE, '-o', existing);
  t.is(r.code, 1);
  t.regex(r.stderr, /already exists/);
  t.true(existsSync(join(existing, 'keep.txt')));

  r = onebitc('export-training', FIXTURE, '-o', out('c'), '--latent-init', 'zeros');
  t.not(r.code, 0);
  t.regex(r.stderr, /unsupported latent init "zeros"\. Should be one of: svid, sign/);
});
