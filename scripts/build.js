// Builds dist/: the CLI, the programmatic API and the build-plugin adapters, bundled from TypeScript (npm
// packages stay external). Their types are the hand-written declarations in types/ (checked against the
// sources by test/package/public-types.ts). dist/ is built aside and swapped in, so it never holds stale
// chunks from an earlier build (npm pack ships it as it is).
import { rename, rm } from 'node:fs/promises';
import { build } from 'esbuild';

const DIST = 'dist';
const temp = `${DIST}.tmp-${process.pid}`;

await rm(temp, { recursive: true, force: true });
await build({
  entryPoints: {
    cli: 'compiler/cli.ts',
    index: 'compiler/index.ts',
    vite: 'compiler/plugin/vite.ts',
    rollup: 'compiler/plugin/rollup.ts',
    rolldown: 'compiler/plugin/rolldown.ts',
    esbuild: 'compiler/plugin/esbuild.ts',
  },
  outdir: temp,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  splitting: true, // binaryen and ts-morph load only when codegen starts
  sourcemap: true,
  logLevel: 'warning',
});
const old = `${DIST}.old-${process.pid}`;
await rename(DIST, old).catch((e) => { if (e.code !== 'ENOENT') throw e; });
await rename(temp, DIST);
await rm(old, { recursive: true, force: true });
