// WASM threads in a real browser (Debian's Chromium): the trained OneBit stories260K bundle (--kernel lut) on a
// page that loads it with threads: 2 (every layer split: threadMinWeights 1). Served cross-origin isolated
// (COOP/COEP), the workers start from a Blob URL and the greedy tokens equal Node's single-threaded ones (the
// oracle); served without those headers, the model runs single-threaded and says why once through onNote.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { compile } from '../../compiler/compile.ts';
import type { Chromium } from '../helpers/browser.ts';
import { launchChromium, serveStatic } from '../helpers/browser.ts';
import { ROOT, tempDir } from '../helpers/cli.ts';

const FIXTURE = join(ROOT, 'test/fixtures/onebit-stories260K');
const PROMPT = [1, 403, 407, 261];
const TOKENS = 16;
const ISOLATED = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import { load } from './model.js';
const notes = [];
try {
  const m = await load({ backend: 'wasm', threads: 2, threadMinWeights: 1, onNote: (n) => notes.push(n) });
  const ids = await m.generateIds(${JSON.stringify(PROMPT)}, { maxTokens: ${TOKENS}, stopOnEos: false });
  window.result = { isolated: crossOriginIsolated, threads: m.threads, split: m.wasmCalls.get('decode-step:threads') ?? 0, notes, ids };
  m.dispose();
} catch (e) {
  window.result = { error: String(e && e.stack || e) };
}
</script>`;

interface PageResult { isolated: boolean; threads: number; split: number; notes: string[]; ids: number[]; error?: string }

let browser: Chromium | undefined;
let dir: string;
let expected: number[];

test.before(async () => {
  dir = join(tempDir('threads-browser'), 'site');
  await compile(FIXTURE, { output: dir, kernel: 'lut', targets: ['wasm'], log: () => {} });
  writeFileSync(join(dir, 'index.html'), PAGE);
  const model = await (await import(pathToFileURL(join(dir, 'model.js')).href)).load({ backend: 'wasm' });
  expected = await model.generateIds(PROMPT, { maxTokens: TOKENS, stopOnEos: false });
  model.dispose();
  browser = await launchChromium();
});

test.after.always(async () => {
  await browser?.close();
});

async function runPage(headers: Record<string, string>): Promise<PageResult> {
  const server = await serveStatic(dir, headers);
  const page = await browser!.context.newPage();
  try {
    await page.goto(server.url);
    await page.waitForFunction(() => (window as unknown as { result?: unknown }).result !== undefined, undefined, { timeout: 60_000 });
    return await page.evaluate(() => (window as unknown as { result: PageResult }).result);
  } finally {
    await page.close();
    await server.close();
  }
}

test.serial('cross-origin isolated: 2 threads (workers from a Blob URL), the greedy tokens of Node', async (t) => {
  const r = await runPage(ISOLATED);
  t.is(r.error, undefined);
  t.true(r.isolated);
  t.is(r.threads, 2);
  t.true(r.split > 0, 'layers ran split between threads');
  t.deepEqual(r.notes, []);
  t.deepEqual(r.ids, expected);
});

test.serial('not isolated: single-threaded, one note saying why, the same tokens', async (t) => {
  const r = await runPage({});
  t.is(r.error, undefined);
  t.false(r.isolated);
  t.is(r.threads, 1);
  t.is(r.split, 0);
  t.is(r.notes.length, 1);
  t.regex(r.notes[0]!, /not cross-origin isolated.*running single-threaded/);
  t.deepEqual(r.ids, expected);
});
