// The exact OneBit WASM kernels (compiler/codegen/wasm/onebit-linear.ts) against the reference kernel
// (runtime/kernels/onebit.ts), with the runtime's sign re-layout (runtime/wasm/onebit-layout.ts).
import test from 'ava';
import { createKernelModule, finishModule } from '../../../../compiler/codegen/wasm/module.ts';
import type { Module } from '../../../../compiler/codegen/wasm/module.ts';
import { addOneBitLinear, onebitScratchBytes } from '../../../../compiler/codegen/wasm/onebit-linear.ts';
import type { OneBitLinearSpec } from '../../../../compiler/codegen/wasm/onebit-linear.ts';
import { packSigns } from '../../../../compiler/onebit/pack.ts';
import { ONEBIT_LAYOUT, onebitLayoutBytes, relayoutSigns } from '../../../../runtime/wasm/onebit-layout.ts';
import type { Tensor } from '../../../../formats/tensor.ts';
import { runKernel } from '../../../helpers/kernels.ts';
import { randomNormal, rng } from '../../../helpers/onnx-builder.ts';

const INS = [1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100, 172, 4096 + 13];
const OUTS = [1, 2, 3, 5, 16, 33, 64];
const ROWS = [1, 2, 3, 4, 5, 8, 17];
/** Many rows (prefill-sized), on small layers: [in, out, rows]. */
const BIG_ROWS: [number, number, number][] = [[33, 5, 1000], [17, 16, 3000], [100, 33, 1000], [172, 64, 1000], [9, 3, 3000]];

interface Layer {
  name: string; in: number; out: number; alpha: number;
  canonical: Uint8Array; g: Float32Array; h: Float32Array; bias?: Float32Array;
  spec: OneBitLinearSpec;
}

/** Kernel module + memory; the module's imported memory may declare a maximum, so ours declares one. */
async function instantiate(build: (mod: Module) => void, bytes: number): Promise<{ exports: Record<string, (...a: number[]) => void>; memory: WebAssembly.Memory; binary: Uint8Array<ArrayBuffer> }> {
  const mod = createKernelModule();
  build(mod);
  const { binary } = finishModule(mod);
  mod.dispose();
  const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) + 1, maximum: 65536 });
  const instance = await WebAssembly.instantiate(new WebAssembly.Module(binary), { env: { memory } });
  return { exports: instance.exports as Record<string, (...a: number[]) => void>, memory, binary };
}

class Arena {
  top = 1024;
  alloc(bytes: number): number { const p = this.top; this.top += Math.ceil(bytes / 16) * 16 + 16; return p; }
}

function makeLayer(arena: Arena, name: string, inDim: number, out: number, withBias: boolean, alpha: number, seed: number, scratch: number): Layer {
  const w = randomNormal(out * inDim, 1, seed);
  const canonical = packSigns(w, out, inDim);
  const g = randomNormal(inDim, 0.5, seed + 1);
  const h = randomNormal(out, 0.5, seed + 2);
  const bias = withBias ? randomNormal(out, 1, seed + 3) : undefined;
  const spec: OneBitLinearSpec = {
    in: inDim, out, alpha, scratch,
    sign: arena.alloc(onebitLayoutBytes(out, inDim)), g: arena.alloc(inDim * 4), h: arena.alloc(out * 4),
    ...(bias ? { bias: arena.alloc(out * 4) } : {}),
  };
  return { name, in: inDim, out, alpha, canonical, g, h, ...(bias ? { bias } : {}), spec };
}

function writeLayer(memory: WebAssembly.Memory, l: Layer): void {
  new Uint8Array(memory.buffer, l.spec.sign, onebitLayoutBytes(l.out, l.in)).set(relayoutSigns(l.canonical, l.out, l.in));
  new Float32Array(memory.buffer, l.spec.g, l.in).set(l.g);
  new Float32Array(memory.buffer, l.spec.h, l.out).set(l.h);
  if (l.bias) new Float32Array(memory.buffer, l.spec.bias!, l.out).set(l.bias);
}

