// --kernel auto|exact|lut: the rule of `auto` and the CLI's handling of the option.
import { join } from 'node:path';
import test from 'ava';
import { LUT_MIN_IN, LUT_MIN_OUT, ONEBIT_KERNELS, onebitKernelFor } from '../../compiler/codegen/wasm/select-kernels.ts';
import { ROOT, onebitc, tempDir } from '../helpers/cli.ts';

test('auto: lut for out ≥ 512 and in ≥ 128, exact below; exact and lut are what they say', (t) => {
  t.deepEqual([...ONEBIT_KERNELS], ['auto', 'exact', 'lut']);
  t.is(LUT_MIN_OUT, 512);
  t.is(LUT_MIN_IN, 128);
  t.is(onebitKernelFor('auto', 4096, 4096), 'onebit-lut');
  t.is(onebitKernelFor('auto', 128, 512), 'onebit-lut');
  t.is(onebitKernelFor('auto', 64, 512), 'onebit-linear'); // stories260K's LM head, 512×64
  t.is(onebitKernelFor('auto', 4096, 511), 'onebit-linear');
  t.is(onebitKernelFor('auto', 127, 4096), 'onebit-linear');
  t.is(onebitKernelFor('auto', 64, 176), 'onebit-linear'); // stories260K's layers
  t.is(onebitKernelFor('exact', 4096, 4096), 'onebit-linear');
  t.is(onebitKernelFor('lut', 3, 1), 'onebit-lut');
});

test('the CLI rejects an unknown --kernel with the valid choices', (t) => {
  const r = onebitc(join(ROOT, 'test/fixtures/onebit-stories260K'), '-o', join(tempDir('kernel'), 'b'), '--kernel', 'fast');
  t.is(r.code, 1);
  t.regex(r.stderr, /unsupported kernel "fast"\. Should be one of: auto, exact, lut/);
});
