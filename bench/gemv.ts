// GEMV/GEMM speed of the OneBit WASM kernels — exact (compiler/codegen/wasm/onebit-linear.ts), LUT
// (onebit-lut.ts), and the LUT kernel with relaxed SIMD when the engine has it — against onnxruntime-node fp32
// MatMul, onnxruntime-node 4-bit MatMulNBits and onnxruntime-web (wasm) fp32 MatMul, one thread, and the
// GEMVs with 2 threads (WASM: rows split between the calling thread and a worker, runtime/wasm/thread-pool.ts;
// onnxruntime-node: intraOpNumThreads 2), all measured in the same run (median after warm-up). Ratios are
// speed-ups over onnxruntime-node fp32 with one thread (> 1 = faster); the threads table also gives each
// runner's 2-thread speed-up over its own one-thread time. Run
// (add --experimental-wasm-relaxed-simd on Node 20 for the relaxed row):
//   node --import ./scripts/ts-loader.js -e "import('./bench/gemv.ts').then(m=>m.gemvTables())"
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { createKernelModule, finishModule } from '../compiler/codegen/wasm/module.ts';
import binaryen from 'binaryen';
import { addOneBitLinear, onebitScratchBytes } from '../compiler/codegen/wasm/onebit-linear.ts';
import { addOneBitLinearRows } from '../compiler/codegen/wasm/onebit-linear-rows.ts';
import { addOneBitLut, lutScratchBytes } from '../compiler/codegen/wasm/onebit-lut.ts';
import { hasRelaxedSimd } from '../runtime/wasm/backend.ts';
import { relayoutSigns, relayoutSignsLut } from '../runtime/wasm/onebit-layout.ts';
import { chunkUnits, SPLIT_UNIT_ROWS } from '../runtime/wasm/row-split.ts';
import { withSharedMemoryImport } from '../runtime/wasm/shared-memory.ts';
import { ThreadPool } from '../runtime/wasm/thread-pool.ts';
import { tensorToProto } from '../formats/onnx/tensor-proto.ts';
import type { Tensor } from '../formats/tensor.ts';
import { randomNormal, rng, valueInfo } from '../test/helpers/onnx-builder.ts';
import { speedup, table } from './report.ts';

const { onnx } = onnxProto;

type Run = () => unknown;

/** Median milliseconds of `run` after warm-up: at least `minRuns` runs and `minMs` of timing. */
export async function median(run: Run, minRuns = 30, minMs = 1200): Promise<number> {
  for (let i = 0; i < 5; i++) await run();
  const times: number[] = [];
  const start = performance.now();
  while ((times.length < minRuns || performance.now() - start < minMs) && times.length < 2000) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export function modelBytes(nodes: OnnxTypes.INodeProto[], inputs: OnnxTypes.IValueInfoProto[], outputs: OnnxTypes.IValueInfoProto[],
  initializers: [string, Tensor][], msDomain = false): Uint8Array {
  const opsetImport = [{ domain: '', version: 17 }, ...(msDomain ? [{ domain: 'com.microsoft', version: 1 }] : [])];
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8, producerName: 'onebitc-bench', opsetImport,
    graph: { name: 'bench', node: nodes, input: inputs, output: outputs, initializer: initializers.map(([n, t]) => tensorToProto(n, t)) },
  })).finish();
}

/** fp32 MatMul y[M,N] = x[M,K] · W[K,N] (W an initializer). */
function matmulModel(M: number, K: number, N: number): Uint8Array {
  return modelBytes([{ name: 'mm', opType: 'MatMul', input: ['x', 'w'], output: ['y'] }],
    [valueInfo('x', 1, [M, K])], [valueInfo('y', 1, [M, N])],
    [['w', { dtype: 'float32', dims: [K, N], data: randomNormal(K * N, 0.02, 11) }]]);
}

/** com.microsoft MatMulNBits, 4 bits, block 32: B uint8 [N, K/32, 16], scales [N·K/32]. */
function matmulNBitsModel(K: number, N: number): Uint8Array {
  const next = rng(12);
  const blocks = K / 32;
  const b = new Uint8Array(N * blocks * 16);
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(next() * 256);
  const scales = Float32Array.from({ length: N * blocks }, () => 0.001 + next() * 0.01);
  return modelBytes([{
    name: 'mmnb', opType: 'MatMulNBits', domain: 'com.microsoft', input: ['x', 'b', 'scales'], output: ['y'],
    attribute: [
      { name: 'K', type: onnx.AttributeProto.AttributeType.INT, i: K },
      { name: 'N', type: onnx.AttributeProto.AttributeType.INT, i: N },
      { name: 'bits', type: onnx.AttributeProto.AttributeType.INT, i: 4 },
      { name: 'block_size', type: onnx.AttributeProto.AttributeType.INT, i: 32 },
    ],
  }], [valueInfo('x', 1, [1, K])], [valueInfo('y', 1, [1, N])],
  [['b', { dtype: 'uint8', dims: [N, blocks, 16], data: b }], ['scales', { dtype: 'float32', dims: [N * blocks], data: scales }]], true);
}

