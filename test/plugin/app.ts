// Tiny apps for the build-plugin tests: a temp folder with source files (and models linked in), built by a
// real bundler through its JS API, with the plugin's log lines and compile events collected.
import { mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CompileEvent } from '../../compiler/plugin/options.ts';
import { ROOT, tempDir } from '../helpers/cli.ts';

export const STORIES = join(ROOT, 'test/fixtures/stories260K');
export const STORIES_ONNX = join(STORIES, 'model.onnx');

/** Writes `files` (path → text) into a fresh temp folder; `links` (path → target) become symlinks. */
export function makeApp(prefix: string, files: Record<string, string>, links: Record<string, string> = {}): string {
  const root = tempDir(prefix);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  for (const [path, target] of Object.entries(links)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    symlinkSync(target, join(root, path));
  }
  return root;
}

/** What the plugin reported during one build. */
export interface PluginReport {
  events: CompileEvent[];
  logs: string[];
}

export function recorder(): PluginReport & { options: { onCompile: (e: CompileEvent) => void; log: (line: string) => void } } {
  const report: PluginReport = { events: [], logs: [] };
  return { ...report, options: { onCompile: (e) => report.events.push(e), log: (line) => report.logs.push(line) } };
}

/** Every file under `dir`, relative, with its size. */
export function listFiles(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      const info = statSync(path);
      if (info.isDirectory()) walk(path);
      else out.set(relative(dir, path), info.size);
    }
  };
  walk(dir);
  return out;
}

/** Imports a built module in this process (a fresh URL each time, so nothing is shared between builds). */
export async function importBuilt<T>(path: string): Promise<T> {
  return (await import(`${pathToFileURL(path).href}?run=${Math.random()}`)) as T;
}

/**
 * The lines of an error message (bundlers put their own lines around the plugin's), without terminal colour
 * codes (Vite colours its messages when it thinks the output is a terminal or CI).
 */
export function messageLines(e: unknown): string[] {
  return String(e instanceof Error ? e.message : e).replace(/\u001b\[[0-9;]*m/g, '').split('\n').filter((l) => l.trim() !== '');
}
