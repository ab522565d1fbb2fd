// The exact OneBit GEMV (onebit-linear.ts) cut so that its output rows can be split between threads
// (runtime/wasm/thread-pool.ts):
//   `name$tables(x)`: x' = x ⊙ g, then the 256-entry f32 table of every group of 8 columns (L.all, in_pad·128
//     bytes) — per token, once, on the calling thread;
//   `name$rows(y, t0, t1)`: rows 16·t0 … min(16·t1, out) − 1 of y, reading only the tables and the signs; calls
//     on disjoint ranges write disjoint rows of y, so they may run at once.
// The GEMV builds one chunk's tables (8 KiB) at a time and sweeps every row per chunk; here all tables exist
// before the sweep, which reads each chunk's 8 KiB from L2 into L1 once per thread. Every row is summed as in
// the GEMV — per chunk the balanced tree of its 8 lookups, added into y in chunk order — from the same table
// entries, so the split output is bit-identical to `name$gemv`'s. Units of 16 rows keep y's f32x4 groups whole.
import binaryen from 'binaryen';
import type { Module } from './module.ts';
import type { OneBitLinearSpec } from './onebit-linear.ts';
import { addTree, Fn, layoutOf, scaleInput, tableBuilder } from './onebit-linear.ts';
import { SPLIT_UNIT_ROWS as ROWS_UNIT } from '../../../runtime/wasm/row-split.ts';
const GROUP_BYTES = 256 * 4;
const UNROLL = 4;