function reference(l: Layer, x: Float32Array, rows: number, postNorm = true): Float32Array {
  const f32 = (dims: number[], data: Float32Array): Tensor => ({ dtype: 'float32', dims, data }) as Tensor;
  const inputs: Tensor[] = [
    f32([rows, l.in], x),
    { dtype: 'uint8', dims: [l.out, Math.ceil(l.in / 8)], data: l.canonical } as Tensor,
    f32([l.in], l.g), f32([l.out], l.h),
  ];
  if (l.bias) inputs.push(f32([l.out], l.bias));
  const eps = postNorm ? l.spec.postNormEps : undefined;
  return runKernel('OneBitLinear', inputs, { in: l.in, out: l.out, alpha: l.alpha, ...(eps !== undefined ? { post_norm_eps: eps } : {}) })[0]!.data as Float32Array;
}

/** Relative L2 error and the worst element error measured against its own fp32 rounding scale. */
function compare(l: Layer, x: Float32Array, rows: number, got: Float32Array, want: Float32Array): { rel: number; worst: number; maxAbs: number } {
  let num = 0, den = 0, worst = 0, maxAbs = 0;
  for (let r = 0; r < rows; r++) {
    let absSum = 0; // Σ|x'|: the scale of the rounding error of any summation order
    for (let i = 0; i < l.in; i++) absSum += Math.abs(x[r * l.in + i]! * l.g[i]!);
    for (let o = 0; o < l.out; o++) {
      const k = r * l.out + o;
      const d = Math.abs(got[k]! - want[k]!);
      num += d * d;
      den += want[k]! * want[k]!;
      maxAbs = Math.max(maxAbs, d);
      const scale = Math.abs(l.alpha * l.h[o]!) * absSum + Math.abs(l.bias?.[o] ?? 0) + 1e-30;
      worst = Math.max(worst, d / scale);
    }
  }
  return { rel: den === 0 ? Math.sqrt(num) : Math.sqrt(num / den), worst, maxAbs };
}

test(`layout ${ONEBIT_LAYOUT}: [ceil(in/64), out, 8] column blocks, padded with zero bytes`, (t) => {
  const next = rng(5);
  for (const inDim of [1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100, 128, 200, 4109]) {
    for (const out of [1, 3, 8]) {
      const rowBytes = Math.ceil(inDim / 8);
      // an odd byteOffset too, to exercise the byte-wise path
      for (const offset of [0, 1]) {
        const buf = new Uint8Array(offset + out * rowBytes);
        for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(next() * 256);
        const canonical = buf.subarray(offset);
        const got = relayoutSigns(canonical, out, inDim);
        t.is(got.length, onebitLayoutBytes(out, inDim));
        const want = new Uint8Array(Math.ceil(inDim / 64) * out * 8);
        for (let o = 0; o < out; o++) for (let k = 0; k < rowBytes; k++) want[((k >> 3) * out + o) * 8 + (k & 7)] = canonical[o * rowBytes + k]!;
        t.deepEqual(got, want, `in=${inDim} out=${out} offset=${offset}`);
      }
    }
  }
  t.is(relayoutSigns(new Uint8Array(0), 0, 17).length, 0);
  t.throws(() => relayoutSigns(new Uint8Array(3), 2, 9), { instanceOf: RangeError });
});

