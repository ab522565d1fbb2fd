// Builds dist/: the CLI, the programmatic API and the build-plugin adapters, bundled from TypeScript (npm
// packages stay external). Their types are the hand-written declarations in types/ (checked against the
// sources by test/package/public-types.ts).
//
// Chunks are content-hashed and loaded lazily (codegen), so a process started from an earlier build may
// still import its own chunks while this build runs: files the build no longer produces are removed only
// once they are an hour old, which keeps dist/ from collecting old builds; `--clean` (npm pack's prepack)
// removes them all, so the tarball holds exactly this build.
import { readdir, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { build } from 'esbuild';

const DIST = 'dist';
const STALE_AFTER_MS = process.argv.includes('--clean') ? 0 : 60 * 60 * 1000;

const result = await build({
  entryPoints: {
    cli: 'compiler/cli.ts',
    index: 'compiler/index.ts',
    vite: 'compiler/plugin/vite.ts',
    rollup: 'compiler/plugin/rollup.ts',
    rolldown: 'compiler/plugin/rolldown.ts',
    esbuild: 'compiler/plugin/esbuild.ts',
  },
  outdir: DIST,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  splitting: true, // binaryen and ts-morph load only when codegen starts
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
});

const produced = new Set(Object.keys(result.metafile.outputs).map((path) => basename(path)));
for (const name of await readdir(DIST)) {
  if (produced.has(name)) continue;
  const path = join(DIST, name);
  const info = await stat(path).catch(() => undefined);
  if (info && Date.now() - info.mtimeMs >= STALE_AFTER_MS) await rm(path, { recursive: true, force: true });
}
