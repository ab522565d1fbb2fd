import test from 'ava';
import { relativeL2 } from '../helpers/compare.ts';
import { randomNormal, valueInfo } from '../helpers/onnx-builder.ts';
import { runNodeBothWays } from '../helpers/webgpu.ts';

const FLOAT = 1;

for (const op of ['Neg', 'Sigmoid', 'Tanh', 'Exp', 'Cos', 'Sin', 'Relu', 'Abs']) {
  // GPU tests run one at a time: Dawn hangs when several devices are created concurrently in one process.
  test.serial(`WGSL ${op} matches the reference kernel on [3, 37, 11] and runs on the GPU`, async (t) => {
    const dims = [3, 37, 11];
    const x = { dtype: 'float32' as const, dims, data: randomNormal(3 * 37 * 11, 2, 7) };
    const { gpu, reference, gpuCalls } = await runNodeBothWays(
      { opType: op, input: ['x'], output: ['y'] },
      { inputs: [valueInfo('x', FLOAT, ['a', 37, 11])], outputs: [valueInfo('y', FLOAT, ['a', 37, 11])] },
      { x },
    );
    t.is(gpuCalls.get('unary'), 1);
    t.deepEqual(gpu['y']!.dims, reference['y']!.dims);
    // WGSL's exp and tanh are accurate to a few ulp, not correctly rounded
    const tolerance = ['Cos', 'Sin', 'Exp', 'Sigmoid', 'Tanh'].includes(op) ? 1e-6 : 1e-7;
    t.true(relativeL2(gpu['y']!.data as Float32Array, reference['y']!.data as Float32Array) < tolerance);
  });
}
