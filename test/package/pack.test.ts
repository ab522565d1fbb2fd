// The package as users get it: `npm pack`, the tarball installed into a fresh temp project (offline, from
// npm's cache), then stories260K compiled and run with the installed CLI, the programmatic API and the
// Vite plugin, and the published types checked with tsc. The tarball holds only what users need.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { ROOT, tempDir } from '../helpers/cli.ts';

const FIXTURE = join(ROOT, 'test/fixtures/stories260K');
const reference = JSON.parse(readFileSync(join(FIXTURE, 'reference.json'), 'utf8')) as { prompt_ids: number[]; prompt_text: string; greedy_continuation_ids: number[]; greedy_continuation_text: string };
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', ONEBITC_DEBUG: '', npm_config_update_notifier: 'false' };

interface Packed { filename: string; size: number; unpackedSize: number; entryCount: number; files: { path: string }[] }

// dist/ is what `npm test` built a moment ago: --ignore-scripts keeps pack from rebuilding it under the
// other test files (a user's `npm pack` runs `prepare`, the same build).
const packDir = tempDir('pack');
const packed = (JSON.parse(execFileSync(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { cwd: ROOT, env, encoding: 'utf8' })) as Packed[])[0]!;
const tarball = join(packDir, packed.filename);

const app = tempDir('installed');
writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'onebitc-user', private: true, type: 'module' }));
const install = spawnSync(npm, ['install', tarball, '--offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app, env, encoding: 'utf8' });
const installed = join(app, 'node_modules', 'onebitc');

function node(script: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [script, ...args], { cwd: app, env, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the tarball holds the CLI, dist, types, runtime sources and README, and no tests, fixtures, bench or examples', (t) => {
  const files = packed.files.map((f) => f.path);
  t.log(`${packed.filename}: ${packed.entryCount} files, ${(packed.size / 1024).toFixed(0)} KiB packed, ${(packed.unpackedSize / 1024).toFixed(0)} KiB unpacked`);
  for (const path of ['package.json', 'README.md', 'bin/onebitc.js', 'dist/cli.js', 'dist/index.js', 'dist/vite.js', 'dist/rollup.js', 'types/index.d.ts', 'types/client.d.ts', 'runtime/bundle-entry.ts', 'compiler/train/pytorch/train.py']) {
    t.true(files.includes(path), path);
  }
  // compiler/train/pytorch/: the Python sources export-training copies into its projects
  const unwanted = files.filter((f) => (/^(test|bench|examples|scripts|compiler|node_modules|out)\//.test(f) && !f.startsWith('compiler/train/pytorch/')) || /fixtures|\.test\.ts$|\.map$|tsconfig/.test(f));
  t.deepEqual(unwanted, []);
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  for (const peer of ['vite', 'rollup']) t.true(manifest.peerDependenciesMeta[peer].optional, `${peer} is an optional peer`);
});

test('installed from the tarball: a copy in node_modules, not a link to this checkout', (t) => {
  t.is(install.status, 0, install.stderr);
  t.true(existsSync(join(installed, 'dist', 'cli.js')));
  t.is(realpathSync(installed), installed);
  t.false(existsSync(join(installed, 'test')));
});

test.serial('the installed CLI compiles stories260K and runs it', (t) => {
  const bin = join(app, 'node_modules', '.bin', 'onebitc');
  const compiled = spawnSync(bin, [FIXTURE, '-o', 'out'], { cwd: app, env, encoding: 'utf8' });
  t.is(compiled.status, 0, compiled.stderr);
  t.regex(compiled.stdout, /35 OneBit layers by SVID/);
  const ran = spawnSync(bin, ['run', 'out', '--prompt', 'Once upon a time', '--max-tokens', '12'], { cwd: app, env, encoding: 'utf8' });
  t.is(ran.status, 0, ran.stderr);
  t.true(ran.stdout.startsWith('Once upon a time'), ran.stdout);
  t.regex(ran.stderr, /12 tokens in [\d.]+ s/);
});

test.serial('the installed CLI finds the Python sources export-training copies', (t) => {
  const bin = join(app, 'node_modules', '.bin', 'onebitc');
  const r = spawnSync(bin, ['export-training', FIXTURE, '-o', 'training'], { cwd: app, env, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.is(readFileSync(join(app, 'training', 'train.py'), 'utf8'), readFileSync(join(ROOT, 'compiler/train/pytorch/train.py'), 'utf8'));
});

test.serial('the programmatic API of the installed package compiles a bundle that tells the reference story', (t) => {
  writeFileSync(join(app, 'api.js', ), `
    import { compile, ONEBITC_VERSION } from 'onebitc';
    import { pathToFileURL } from 'node:url';
    const where = await import.meta.resolve('onebitc');
    const result = await compile(${JSON.stringify(FIXTURE)}, { output: 'api-bundle', quantize: false, log: () => {} });
    const { load } = await import(pathToFileURL('api-bundle/model.js').href);
    const model = await load();
    const ids = await model.generateIds(${JSON.stringify(reference.prompt_ids)}, { maxTokens: 20 });
    console.log(JSON.stringify({ where, version: ONEBITC_VERSION, quantized: result.manifest.quantized, ids }));
  `);
  const r = node('api.js');
  t.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { where: string; version: string; quantized: boolean; ids: number[] };
  t.is(out.where, `file://${join(installed, 'dist', 'index.js')}`);
  t.is(out.version, JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  t.false(out.quantized);
  t.deepEqual(out.ids, reference.greedy_continuation_ids.slice(0, 20));
});

// The bundler and the type checker come from this checkout (the tarball leaves them to the user).
function linkFromRepo(...names: string[]): void {
  for (const name of names) {
    const link = join(app, 'node_modules', name);
    mkdirSync(join(link, '..'), { recursive: true });
    if (!existsSync(link)) symlinkSync(join(ROOT, 'node_modules', name), link);
  }
}

test.serial('the installed Vite plugin builds an app whose model runs in Node', async (t) => {
  linkFromRepo('vite');
  mkdirSync(join(app, 'src'), { recursive: true });
  writeFileSync(join(app, 'src', 'entry.js'), `import model from ${JSON.stringify(`${FIXTURE}/model.onnx?onebit&quantize=false&target=js`)};\nglobalThis.onebitcModel = model;\n`);
  writeFileSync(join(app, 'build.js'), `
    import { build } from 'vite';
    import onebit from 'onebitc/vite';
    const lines = [];
    await build({ root: process.cwd(), configFile: false, logLevel: 'silent', base: './', plugins: [onebit({ log: (l) => lines.push(l) })],
      build: { outDir: 'dist', rolldownOptions: { input: 'src/entry.js', output: { entryFileNames: 'entry.js' } } } });
    await import('./dist/entry.js');
    const model = await globalThis.onebitcModel.load();
    const ids = await model.generateIds(${JSON.stringify(reference.prompt_ids)}, { maxTokens: 16 });
    console.log(JSON.stringify({ lines, ids, plugin: import.meta.resolve('onebitc/vite') }));
  `);
  const r = node('build.js');
  t.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { lines: string[]; ids: number[]; plugin: string };
  t.is(out.plugin, `file://${join(installed, 'dist', 'vite.js')}`);
  t.true(out.lines.some((l) => /^onebitc: compiled stories260K in/.test(l)), out.lines.join('\n'));
  t.true(existsSync(join(app, 'node_modules', '.cache', 'onebitc')), 'the default cache folder');
  t.deepEqual(out.ids, reference.greedy_continuation_ids.slice(0, 16));
});

test.serial('the published types check: compile(), the plugin options and ?onebit imports (onebitc/client)', (t) => {
  linkFromRepo('vite', '@types/node');
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, types: ['node', 'onebitc/client'], skipLibCheck: false },
    include: ['typed.ts'],
  }));
  writeFileSync(join(app, 'typed.ts'), `
    import { compile, CompileError, type CompileResult } from 'onebitc';
    import onebit from 'onebitc/vite';
    import story from './models/stories260K?onebit';
    import classifier, { inputs } from './models/classifier.onnx?keep=classifier&onebit';
    export const plugin = onebit({ keep: ['lm_head'], models: { stories260K: { quantize: false, target: ['wasm', 'webgpu'] } }, onCompile: (e) => console.log(e.name, e.cached) });
    export async function main(): Promise<CompileResult | undefined> {
      const m = await story.load({ backend: 'auto' });
      for await (const piece of m.generate('Once upon a time', { maxTokens: 10 })) process.stdout.write(piece);
      const out = await (await classifier.load()).run({ pixels: { data: new Float32Array(256), dims: [1, 256] } });
      console.log(out['logits']?.dims, inputs[0]?.name, story.manifest.size.after);
      try { return await compile('model.onnx', { output: 'out', keep: ['*down_proj*'], targets: ['wasm'] }); }
      catch (e) { if (e instanceof CompileError) console.log(e.diagnostics.length); return undefined; }
    }
  `);
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { cwd: app, env, encoding: 'utf8' });
  t.is(tsc.status, 0, tsc.stdout + tsc.stderr);
});
