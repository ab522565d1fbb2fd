// The LUT OneBit WASM kernels (compiler/codegen/wasm/onebit-lut.ts) against the reference kernel
// (runtime/kernels/onebit.ts) and the exact WASM kernel, with the runtime's LUT sign layout
// (runtime/wasm/onebit-layout.ts). The LUT GEMV (one row) is approximate (int8 tables): every element within
// the worst case of the table rounding, and a relative L2 error ≤ 2e-3 (measured ~1e-4 to 6e-4). Several rows
// run the exact GEMM on the LUT layout: within fp32 rounding of the reference.
import test from 'ava';
import { createKernelModule, finishModule } from '../../../../compiler/codegen/wasm/module.ts';
import type { OneBitLutSpec } from '../../../../compiler/codegen/wasm/onebit-lut.ts';
import { addOneBitLut, LUT_HI_MAX, LUT_LO_MAX } from '../../../../compiler/codegen/wasm/onebit-lut.ts';
import { packSigns } from '../../../../compiler/onebit/pack.ts';
import { LUT_BLOCK_PAIRS, LUT_TILE_ROWS, lutLayoutBytes, ONEBIT_LUT_LAYOUT, relayoutSignsLut } from '../../../../runtime/wasm/onebit-layout.ts';
import type { LayerData } from '../../../helpers/onebit-layer.ts';
import { layerKernels, lutErrorBound, reference, relativeL2 } from '../../../helpers/onebit-layer.ts';
import { randomNormal, rng } from '../../../helpers/onnx-builder.ts';

const BOUND = 2e-3;

function randomLayer(inDim: number, out: number, seed: number, withBias: boolean, postNormEps?: number): LayerData {
  return {
    in: inDim, out, alpha: withBias ? 0.75 : -1.5,
    canonical: packSigns(randomNormal(out * inDim, 1, seed), out, inDim),
    g: randomNormal(inDim, 0.5, seed + 1), h: randomNormal(out, 0.5, seed + 2),
    ...(withBias ? { bias: randomNormal(out, 1, seed + 3) } : {}),
    ...(postNormEps !== undefined ? { postNormEps } : {}),
  };
}

test(`layout ${ONEBIT_LUT_LAYOUT}: [blocks, tiles, pairs, 16 rows] bytes, rows past out are zero`, (t) => {
  const next = rng(3);
  const lane = (r: number) => [0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15][r]!;
  for (const inDim of [1, 7, 8, 9, 64, 127, 128, 129, 300, 1031]) {
    for (const out of [1, 15, 16, 17, 40]) {
      const pairs = Math.ceil(inDim / 8);
      const canonical = Uint8Array.from({ length: out * pairs }, () => Math.floor(next() * 256));
      const got = relayoutSignsLut(canonical, out, inDim);
      const tiles = Math.ceil(out / LUT_TILE_ROWS);
      t.is(got.length, lutLayoutBytes(out, inDim));
      const want = new Uint8Array(tiles * LUT_TILE_ROWS * pairs);
      for (let o = 0; o < out; o++) {
        for (let p = 0; p < pairs; p++) {
          const b = Math.floor(p / LUT_BLOCK_PAIRS);
          const np = Math.min(LUT_BLOCK_PAIRS, pairs - b * LUT_BLOCK_PAIRS);
          const tile = Math.floor(o / LUT_TILE_ROWS);
          want[b * LUT_BLOCK_PAIRS * tiles * LUT_TILE_ROWS + (tile * np + p % LUT_BLOCK_PAIRS) * LUT_TILE_ROWS + lane(o % LUT_TILE_ROWS)] = canonical[o * pairs + p]!;
        }
      }
      t.deepEqual(got, want, `in=${inDim} out=${out}`);
    }
  }
  t.is(relayoutSignsLut(new Uint8Array(0), 0, 9).length, 0);
  t.throws(() => relayoutSignsLut(new Uint8Array(3), 2, 9), { instanceOf: RangeError });
});

