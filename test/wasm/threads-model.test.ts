// load({ threads }) on a real bundle: the trained OneBit stories260K checkpoint compiled with --kernel lut and
// --kernel exact, every OneBit layer split (threadMinWeights: 1). Decoding token by token (one row per call:
// the split GEMV) gives bit-for-bit the logits of threads: 1 and the reference greedy tokens; several rows per
// call stay on the calling thread; the fused decode step splits the same projections, again bit for bit; dispose() (or no dispose at all) lets the Node process exit.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { compile } from '../../compiler/compile.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { DecodeSession } from '../../runtime/generate/session.ts';
import type { LanguageModel } from '../../runtime/generate/session.ts';
import { onebitc, ROOT, tempDir } from '../helpers/cli.ts';

const FIXTURE = join(ROOT, 'test/fixtures/onebit-stories260K');
const reference = JSON.parse(readFileSync(join(FIXTURE, 'reference/reference.json'), 'utf8')) as { prompt_ids: number[]; greedy_continuation_ids: number[] };
const LAYERS = 5;

interface LmModel {
  run(feeds: Record<string, { data: unknown; dims: number[] }>): Promise<Record<string, Tensor>>;
  generateIds(ids: number[], o: { maxTokens: number; stopOnEos: boolean }): Promise<number[]>;
  wasmCalls: ReadonlyMap<string, number>;
  threads: number;
  dispose(): void;
}

type Kernel = 'lut' | 'exact';
const built = new Map<Kernel, Promise<string>>();
const bundle = (kernel: Kernel = 'lut'): Promise<string> => {
  let b = built.get(kernel);
  if (!b) {
    const dir = join(tempDir(`threads-${kernel}`), 'bundle');
    b = compile(FIXTURE, { output: dir, kernel, targets: ['wasm'], log: () => {} }).then(() => dir);
    built.set(kernel, b);
  }
  return b;
};
const load = async (options: object, kernel: Kernel = 'lut'): Promise<LmModel> =>
  (await import(pathToFileURL(join(await bundle(kernel), 'model.js')).href)).load({ backend: 'wasm', ...options }) as Promise<LmModel>;

/** Every logit of decoding `ids` one token at a time with the KV cache. */
async function decode(model: LmModel, ids: readonly number[]): Promise<Float32Array> {
  let past: Record<string, { data: unknown; dims: number[] }> = {};
  for (let i = 0; i < LAYERS; i++) for (const k of ['key', 'value']) past[`past_key_values.${i}.${k}`] = { data: new Float32Array(0), dims: [1, 4, 0, 8] };
  const all: number[] = [];
  for (const id of ids) {
    const out = await model.run({ input_ids: { data: BigInt64Array.of(BigInt(id)), dims: [1, 1] }, ...past });
    all.push(...(out['logits']!.data as Float32Array));
    past = {};
    for (let i = 0; i < LAYERS; i++) for (const k of ['key', 'value']) { const p = out[`present.${i}.${k}`]!; past[`past_key_values.${i}.${k}`] = { data: p.data, dims: [...p.dims] }; }
  }
  return Float32Array.from(all);
}

const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** Every logit of decoding `ids` one token at a time through a DecodeSession (the fused decode step). */
async function decodeFused(model: LmModel, ids: readonly number[]): Promise<Float32Array> {
  const session = new DecodeSession(model as unknown as LanguageModel, { maxContext: 256 });
  const all: number[] = [];
  for (const id of ids) all.push(...await session.append([id]));
  return Float32Array.from(all);
}

