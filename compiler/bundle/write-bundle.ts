// Writes a bundle atomically: everything goes into a temporary sibling folder, which then replaces the
// output folder in one rename. A failure at any point leaves no half-written bundle behind.
import { mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { writeFile } from 'node:fs/promises';

/** One file of the bundle: its text/bytes, or a function that writes it to the given path (large files). */
export type BundleFile = string | Uint8Array | ((path: string) => Promise<void>);

export class BundleWriteError extends Error {
  override name = 'BundleWriteError';
}

/** Is `dir` something we may replace: missing, empty, or a bundle we wrote earlier (it has our manifest)? */
async function replaceable(dir: string): Promise<boolean> {
  const info = await stat(dir).catch(() => undefined);
  if (!info) return true;
  if (!info.isDirectory()) return false;
  const entries = await readdir(dir);
  return entries.length === 0 || entries.includes('manifest.json');
}

export async function writeBundle(outDir: string, files: ReadonlyMap<string, BundleFile>): Promise<void> {
  const target = resolve(outDir);
  if (!(await replaceable(target))) {
    throw new BundleWriteError(`${outDir}: exists and is not an onebitc bundle (no manifest.json); refusing to overwrite it`);
  }
  const parent = dirname(target);
  let temp: string;
  try {
    temp = await mkdtemp(join(parent, `.${basename(target)}.onebitc-tmp-`));
  } catch (e) {
    throw new BundleWriteError(`${outDir}: cannot write here (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    for (const [name, content] of files) {
      const path = join(temp, name);
      if (typeof content === 'function') await content(path);
      else await writeFile(path, content);
    }
    // Swap in the new bundle: move the old one aside first so the rename cannot fail on a non-empty folder.
    const old = `${temp}.old`;
    const hadOld = await stat(target).then(() => true, () => false);
    if (hadOld) await rename(target, old);
    await rename(temp, target);
    if (hadOld) await rm(old, { recursive: true, force: true });
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    if (e instanceof BundleWriteError) throw e;
    throw new BundleWriteError(`${outDir}: writing the bundle failed (${(e as Error).message})`);
  }
}
