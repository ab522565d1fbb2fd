// In-process distillation holds four float32 copies of every trained parameter (the latent weight, its gradient
// and Adam's two moments) besides the teacher and the activations: a model whose copies alone take most of
// the machine's memory would only crash later, so it is refused up front with the way that does work.
import { formatBytes } from '../inspect.ts';
import { DistillError } from './distill-errors.ts';

/** Bytes per trained parameter: value, gradient, Adam's m and v, float32 each. */
const BYTES_PER_PARAMETER = 16;

/** Refuses a run whose trained parameters (the 1-bit layers' latent weights) would not fit in memory. */
export function checkTrainingFits(trainedParameters: number, machineBytes: number): void {
  const state = trainedParameters * BYTES_PER_PARAMETER;
  if (state <= machineBytes / 2) return;
  throw new DistillError(
    `${(trainedParameters / 1e6).toFixed(0)}M trained parameters need ${formatBytes(state)} for their values, gradients and Adam's ` +
    `moments alone, more than half of this machine's ${formatBytes(machineBytes)}: train this model on PyTorch instead ` +
    '(`onebitc export-training <model> -o <dir>`, then compile its checkpoint)',
  );
}