async function ortNodeRunner(model: Uint8Array, x: Float32Array, M: number, K: number, threads = 1): Promise<Run> {
  const session = await ortNode.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' });
  const feeds = { x: new ortNode.Tensor('float32', x, [M, K]) };
  return () => session.run(feeds);
}

async function ortWebRunner(model: Uint8Array, x: Float32Array, M: number, K: number): Promise<Run> {
  ortWeb.env.wasm.numThreads = 1;
  const session = await ortWeb.InferenceSession.create(model, { executionProviders: ['wasm'] });
  const feeds = { x: new ortWeb.Tensor('float32', x, [M, K]) };
  return () => session.run(feeds);
}

export type OneBitKernel = 'exact' | 'lut' | 'lut-relaxed';

/** Worker pools the runners started (disposed at the end of a table). */
const pools: ThreadPool[] = [];

/**
 * The OneBit kernel for out×in, instantiated alone with random signs, g, h and x (M rows). threads > 1 (M = 1):
 * the runtime's split (runtime/wasm/backend.ts): tables on the calling thread, row ranges on all threads.
 */
export async function onebitRunner(out: number, inDim: number, x: Float32Array, M: number, kernel: OneBitKernel = 'exact', threads = 1): Promise<Run> {
  if (threads > 1 && M !== 1) throw new Error('onebitRunner: threads only for the GEMV (M = 1)');
  const next = rng(7);
  const canonical = new Uint8Array(out * Math.ceil(inDim / 8));
  for (let i = 0; i < canonical.length; i++) canonical[i] = Math.floor(next() * 256);
  const tail = inDim % 8;
  if (tail) for (let o = 0; o < out; o++) canonical[(o + 1) * Math.ceil(inDim / 8) - 1]! &= (1 << tail) - 1;
  const exact = kernel === 'exact';
  const signs = exact ? relayoutSigns(canonical, out, inDim) : relayoutSignsLut(canonical, out, inDim);
  let top = 1024;
  const alloc = (bytes: number): number => { const p = top; top += Math.ceil(bytes / 16) * 16; return p; };
  const sign = alloc(signs.length), g = alloc(inDim * 4), h = alloc(out * 4), bias = alloc(out * 4);
  const scratch = alloc(exact ? onebitScratchBytes(inDim, out) : lutScratchBytes(inDim, out)), xp = alloc(M * inDim * 4), yp = alloc(M * out * 4);
  const mod = createKernelModule();
  const spec = { in: inDim, out, sign, g, h, bias, alpha: 1, scratch };
  if (exact) {
    addOneBitLinear(mod, 'linear', spec);
    addOneBitLinearRows(mod, 'linear', spec);
  } else {
    if (kernel === 'lut-relaxed') mod.setFeatures(mod.getFeatures() | binaryen.Features.RelaxedSIMD);
    addOneBitLut(mod, 'linear', { ...spec, relaxed: kernel === 'lut-relaxed' });
  }
  const { binary } = finishModule(mod);
  mod.dispose();
  const shared = threads > 1;
  const memory = new WebAssembly.Memory({ initial: Math.ceil(top / 65536) + 1, maximum: 65536, shared });
  const module = new WebAssembly.Module((shared ? withSharedMemoryImport(binary) : binary) as Uint8Array<ArrayBuffer>);
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  new Uint8Array(memory.buffer, sign, signs.length).set(signs);
  new Float32Array(memory.buffer, g, inDim).set(randomNormal(inDim, 0.05, 8));
  new Float32Array(memory.buffer, h, out).set(randomNormal(out, 0.05, 9));
  new Float32Array(memory.buffer, bias, out).set(randomNormal(out, 0.05, 10));
  new Float32Array(memory.buffer, xp, M * inDim).set(x);
  const linear = instance.exports.linear as (x: number, y: number, rows: number) => void;
  if (!shared) return () => linear(xp, yp, M);
  const pool = await ThreadPool.create(module, memory, instance.exports, ['linear$rows'], threads);
  pools.push(pool);
  const tables = instance.exports['linear$tables'] as (x: number) => void;
  const units = Math.ceil(out / SPLIT_UNIT_ROWS);
  const chunk = chunkUnits(units, threads);
  return () => { tables(xp); pool.run('linear$rows', yp, units, chunk); };
}

