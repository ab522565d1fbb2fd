import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Adam } from '../../compiler/train/adam.ts';
import type { AdamOptions } from '../../compiler/train/adam.ts';
import { clipGradNorm } from '../../compiler/train/clip-grad-norm.ts';
import { Rng } from '../../compiler/train/rng.ts';
import { runTorch } from './torch-oracle.ts';


/** Random float32 values (the same ones go to torch, which reads them as float32). */
function randomArray(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

function assertClose(t: ExecutionContext, actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  t.is(actual.length, expected.length, what);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!, a = actual[i]!;
    worst = Math.max(worst, Math.abs(a - e) / Math.max(Math.abs(e), 1e-3));
  }
  t.true(worst <= rel, `${what}: worst relative error ${worst}`);
}

// The oracle, one Python process for every case: torch.optim.Adam / AdamW stepping the same parameters with the
// same gradients and learning rates, and torch.nn.utils.clip_grad_norm_ on the same gradients.
const ORACLE_SCRIPT = `
def adam(d):
  params = {k: torch.tensor(v, dtype=torch.float32, requires_grad=True) for k, v in d['params'].items()}
  cls = torch.optim.AdamW if d['decoupled'] else torch.optim.Adam
  opt = cls(list(params.values()), lr=1.0, betas=(d['beta1'], d['beta2']), eps=d['eps'], weight_decay=d['wd'])
  for grads, lr in zip(d['grads'], d['lrs']):
    for g in opt.param_groups: g['lr'] = lr
    for k, p in params.items(): p.grad = torch.tensor(grads[k], dtype=torch.float32)
    opt.step()
  return {'params': {k: p.detach().tolist() for k, p in params.items()},
          'm': {k: opt.state[p]['exp_avg'].tolist() for k, p in params.items()},
          'v': {k: opt.state[p]['exp_avg_sq'].tolist() for k, p in params.items()}}

def clip(d):
  gs = [torch.tensor(g, dtype=torch.float32) for g in d['grads']]
  ps = [torch.zeros_like(g, requires_grad=True) for g in gs]
  for p, g in zip(ps, gs): p.grad = g
  norm = torch.nn.utils.clip_grad_norm_(ps, d['max'])
  return {'norm': float(norm), 'grads': [p.grad.tolist() for p in ps]}

def run(d):
  return adam(d) if d['kind'] == 'adam' else clip(d)
`;

type Grads = Map<string, Float32Array>;
const toLists = (m: Grads) => Object.fromEntries([...m].map(([k, a]) => [k, Array.from(a)]));

interface AdamCase { opts: Required<AdamOptions>; initial: Grads; steps: Grads[]; lrs: number[] }
interface TorchAdamResult { params: Record<string, number[]>; m: Record<string, number[]>; v: Record<string, number[]> }

function adamCase(opts: Required<AdamOptions>, seed: number): AdamCase {
  const rng = new Rng(seed);
  const shapes = { w: 24, b: 5 };
  const initial = new Map(Object.entries(shapes).map(([k, n]) => [k, randomArray(rng, n)]));
  // Gradients of very different sizes per step, including tiny ones where ε matters.
  const steps = [1, 0.1, 3, 1e-6, 0.5, 2].map((s) => new Map(Object.entries(shapes).map(([k, n]) => [k, randomArray(rng, n, s)])));
  return { opts, initial, steps, lrs: [1e-3, 3e-3, 1e-2, 1e-2, 5e-3, 1e-4] };
}

const ADAM_CASES = {
  adam: adamCase({ beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0, decoupledWeightDecay: false }, 11),
  l2: adamCase({ beta1: 0.8, beta2: 0.999, eps: 1e-6, weightDecay: 0.1, decoupledWeightDecay: false }, 12),
  adamw: adamCase({ beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, decoupledWeightDecay: true }, 13),
};
const clipRng = new Rng(9);
const CLIP_CASES = [0.5, 1000].map((maxNorm) => ({ maxNorm, grads: new Map([['x', randomArray(clipRng, 30)], ['y', randomArray(clipRng, 7, 3)]]) }));

const oracle = runTorch<unknown>(ORACLE_SCRIPT, [
  ...Object.values(ADAM_CASES).map((c) => ({
    kind: 'adam', params: toLists(c.initial), grads: c.steps.map(toLists), lrs: c.lrs,
    beta1: c.opts.beta1, beta2: c.opts.beta2, eps: c.opts.eps, wd: c.opts.weightDecay, decoupled: c.opts.decoupledWeightDecay,
  })),
  ...CLIP_CASES.map((c) => ({ kind: 'clip', grads: [...c.grads.values()].map((g) => Array.from(g)), max: c.maxNorm })),
]);
const adamExpected = (name: keyof typeof ADAM_CASES) => oracle[Object.keys(ADAM_CASES).indexOf(name)] as TorchAdamResult;
const clipExpected = (i: number) => oracle[Object.keys(ADAM_CASES).length + i] as { norm: number; grads: number[][] };

