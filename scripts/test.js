// `npm test`: builds dist/ (the e2e tests spawn the real CLI), runs ava with its TAP reporter, and ends
// with the plain `N passed, N failed, N skipped` line CI reads. Extra arguments go to ava (files, --match).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const run = (cmd, args, options = {}) => spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...options });

await new Promise((resolve, reject) => {
  const build = spawn(process.execPath, ['scripts/build.js'], { stdio: 'inherit' });
  build.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`build failed (${code})`))));
});

const ava = run(process.execPath, ['node_modules/ava/entrypoints/cli.mjs', '--tap', ...process.argv.slice(2)]);
const counts = { pass: 0, fail: 0, skip: 0, todo: 0 };
const lines = createInterface({ input: ava.stdout });
const closed = new Promise((resolve) => lines.once('close', resolve));
lines.on('line', (line) => {
  process.stdout.write(line + '\n');
  const m = /^# (pass|fail|skip|todo) +(\d+)$/.exec(line);
  if (m) counts[m[1]] = Number(m[2]);
});
const code = await new Promise((resolve) => ava.on('exit', (c) => resolve(c ?? 1)));
await closed;
const skipped = counts.skip + counts.todo;
// ava exiting non-zero without a failed test (a crash, a timeout) counts as one failure, so it cannot read as green
const failed = counts.fail || (code !== 0 ? 1 : 0);
if (code !== 0 && counts.fail === 0) process.stdout.write(`ava exited with code ${code} before reporting a failed test\n`);
process.stdout.write(`${counts.pass} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(code !== 0 || counts.fail > 0 ? 1 : 0);