const INS = [1, 3, 7, 9, 17, 31, 33, 100, 129, 172, 300, 1031];
const OUTS = [1, 5, 16, 17, 33];
const ROWS = [1, 2, 5];

for (const inDim of INS) {
  test(`in=${inDim}: LUT kernel against the reference for every out × rows × bias × post-norm`, async (t) => {
    const layers: LayerData[] = [];
    OUTS.forEach((out, k) => {
      for (const withBias of [false, true]) {
        for (const eps of [undefined, 1e-5]) {
          if (eps !== undefined && out < 3) continue; // a post-norm over 1–2 outputs is ±1 or 0 whatever the sums
          layers.push(randomLayer(inDim, out, 100 * inDim + 10 * k + (withBias ? 1 : 0), withBias, eps));
        }
      }
    });
    const kernels = await layerKernels(layers, Math.max(...ROWS));
    let worst = 0;
    for (const rows of ROWS) {
      const x = randomNormal(rows * inDim, 1, rows + inDim);
      layers.forEach((l, k) => {
        const want = reference(l, x, rows);
        const what = `out=${l.out} rows=${rows} bias=${!!l.bias} eps=${l.postNormEps}`;
        // the LUT GEMV on every row; a relative L2 over a vector of outputs (one output alone can be a near-cancelling sum)
        const got = kernels.run(k, 'lut-gemv', x, rows);
        if (l.out >= 16) {
          const rel = relativeL2(got, want);
          worst = Math.max(worst, rel);
          t.true(rel <= BOUND, `${what}: relative L2 ${rel}`);
        }
        if (l.postNormEps === undefined) {
          // every element within the worst case of the table rounding
          for (let r = 0; r < rows; r++) {
            const bound = lutErrorBound(l, x, r, LUT_HI_MAX, LUT_LO_MAX);
            for (let o = 0; o < l.out; o++) {
              const d = Math.abs(got[r * l.out + o]! - want[r * l.out + o]!);
              const scale = Math.abs(l.alpha * l.h[o]!);
              if (!(d <= scale * bound + 1e-6 * Math.abs(want[r * l.out + o]!))) t.fail(`${what}: element ${r},${o} off by ${d} > ${scale * bound}`);
            }
          }
        }
        // the kernel's entry: the GEMV for one row (the same numbers), the exact GEMM for several
        const entry = kernels.run(k, 'lut', x, rows);
        if (rows === 1) t.deepEqual(entry, got);
        else {
          const rel = relativeL2(entry, want);
          t.true(rel <= 1e-5, `${what}: GEMM on the LUT layout, relative L2 ${rel}`);
        }
      });
    }
    t.log(`in=${inDim}: worst relative L2 of the LUT GEMV ${worst.toExponential(2)}`);
  });
}

test('thousands of rows: the GEMM on the LUT layout (blocks of 8, tails of 1–7 rows) and the LUT GEMV row by row', async (t) => {
  for (const [inDim, out, rows] of [[100, 33, 3000], [172, 64, 1000], [9, 3, 2000], [1031, 40, 1000], [300, 17, 1000]] as const) {
    const l = randomLayer(inDim, out, inDim + out, true, out > 3 ? 1e-5 : undefined);
    const kernels = await layerKernels([l], rows);
    for (const n of [rows, rows - 1, rows - 2, rows - 3, rows - 4, rows - 6, rows - 7]) { // tails of 0, 7, 6, 5, 4, 2, 1 rows
      const x = randomNormal(n * inDim, 2, n);
      const want = reference(l, x, n);
      const rel = relativeL2(kernels.run(0, 'lut', x, n), want);
      t.true(rel <= 1e-5, `${inDim}×${out}, ${n} rows: GEMM relative L2 ${rel}`);
      if (n === rows) {
        const gemv = kernels.run(0, 'lut-gemv', x, n);
        t.true(relativeL2(gemv, want) <= BOUND, `${inDim}×${out}, ${n} rows: GEMV`);
        // the first and last rows alone give the same numbers as inside the batch
        t.deepEqual(kernels.run(0, 'lut', x, 1), gemv.subarray(0, out));
        t.deepEqual(kernels.run(0, 'lut', x.subarray((n - 1) * inDim), 1), gemv.subarray((n - 1) * out));
      }
    }
  }
});