for (const inDim of INS) {
  test(`in=${inDim}: every out × rows × bias/no bias matches the reference kernel`, async (t) => {
    const arena = new Arena();
    const scratchBytes = Math.max(...OUTS.map((o) => onebitScratchBytes(inDim, o)));
    t.is(scratchBytes % 16, 0);
    const scratch = arena.alloc(scratchBytes);
    const layers: Layer[] = [];
    OUTS.forEach((out, k) => {
      for (const withBias of [true, false]) {
        const alpha = withBias ? 0.75 : (k % 2 ? 1 : -1.5);
        layers.push(makeLayer(arena, `l${out}_${withBias ? 'b' : 'n'}`, inDim, out, withBias, alpha, 1000 * inDim + 10 * out + (withBias ? 1 : 0), scratch));
      }
    });
    const maxRows = Math.max(...ROWS);
    const xp = arena.alloc(maxRows * inDim * 4);
    const yp = arena.alloc(maxRows * Math.max(...OUTS) * 4 + 64);
    const k = await instantiate((mod) => { for (const l of layers) addOneBitLinear(mod, l.name, l.spec); }, arena.top);
    t.true(WebAssembly.validate(k.binary));
    for (const l of layers) writeLayer(k.memory, l);
    let worstRel = 0;
    for (const rows of ROWS) {
      const x = randomNormal(rows * inDim, 1, rows * 7 + inDim);
      new Float32Array(k.memory.buffer, xp, rows * inDim).set(x);
      for (const l of layers) {
        // canary after y: the kernel writes exactly rows·out floats
        const canary = new Float32Array(k.memory.buffer, yp, rows * l.out + 16).fill(12345);
        k.exports[l.name]!(xp, yp, rows);
        const got = canary.slice(0, rows * l.out);
        t.true(canary.subarray(rows * l.out).every((v) => v === 12345), `${l.name} rows=${rows}: wrote past y`);
        const { rel, worst } = compare(l, x, rows, got, reference(l, x, rows));
        worstRel = Math.max(worstRel, rel);
        t.true(rel <= 1e-5, `${l.name} in=${inDim} rows=${rows}: relative L2 ${rel}`);
        t.true(worst <= 1e-5, `${l.name} in=${inDim} rows=${rows}: worst element error ${worst} of Σ|x'|·|αh|`);
      }
    }
    t.log(`in=${inDim}: worst relative L2 ${worstRel.toExponential(2)}`);
  });
}

for (const [inDim, out, rows] of BIG_ROWS) {
  test(`in=${inDim} out=${out}: ${rows} rows (GEMM blocks + tails)`, async (t) => {
    const arena = new Arena();
    const scratch = arena.alloc(onebitScratchBytes(inDim, out));
    const l = makeLayer(arena, 'big', inDim, out, true, 0.3, inDim + out + rows, scratch);
    const xp = arena.alloc(rows * inDim * 4);
    const yp = arena.alloc(rows * out * 4);
    const k = await instantiate((mod) => addOneBitLinear(mod, 'big', l.spec), arena.top);
    writeLayer(k.memory, l);
    for (const n of [rows, rows - 1, rows - 2, rows - 3, rows - 4, rows - 6, rows - 7]) { // tails of 0, 7, 6, 5, 4, 2, 1 rows
      const x = randomNormal(n * inDim, 2, n);
      new Float32Array(k.memory.buffer, xp, n * inDim).set(x);
      k.exports.big!(xp, yp, n);
      const { rel, worst } = compare(l, x, n, new Float32Array(k.memory.buffer, yp, n * out).slice(), reference(l, x, n));
      t.true(rel <= 1e-5 && worst <= 1e-5, `rows=${n}: relative L2 ${rel}, worst ${worst}`);
    }
  });
}

