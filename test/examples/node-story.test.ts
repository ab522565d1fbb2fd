// examples/node-story run as a user runs it (node story.js): with --original its greedy story is the
// fixture's reference continuation; a second run reuses the bundle; the default 1-bit bundle generates.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { ROOT, tempDir } from '../helpers/cli.ts';

const STORY = join(ROOT, 'examples/node-story/story.js');
const reference = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/stories260K/reference.json'), 'utf8')) as { prompt_text: string; greedy_continuation_text: string };
const bundles = tempDir('node-story');

function story(...args: string[]) {
  const r = spawnSync(process.execPath, [STORY, '--bundles', bundles, ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test.serial('--original tells the reference story; the second run reuses the compiled bundle', (t) => {
  const first = story('--original', '--prompt', reference.prompt_text, '--max-tokens', '30');
  t.is(first.code, 0, first.stderr);
  t.regex(first.stderr, /^compiling .*stories260K \(original\)/m);
  t.true(first.stdout.startsWith(reference.prompt_text + reference.greedy_continuation_text.slice(0, 80)), first.stdout);
  t.regex(first.stderr, /\(30 tokens in [\d.]+ s, \d+ tokens\/s, wasm backend; original weights 1015\.9 KiB\)/);

  const second = story('--original', '--prompt', reference.prompt_text, '--max-tokens', '30');
  t.is(second.code, 0, second.stderr);
  t.false(second.stderr.includes('compiling'), second.stderr);
  t.is(second.stdout, first.stdout);
});

test.serial('the default 1-bit bundle generates and says what SVID alone costs', (t) => {
  const r = story('--max-tokens', '12', '--backend', 'js');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^compiled in [\d.]+ s: weights 1015\.9 KiB → 104\.6 KiB/m);
  t.true(r.stdout.startsWith('Once upon a time') && r.stdout.length > 'Once upon a time\n'.length, r.stdout);
  t.regex(r.stderr, /js backend; 1-bit weights 104\.6 KiB/);
  t.regex(r.stderr, /SVID alone/);
});