test('4096×4096 Gaussian layer: LUT within 2e-3 of the exact kernel; rows = 0 writes nothing; in = 0 gives the bias', async (t) => {
  const l = randomLayer(4096, 4096, 77, false);
  l.alpha = 1;
  const kernels = await layerKernels([l], 2);
  const x = randomNormal(2 * 4096, 1, 5);
  const rel = relativeL2(kernels.run(0, 'lut-gemv', x, 2), kernels.run(0, 'exact', x, 2));
  t.true(relativeL2(kernels.run(0, 'lut', x, 2), kernels.run(0, 'exact', x, 2)) <= 1e-6);
  t.log(`4096×4096: relative L2 to the exact kernel ${rel.toExponential(2)}`);
  t.true(rel <= BOUND);
  // heavy-tailed activations (a few large outliers per row, as in LLM hidden states)
  const y = randomNormal(4096, 1, 6);
  for (let i = 0; i < 4096; i += 97) y[i]! *= 30;
  const relTail = relativeL2(kernels.run(0, 'lut', y, 1), kernels.run(0, 'exact', y, 1));
  t.log(`4096×4096 with outliers: ${relTail.toExponential(2)}`);
  t.true(relTail <= BOUND);

  const empty = randomLayer(0, 6, 3, true);
  const k0 = await layerKernels([empty], 2);
  const y0 = k0.run(0, 'lut', new Float32Array(0), 2);
  for (let r = 0; r < 2; r++) for (let o = 0; o < 6; o++) t.is(y0[r * 6 + o], empty.bias![o]);
  t.deepEqual(k0.run(0, 'lut', new Float32Array(0), 0), new Float32Array(0));
});

test('zero activations give exactly y = bias (no NaN from a zero block scale); padding bits are ignored', async (t) => {
  const l = randomLayer(75, 20, 9, true);
  const kernels = await layerKernels([l], 1);
  const y = kernels.run(0, 'lut', new Float32Array(75), 1);
  t.deepEqual(Array.from(y), Array.from(l.bias!, (b) => Math.fround(b)));
  const x = randomNormal(75, 1, 4);
  const clean = kernels.run(0, 'lut', x, 1);
  const dirty = { ...l, canonical: l.canonical.slice() };
  const rowBytes = Math.ceil(75 / 8);
  for (let o = 0; o < 20; o++) dirty.canonical[o * rowBytes + rowBytes - 1]! |= 0xff << (75 % 8) & 0xff;
  t.deepEqual((await layerKernels([dirty], 1)).run(0, 'lut', x, 1), clean);
});

test('addOneBitLut rejects bad specs; the module stays small for a large layer', (t) => {
  const mod = createKernelModule();
  const base: OneBitLutSpec = { in: 8, out: 8, sign: 0, g: 64, h: 128, alpha: 1, scratch: 1024 };
  t.throws(() => addOneBitLut(mod, 'a', { ...base, in: 2.5 }), { instanceOf: RangeError });
  t.throws(() => addOneBitLut(mod, 'b', { ...base, scratch: 1000 }), { instanceOf: RangeError });
  t.throws(() => addOneBitLut(mod, 'c', { ...base, alpha: Number.NaN }), { instanceOf: RangeError });
  t.throws(() => addOneBitLut(mod, 'd', { ...base, postNormEps: -1 }), { instanceOf: RangeError });
  mod.dispose();
  const big = createKernelModule();
  addOneBitLut(big, 'big', { in: 11008, out: 4096, sign: 1 << 20, g: 1024, h: 65536, alpha: 1, scratch: 1 << 26 });
  const { binary } = finishModule(big);
  big.dispose();
  t.true(binary.length < 64 * 1024, `module for one 4096×11008 layer is ${binary.length} bytes`);
});
