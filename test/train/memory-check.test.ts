// In-process distillation refuses models whose trained parameters alone would fill the machine, and says to
// use export-training; small models pass.
import test from 'ava';
import { DistillError } from '../../compiler/train/distill-errors.ts';
import { checkTrainingFits } from '../../compiler/train/memory-check.ts';

const GiB = 2 ** 30;
/** LLaMA-7B's projections: 32 layers of q, k, v, o (4096×4096) and gate, up, down (11008×4096). */
const LLAMA_7B_LINEARS = 32 * (4 * 4096 * 4096 + 3 * 11008 * 4096);

test('a 7B model on a 24 GiB machine is refused, pointing to export-training', (t) => {
  const error = t.throws(() => checkTrainingFits(LLAMA_7B_LINEARS, 24 * GiB), { instanceOf: DistillError });
  t.regex(error!.message, /^6476M trained parameters need 96\.\d GiB for their values, gradients and Adam's moments alone, more than half of this machine's 24\.0 GiB: .*onebitc export-training/);
});

test('stories260K, and a model whose state takes up to half the memory, train in process', (t) => {
  t.notThrows(() => checkTrainingFits(35 * 64 * 172, 24 * GiB));
  t.notThrows(() => checkTrainingFits((12 * GiB) / 16, 24 * GiB));
  t.throws(() => checkTrainingFits((12 * GiB) / 16 + 1, 24 * GiB), { instanceOf: DistillError });
});
