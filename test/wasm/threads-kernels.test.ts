// The OneBit GEMVs split between threads (runtime/wasm/thread-pool.ts over a shared memory): for every layer,
// the tables built once by the calling thread and the row ranges run by 2 and 3 threads give exactly the bytes
// of the single-threaded GEMV (LUT: `name$lut`; exact: `name` with one row), and match the reference kernel
// (LUT: within its bound; exact: fp32 rounding).
import test from 'ava';
import { createKernelModule, finishModule } from '../../compiler/codegen/wasm/module.ts';
import { addOneBitLinear, onebitScratchBytes } from '../../compiler/codegen/wasm/onebit-linear.ts';
import { addOneBitLinearRows } from '../../compiler/codegen/wasm/onebit-linear-rows.ts';
import { addOneBitLut, lutScratchBytes } from '../../compiler/codegen/wasm/onebit-lut.ts';
import { packSigns } from '../../compiler/onebit/pack.ts';
import { LUT_TILE_ROWS, lutLayoutBytes, onebitLayoutBytes, relayoutSigns, relayoutSignsLut } from '../../runtime/wasm/onebit-layout.ts';
import { chunkUnits, SPLIT_UNIT_ROWS } from '../../runtime/wasm/row-split.ts';
import { withSharedMemoryImport } from '../../runtime/wasm/shared-memory.ts';
import { ThreadPool } from '../../runtime/wasm/thread-pool.ts';
import type { LayerData } from '../helpers/onebit-layer.ts';
import { reference, relativeL2 } from '../helpers/onebit-layer.ts';
import { randomNormal } from '../helpers/onnx-builder.ts';

// (in, out): in not a multiple of 8/16/32 or below one pair, out of 1 row, not a multiple of 16, thousands
const SHAPES: [number, number][] = [[1, 1], [9, 17], [100, 33], [129, 40], [300, 1000], [1031, 4099], [4096, 512]];

function layer(inDim: number, out: number, seed: number, postNormEps?: number): LayerData {
  return {
    in: inDim, out, alpha: 0.75,
    canonical: packSigns(randomNormal(out * inDim, 1, seed), out, inDim),
    g: randomNormal(inDim, 0.5, seed + 1), h: randomNormal(out, 0.5, seed + 2), bias: randomNormal(out, 1, seed + 3),
    ...(postNormEps !== undefined ? { postNormEps } : {}),
  };
}

const LAYERS = [...SHAPES.map(([i, o], k) => layer(i, o, 10 * k + 1)), layer(520, 700, 99, 1e-5)];

type Kind = 'exact' | 'lut';

async function sharedLayers(layers: readonly LayerData[], kind: Kind) {
  let top = 1024;
  const alloc = (bytes: number): number => { const p = top; top += Math.ceil(bytes / 16) * 16 + 16; return p; };
  const scratch = alloc(Math.max(...layers.map((l) => (kind === 'lut' ? lutScratchBytes : onebitScratchBytes)(l.in, l.out))));
  const layoutBytes = kind === 'lut' ? lutLayoutBytes : onebitLayoutBytes;
  const xp = alloc(Math.max(...layers.map((l) => l.in)) * 4), yp = alloc(Math.max(...layers.map((l) => l.out)) * 4 + 64);
  const mod = createKernelModule();
  const placed = layers.map((l, k) => {
    const sign = alloc(layoutBytes(l.out, l.in)), g = alloc(l.in * 4), h = alloc(l.out * 4), bias = alloc(l.out * 4);
    const spec = { in: l.in, out: l.out, sign, g, h, bias, alpha: l.alpha, scratch, ...(l.postNormEps !== undefined ? { postNormEps: l.postNormEps } : {}) };
    if (kind === 'lut') addOneBitLut(mod, `k${k}`, spec);
    else {
      addOneBitLinear(mod, `k${k}`, spec);
      addOneBitLinearRows(mod, `k${k}`, spec);
    }
    return { sign, g, h, bias };
  });
  const { binary } = finishModule(mod);
  mod.dispose();
  const memory = new WebAssembly.Memory({ initial: Math.ceil(top / 65536) + 1, maximum: 65536, shared: true });
  const module = new WebAssembly.Module(withSharedMemoryImport(binary) as Uint8Array<ArrayBuffer>);
  const exports = (await WebAssembly.instantiate(module, { env: { memory } })).exports as Record<string, (...a: number[]) => void>;
  layers.forEach((l, k) => {
    const p = placed[k]!;
    new Uint8Array(memory.buffer, p.sign, layoutBytes(l.out, l.in)).set((kind === 'lut' ? relayoutSignsLut : relayoutSigns)(l.canonical, l.out, l.in));
    new Float32Array(memory.buffer, p.g, l.in).set(l.g);
    new Float32Array(memory.buffer, p.h, l.out).set(l.h);
    new Float32Array(memory.buffer, p.bias, l.out).set(l.bias!);
  });
  const rowNames = layers.map((_, k) => `k${k}$rows`);
  const units = (k: number): number => Math.ceil(layers[k]!.out / SPLIT_UNIT_ROWS);
  /** y of layer k for x: single-threaded (pool undefined), else in chunks of `chunk` units (default: the runtime's). */
  const run = (k: number, x: Float32Array, pool?: ThreadPool, chunk?: number): Float32Array => {
    const l = layers[k]!;
    new Float32Array(memory.buffer, xp, l.in).set(x);
    const y = new Float32Array(memory.buffer, yp, l.out + 16).fill(12345);
    if (!pool) exports[kind === 'lut' ? `k${k}$lut` : `k${k}`]!(xp, yp, 1);
    else {
      exports[`k${k}$tables`]!(xp);
      pool.run(`k${k}$rows`, yp, units(k), chunk ?? chunkUnits(units(k), pool.threads));
      exports[`k${k}$postnorm`]?.(yp, 1);
    }
    if (!y.subarray(l.out).every((v) => v === 12345)) throw new Error(`layer ${k}: wrote past y`);
    return y.slice(0, l.out);
  };
  return { module, memory, exports, rowNames, run, units };
}

