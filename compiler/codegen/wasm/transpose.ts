// Swapping the last two axes (the Kᵀ of attention over a growing KV cache): a plain strided copy, one
// kernel for every shape (runtime dims).
import type { Module } from './module.ts';
import { binaryen } from './module.ts';
import { FunctionBuilder } from './elementwise.ts';

const { i32, none } = binaryen;

/** Exports `name(x, y, outer, rows, cols)`: y[o][c][r] = x[o][r][c] for f32 matrices of rows × cols. */
export function addTransposeLastTwo(mod: Module, name: string): void {
  const m = mod;
  const fb = new FunctionBuilder(mod, [i32, i32, i32, i32, i32]);
  const [X, Y, OUTER, ROWS, COLS] = [0, 1, 2, 3, 4];
  const o = fb.local(i32);
  const r = fb.local(i32);
  const c = fb.local(i32);
  const px = fb.local(i32);
  const py = fb.local(i32);
  const column = fb.local(i32); // bytes between y[c][r] and y[c + 1][r]: 4·rows
  const matrix = fb.local(i32); // bytes of one matrix: 4·rows·cols
  fb.finish(name, none, [
    fb.set(column, m.i32.shl(fb.get(ROWS), m.i32.const(2))),
    fb.set(matrix, m.i32.mul(fb.get(column), fb.get(COLS))),
    fb.set(px, fb.get(X)),
    fb.forRange(o, m.i32.const(0), () => fb.get(OUTER), 1, [
      fb.forRange(r, m.i32.const(0), () => fb.get(ROWS), 1, [
        fb.set(py, m.i32.add(m.i32.add(fb.get(Y), m.i32.mul(fb.get(o), fb.get(matrix))), m.i32.shl(fb.get(r), m.i32.const(2)))),
        fb.forRange(c, m.i32.const(0), () => fb.get(COLS), 1, [
          m.f32.store(0, 4, fb.get(py), m.f32.load(0, 4, fb.get(px))),
          fb.bump(px, 4),
          fb.addTo(py, fb.get(column)),
        ]),
      ]),
    ]),
  ]);
}
