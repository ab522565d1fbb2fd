// The LUT kernel on a real model: the trained OneBit stories260K checkpoint (test/fixtures/onebit-stories260K).
// Its layers' real inputs (captured through the reference interpreter) through the exact and LUT kernels;
// the bundle compiled with --kernel lut against --kernel exact: perplexity, greedy tokens, logits; and the
// relaxed-SIMD module in a Node run with --experimental-wasm-relaxed-simd.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { compile } from '../../compiler/compile.ts';
import { importModel } from '../../compiler/import/import-model.ts';
import { buildPlan } from '../../compiler/codegen/js/emit-plan.ts';
import { inferShapes } from '../../compiler/ir/infer-shapes.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { Interpreter } from '../../runtime/execute.ts';
import { KERNELS } from '../../runtime/kernels/index.ts';
import { hasRelaxedSimd } from '../../runtime/wasm/backend.ts';
import { maxAbsDiff } from '../helpers/compare.ts';
import { ROOT, tempDir } from '../helpers/cli.ts';
import type { LayerData } from '../helpers/onebit-layer.ts';
import { layerKernels, relativeL2 } from '../helpers/onebit-layer.ts';

const FIXTURE = join(ROOT, 'test/fixtures/onebit-stories260K');
const reference = JSON.parse(readFileSync(join(FIXTURE, 'reference/reference.json'), 'utf8')) as { prompt_ids: number[]; greedy_continuation_ids: number[] };
const VALID = readFileSync(join(ROOT, 'test/fixtures/tinystories/valid_sample.txt'), 'utf8');

function feeds(ids: number[]): Map<string, Tensor> {
  const f = new Map<string, Tensor>([['input_ids', { dtype: 'int64', dims: [1, ids.length], data: BigInt64Array.from(ids.map(BigInt)) }]]);
  for (let i = 0; i < 5; i++) for (const kind of ['key', 'value']) f.set(`past_key_values.${i}.${kind}`, { dtype: 'float32', dims: [1, 4, 0, 8], data: new Float32Array(0) });
  return f;
}

interface LmModel {
  run(feeds: Record<string, { data: unknown; dims: number[] }>): Promise<Record<string, Tensor>>;
  generateIds(ids: number[], o: { maxTokens: number; stopOnEos: boolean }): Promise<number[]>;
  perplexity(text: string, o: { maxChunks: number }): Promise<{ perplexity: number }>;
  wasmCalls: ReadonlyMap<string, number>;
  wasmFeatures?: string;
}

const bundles = new Map<string, Promise<string>>();
function bundle(kernel: 'exact' | 'lut'): Promise<string> {
  let b = bundles.get(kernel);
  if (!b) {
    const dir = join(tempDir(`lut-${kernel}`), 'bundle');
    b = compile(FIXTURE, { output: dir, kernel, targets: ['wasm'], log: () => {} }).then(() => dir);
    bundles.set(kernel, b);
  }
  return b;
}
const load = async (dir: string): Promise<LmModel> => (await import(pathToFileURL(join(dir, 'model.js')).href)).load({ backend: 'wasm' }) as Promise<LmModel>;
const plainFeeds = (ids: number[]) => Object.fromEntries([...feeds(ids)].map(([k, t]) => [k, { data: t.data, dims: [...t.dims] }]));

test('real layers: the LUT kernel is within 2e-3 (relative L2) of the exact kernel on every OneBit layer\'s actual inputs', async (t) => {
  // capture every OneBitLinear's inputs while the reference interpreter runs the prompt + greedy continuation
  const { model } = await importModel(FIXTURE);
  inferShapes(model);
  const { plan } = buildPlan(model, 'weights.safetensors');
  const captured: { name: string; layer: LayerData; x: Float32Array; rows: number }[] = [];
  const hooks = {
    runNode: (node: { op: string; name: string; attrs: Record<string, unknown> }, inputs: readonly (Tensor | undefined)[]) => {
      if (node.op === 'OneBitLinear') {
        const [x, sign, g, h, bias] = inputs as Tensor[];
        const a = node.attrs;
        captured.push({
          name: node.name, rows: x!.data.length / (a['in'] as number), x: Float32Array.from(x!.data as Float32Array),
          layer: {
            in: a['in'] as number, out: a['out'] as number, alpha: typeof a['alpha'] === 'number' ? a['alpha'] : 1,
            ...(typeof a['post_norm_eps'] === 'number' ? { postNormEps: a['post_norm_eps'] } : {}),
            canonical: new Uint8Array((sign!.data as Int8Array | Uint8Array).buffer, (sign!.data as Uint8Array).byteOffset, (sign!.data as Uint8Array).byteLength),
            g: Float32Array.from(g!.data as Float32Array), h: Float32Array.from(h!.data as Float32Array),
            ...(bias ? { bias: Float32Array.from(bias.data as Float32Array) } : {}),
          },
        });
      }
      return undefined;
    },
    placeValue: (_: string, v: Tensor) => v,
  };
  new Interpreter(KERNELS, plan.opset).run(plan.graph, feeds([...reference.prompt_ids, ...reference.greedy_continuation_ids]), Interpreter.constants(model.graph.initializers), hooks as never);
  t.is(captured.length, 35);
  let worst = 0, worstRaw = 0, sum = 0;
  for (const c of captured) {
    const k = await layerKernels([c.layer, { ...c.layer, postNormEps: undefined } as LayerData], c.rows);
    const rel = relativeL2(k.run(0, 'lut', c.x, c.rows), k.run(0, 'exact', c.x, c.rows)); // as the model runs it (post-norm)
    const raw = relativeL2(k.run(1, 'lut', c.x, c.rows), k.run(1, 'exact', c.x, c.rows)); // the linear alone
    worst = Math.max(worst, rel);
    worstRaw = Math.max(worstRaw, raw);
    sum += rel;
    t.true(rel <= 2e-3 && raw <= 2e-3, `${c.name} (${c.layer.out}×${c.layer.in}, ${c.rows} rows): relative L2 ${rel} (${raw} before the post-norm)`);
  }
  t.log(`35 layers × ${captured[0]!.rows} tokens: relative L2 mean ${(sum / captured.length).toExponential(2)}, worst ${worst.toExponential(2)} (before the post-norm: worst ${worstRaw.toExponential(2)})`);
});

