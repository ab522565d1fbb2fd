// examples/vite-story built with Vite's JS API (its own vite.config.ts: the onebitc plugin compiles the
// models), served on 127.0.0.1 and driven in Debian's Chromium: the story streams in token by token and
// equals the greedy output of the same model compiled by the CLI and run in Node (the independent oracle
// for the browser path). A screenshot is kept in test/artifacts/.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import type { Page } from 'playwright-core';
import { BACKENDS } from '../../runtime/model.ts';
import type { Chromium, StaticServer } from '../helpers/browser.ts';
import { launchChromium, serveStatic } from '../helpers/browser.ts';
import { ROOT, onebitc, tempDir } from '../helpers/cli.ts';

const EXAMPLE = join(ROOT, 'examples/vite-story');
const ARTIFACTS = join(ROOT, 'test/artifacts');
const PROMPT = 'Once upon a time';
const TOKENS = 40;

/** The page's models (their ids in its model switch) and the fixture each compiles. */
const MODELS = [
  { id: 'onebit-stories260K', fixture: 'test/fixtures/onebit-stories260K' },
  { id: 'stories260K', fixture: 'test/fixtures/stories260K' },
] as const;

/** The backends the runtime offers a browser ('auto' picks one of them); WebGPU once the runtime has it. */
const RUNTIME_BACKENDS = (BACKENDS as readonly string[]).filter((b) => b !== 'auto');

interface Suite { browser: Chromium; server: StaticServer; bundles: Map<string, string>; buildMs: number }
let suite: Suite | undefined;

test.before(async (t) => {
  // The oracle: the same fixtures compiled by the CLI.
  const bundles = new Map<string, string>();
  for (const m of MODELS) {
    const out = join(tempDir('vite-story-node'), m.id);
    const r = onebitc(join(ROOT, m.fixture), '-o', out);
    if (r.code !== 0) throw new Error(`onebitc ${m.fixture}: ${r.stderr}`);
    bundles.set(m.id, out);
  }
  // A cold build: the plugin's cache is keyed by onebitc's version and the inputs, not by the compiler
  // being tested, so it starts empty.
  rmSync(join(EXAMPLE, 'node_modules/.cache/onebitc'), { recursive: true, force: true });
  const { build } = await import('vite');
  const outDir = join(tempDir('vite-story'), 'dist');
  const started = performance.now();
  await build({ root: EXAMPLE, logLevel: 'error', build: { outDir, emptyOutDir: true, rolldownOptions: { checks: { pluginTimings: false } } } });
  const buildMs = performance.now() - started;
  const server = await serveStatic(outDir);
  const browser = await launchChromium();
  t.log(`vite build ${buildMs.toFixed(0)} ms → ${outDir}; Chromium ${browser.version} launched in ${browser.launchMs.toFixed(0)} ms; serving ${server.url}`);
  suite = { browser, server, bundles, buildMs };
});

test.after.always(async () => {
  await suite?.browser.close();
  await suite?.server.close();
});

/** A fresh page on the example that fails the test on any page error, console error or failed request. */
async function openPage(): Promise<{ page: Page; problems: string[] }> {
  const page = await suite!.browser.context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  await page.goto(suite!.server.url);
  return { page, problems };
}

/** The same model compiled by the CLI, run in Node: the greedy ids and text for the prompt. */
async function nodeGreedy(model: string, backend: 'wasm' | 'js'): Promise<{ ids: number[]; text: string }> {
  const { load } = await import(pathToFileURL(join(suite!.bundles.get(model)!, 'model.js')).href);
  const lm = await load({ backend });
  const ids: number[] = [];
  let text = '';
  for await (const piece of lm.generate(PROMPT, { maxTokens: TOKENS, onToken: (id: number) => ids.push(id) })) text += piece;
  lm.dispose();
  return { ids, text };
}

test.serial(`the backend switch offers what the runtime supports in Chromium: ${RUNTIME_BACKENDS.join(', ')}`, async (t) => {
  const { page, problems } = await openPage();
  await page.waitForSelector('#backend option', { state: 'attached' });
  const offered = await page.$$eval('#backend option', (options) => options.map((o) => (o as HTMLOptionElement).value));
  t.deepEqual([...offered].sort(), [...RUNTIME_BACKENDS].sort());
  t.deepEqual(problems, []);
  await page.close();
});

const cases = [
  ...RUNTIME_BACKENDS.map((backend) => ({ model: MODELS[0].id, backend })),
  { model: MODELS[1].id, backend: 'wasm' },
];

for (const { model, backend } of cases) {
  // WebGPU's oracle is the Node bundle on WASM: the reference for any backend's greedy ids.
  const oracle = backend === 'js' ? 'js' : 'wasm';
  test.serial(`${model} on ${backend} in Chromium: ≥ 20 tokens stream in and equal the Node bundle's greedy output (${oracle})`, async (t) => {
    const expected = await nodeGreedy(model, oracle);
    t.true(expected.ids.length >= 20, `the Node bundle stopped after ${expected.ids.length} tokens`);

    const { page, problems } = await openPage();
    await page.selectOption('#model', model);
    await page.waitForSelector(`#backend option[value="${backend}"]`, { state: 'attached' });
    await page.selectOption('#backend', backend);
    await page.fill('#prompt', PROMPT);
    await page.fill('#max-tokens', String(TOKENS));
    // Record every piece added to the story and the page's state at that moment (streamed, not all at once).
    await page.evaluate(() => {
      const appends: string[] = [];
      (window as unknown as { appends: string[] }).appends = appends;
      const status = document.getElementById('status')!;
      new MutationObserver((records) => {
        for (const r of records) if (r.addedNodes.length) appends.push(status.dataset['state'] ?? '');
      }).observe(document.getElementById('continuation')!, { childList: true });
    });
    await page.click('#generate');
    await page.waitForSelector('#status:is([data-state="done"], [data-state="error"])', { timeout: 120_000 });

    const status = (await page.textContent('#status')) ?? '';
    t.is(await page.getAttribute('#status', 'data-state'), 'done', status);
    const ids = ((await page.getAttribute('#story', 'data-ids')) ?? '').split(',').filter(Boolean).map(Number);
    const text = (await page.textContent('#continuation')) ?? '';
    const appends = await page.evaluate(() => (window as unknown as { appends: string[] }).appends);
    t.log(`${status}; ${appends.length} pieces streamed; "${PROMPT}${text.slice(0, 100).replaceAll('\n', ' ')}…"`);
    t.true(appends.length >= 20, `${appends.length} pieces streamed in`);
    t.true(appends.every((state) => state === 'generating'), 'pieces appear while generating');
    t.true(ids.length >= 20);
    t.deepEqual(ids, expected.ids);
    t.is(text, expected.text);
    t.regex(status, new RegExp(`^${TOKENS} tokens in [\\d.]+ s · \\d+ tokens/s · ${backend}$`));
    t.regex((await page.textContent('#size')) ?? '', /KiB with 1-bit linears vs [\d.]+ KiB at fp32 \([\d.]+× smaller\)/);

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, model === MODELS[0].id && backend === 'wasm' ? 'vite-story.png' : `vite-story-${model}-${backend}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    t.log(`screenshot: ${shot}`);
    t.deepEqual(problems, []);
    await page.close();
  });
}
