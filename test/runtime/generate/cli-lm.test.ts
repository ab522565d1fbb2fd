// `onebitc run` and `onebitc eval` (compiler/cli-lm.ts) in a fresh Node process, on a compiled stories260K bundle.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { paragraphs } from '../../../runtime/generate/perplexity.ts';
import { ROOT, tempDir } from '../../helpers/cli.ts';
import { reference, storiesBundle, VALID_SAMPLE } from './lm-fixtures.ts';

const dir = tempDir('cli-lm');
const script = join(dir, 'cli.mjs');
writeFileSync(script, `
  import { Command } from ${JSON.stringify(pathToFileURL(createRequire(join(ROOT, 'package.json')).resolve('commander')).href)};
  import { registerLmCommands } from ${JSON.stringify(pathToFileURL(join(ROOT, 'compiler/cli-lm.ts')).href)};
  const program = new Command('onebitc');
  registerLmCommands(program);
  await program.parseAsync(process.argv);
`);

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(ROOT, 'scripts/ts-loader.js')).href, script, ...args], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, ONEBITC_DEBUG: '' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('run streams the greedy continuation to stdout and the speed to stderr', async (t) => {
  const { dir: bundle } = await storiesBundle();
  const r = cli('run', bundle, '--prompt', reference.prompt_text, '--max-tokens', '64', '--backend', 'js');
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, reference.prompt_text + reference.greedy_continuation_text + '\n'); // the prompt, then its continuation
  t.regex(r.stderr, /^onebitc: 64 tokens in [\d.]+ s, [\d.]+ tokens\/s \(js backend; first token after [\d.]+ s\)\n$/);
  const sampled = cli('run', bundle, '--prompt', 'Once', '--max-tokens', '12', '--temperature', '0.8', '--top-k', '20', '--top-p', '0.9', '--seed', '7');
  t.is(sampled.code, 0, sampled.stderr);
  t.is(cli('run', bundle, '--prompt', 'Once', '--max-tokens', '12', '--temperature', '0.8', '--top-k', '20', '--top-p', '0.9', '--seed', '7').stdout, sampled.stdout);
});

test('eval prints perplexity, tokens, chunks, the chunking and tokens/s; progress as plain lines off a TTY', async (t) => {
  const { dir: bundle } = await storiesBundle();
  const text = join(dir, 'sample.txt');
  writeFileSync(text, paragraphs(readFileSync(VALID_SAMPLE, 'utf8')).slice(0, 30).join('\n\n') + '\n');
  const r = cli('eval', bundle, '--text', text, '--context', '256');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^perplexity: \d+\.\d{4} \(mean NLL [\d.]+ nats\)\ntokens: \d+ scored in \d+ chunks\nchunking: BOS \+ whole paragraphs .* up to 256 tokens per chunk.*\nspeed: [\d.]+ tokens\/s \([\d.]+ s, \w+ backend\)\n$/);
  t.regex(r.stderr, /onebitc: eval (\d+)\/\1 chunks, (\d+)\/\2 tokens/);
});

test('a missing bundle, tokenizer or text file, or a bad option, is one line and exit 1', async (t) => {
  const { dir: bundle } = await storiesBundle();
  const noBundle = cli('run', join(dir, 'nope'), '--prompt', 'x');
  t.is(noBundle.code, 1);
  t.is(noBundle.stderr, `onebitc: error: ${join(dir, 'nope')}: no such bundle folder\n`);
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  t.regex(cli('eval', empty, '--text', VALID_SAMPLE).stderr, /^onebitc: error: .*empty: not a onebitc bundle \(no model\.js\)/);
  const noTok = join(dir, 'no-tokenizer');
  mkdirSync(noTok);
  writeFileSync(join(noTok, 'model.js'), 'export function load() {}\n');
  const r = cli('run', noTok, '--prompt', 'x');
  t.is(r.code, 1);
  t.regex(r.stderr, /^onebitc: error: .*no-tokenizer: the bundle has no tokenizer\.json .*\n$/);
  t.regex(cli('eval', bundle, '--text', join(dir, 'missing.txt')).stderr, /^onebitc: error: .*missing\.txt: cannot read \(ENOENT\)\n$/);
  t.regex(cli('run', bundle, '--prompt', 'x', '--max-tokens', 'many').stderr, /^onebitc: error: --max-tokens must be an integer ≥ 0, got "many"\n$/);
  t.regex(cli('run', bundle, '--prompt', 'x', '--backend', 'gpu').stderr, /^onebitc: error: unsupported backend "gpu"/);
  t.regex(cli('run', bundle).stderr, /missing --prompt/);
});