/** Adds and exports `name$tables(x)` and `name$rows(y, t0, t1)` for an exact layer (spec as addOneBitLinear's). */
export function addOneBitLinearRows(m: Module, name: string, spec: OneBitLinearSpec): void {
  const { i32, f32, f32x4, v128 } = m;
  const L = layoutOf(spec);
  const out = spec.out;
  const units = Math.ceil(out / ROWS_UNIT);
  const groups = L.inPad / 8;

  // name$tables(x)
  {
    const f = new Fn(m, [binaryen.i32]);
    const builder = tableBuilder(m, L.all, 1);
    const code = [...scaleInput(f, spec, L, 0)];
    if (groups > 0) code.push(m.call(builder, [i32.const(L.xs), i32.const(groups * GROUP_BYTES)], binaryen.none));
    m.addFunction(`${name}$tables`, binaryen.createType([binaryen.i32]), binaryen.none, f.vars, m.block(null, code));
    m.addFunctionExport(`${name}$tables`, `${name}$tables`);
  }

  // name$rows(y, t0, t1)
  const f = new Fn(m, [binaryen.i32, binaryen.i32, binaryen.i32]);
  const Y = 0, T0 = 1, T1 = 2;
  const code: number[] = [m.if(i32.ge_s(f.get(T0), f.get(T1)), m.return())];
  if (out > 0) {
    const o4 = Math.floor(out / 4);
    const last = (): number => i32.ge_s(f.get(T1), i32.const(units)); // the range holds the scalar tail rows
    const r0 = f.local(binaryen.i32); // first row
    const rv = f.local(binaryen.i32); // end of the whole f32x4 groups of rows
    code.push(
      f.set(r0, i32.mul(f.get(T0), i32.const(ROWS_UNIT))),
      f.set(rv, m.select(last(), i32.const(o4 * 4), i32.mul(f.get(T1), i32.const(ROWS_UNIT)))),
    );
    const tail = Array.from({ length: out - o4 * 4 }, (_, j) => o4 * 4 + j);
    const some = (): number => i32.lt_s(f.get(r0), f.get(rv));
    /** A loop over the range's whole groups of 4 rows (pointer local `p` from base + r0·scale to base + rv·scale). */
    const groupLoop = (p: number, base: () => number, scale: number, body: () => number[], extra: [number, number][] = []): number => {
      f.setEnd(p, () => i32.add(base(), i32.mul(f.get(rv), i32.const(scale))));
      return m.if(some(), f.countedLoop(p, i32.add(base(), i32.mul(f.get(r0), i32.const(scale))), 4 * scale, 1, body, extra));
    };

    // 1. y = 0 over the range.
    const yo = f.local(binaryen.i32);
    code.push(groupLoop(yo, () => f.get(Y), 4, () => [v128.store(0, 4, f.get(yo), v128.const(new Array(16).fill(0)))]));
    if (tail.length) code.push(m.if(last(), m.block(null, tail.map((k) => f32.store(4 * k, 4, f.get(Y), f32.const(0))))));

    // 2. Per chunk of 64 columns (8 groups, one block of the sign layout): y[o] += Σ of its 8 lookups.
    const cp = f.local(binaryen.i32); // the chunk's signs (block-major: out rows of 8 bytes)
    const tb = f.local(binaryen.i32); // the chunk's tables
    const sp = f.local(binaryen.i32);
    const yp = f.local(binaryen.i32);
    const rowSum = (u: number, signAt: () => number): number => {
      const terms = Array.from({ length: 8 }, (_, k) =>
        f32.load(k * GROUP_BYTES, 4, i32.add(f.get(tb), i32.shl(m.i32.load8_u(u * 8 + k, 1, signAt()), i32.const(2)))));
      return f32.store(u * 4, 4, f.get(yp), f32.add(f32.load(u * 4, 4, f.get(yp)), addTree((a, c) => f32.add(a, c), terms)));
    };
    const chunk = [
      f.set(yp, i32.add(f.get(Y), i32.shl(f.get(r0), i32.const(2)))),
      groupLoop(sp, () => f.get(cp), 8, () => Array.from({ length: UNROLL }, (_, u) => rowSum(u, () => f.get(sp))), [[yp, UNROLL * 4]]),
    ];
    if (tail.length) {
      // the tail rows, at fixed row numbers: yp = y, signs from cp
      chunk.push(m.if(last(), m.block(null, [f.set(yp, f.get(Y)), ...tail.map((k) => rowSum(k, () => f.get(cp)))])));
    }
    f.setEnd(cp, () => i32.const(spec.sign + L.blocks * out * 8));
    code.push(f.set(tb, i32.const(L.all)));
    code.push(f.countedLoop(cp, i32.const(spec.sign), out * 8, L.blocks, () => chunk, [[tb, 8 * GROUP_BYTES]]));

    // 3. y = y ⊙ h · alpha + bias over the range.
    const alpha = Math.fround(spec.alpha);
    const o = f.local(binaryen.i32);
    code.push(groupLoop(o, () => i32.const(0), 4, () => {
      let v = f32x4.mul(v128.load(0, 4, i32.add(f.get(Y), f.get(o))), v128.load(spec.h, 4, f.get(o)));
      if (alpha !== 1) v = f32x4.mul(v, f32x4.splat(f32.const(alpha)));
      if (spec.bias !== undefined) v = f32x4.add(v, v128.load(spec.bias, 4, f.get(o)));
      return [v128.store(0, 4, i32.add(f.get(Y), f.get(o)), v)];
    }));
    if (tail.length) {
      code.push(m.if(last(), m.block(null, tail.map((k) => {
        let v = f32.mul(f32.load(4 * k, 4, f.get(Y)), f32.load(spec.h + 4 * k, 4, i32.const(0)));
        if (alpha !== 1) v = f32.mul(v, f32.const(alpha));
        if (spec.bias !== undefined) v = f32.add(v, f32.load(spec.bias + 4 * k, 4, i32.const(0)));
        return f32.store(4 * k, 4, f.get(Y), v);
      }))));
    }
  }
  m.addFunction(`${name}$rows`, binaryen.createType([binaryen.i32, binaryen.i32, binaryen.i32]), binaryen.none, f.vars, m.block(null, code));
  m.addFunctionExport(`${name}$rows`, `${name}$rows`);
}
