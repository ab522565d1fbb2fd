// The LUT kernel on a real model: the trained OneBit stories260K checkpoint (test/fixtures/onebit-stories260K).
// Its layers' real inputs (captured through the reference interpreter) through the exact kernel and the LUT
// GEMV; the bundle compiled with --kernel lut against --kernel exact: perplexity decoding token by token (one
// row per call: the LUT GEMV on every layer) and over whole chunks (several rows: the exact GEMM on the LUT
// layout), greedy tokens, logits; and the relaxed-SIMD module in a Node run with --experimental-wasm-relaxed-simd.
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
import { chunkText } from '../../runtime/generate/perplexity.ts';
import { loadTokenizer } from '../../runtime/tokenizer/tokenizer.ts';
import { hasRelaxedSimd } from '../../runtime/wasm/backend.ts';
import { ROOT, tempDir } from '../helpers/cli.ts';
import type { LayerData } from '../helpers/onebit-layer.ts';
import { layerKernels, relativeL2 } from '../helpers/onebit-layer.ts';

const FIXTURE = join(ROOT, 'test/fixtures/onebit-stories260K');
const reference = JSON.parse(readFileSync(join(FIXTURE, 'reference/reference.json'), 'utf8')) as { prompt_ids: number[]; greedy_continuation_ids: number[] };
const VALID = readFileSync(join(ROOT, 'test/fixtures/tinystories/valid_sample.txt'), 'utf8');
/** Two chunks of the TinyStories sample (BOS + whole paragraphs, ≤ 200 tokens each). */
const CHUNKS = chunkText(loadTokenizer(readFileSync(join(FIXTURE, 'tokenizer.json'), 'utf8')), VALID, 200, 2);

/**
 * decode.mjs: scores token ids by decoding them one at a time with the KV cache (every OneBit layer gets one
 * row per call); shared by this process and the relaxed-SIMD subprocess.
 */
const DECODE_SOURCE = `
export async function decodeScore(model, chunks) {
  let nll = 0, tokens = 0, last;
  for (const ids of chunks) {
    let past = {};
    for (let i = 0; i < 5; i++) for (const k of ['key', 'value']) past['past_key_values.' + i + '.' + k] = { data: new Float32Array(0), dims: [1, 4, 0, 8] };
    for (let t = 0; t < ids.length; t++) {
      const out = await model.run({ input_ids: { data: BigInt64Array.of(BigInt(ids[t])), dims: [1, 1] }, ...past });
      const logits = out.logits.data;
      if (t + 1 < ids.length) {
        let max = -Infinity;
        for (const v of logits) max = Math.max(max, v);
        let sum = 0;
        for (const v of logits) sum += Math.exp(v - max);
        nll += Math.log(sum) + max - logits[ids[t + 1]];
        tokens++;
      }
      last = logits;
      past = {};
      for (let i = 0; i < 5; i++) for (const k of ['key', 'value']) { const p = out['present.' + i + '.' + k]; past['past_key_values.' + i + '.' + k] = { data: p.data, dims: p.dims }; }
    }
  }
  return { perplexity: Math.exp(nll / tokens), tokens, last: Array.from(last) };
}`;
const decodeModule = (() => {
  let m: Promise<{ decodeScore(model: unknown, chunks: number[][]): Promise<{ perplexity: number; tokens: number; last: number[] }> }> | undefined;
  return () => {
    if (!m) {
      const file = join(tempDir('decode'), 'decode.mjs');
      writeFileSync(file, DECODE_SOURCE);
      m = import(pathToFileURL(file).href);
    }
    return m;
  };
})();

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

test('real layers: the LUT GEMV is within 2e-3 (relative L2) of the exact kernel on every OneBit layer\'s actual inputs', async (t) => {
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
    const rel = relativeL2(k.run(0, 'lut-gemv', c.x, c.rows), k.run(0, 'exact', c.x, c.rows)); // as the model runs it (post-norm)
    const raw = relativeL2(k.run(1, 'lut-gemv', c.x, c.rows), k.run(1, 'exact', c.x, c.rows)); // the linear alone
    worst = Math.max(worst, rel);
    worstRaw = Math.max(worstRaw, raw);
    sum += rel;
    t.true(rel <= 2e-3 && raw <= 2e-3, `${c.name} (${c.layer.out}×${c.layer.in}, ${c.rows} rows): relative L2 ${rel} (${raw} before the post-norm)`);
  }
  t.log(`35 layers × ${captured[0]!.rows} tokens: relative L2 mean ${(sum / captured.length).toExponential(2)}, worst ${worst.toExponential(2)} (before the post-norm: worst ${worstRaw.toExponential(2)})`);
});