test('only y and scratch are written; rows = 0 writes nothing; padding bits are ignored; layers share scratch', async (t) => {
  const arena = new Arena();
  const inDim = 75, out = 13, rows = 6;
  const scratchBytes = onebitScratchBytes(inDim, out);
  const scratch = arena.alloc(scratchBytes);
  const a = makeLayer(arena, 'a', inDim, out, true, 2, 1, scratch);
  const b = makeLayer(arena, 'b', 300, 40, false, 1, 2, arena.alloc(onebitScratchBytes(300, 40)));
  const c = makeLayer(arena, 'c', 300, 40, true, -1, 3, 0);
  c.spec.scratch = b.spec.scratch;
  const xp = arena.alloc(rows * 300 * 4);
  const yp = arena.alloc(rows * 40 * 4);
  const k = await instantiate((mod) => { for (const l of [a, b, c]) addOneBitLinear(mod, l.name, l.spec); }, arena.top);
  for (const l of [a, b, c]) writeLayer(k.memory, l);
  const x = randomNormal(rows * 300, 1, 9);
  new Float32Array(k.memory.buffer, xp, x.length).set(x);

  const mem = new Uint8Array(k.memory.buffer);
  const before = mem.slice();
  k.exports.a!(xp, yp, 0);
  t.true(mem.every((v, i) => v === before[i]), 'rows = 0 wrote memory');
  for (const n of [1, rows]) {
    const snapshot = mem.slice();
    k.exports.a!(xp, yp, n);
    for (let i = 0; i < mem.length; i++) {
      const inY = i >= yp && i < yp + n * out * 4;
      const inScratch = i >= scratch && i < scratch + scratchBytes;
      if (!inY && !inScratch && mem[i] !== snapshot[i]) { t.fail(`rows=${n}: byte ${i} written outside y and scratch`); return; }
    }
  }

  // Random padding bits in the last byte of each row (columns ≥ in) change nothing: x' is 0 there.
  const xa = x.subarray(0, rows * inDim);
  new Float32Array(k.memory.buffer, xp, xa.length).set(xa);
  k.exports.a!(xp, yp, rows);
  const clean = new Float32Array(k.memory.buffer, yp, rows * out).slice();
  const dirty = a.canonical.slice();
  const rowBytes = Math.ceil(inDim / 8);
  for (let o = 0; o < out; o++) dirty[o * rowBytes + rowBytes - 1]! |= 0xff << (inDim % 8) & 0xff;
  new Uint8Array(k.memory.buffer, a.spec.sign, onebitLayoutBytes(out, inDim)).set(relayoutSigns(dirty, out, inDim));
  k.exports.a!(xp, yp, rows);
  t.deepEqual(new Float32Array(k.memory.buffer, yp, rows * out).slice(), clean);

  // b and c share one scratch region and alternate: each result stays that of the reference.
  new Float32Array(k.memory.buffer, xp, x.length).set(x);
  for (const l of [b, c, b, c]) {
    for (const n of [1, 5]) {
      k.exports[l.name]!(xp, yp, n);
      const { rel } = compare(l, x, n, new Float32Array(k.memory.buffer, yp, n * l.out).slice(), reference(l, x.subarray(0, n * 300), n));
      t.true(rel <= 1e-5, `${l.name} rows=${n}: ${rel}`);
    }
  }
});

test('in = 0 gives y = bias; the module stays small for a large layer', async (t) => {
  const arena = new Arena();
  const l = makeLayer(arena, 'empty', 0, 6, true, 1, 4, 0);
  l.spec.scratch = arena.alloc(onebitScratchBytes(0, 6));
  const yp = arena.alloc(3 * 6 * 4);
  const k = await instantiate((mod) => addOneBitLinear(mod, 'empty', l.spec), arena.top);
  writeLayer(k.memory, l);
  for (const n of [1, 3]) {
    k.exports.empty!(arena.top, yp, n);
    const y = new Float32Array(k.memory.buffer, yp, n * 6);
    for (let r = 0; r < n; r++) for (let o = 0; o < 6; o++) t.is(y[r * 6 + o], l.bias![o]);
  }
  const mod = createKernelModule();
  addOneBitLinear(mod, 'big', { in: 11008, out: 4096, sign: 1 << 20, g: 1024, h: 65536, alpha: 1, scratch: 1 << 26 });
  const { binary } = finishModule(mod);
  mod.dispose();
  t.true(binary.length < 64 * 1024, `module for one 4096×11008 layer is ${binary.length} bytes`);
});

