// The distillation loss of ONEBIT.md §3 and its gradients:
//   L = L_CE + α·L_MSE
//   L_CE  = mean over positions of the cross-entropy from the teacher's next-token distribution (softmax of its
//           logits / τ) to the student's;
//   L_MSE = Σ over layers of the mean over positions of ‖ĥ_s − ĥ_t‖², ĥ = h/‖h‖ (each token's hidden vector
//           L2-normalised, squared distance summed over the hidden size).
import type { Floats } from './autodiff/floats.ts';
import { zerosLike } from './autodiff/floats.ts';

export interface KdLossParts {
  loss: number;
  ce: number;
  mse: number;
  /** dL/d(student logits), [positions, vocab]. */
  logitsGrad: Floats;
  /** dL/d(student hidden state) per layer, [positions, hidden]. */
  hiddenGrads: Floats[];
}

export interface KdLossInputs {
  teacherLogits: ArrayLike<number>;
  studentLogits: Floats;
  vocab: number;
  teacherHidden: readonly ArrayLike<number>[];
  studentHidden: readonly Floats[];
  hidden: number;
  alpha: number;
  temperature?: number;
}

/** softmax(row / τ) into `out`, returning log Σ exp (of the scaled row, max-shifted) for log-probabilities. */
function softmaxRow(x: ArrayLike<number>, base: number, width: number, tau: number, out: Float64Array): number {
  let max = -Infinity;
  for (let v = 0; v < width; v++) max = Math.max(max, x[base + v]! / tau);
  let sum = 0;
  for (let v = 0; v < width; v++) { const e = Math.exp(x[base + v]! / tau - max); out[v] = e; sum += e; }
  for (let v = 0; v < width; v++) out[v]! /= sum;
  return max + Math.log(sum);
}

export function kdLoss(inputs: KdLossInputs): KdLossParts {
  const { vocab, hidden, alpha } = inputs;
  const tau = inputs.temperature ?? 1;
  const positions = inputs.studentLogits.length / vocab;
  const logitsGrad = zerosLike(inputs.studentLogits);
  const pt = new Float64Array(vocab);
  const ps = new Float64Array(vocab);
  let ce = 0;
  for (let n = 0; n < positions; n++) {
    const base = n * vocab;
    softmaxRow(inputs.teacherLogits, base, vocab, tau, pt);
    const logZ = softmaxRow(inputs.studentLogits, base, vocab, tau, ps);
    for (let v = 0; v < vocab; v++) {
      if (pt[v]! > 0) ce -= pt[v]! * (inputs.studentLogits[base + v]! / tau - logZ);
      logitsGrad[base + v] = (ps[v]! - pt[v]!) / (tau * positions);
    }
  }
  ce /= positions;

  let mse = 0;
  const hiddenGrads = inputs.studentHidden.map((hs, layer) => {
    const ht = inputs.teacherHidden[layer]!;
    const grad = zerosLike(hs); // with α = 0 the term is still measured (for the log), its gradient stays 0
    for (let n = 0; n < positions; n++) {
      const base = n * hidden;
      let ns = 0;
      let nt = 0;
      for (let i = 0; i < hidden; i++) { ns += hs[base + i]! ** 2; nt += ht[base + i]! ** 2; }
      ns = Math.sqrt(ns) || 1;
      nt = Math.sqrt(nt) || 1;
      // e = ĥs − ĥt; d‖e‖²/dĥs = 2e; back through ĥ = h/‖h‖: (d − ĥ(ĥ·d))/‖h‖
      let dot = 0;
      for (let i = 0; i < hidden; i++) {
        const e = hs[base + i]! / ns - ht[base + i]! / nt;
        mse += e * e;
        dot += (2 * e) * (hs[base + i]! / ns);
      }
      for (let i = 0; i < hidden; i++) {
        const hat = hs[base + i]! / ns;
        const d = 2 * (hat - ht[base + i]! / nt);
        grad[base + i] = (alpha * (d - hat * dot)) / (ns * positions);
      }
    }
    return grad;
  });
  mse /= positions;
  return { loss: ce + alpha * mse, ce, mse, logitsGrad, hiddenGrads };
}