test('--kernel lut: perplexity within 0.5 % of --kernel exact (decoding token by token and over whole chunks), the reference greedy tokens', async (t) => {
  const [exact, lut] = await Promise.all([bundle('exact'), bundle('lut')]);
  const manifest = JSON.parse(readFileSync(join(lut, 'manifest.json'), 'utf8')) as { files: Record<string, unknown> };
  t.truthy(manifest.files['model.relaxed.wasm']);
  const e = await load(exact);
  const l = await load(lut);
  // several rows per call: the exact GEMM on the LUT layout
  const ids = [...reference.prompt_ids, ...reference.greedy_continuation_ids];
  const le = (await e.run(plainFeeds(ids)))['logits']!.data as Float32Array;
  const ll = (await l.run(plainFeeds(ids)))['logits']!.data as Float32Array;
  t.is(l.wasmCalls.get('onebit-lut'), 35);
  t.is(l.wasmCalls.get('onebit-linear'), undefined);
  t.is(e.wasmCalls.get('onebit-linear'), 35);
  t.is(l.wasmFeatures, hasRelaxedSimd() ? 'relaxed-simd' : 'simd128');
  t.log(`prefill logits [42, 512] (GEMM): relative L2 ${relativeL2(ll, le).toExponential(2)}`);
  t.true(relativeL2(ll, le) <= 1e-5);
  const pe = (await e.perplexity(VALID, { maxChunks: 4 })).perplexity;
  const pl = (await l.perplexity(VALID, { maxChunks: 4 })).perplexity;
  t.log(`perplexity over 4 whole chunks: exact ${pe.toFixed(4)}, lut ${pl.toFixed(4)}`);
  t.true(Math.abs(pl / pe - 1) <= 1e-4);
  // one row per call: the LUT GEMV in every layer
  const { decodeScore } = await decodeModule();
  const de = await decodeScore(e, CHUNKS);
  const dl = await decodeScore(l, CHUNKS);
  const lastRel = relativeL2(Float32Array.from(dl.last), Float32Array.from(de.last));
  t.log(`decoding ${de.tokens} tokens one by one: perplexity exact ${de.perplexity.toFixed(4)}, lut ${dl.perplexity.toFixed(4)} (${(100 * (dl.perplexity / de.perplexity - 1)).toFixed(4)} %); last logits relative L2 ${lastRel.toExponential(2)}`);
  t.true(de.tokens >= 300);
  t.true(Math.abs(dl.perplexity / de.perplexity - 1) <= 0.005);
  t.true(lastRel <= 2e-3);
  t.deepEqual(await l.generateIds(reference.prompt_ids, { maxTokens: 32, stopOnEos: false }), reference.greedy_continuation_ids);
});

test('relaxed SIMD: in Node with --experimental-wasm-relaxed-simd the bundle loads model.relaxed.wasm and matches the exact kernel', async (t) => {
  const [exact, lut] = await Promise.all([bundle('exact'), bundle('lut')]);
  const { decodeScore } = await decodeModule();
  const decodeFile = join(tempDir('decode-relaxed'), 'decode.mjs');
  writeFileSync(decodeFile, DECODE_SOURCE);
  const script = `
    const { load } = await import(${JSON.stringify(pathToFileURL(join(lut, 'model.js')).href)});
    const { decodeScore } = await import(${JSON.stringify(pathToFileURL(decodeFile).href)});
    const model = await load({ backend: 'wasm' });
    const score = await decodeScore(model, ${JSON.stringify(CHUNKS)});
    const calls = Object.fromEntries(model.wasmCalls);
    const greedy = await model.generateIds(${JSON.stringify(reference.prompt_ids)}, { maxTokens: 32, stopOnEos: false });
    console.log(JSON.stringify({ features: model.wasmFeatures, calls, greedy, score }));`;
  const stdout = execFileSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--input-type=module', '-e', script], { encoding: 'utf8' });
  const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as { features: string; calls: Record<string, number>; greedy: number[]; score: { perplexity: number; tokens: number; last: number[] } };
  t.is(r.features, 'relaxed-simd');
  t.is(r.calls['onebit-lut'], 35);
  t.deepEqual(r.greedy, reference.greedy_continuation_ids);
  const de = await decodeScore(await load(exact), CHUNKS);
  const lastRel = relativeL2(Float32Array.from(r.score.last), Float32Array.from(de.last));
  t.log(`relaxed SIMD, decoding ${r.score.tokens} tokens: perplexity ${r.score.perplexity.toFixed(4)} vs exact ${de.perplexity.toFixed(4)}; last logits relative L2 ${lastRel.toExponential(2)}`);
  t.true(Math.abs(r.score.perplexity / de.perplexity - 1) <= 0.005);
  t.true(lastRel <= 2e-3);
  // without the flag the same bundle falls back to model.wasm
  const plain = execFileSync(process.execPath, ['--input-type=module', '-e', `const { load } = await import(${JSON.stringify(pathToFileURL(join(lut, 'model.js')).href)}); console.log((await load({ backend: 'wasm' })).wasmFeatures);`], { encoding: 'utf8' });
  t.is(plain.trim(), 'simd128');
});