const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

for (const kind of ['lut', 'exact'] as const) {
  test(`${kind}: 2 and 3 threads, in chunks of any size, give the single-threaded GEMV bit for bit, and the reference`, async (t) => {
    const s = await sharedLayers(LAYERS, kind);
    for (const [threads, callerWorks] of [[2, false], [3, false], [2, true], [3, true]] as const) {
      const pool = await ThreadPool.create(s.module, s.memory, s.exports, s.rowNames, threads, { callerWorks });
      try {
        t.is(pool.threads, threads);
        let chunks = 0;
        LAYERS.forEach((l, k) => {
          const x = randomNormal(l.in, 1, 500 + k);
          const single = s.run(k, x);
          const split = s.run(k, x, pool);
          chunks += Math.ceil(s.units(k) / chunkUnits(s.units(k), threads));
          t.deepEqual(bits(split), bits(single), `threads=${threads} in=${l.in} out=${l.out}${l.postNormEps !== undefined ? ' post-norm' : ''}`);
          t.true(relativeL2(split, reference(l, x, 1)) <= (kind === 'lut' ? 2e-3 : 1e-5), `in=${l.in} out=${l.out}: close to the reference`);
        });
        // other chunk sizes: one unit each, 7 units, all in one chunk
        const k = SHAPES.findIndex(([, o]) => o === 4099);
        const x = randomNormal(LAYERS[k]!.in, 1, 7);
        const single = bits(s.run(k, x));
        for (const chunk of [1, 7, s.units(k)]) {
          t.deepEqual(bits(s.run(k, x, pool, chunk)), single, `chunks of ${chunk}`);
          chunks += Math.ceil(s.units(k) / chunk);
        }
        if (!callerWorks) t.is(pool.counts.worker, chunks, 'every chunk ran in a worker');
        t.is(pool.counts.worker + pool.counts.caller, chunks, 'each chunk ran once');
        t.log(`${kind}, ${threads} threads${callerWorks ? '' : ', workers only'}: ${pool.counts.worker} chunks ran in workers, ${pool.counts.caller} in the caller`);
      } finally {
        pool.dispose();
      }
    }
  });
}

test('the split unit is the LUT kernel\'s tile', (t) => {
  t.is(SPLIT_UNIT_ROWS, LUT_TILE_ROWS);
});

test('a trap in a chunk is thrown by run(), the pool keeps working, and run() after dispose() throws', async (t) => {
  const s = await sharedLayers([LAYERS[5]!], 'lut');
  for (const callerWorks of [true, false]) {
    const pool = await ThreadPool.create(s.module, s.memory, s.exports, s.rowNames, 2, { callerWorks });
    // y far beyond the memory: every chunk traps, in a worker or in the caller
    t.throws(() => pool.run('k0$rows', 0x7fff0000, s.units(0), 1), { message: callerWorks ? /out of bounds|export 'k0\$rows' trapped/ : /WASM worker: export 'k0\$rows' trapped/ });
    // the pool still works afterwards
    const x = randomNormal(LAYERS[5]!.in, 1, 3);
    t.deepEqual(bits(s.run(0, x, pool)), bits(s.run(0, x)));
    t.throws(() => pool.run('nope', 1024, 1, 1), { message: /not one of the exports/ });
    t.throws(() => pool.run('k0$rows', 1024, 4, 0), { instanceOf: RangeError });
    pool.dispose();
    t.throws(() => pool.run('k0$rows', 1024, 1, 1), { message: /after dispose/ });
  }
});