/**
 * With the post-norm: y = (z − mean) / σ per row, σ = √(var(z) + eps). An error δ in z (bounded by the
 * summation-order scale Σ|x'|·|αh| + |bias| of `compare`) becomes about δ/σ in y, plus fp32 rounding of the
 * normalisation itself (relative to |y| ≤ √out): the worst element error in units of max(scale)/σ + 1.
 */
function comparePostNorm(l: Layer, x: Float32Array, rows: number, got: Float32Array, want: Float32Array): { worst: number; maxAbs: number } {
  const z = reference(l, x, rows, false);
  const eps = l.spec.postNormEps!;
  let worst = 0, maxAbs = 0;
  for (let r = 0; r < rows; r++) {
    let absSum = 0;
    for (let i = 0; i < l.in; i++) absSum += Math.abs(x[r * l.in + i]! * l.g[i]!);
    let mean = 0, variance = 0, scale = 0;
    for (let o = 0; o < l.out; o++) mean += z[r * l.out + o]! / l.out;
    for (let o = 0; o < l.out; o++) variance += (z[r * l.out + o]! - mean) ** 2 / l.out;
    for (let o = 0; o < l.out; o++) scale = Math.max(scale, Math.abs(l.alpha * l.h[o]!) * absSum + Math.abs(l.bias?.[o] ?? 0));
    const sigma = Math.sqrt(variance + eps);
    for (let o = 0; o < l.out; o++) {
      const k = r * l.out + o;
      const d = Math.abs(got[k]! - want[k]!);
      if (!(d <= Infinity)) return { worst: Infinity, maxAbs: Infinity }; // NaN
      maxAbs = Math.max(maxAbs, d);
      worst = Math.max(worst, d / (scale / sigma + 1));
    }
  }
  return { worst, maxAbs };
}

const POST_NORM_INS = [1, 7, 8, 9, 33, 64, 100, 172, 4096 + 13];
const POST_NORM_OUTS = [1, 2, 3, 5, 7, 33, 64, 176];
const POST_NORM_ROWS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 17, 1000];

for (const inDim of POST_NORM_INS) {
  test(`post-norm, in=${inDim}: every out × rows (1…1000) × bias/alpha/eps matches the reference kernel`, async (t) => {
    const arena = new Arena();
    const scratch = arena.alloc(Math.max(...POST_NORM_OUTS.map((o) => onebitScratchBytes(inDim, o))));
    const layers: Layer[] = [];
    POST_NORM_OUTS.forEach((out, k) => {
      for (const withBias of [true, false]) {
        const alpha = withBias ? 0.75 : (k % 2 ? 1 : -1.5);
        const eps = out > 1 && k % 3 === 2 ? 0 : withBias ? 1e-5 : 1e-3;
        const l = makeLayer(arena, `p${out}_${withBias ? 'b' : 'n'}`, inDim, out, withBias, alpha, 7000 * inDim + 10 * out + (withBias ? 1 : 0), scratch);
        l.spec.postNormEps = eps;
        layers.push(l);
      }
    });
    const rowsList = inDim > 1000 ? POST_NORM_ROWS.filter((r) => r <= 17) : POST_NORM_ROWS;
    const maxRows = Math.max(...rowsList);
    const maxOut = Math.max(...POST_NORM_OUTS);
    const xp = arena.alloc(maxRows * inDim * 4);
    const yp = arena.alloc(maxRows * maxOut * 4 + 64);
    const k = await instantiate((mod) => { for (const l of layers) addOneBitLinear(mod, l.name, l.spec); }, arena.top);
    for (const l of layers) writeLayer(k.memory, l);
    let worstSeen = 0;
    for (const rows of rowsList) {
      const x = randomNormal(rows * inDim, 1, rows * 13 + inDim);
      new Float32Array(k.memory.buffer, xp, rows * inDim).set(x);
      for (const l of layers) {
        const canary = new Float32Array(k.memory.buffer, yp, rows * l.out + 16).fill(12345);
        k.exports[l.name]!(xp, yp, rows);
        const got = canary.slice(0, rows * l.out);
        t.true(canary.subarray(rows * l.out).every((v) => v === 12345), `${l.name} rows=${rows}: wrote past y`);
        const want = reference(l, x, rows);
        const { worst, maxAbs } = comparePostNorm(l, x, rows, got, want);
        worstSeen = Math.max(worstSeen, worst);
        t.true(worst <= 1e-5, `${l.name} in=${inDim} rows=${rows} eps=${l.spec.postNormEps}: worst ${worst} (max abs ${maxAbs})`);
        if (l.out === 1) t.true(got.every((v) => v === 0), `${l.name}: one output normalises to 0`);
      }
    }
    t.log(`post-norm in=${inDim}: worst ${worstSeen.toExponential(2)}`);
  });
}

