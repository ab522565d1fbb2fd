// Adam over named float32 parameters, updated in place, with torch.optim.Adam's arithmetic (1.13, single-tensor
// path): bias corrections 1 − β₁ᵗ and √(1 − β₂ᵗ), ε added after dividing √v by the second one. Moments are
// float32 like torch's, and so is every intermediate (float64 gradients are rounded to float32 first).

// The trainer clips before stepping; one import for both.
export { clipGradNorm } from './clip-grad-norm.ts';

export interface AdamOptions {
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.98 (the OneBit paper's setting; torch's default is 0.999). */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /**
   * Default 0. As torch.optim.Adam: L2, added to the gradient (g + λθ). With `decoupledWeightDecay` it is
   * AdamW's instead: θ ← θ(1 − lr·λ) before the Adam step.
   */
  weightDecay?: number;
  /** Default false (Adam). True gives torch.optim.AdamW. */
  decoupledWeightDecay?: boolean;
}

/** Everything a checkpoint needs to resume the optimizer: the step count and both moments per parameter. */
export interface AdamState {
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export class Adam {
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;
  private readonly decoupled: boolean;
  private t = 0;
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();

  /** `params` are updated in place by step(); the map is kept (not copied). */
  constructor(private readonly params: Map<string, Float32Array>, opts: AdamOptions = {}) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.98;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    this.decoupled = opts.decoupledWeightDecay ?? false;
    for (const [name, b] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) {
      if (!(b >= 0 && b < 1)) throw new RangeError(`Adam: ${name} must be in [0, 1), got ${b}`);
    }
    if (!(this.eps >= 0)) throw new RangeError(`Adam: eps must be >= 0, got ${this.eps}`);
    if (!(this.weightDecay >= 0)) throw new RangeError(`Adam: weightDecay must be >= 0, got ${this.weightDecay}`);
    for (const [name, p] of params) {
      this.m.set(name, new Float32Array(p.length));
      this.v.set(name, new Float32Array(p.length));
    }
  }

  /**
   * One update of every parameter with a gradient in `grads` (same length as the parameter). Parameters
   * without a gradient are left alone, as torch does for `grad is None`. The step count is one for all
   * (torch keeps one per parameter): the same as torch whenever every step has every gradient.
   */
  step(grads: Map<string, Float32Array | Float64Array>, lr: number): void {
    for (const name of grads.keys()) {
      const p = this.params.get(name);
      if (!p) throw new Error(`Adam.step: gradient for unknown parameter '${name}'`);
      if (grads.get(name)!.length !== p.length) {
        throw new Error(`Adam.step: gradient for '${name}' has ${grads.get(name)!.length} elements, the parameter has ${p.length}`);
      }
    }
    this.t++;
    // Every operation rounded to float32 in torch's order (scalars are float32 too), so the result is
    // torch's to the last bit or two rather than to float32's precision per step.
    const f = Math.fround;
    const beta1 = f(this.beta1), beta2 = f(this.beta2), oneMinusBeta1 = f(1 - this.beta1), oneMinusBeta2 = f(1 - this.beta2);
    const negStepSize = f(-lr / (1 - this.beta1 ** this.t));
    const correction2Sqrt = f(Math.sqrt(1 - this.beta2 ** this.t));
    const eps = f(this.eps);
    const l2 = f(this.decoupled ? 0 : this.weightDecay);
    const shrink = f(this.decoupled ? 1 - lr * this.weightDecay : 1);
    for (const [name, g] of grads) {
      const p = this.params.get(name)!, m = this.m.get(name)!, v = this.v.get(name)!;
      for (let i = 0; i < p.length; i++) {
        if (shrink !== 1) p[i] = p[i]! * shrink;
        const gi = l2 === 0 ? f(g[i]!) : f(f(g[i]!) + f(l2 * p[i]!));
        const mi = (m[i] = f(m[i]! * beta1) + oneMinusBeta1 * gi); // add_(alpha=) is a fused multiply-add
        const vi = (v[i] = f(v[i]! * beta2) + f(f(oneMinusBeta2 * gi) * gi));
        const denom = f(f(Math.sqrt(vi)) / correction2Sqrt) + eps;
        p[i] = p[i]! + f(f(negStepSize * mi) / f(denom));
      }
    }
  }

  /** The step count and copies of the moments. */
  state(): AdamState {
    const copy = (from: Map<string, Float32Array>) => new Map([...from].map(([k, a]) => [k, a.slice()]));
    return { step: this.t, m: copy(this.m), v: copy(this.v) };
  }

  /** Resumes from state(): every parameter must have moments of its length. */
  restore(state: AdamState): void {
    if (!Number.isInteger(state.step) || state.step < 0) throw new RangeError(`Adam.restore: step must be a non-negative integer, got ${state.step}`);
    for (const [name, p] of this.params) {
      for (const [which, from] of [['m', state.m], ['v', state.v]] as const) {
        const a = from.get(name);
        if (!a) throw new Error(`Adam.restore: no ${which} for parameter '${name}'`);
        if (a.length !== p.length) throw new Error(`Adam.restore: ${which} of '${name}' has ${a.length} elements, the parameter has ${p.length}`);
      }
    }
    this.t = state.step;
    for (const name of this.params.keys()) {
      this.m.get(name)!.set(state.m.get(name)!);
      this.v.get(name)!.set(state.v.get(name)!);
    }
  }
}
