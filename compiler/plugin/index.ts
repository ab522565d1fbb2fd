// The build plugin: one unplugin factory; the bundler adapters (vite.ts, rollup.ts, …) are one line each.
//
//   import model from './models/stories260K?onebit'      // a Hugging Face folder, a .onnx or a .safetensors file
//
// resolveId turns the import into a virtual module `\0onebitc-model:<abs path>?<query>`; load compiles the
// model with compile() (the CLI's pipeline) into the content-hashed cache, unless the cache has it already,
// emits the bundle's files (model.wasm, weights, tokenizer) as hashed assets, and returns a module whose
// load() passes their URLs to the bundle's own load(). The bundle's model.js is a second virtual module,
// `\0onebitc-bundle:<key>`, so that two imports of one model share its code.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { UnpluginBuildContext, UnpluginContext, UnpluginContextMeta } from 'unplugin';
import { createUnplugin } from 'unplugin';
import { FormatError } from '../../formats/errors.ts';
import { BundleWriteError } from '../bundle/write-bundle.ts';
import { compile } from '../compile.ts';
import { formatBytes } from '../inspect.ts';
import { CompileError, formatDiagnostic } from '../ir/diagnostics.ts';
import { ModelCache } from './cache.ts';
import { isAssetFile, moduleCode } from './module-code.ts';
import type { CompileEvent, OnebitPluginOptions, ResolvedModelOptions } from './options.ts';
import { checkPluginOptions, modelEntry, parseQuery, PluginOptionError, resolveModelOptions } from './options.ts';

export type { CompileEvent, ModelOptions, OnebitPluginOptions } from './options.ts';

const PLUGIN_NAME = 'onebitc';
const MODEL_PREFIX = '\0onebitc-model:';
const BUNDLE_SPECIFIER = 'onebitc-bundle:';
const BUNDLE_PREFIX = `\0${BUNDLE_SPECIFIER}`;
/** Where `vite dev` serves the bundle files: `<base>@onebitc/<key>/<file>`. */
const DEV_PATH = '@onebitc/';
const DEFAULT_CACHE_DIR = join('node_modules', '.cache', 'onebitc');
/** Query keys bundlers add on their own (Vite's `import`, cache-busting `t`): not options. */
const BUNDLER_QUERY_KEYS = new Set(['import', 't', 'v']);

const CONTENT_TYPES: Record<string, string> = {
  '.wasm': 'application/wasm', '.json': 'application/json', '.safetensors': 'application/octet-stream',
};

interface Logger {
  info(line: string): void;
  warn(line: string): void;
}

/** One line naming the file, for any failure while providing a model. */
function describeError(e: unknown, file: string): string {
  if (e instanceof CompileError) {
    const errors = e.diagnostics.filter((d) => d.severity === 'error');
    const first = errors[0] ?? e.diagnostics[0];
    const line = first ? formatDiagnostic({ ...first, file: first.file ?? file }) : e.message;
    return `onebitc: ${line}${errors.length > 1 ? ` (and ${errors.length - 1} more errors)` : ''}`;
  }
  if (e instanceof FormatError || e instanceof BundleWriteError || e instanceof PluginOptionError) return `onebitc: ${e.message.split('\n')[0]}`;
  const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
  return `onebitc: ${file}: internal error while compiling: ${message}`;
}

/** The model's short name: a folder's name, a file's name without extension (`model.onnx` → its folder's name). */
function modelName(path: string): string {
  const base = basename(path, extname(path));
  return base === 'model' ? basename(dirname(path)) : base;
}

const posix = (path: string) => path.split(sep).join('/');

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

