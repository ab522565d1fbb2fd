#!/usr/bin/env node
import { existsSync } from 'node:fs';

if (!existsSync(new URL('../dist/cli.js', import.meta.url))) {
  process.stderr.write('onebitc: dist/ is missing; run `npm run build` in the onebitc folder first\n');
  process.exit(1);
}
await import('../dist/cli.js');