const fmt = (ms: number, base: number): string => `${ms.toFixed(3)} ms (${(base / ms).toFixed(2)}×)`;

export async function gemvTables(): Promise<void> {
  const shapes: [number, number][] = [[4096, 4096], [11008, 4096], [4096, 11008]]; // out × in
  const relaxed = hasRelaxedSimd();
  const names = ['OneBit WASM SIMD, exact kernel', 'OneBit WASM SIMD, lut kernel', ...(relaxed ? ['OneBit WASM relaxed SIMD, lut kernel'] : []),
    'onnxruntime-node fp32 MatMul', 'onnxruntime-node 4-bit MatMulNBits', 'onnxruntime-web wasm fp32 MatMul',
    'OneBit WASM SIMD, exact kernel, 2 threads', 'OneBit WASM SIMD, lut kernel, 2 threads', 'onnxruntime-node fp32 MatMul, 2 threads'];
  // [2-thread row, its 1-thread row]
  const pairs: [number, number][] = [[names.length - 3, 0], [names.length - 2, 1], [names.length - 1, names.indexOf('onnxruntime-node fp32 MatMul')]];
  const threadCells: string[][] = pairs.map(() => []);
  const base = names.indexOf('onnxruntime-node fp32 MatMul');
  const cells: string[][] = names.map(() => []);
  for (const [out, inDim] of shapes) {
    const x = randomNormal(inDim, 1, 3);
    const fp32 = matmulModel(1, inDim, out);
    const runners: Run[] = [
      await onebitRunner(out, inDim, x, 1),
      await onebitRunner(out, inDim, x, 1, 'lut'),
      ...(relaxed ? [await onebitRunner(out, inDim, x, 1, 'lut-relaxed')] : []),
      await ortNodeRunner(fp32, x, 1, inDim),
      await ortNodeRunner(matmulNBitsModel(inDim, out), x, 1, inDim),
      await ortWebRunner(fp32, x, 1, inDim),
      await onebitRunner(out, inDim, x, 1, 'exact', 2),
      await onebitRunner(out, inDim, x, 1, 'lut', 2),
      await ortNodeRunner(fp32, x, 1, inDim, 2),
    ];
    const times: number[] = [];
    for (const r of runners) times.push(await median(r));
    times.forEach((t, i) => cells[i]!.push(fmt(t, times[base]!)));
    times.forEach((t, i) => speedup(`GEMV ${out}×${inDim}, one token`, 'onnxruntime-node fp32 MatMul, 1 thread', names[i]!, times[base]! / t));
    pairs.forEach(([two, one], i) => threadCells[i]!.push(`${times[one]!.toFixed(3)} → ${times[two]!.toFixed(3)} ms (${(times[one]! / times[two]!).toFixed(2)}×)`));
    for (const pool of pools.splice(0)) pool.dispose();
  }
  const header = ['runner', ...shapes.map(([o, i]) => `${o}×${i}`)];
  table('GEMV, one token (M = 1), one thread unless said: median time (speed-up over onnxruntime-node fp32, 1 thread)', header,
    names.map((n, i) => [n, ...cells[i]!]));
  table('GEMV, one token: 1 thread → 2 threads (2-thread speed-up over its own 1-thread time), same run', header,
    pairs.map(([two], i) => [names[two]!.replace(', 2 threads', ''), ...threadCells[i]!]));

  const M = 16, out = 4096, inDim = 4096;
  const x = randomNormal(M * inDim, 1, 4);
  const gemm: [string, Run][] = [
    ['OneBit WASM SIMD, exact kernel', await onebitRunner(out, inDim, x, M)],
    ['OneBit WASM SIMD, lut kernel', await onebitRunner(out, inDim, x, M, 'lut')],
    ['onnxruntime-node fp32 MatMul', await ortNodeRunner(matmulModel(M, inDim, out), x, M, inDim)],
  ];
  const t: number[] = [];
  for (const [, r] of gemm) t.push(await median(r));
  table(`GEMM, M = ${M} rows, ${out}×${inDim}, one thread`, ['runner', 'time (speed-up over onnxruntime-node fp32)'], gemm.map(([n], i) => [n, fmt(t[i]!, t[2]!)]));
}