export const unpluginOnebit = createUnplugin<OnebitPluginOptions | undefined>((rawOptions, meta: UnpluginContextMeta) => {
  const options = rawOptions ?? {};
  checkPluginOptions(options);
  let root = process.cwd();
  let viteCommand: 'serve' | 'build' | undefined;
  let viteBase = '/';
  let viteLogger: Logger | undefined;
  let cache: ModelCache | undefined;
  /** Bundles this plugin provided, by key (the dev server serves their files). */
  const bundles = new Map<string, string>();

  const getCache = () => (cache ??= new ModelCache(resolve(root, options.cacheDir ?? DEFAULT_CACHE_DIR)));
  const logger: Logger = {
    info(line) {
      if (options.log === false) return;
      if (options.log) options.log(line);
      else if (viteLogger) viteLogger.info(line);
      else process.stderr.write(`${line}\n`);
    },
    warn(line) {
      if (options.log === false) return;
      if (options.log) options.log(line);
      else if (viteLogger) viteLogger.warn(line);
      else process.stderr.write(`${line}\n`);
    },
  };

  /** The model file or folder an import names: relative to the importer, absolute, or (Vite) root-relative. */
  function modelPath(path: string, importer: string | undefined): string {
    if (isAbsolute(path)) return meta.framework === 'vite' && path.startsWith('/') && !existsSync(path) ? join(root, path) : path;
    const from = importer && !importer.startsWith('\0') ? dirname(importer.replace(/[?#].*$/, '')) : root;
    return resolve(from, path);
  }

  /** Compiles `input` into the cache unless a bundle of the same key is there; reports either. */
  async function provide(input: string, resolved: ResolvedModelOptions): Promise<CompileEvent & { key: string }> {
    const name = modelName(input);
    const cacheStore = getCache();
    // The training text is part of the key by content (and named relative to the root, not by absolute path).
    const data = resolved.distill && !/^self:\d+$/.test(resolved.distill.data) ? resolve(root, resolved.distill.data) : undefined;
    if (data !== undefined && !existsSync(data)) throw new PluginOptionError(`${name}: distill: training text ${data} not found`);
    const keyed = data !== undefined ? { ...resolved, distill: { ...resolved.distill!, dataSha256: await cacheStore.contentHash(data) } } : resolved;
    const key = await cacheStore.key(input, keyed);
    const outDir = cacheStore.bundleDir(key);
    return cacheStore.once(key, async () => {
      if (await cacheStore.has(key)) {
        const event: CompileEvent = { name, input, outDir, cached: true, seconds: 0 };
        logger.info(`onebitc: ${name} (cached)`);
        options.onCompile?.(event);
        return { ...event, key };
      }
      const started = performance.now();
      await mkdir(cacheStore.dir, { recursive: true });
      const result = await compile(input, {
        output: outDir,
        quantize: resolved.quantize,
        keep: resolved.keep,
        quantizeHead: resolved.quantizeHead,
        ...(resolved.fp16 !== null ? { fp16: resolved.fp16 } : {}),
        targets: resolved.targets,
        log: (line) => logger.info(line),
        ...(resolved.distill ? { distill: { ...resolved.distill, data: data ?? resolved.distill.data, checkpointDir: `${outDir}.distill`, resume: existsSync(join(`${outDir}.distill`, 'checkpoint')), stream: lineStream((line) => logger.info(`onebitc: ${name}: ${line}`)) } } : {}),
      });
      const seconds = (performance.now() - started) / 1000;
      const converted = result.layers.filter((l) => !l.kept).length;
      const what = !resolved.quantize ? 'original weights' : result.distill ? `${result.trainedOneBitLayers} OneBit layers trained by distillation, held-out perplexity ${result.distill.heldOut?.final.toFixed(2)}` : `${converted} OneBit layers`;
      logger.info(`onebitc: compiled ${name} in ${seconds.toFixed(1)} s (${what}; weights ${formatBytes(result.sizeBefore)} → ${formatBytes(result.sizeAfter)})`);
      for (const w of result.warnings) logger.warn(`onebitc: ${name}: ${formatDiagnostic(w)}`);
      if (result.languageModel && converted > 0) {
        const top1 = result.fidelity?.top1 !== undefined ? ` (the 1-bit model picks the original's next token ${(100 * result.fidelity.top1).toFixed(0)}% of the time)` : '';
        logger.warn(`onebitc: warning: ${name}: SVID alone, without the paper's distillation, keeps little of a language model's quality${top1}; quantize: false compiles the original weights`);
      }
      const event: CompileEvent = { name, input, outDir, cached: false, seconds, result };
      options.onCompile?.(event);
      return { ...event, key };
    });
  }

  /** A stream for distillation's progress lines, each passed to `line` (the bundler's logger). */
  function lineStream(line: (text: string) => void): NodeJS.WritableStream & { isTTY: false } {
    let pending = '';
    return {
      isTTY: false,
      write(chunk: string | Uint8Array) {
        pending += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
        for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) { line(pending.slice(0, nl)); pending = pending.slice(nl + 1); }
        return true;
      },
    } as unknown as NodeJS.WritableStream & { isTTY: false };
  }

  /** A JavaScript expression for the URL of one bundle file, as this bundler serves or emits it. */
  async function assetUrl(ctx: UnpluginBuildContext, file: string, path: string, key: string, name: string, ssr: boolean): Promise<string> {
    if (meta.framework === 'vite' && viteCommand === 'serve') {
      return JSON.stringify(ssr ? pathToFileURL(path).href : `${viteBase}${DEV_PATH}${key}/${file}`);
    }
    const source = await readFile(path);
    if (meta.framework === 'vite' || meta.framework === 'rollup' || meta.framework === 'rolldown') {
      // Rollup-compatible bundlers: a hashed asset, and its final URL resolved at render time.
      const ref = (ctx.emitFile as unknown as (f: { type: 'asset'; name: string; source: Uint8Array }) => string)({ type: 'asset', name: `${name}-${file}`, source });
      return `import.meta.ROLLUP_FILE_URL_${ref}`;
    }
    if (meta.framework === 'esbuild') {
      // esbuild: written under outdir by name (content hash in it), found beside the output file.
      const ext = extname(file);
      const hash = (await sha256File(path)).slice(0, 8);
      const fileName = `assets/${name}-${basename(file, ext)}-${hash}${ext}`;
      ctx.emitFile({ type: 'asset', fileName, source });
      return `new URL(${JSON.stringify(`./${fileName}`)}, import.meta.url).href`;
    }
    throw new Error(`the ${meta.framework} bundler is not supported by onebitc's plugin yet (supported: vite, rollup, rolldown, esbuild)`);
  }

  async function loadModelModule(ctx: UnpluginBuildContext & UnpluginContext, id: string, ssr: boolean): Promise<string> {
    const body = id.slice(MODEL_PREFIX.length);
    const q = body.indexOf('?');
    const input = body.slice(0, q);
    const fromRoot = posix(relative(root, input));
    const shown = fromRoot === '' ? '.' : fromRoot.startsWith('..') ? input : fromRoot;
    try {
      const query = parseQuery(body.slice(q + 1), `${shown}?${body.slice(q + 1)}`);
      const info = await stat(input).catch(() => undefined);
      if (!info) throw new PluginOptionError(`${shown}: no such file or folder`);
      const entry = modelEntry(options.models, { relative: shown, base: basename(input), name: modelName(input) });
      const { models: _models, cacheDir: _cacheDir, onCompile: _onCompile, log: _log, ...defaults } = options;
      const resolved = resolveModelOptions(defaults, entry, query);
      const provided = await provide(input, resolved);
      bundles.set(provided.key, provided.outDir);
      const files = (await readdir(provided.outDir)).filter(isAssetFile).sort();
      const watched = info.isDirectory() ? (await readdir(input, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(input, e.name)) : [input];
      for (const f of watched) ctx.addWatchFile(f);
      const urls: [string, string][] = [];
      for (const file of files) urls.push([file, await assetUrl(ctx, file, join(provided.outDir, file), provided.key, provided.name, ssr)]);
      return moduleCode({
        name: provided.name,
        source: shown,
        bundleImport: `${BUNDLE_SPECIFIER}${provided.key}`,
        urls,
        manifest: await readFile(join(provided.outDir, 'manifest.json'), 'utf8'),
      });
    } catch (e) {
      // One line naming the file (the input's absolute path shown relative to the root, as it was imported).
      // No stack (unless ONEBITC_DEBUG): bundlers print it under the message, and the message is the whole story.
      const message = describeError(e, shown).split(input).join(shown);
      const error = new Error(message);
      error.stack = process.env['ONEBITC_DEBUG'] && e instanceof Error ? `${message}\n${e.stack}` : '';
      throw error;
    }
  }

  return {
    name: PLUGIN_NAME,
    enforce: 'pre',

    resolveId: {
      // Only `?onebit` imports, our own ids, and node: builtins (which model.js imports) reach the handler.
      filter: { id: /[?&]onebit(?:[&=]|$)|^onebitc-bundle:|^\0onebitc-|^node:/ },
      handler(source, importer) {
        if (source.startsWith(MODEL_PREFIX) || source.startsWith(BUNDLE_PREFIX)) return source;
        if (source.startsWith(BUNDLE_SPECIFIER)) return `\0${source}`;
        // model.js reads files with node:fs when its URLs are file: URLs (Node); browsers never reach it.
        if (source.startsWith('node:')) return importer?.startsWith(BUNDLE_PREFIX) ? { id: source, external: true } : null;
        const q = source.indexOf('?');
        if (q < 0) return null;
        const params = new URLSearchParams(source.slice(q + 1));
        if (!params.has('onebit')) return null;
        for (const k of BUNDLER_QUERY_KEYS) params.delete(k);
        return `${MODEL_PREFIX}${modelPath(source.slice(0, q), importer)}?${params.toString().replace(/=(?=&|$)/g, '')}`;
      },
    },

    load: {
      filter: { id: /^\0onebitc-(?:model|bundle):/ },
      async handler(id, ...rest: unknown[]) {
        if (id.startsWith(BUNDLE_PREFIX)) {
          const key = id.slice(BUNDLE_PREFIX.length);
          return readFile(join(bundles.get(key) ?? getCache().bundleDir(key), 'model.js'), 'utf8');
        }
        if (!id.startsWith(MODEL_PREFIX)) return null;
        const ssr = Boolean((rest[0] as { ssr?: boolean } | undefined)?.ssr);
        return loadModelModule(this, id, ssr);
      },
    },

    vite: {
      configResolved(config) {
        root = config.root;
        viteCommand = config.command;
        viteBase = config.base.endsWith('/') ? config.base : `${config.base}/`;
        viteLogger = { info: (line) => config.logger.info(line), warn: (line) => config.logger.warn(line) };
      },
      configureServer(server) {
        // The bundle files of the models this dev server compiled, by key (content-hashed: cacheable forever).
        server.middlewares.use((req, res, next) => {
          const url = (req.url ?? '').replace(/[?#].*$/, '');
          const prefix = `${viteBase}${DEV_PATH}`;
          if (!url.startsWith(prefix)) return next();
          const [key = '', file = '', ...more] = decodeURIComponent(url.slice(prefix.length)).split('/');
          const dir = bundles.get(key);
          if (!dir || more.length || !isAssetFile(file) || file.includes('\\') || file === '..') {
            res.statusCode = 404;
            res.end('not an onebitc bundle file');
            return;
          }
          const path = join(dir, file);
          stat(path).then((info) => {
            res.setHeader('Content-Type', CONTENT_TYPES[extname(file)] ?? 'application/octet-stream');
            res.setHeader('Content-Length', String(info.size));
            res.setHeader('Cache-Control', 'max-age=31536000, immutable');
            createReadStream(path).pipe(res);
          }, () => {
            res.statusCode = 404;
            res.end('not found');
          });
        });
      },
    },
  };
});