function compareWithTorch(t: ExecutionContext, name: keyof typeof ADAM_CASES): void {
  const c = ADAM_CASES[name], expected = adamExpected(name);
  const params = new Map([...c.initial].map(([k, a]) => [k, a.slice()]));
  const adam = new Adam(params, c.opts);
  c.steps.forEach((g, i) => adam.step(g, c.lrs[i]!));
  const state = adam.state();
  t.is(state.step, c.steps.length);
  for (const k of c.initial.keys()) {
    assertClose(t, params.get(k)!, expected.params[k]!, 1e-6, `param ${k}`);
    assertClose(t, state.m.get(k)!, expected.m[k]!, 1e-6, `m ${k}`);
    assertClose(t, state.v.get(k)!, expected.v[k]!, 1e-6, `v ${k}`);
  }
}

test('Adam matches torch.optim.Adam over six steps (defaults β = 0.9, 0.98)', (t) => compareWithTorch(t, 'adam'));
test('Adam with L2 weight decay matches torch.optim.Adam(weight_decay)', (t) => compareWithTorch(t, 'l2'));
test('decoupled weight decay matches torch.optim.AdamW', (t) => compareWithTorch(t, 'adamw'));

test('the first step moves each parameter by lr·sign(g) (bias correction, hand-derived)', (t) => {
  // Step 1: m̂ = g, v̂ = g², so Δ = −lr·g/(|g| + ε) ≈ −lr·sign(g).
  const p = Float32Array.of(1, -2, 0.5);
  const adam = new Adam(new Map([['p', p]]));
  adam.step(new Map([['p', Float32Array.of(0.3, -4, 1e-3)]]), 0.01);
  t.deepEqual(Array.from(p), [Math.fround(1 - 0.01 * 0.3 / (0.3 + 1e-8)), Math.fround(-2 + 0.01 * 4 / (4 + 1e-8)), Math.fround(0.5 - 0.01 * 1e-3 / (1e-3 + 1e-8))]);
});

test('restore() resumes bit-for-bit; parameters without a gradient are left alone', (t) => {
  const rng = new Rng(5);
  const grads = Array.from({ length: 6 }, () => new Map([['a', randomArray(rng, 10)], ['b', randomArray(rng, 3)]]));
  const params = new Map([['a', randomArray(rng, 10)], ['b', randomArray(rng, 3)]]);
  const straight = new Adam(params, { weightDecay: 0.01 });
  grads.slice(0, 3).forEach((g) => straight.step(g, 1e-2));
  // A checkpoint: copies of the parameters and the optimizer state.
  const savedParams = new Map([...params].map(([k, a]) => [k, a.slice()]));
  const saved = straight.state();
  grads.slice(3).forEach((g) => straight.step(g, 1e-2)); // must not reach into the saved copies
  const resumed = new Adam(savedParams, { weightDecay: 0.01 });
  resumed.restore(saved);
  grads.slice(3).forEach((g) => resumed.step(g, 1e-2));
  t.deepEqual(savedParams, params);
  t.deepEqual(resumed.state(), straight.state());

  const b = params.get('b')!.slice();
  straight.step(new Map([['a', grads[0]!.get('a')!]]), 1e-2);
  t.deepEqual(params.get('b'), b);
  t.throws(() => straight.step(new Map([['c', new Float32Array(1)]]), 1), { message: /unknown parameter 'c'/ });
  t.throws(() => straight.step(new Map([['a', new Float32Array(2)]]), 1), { message: /'a' has 2 elements/ });
  t.throws(() => resumed.restore({ step: 1, m: new Map(), v: new Map() }), { message: /no m for parameter 'a'/ });
});

test('clipGradNorm matches torch.nn.utils.clip_grad_norm_ (clipping and not)', (t) => {
  CLIP_CASES.forEach(({ maxNorm, grads }, c) => {
    const expected = clipExpected(c);
    const norm = clipGradNorm(grads, maxNorm);
    t.true(Math.abs(norm - expected.norm) <= 1e-6 * expected.norm, `norm ${norm} vs ${expected.norm}`);
    [...grads.values()].forEach((g, i) => assertClose(t, g, expected.grads[i]!, 1e-6, `grad ${i} (max ${maxNorm})`));
  });
  t.true(CLIP_CASES[0]!.maxNorm < clipExpected(0).norm && CLIP_CASES[1]!.maxNorm > clipExpected(1).norm); // one clips, one does not
});

test('clipGradNorm: hand-computed 3-4-12 gradient, and a non-finite norm leaves the gradients alone', (t) => {
  const g = [Float64Array.of(3, 4), Float64Array.of(12)];
  t.is(clipGradNorm(g, 6.5), 13); // √(9 + 16 + 144)
  const c = 6.5 / (13 + 1e-6);
  t.deepEqual([...g[0]!, ...g[1]!], [3 * c, 4 * c, 12 * c]);
  const bad = [Float32Array.of(1, Infinity)];
  t.is(clipGradNorm(bad, 1), Infinity);
  t.deepEqual(Array.from(bad[0]!), [1, Infinity]);
  t.throws(() => clipGradNorm(g, 0), { instanceOf: RangeError });
});