test('post-norm rows have mean 0 and variance var/(var + eps); without it the kernel is unchanged', async (t) => {
  const arena = new Arena();
  const inDim = 77, out = 45, rows = 11;
  const scratch = arena.alloc(onebitScratchBytes(inDim, out));
  const plain = makeLayer(arena, 'plain', inDim, out, true, 0.5, 42, scratch);
  const normed: Layer = { ...plain, name: 'normed', spec: { ...plain.spec, postNormEps: 1e-5 } };
  const xp = arena.alloc(rows * inDim * 4);
  const yp = arena.alloc(rows * out * 4);
  const k = await instantiate((mod) => { addOneBitLinear(mod, 'plain', plain.spec); addOneBitLinear(mod, 'normed', normed.spec); }, arena.top);
  writeLayer(k.memory, plain);
  const x = randomNormal(rows * inDim, 1, 3);
  new Float32Array(k.memory.buffer, xp, x.length).set(x);
  k.exports.plain!(xp, yp, rows);
  const z = new Float32Array(k.memory.buffer, yp, rows * out).slice();
  t.true(compare(plain, x, rows, z, reference(plain, x, rows)).rel <= 1e-5);
  k.exports.normed!(xp, yp, rows);
  const y = new Float32Array(k.memory.buffer, yp, rows * out).slice();
  for (let r = 0; r < rows; r++) {
    const row = y.subarray(r * out, (r + 1) * out);
    const zr = z.subarray(r * out, (r + 1) * out);
    const mz = zr.reduce((a, v) => a + v, 0) / out;
    const vz = zr.reduce((a, v) => a + (v - mz) ** 2, 0) / out;
    const m = row.reduce((a, v) => a + v, 0) / out;
    const v = row.reduce((a, w) => a + (w - m) ** 2, 0) / out;
    t.true(Math.abs(m) < 1e-6, `row ${r}: mean ${m}`);
    t.true(Math.abs(v - vz / (vz + 1e-5)) < 1e-5, `row ${r}: variance ${v}`);
  }
});

test('addOneBitLinear rejects bad specs', (t) => {
  const mod = createKernelModule();
  const base: OneBitLinearSpec = { in: 8, out: 8, sign: 0, g: 64, h: 128, alpha: 1, scratch: 1024 };
  t.throws(() => addOneBitLinear(mod, 'a', { ...base, in: 2.5 }), { instanceOf: RangeError });
  t.throws(() => addOneBitLinear(mod, 'b', { ...base, scratch: 1000 }), { instanceOf: RangeError });
  t.throws(() => addOneBitLinear(mod, 'c', { ...base, alpha: Number.NaN }), { instanceOf: RangeError });
  t.throws(() => addOneBitLinear(mod, 'd', { ...base, postNormEps: -1e-5 }), { instanceOf: RangeError });
  t.throws(() => addOneBitLinear(mod, 'e', { ...base, postNormEps: Number.POSITIVE_INFINITY }), { instanceOf: RangeError });
  mod.dispose();
});