for (const kernel of ['lut', 'exact'] as const) {
  test(`--kernel ${kernel}: threads: 2 decodes stories260K to the same logits bit for bit as threads: 1, and the reference greedy tokens`, async (t) => {
    const one = await load({ threads: 1 }, kernel);
    const two = await load({ threads: 2, threadMinWeights: 1 }, kernel);
    const kind = kernel === 'lut' ? 'onebit-lut' : 'onebit-linear';
    try {
      t.is(one.threads, 1);
      t.is(two.threads, 2);
      const ids = [...reference.prompt_ids, ...reference.greedy_continuation_ids.slice(0, 8)];
      const single = await decode(one, ids);
      const split = await decode(two, ids);
      t.is(two.wasmCalls.get(`${kind}:threads`), 35, 'every OneBit layer split on the last token');
      t.is(one.wasmCalls.get(`${kind}:threads`), undefined);
      t.deepEqual(bits(split), bits(single));
      // several rows (the prompt at once): the exact GEMM on the calling thread
      await two.run({ input_ids: { data: BigInt64Array.from(reference.prompt_ids.map(BigInt)), dims: [1, reference.prompt_ids.length] },
        ...Object.fromEntries(Array.from({ length: LAYERS }, (_, i) => ['key', 'value'].map((k) => [`past_key_values.${i}.${k}`, { data: new Float32Array(0), dims: [1, 4, 0, 8] }])).flat()) });
      t.is(two.wasmCalls.get(`${kind}:threads`), undefined);
      t.is(two.wasmCalls.get(kind), 35);
      // the fused decode step, its OneBit projections split between the threads
      const fusedSingle = await decodeFused(one, ids);
      const fusedSplit = await decodeFused(two, ids);
      t.is(two.wasmCalls.get('decode-step:threads'), 35);
      t.is(one.wasmCalls.get('decode-step:threads'), undefined);
      t.is(one.wasmCalls.get('decode-step'), 1);
      t.deepEqual(bits(fusedSplit), bits(fusedSingle));
      t.deepEqual(await two.generateIds(reference.prompt_ids, { maxTokens: 32, stopOnEos: false }), reference.greedy_continuation_ids);
    } finally {
      one.dispose();
      two.dispose();
    }
  });
}

test('threads: 2 with the default threshold leaves stories260K (layers below 2^20 weights) single-threaded', async (t) => {
  const m = await load({ threads: 2 });
  t.is(m.threads, 1);
  m.dispose();
});

test('threads: 0 or 1.5 is rejected with the rule', async (t) => {
  await t.throwsAsync(load({ threads: 0 }), { message: /threads must be an integer ≥ 1, got 0/ });
  await t.throwsAsync(load({ threads: 1.5 }), { message: /threads must be an integer ≥ 1, got 1\.5/ });
});

test('a Node process with a 2-thread model exits after dispose(), and without it', async (t) => {
  const url = pathToFileURL(join(await bundle(), 'model.js')).href;
  for (const dispose of [true, false]) {
    const script = `const { load } = await import(${JSON.stringify(url)});
      const m = await load({ backend: 'wasm', threads: 2, threadMinWeights: 1 });
      const out = await m.generateIds([1], { maxTokens: 3, stopOnEos: false });
      console.log(m.threads, m.wasmCalls.get('decode-step:threads'), out.length);
      ${dispose ? 'm.dispose();' : ''}`;
    const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    t.is(stdout.trim(), '2 35 3', `dispose: ${dispose}`);
  }
});

test('onebitc run --threads 2 writes the text of --threads 1; --threads 0 is refused with the rule', async (t) => {
  const dir = await bundle();
  const args = [dir, '--prompt', 'Once upon a time', '--max-tokens', '12', '--backend', 'wasm'];
  const one = onebitc('run', ...args, '--threads', '1');
  const two = onebitc('run', ...args, '--threads', '2');
  t.is(one.code, 0, one.stderr);
  t.is(two.code, 0, two.stderr);
  t.is(two.stdout, one.stdout);
  const zero = onebitc('run', ...args, '--threads', '0');
  t.is(zero.code, 1);
  t.regex(zero.stderr, /--threads must be an integer ≥ 1, got "0"/);
});

test.serial('an engine that refuses a shared memory: single-threaded, one note, the same logits', async (t) => {
  const Memory = WebAssembly.Memory;
  const notes: string[] = [];
  class NoSharedMemory extends Memory {
    constructor(d: WebAssembly.MemoryDescriptor) {
      if (d.shared) throw new RangeError('shared memory refused (test stub)');
      super(d);
    }
  }
  WebAssembly.Memory = NoSharedMemory;
  let m: LmModel;
  try {
    m = await load({ threads: 2, threadMinWeights: 1, onNote: (n: string) => notes.push(n) });
  } finally {
    WebAssembly.Memory = Memory;
  }
  const one = await load({ threads: 1 });
  try {
    t.is(m.threads, 1);
    t.deepEqual(notes, ['threads: 2 asked, but a shared WebAssembly memory could not be created (shared memory refused (test stub)): running single-threaded']);
    const ids = reference.prompt_ids.slice(0, 4);
    t.deepEqual(bits(await decode(m, ids)), bits(await decode(one, ids)));
    t.is(m.wasmCalls.get('onebit-lut:threads'), undefined);
  } finally {
    m.dispose();
    one.dispose();
  }
});
