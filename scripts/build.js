// Builds dist/: the CLI and the programmatic API, bundled from TypeScript (npm packages stay external).
import { build } from 'esbuild';

await build({
  entryPoints: { cli: 'compiler/cli.ts', index: 'compiler/index.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  splitting: true, // binaryen and ts-morph load only when codegen starts
  sourcemap: true,
  logLevel: 'warning',
});
