// The last-two-axes transpose kernel against the reference Transpose kernel.
import test from 'ava';
import { addTransposeLastTwo } from '../../../../compiler/codegen/wasm/transpose.ts';
import { runKernel } from '../../../helpers/kernels.ts';
import { randomUniform } from '../../../helpers/onnx-builder.ts';
import { instantiateKernels } from '../../../helpers/wasm.ts';

test('swaps the last two axes like the reference kernel, for odd and degenerate shapes', async (t) => {
  const k = await instantiateKernels((m) => addTransposeLastTwo(m, 'transpose'), 4 << 20);
  for (const dims of [[1, 1], [3, 5], [7, 1], [1, 9], [2, 3, 4], [1, 4, 430, 8], [2, 2, 3, 17, 5]]) {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = randomUniform(n, -1, 1, n);
    const x = k.alloc(n * 4);
    const y = k.alloc(n * 4);
    k.writeF32(x, data);
    const outer = dims.slice(0, -2).reduce((a, b) => a * b, 1);
    k.exports['transpose']!(x, y, outer, dims.at(-2)!, dims.at(-1)!);
    const perm = dims.map((_, i) => (i < dims.length - 2 ? i : i === dims.length - 2 ? dims.length - 1 : dims.length - 2));
    const [expected] = runKernel('Transpose', [{ dtype: 'float32', dims, data }], { perm });
    t.deepEqual(k.readF32(y, n), expected!.data, `dims [${dims}]`);
  }
});
