// The plugin's cache: a model's bundle lives in `<cacheDir>/<key>/`, where the key hashes onebitc's version,
// the content of every file the compiler reads, the model's name and the resolved options. A key whose folder
// holds a manifest.json is a finished bundle (compile() writes atomically): nothing to compile.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, relative } from 'node:path';
import { MANIFEST_FORMAT_VERSION } from '../compile.ts';
import { ONEBITC_VERSION } from '../version.ts';
import type { ResolvedModelOptions } from './options.ts';

/** Files beside a model file that the importers read when present (language-model metadata, tokenizer). */
const SIDE_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];
/** The per-file hash memo, so unchanged multi-GB weights are not read again on every build. */
const MEMO_FILE = 'file-hashes.json';

interface MemoEntry {
  size: number;
  mtimeMs: number;
  ino: number;
  sha256: string;
  /** .onnx files: which candidate names (siblings) were searched for, and which the file mentions. */
  searched?: string[];
  mentions?: string[];
}

/** sha256 of a file, streamed; also reports which of `needles` occur in it (external data locations). */
async function digest(path: string, needles: readonly string[]): Promise<{ sha256: string; mentions: string[] }> {
  const hash = createHash('sha256');
  const wanted = needles.map((n) => Buffer.from(n));
  const found = new Set<number>();
  const overlap = Math.max(0, ...wanted.map((w) => w.length - 1));
  let tail = Buffer.alloc(0);
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    if (wanted.length > found.size) {
      const window = Buffer.concat([tail, chunk]);
      wanted.forEach((w, i) => { if (!found.has(i) && window.includes(w)) found.add(i); });
      tail = window.subarray(Math.max(0, window.length - overlap));
    }
  }
  return { sha256: hash.digest('hex'), mentions: needles.filter((_, i) => found.has(i)) };
}

export class ModelCache {
  private memo: Record<string, MemoEntry> | undefined;
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(readonly dir: string) {}

  private async loadMemo(): Promise<Record<string, MemoEntry>> {
    this.memo ??= await readFile(join(this.dir, MEMO_FILE), 'utf8').then((t) => JSON.parse(t) as Record<string, MemoEntry>, () => ({}));
    return this.memo;
  }

  /** The file's sha256 (memoised by path, size, mtime and inode) and which of `needles` it mentions. */
  private async fileHash(path: string, needles: readonly string[] = []): Promise<{ sha256: string; mentions: string[] }> {
    const memo = await this.loadMemo();
    const info = await stat(path);
    const hit = memo[path];
    if (hit && hit.size === info.size && hit.mtimeMs === info.mtimeMs && hit.ino === info.ino && needles.every((n) => hit.searched?.includes(n))) {
      return { sha256: hit.sha256, mentions: (hit.mentions ?? []).filter((m) => needles.includes(m)) };
    }
    const d = await digest(path, needles);
    memo[path] = { size: info.size, mtimeMs: info.mtimeMs, ino: info.ino, sha256: d.sha256, ...(needles.length ? { searched: [...needles], mentions: d.mentions } : {}) };
    return d;
  }

  private async saveMemo(): Promise<void> {
    if (!this.memo) return;
    await mkdir(this.dir, { recursive: true });
    const temp = join(this.dir, `${MEMO_FILE}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`);
    await writeFile(temp, JSON.stringify(this.memo));
    await rename(temp, join(this.dir, MEMO_FILE));
  }

  /**
   * Every file the compiler may read for `input`, with its content hash: a folder's regular files (not
   * hidden, not in subfolders); a file plus the metadata files beside it and, for .onnx, the files beside it
   * that the model names (external data).
   */
  async inputFiles(input: string): Promise<{ path: string; sha256: string }[]> {
    const info = await stat(input);
    const dir = info.isDirectory() ? input : dirname(input);
    const siblings = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => !e.name.startsWith('.') && (e.isFile() || e.isSymbolicLink()))
      .map((e) => e.name)
      .sort();
    const out: { path: string; sha256: string }[] = [];
    const add = async (name: string, needles?: readonly string[]) => {
      const path = join(dir, name);
      const file = await stat(path).catch(() => undefined);
      if (!file?.isFile()) return [];
      const h = await this.fileHash(path, needles);
      out.push({ path, sha256: h.sha256 });
      return h.mentions;
    };
    if (info.isDirectory()) {
      for (const name of siblings) await add(name);
    } else {
      const self = basename(input);
      const candidates = extname(input) === '.onnx' ? siblings.filter((n) => n !== self && extname(n) !== '.onnx' && !SIDE_FILES.includes(n)) : [];
      const mentioned = await add(self, candidates);
      for (const name of siblings) if (SIDE_FILES.includes(name) || mentioned.includes(name)) await add(name);
    }
    await this.saveMemo();
    return out;
  }

  /** The sha256 of a file the compile reads besides the model (distillation's training text). */
  async contentHash(path: string): Promise<string> {
    const { sha256 } = await this.fileHash(path);
    await this.saveMemo();
    return sha256;
  }

  /** The cache key of `input` compiled with `options`. */
  async key(input: string, options: ResolvedModelOptions): Promise<string> {
    const files = await this.inputFiles(input);
    const base = (await stat(input)).isDirectory() ? input : dirname(input);
    const material = JSON.stringify({
      onebitc: ONEBITC_VERSION,
      format: MANIFEST_FORMAT_VERSION,
      source: basename(input),
      options,
      files: files.map((f) => [relative(base, f.path), f.sha256]),
    });
    return createHash('sha256').update(material).digest('hex').slice(0, 20);
  }

  /** The bundle folder of a key. */
  bundleDir(key: string): string {
    return join(this.dir, key);
  }

  /** Is the bundle of `key` complete? (compile() renames a finished bundle into place, manifest included.) */
  async has(key: string): Promise<boolean> {
    return stat(join(this.bundleDir(key), 'manifest.json')).then((s) => s.isFile(), () => false);
  }

  /** Runs `work` once per key at a time: two imports of the same model in one build share one compile. */
  once<T>(key: string, work: () => Promise<T>): Promise<T> {
    let p = this.inFlight.get(key) as Promise<T> | undefined;
    if (!p) {
      p = work().finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, p);
    }
    return p;
  }
}
