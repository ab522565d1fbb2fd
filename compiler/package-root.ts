// The onebitc package folder, found from this module's location (works from source and from dist/).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'onebitc') return dir;
    if (dirname(dir) === dir) throw new Error('onebitc: cannot find the package folder (package.json named onebitc)');
  }
}

export const PACKAGE_ROOT = findRoot();
