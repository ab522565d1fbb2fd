// Gradient checks of the training engine: analytic gradients (Tape.backward) against central finite differences
// of a scalar loss, in float64.
import type { ExecutionContext } from 'ava';
import type { Tensor } from '../../formats/tensor.ts';
import { tensor } from '../../formats/tensor.ts';
import type { Floats } from '../../compiler/train/autodiff/floats.ts';
import { Rng } from '../../compiler/train/rng.ts';

/** float64 values in float32's grid (so the float32 and float64 runs see the same inputs). */
export function randomValues(rng: Rng, n: number, kind: 'normal' | 'positive' | 'nonzero' = 'normal', scale = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v: number;
    if (kind === 'positive') v = 0.5 + 1.5 * rng.next();
    else if (kind === 'nonzero') { v = (0.5 + rng.next()) * (rng.next() < 0.5 ? -1 : 1); }
    else { do v = rng.normal(); while (Math.abs(v) < 0.05); }
    out[i] = Math.fround(v * scale);
  }
  return out;
}

export function f64(dims: readonly number[], data: Float64Array): Tensor {
  return tensor('float64', dims, data) as Tensor;
}

export function f32(dims: readonly number[], data: ArrayLike<number>): Tensor {
  return tensor('float32', dims, Float32Array.from(data)) as Tensor;
}

export function i64(dims: readonly number[], values: readonly number[]): Tensor {
  return tensor('int64', dims, BigInt64Array.from(values.map((v) => BigInt(v)))) as Tensor;
}

/** Up to `count` distinct indices of [0, n), sorted (all of them when n ≤ count). */
export function sampleIndices(rng: Rng, n: number, count: number): number[] {
  if (n <= count) return [...Array(n).keys()];
  const picked = new Set<number>();
  while (picked.size < count) picked.add(rng.int(n));
  return [...picked].sort((a, b) => a - b);
}

/** Central difference of `loss` with respect to data[i] (data is modified and restored). */
export function centralDifference(data: Float64Array | Float32Array, i: number, step: number, loss: () => number): number {
  const v = data[i]!;
  data[i] = v + step;
  const up = loss();
  data[i] = v - step;
  const down = loss();
  data[i] = v;
  return (up - down) / (2 * step);
}

export interface Comparison { worst: number; where: number; analytic: number; reference: number }

/**
 * Worst of |a − r| / (|r| + floor) over the given entries, floor = floorFraction · max |r| (plus a tiny absolute
 * floor, so an all-zero gradient compares exactly).
 */
export function compare(analytic: ArrayLike<number>, reference: ReadonlyMap<number, number>, floorFraction: number): Comparison {
  let max = 0;
  for (const r of reference.values()) max = Math.max(max, Math.abs(r));
  const floor = floorFraction * max + 1e-12;
  let worst: Comparison = { worst: 0, where: -1, analytic: 0, reference: 0 };
  for (const [i, r] of reference) {
    const a = analytic[i]!;
    const e = Math.abs(a - r) / (Math.abs(r) + floor);
    if (!(e <= worst.worst)) worst = { worst: Number.isNaN(e) ? Infinity : e, where: i, analytic: a, reference: r };
  }
  return worst;
}

export function assertGrad(t: ExecutionContext, what: string, analytic: Floats | undefined, reference: ReadonlyMap<number, number>, rtol: number, floorFraction: number): void {
  if (!analytic) { t.fail(`${what}: no gradient returned`); return; }
  const c = compare(analytic, reference, floorFraction);
  t.true(c.worst <= rtol, `${what}: worst relative error ${c.worst.toExponential(2)} at [${c.where}]: analytic ${c.analytic}, finite difference ${c.reference}`);
}

/** Σ r·y in float64. */
export function dot(r: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += r[i]! * y[i]!;
  return s;
}

export { Rng };
