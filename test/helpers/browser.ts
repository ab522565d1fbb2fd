// Browser tests: a tiny static file server on 127.0.0.1 and Debian's Chromium driven by playwright-core
// (never a downloaded browser). See shared WEBGPU.md, "Browser".
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { chromium } from 'playwright-core';

/** Debian's `chromium` package puts the real binary here (`/usr/bin/chromium` is a wrapper script). */
export const CHROMIUM = '/usr/lib/chromium/chromium';

/** WebGPU needs `--enable-unsafe-webgpu` on this machine (SwiftShader); the rest keep the browser quiet. */
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--enable-unsafe-webgpu', '--disable-dev-shm-usage', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic',
];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8', '.map': 'application/json',
};

export interface StaticServer {
  /** `http://127.0.0.1:<port>/` (a secure context, as WebGPU requires). */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves the files under `root` (`/` is index.html; `.wasm` as application/wasm) on a free port, with `headers`
 * on every response (e.g. COOP/COEP for a cross-origin-isolated page).
 */
export async function serveStatic(root: string, headers: Readonly<Record<string, string>> = {}): Promise<StaticServer> {
  const base = resolve(root);
  const server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      const file = normalize(join(base, path.endsWith('/') ? `${path}index.html` : path));
      if (file !== base && !file.startsWith(base + sep)) return void res.writeHead(403).end();
      try {
        if (!(await stat(file)).isFile()) return void res.writeHead(404).end();
        const body = await readFile(file);
        res.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': body.length, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      } catch {
        res.writeHead(404).end();
      }
    })();
  });
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}

export interface Chromium {
  readonly context: BrowserContext;
  /** The browser's version string, e.g. '156.0.7735.90'. */
  readonly version: string;
  /** Milliseconds the launch took. */
  readonly launchMs: number;
  close(): Promise<void>;
}

/**
 * Launches headless Debian Chromium with a fresh user-data dir. Throws (so the test fails, never skips)
 * when the package is not installed: `.ci/run` installs it.
 */
export async function launchChromium(): Promise<Chromium> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get install chromium libvulkan1; .ci/run installs it)`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'onebitc-chromium-'));
  const started = performance.now();
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const launchMs = performance.now() - started;
  return {
    context,
    version: context.browser()?.version() ?? 'unknown',
    launchMs,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