test('--kernel lut: perplexity within 0.5 % of --kernel exact, the reference greedy tokens, logits close', async (t) => {
  const [exact, lut] = await Promise.all([bundle('exact'), bundle('lut')]);
  const manifest = JSON.parse(readFileSync(join(lut, 'manifest.json'), 'utf8')) as { files: Record<string, unknown> };
  t.truthy(manifest.files['model.relaxed.wasm']);
  const e = await load(exact);
  const l = await load(lut);
  const ids = [...reference.prompt_ids, ...reference.greedy_continuation_ids];
  const le = (await e.run(plainFeeds(ids)))['logits']!.data as Float32Array;
  const ll = (await l.run(plainFeeds(ids)))['logits']!.data as Float32Array;
  t.is(l.wasmCalls.get('onebit-lut'), 35);
  t.is(l.wasmCalls.get('onebit-linear'), undefined);
  t.is(e.wasmCalls.get('onebit-linear'), 35);
  t.is(l.wasmFeatures, hasRelaxedSimd() ? 'relaxed-simd' : 'simd128');
  const logitsRel = relativeL2(ll, le);
  t.log(`logits [42, 512]: relative L2 ${logitsRel.toExponential(2)}, max |Δ| ${maxAbsDiff(ll, le).toExponential(2)}`);
  t.true(logitsRel <= 2e-3);
  t.deepEqual(await l.generateIds(reference.prompt_ids, { maxTokens: 32, stopOnEos: false }), reference.greedy_continuation_ids);
  const pe = (await e.perplexity(VALID, { maxChunks: 4 })).perplexity;
  const pl = (await l.perplexity(VALID, { maxChunks: 4 })).perplexity;
  t.log(`perplexity (4 chunks): exact ${pe.toFixed(4)}, lut ${pl.toFixed(4)} (${(100 * (pl / pe - 1)).toFixed(4)} %)`);
  t.true(Math.abs(pl / pe - 1) <= 0.005);
});

test('relaxed SIMD: in Node with --experimental-wasm-relaxed-simd the bundle loads model.relaxed.wasm and matches the exact kernel', async (t) => {
  const [exact, lut] = await Promise.all([bundle('exact'), bundle('lut')]);
  const ids = [...reference.prompt_ids, ...reference.greedy_continuation_ids];
  const out = join(tempDir('relaxed'), 'logits.bin');
  const script = `
    import { writeFileSync } from 'node:fs';
    const { load } = await import(${JSON.stringify(pathToFileURL(join(lut, 'model.js')).href)});
    const model = await load({ backend: 'wasm' });
    const feeds = { input_ids: { data: BigInt64Array.from(${JSON.stringify(ids)}.map(BigInt)), dims: [1, ${ids.length}] } };
    for (let i = 0; i < 5; i++) for (const k of ['key', 'value']) feeds['past_key_values.' + i + '.' + k] = { data: new Float32Array(0), dims: [1, 4, 0, 8] };
    const logits = (await model.run(feeds)).logits.data;
    const calls = Object.fromEntries(model.wasmCalls);
    const greedy = await model.generateIds(${JSON.stringify(reference.prompt_ids)}, { maxTokens: 32, stopOnEos: false });
    writeFileSync(${JSON.stringify(out)}, logits);
    console.log(JSON.stringify({ features: model.wasmFeatures, calls, greedy }));`;
  const stdout = execFileSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--input-type=module', '-e', script], { encoding: 'utf8' });
  const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as { features: string; calls: Record<string, number>; greedy: number[] };
  t.is(r.features, 'relaxed-simd');
  t.is(r.calls['onebit-lut'], 35);
  t.deepEqual(r.greedy, reference.greedy_continuation_ids);
  const relaxed = new Float32Array(readFileSync(out).buffer.slice(0));
  const e = await load(exact);
  const le = (await e.run(plainFeeds(ids)))['logits']!.data as Float32Array;
  const rel = relativeL2(relaxed, le);
  t.log(`relaxed-SIMD logits: relative L2 ${rel.toExponential(2)} to the exact kernel`);
  t.true(rel <= 2e-3);
  // without the flag the same bundle falls back to model.wasm
  const plain = execFileSync(process.execPath, ['--input-type=module', '-e', `const { load } = await import(${JSON.stringify(pathToFileURL(join(lut, 'model.js')).href)}); console.log((await load({ backend: 'wasm' })).wasmFeatures);`], { encoding: 'utf8' });
  t.is(plain.trim(), 'simd128');
  writeFileSync(out, ''); // keep the temp folder small
});
