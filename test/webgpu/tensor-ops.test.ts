// The data-movement WGSL kernels (compiler/codegen/wgsl/tensor-ops.ts) against the reference kernels: pure
// data movement, so the results must be bit-identical. Shapes are odd and ≤ 1024 elements (SwiftShader).
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { onnx as OnnxTypes } from 'onnx-proto';
import type { Tensor } from '../../formats/tensor.ts';
import type { Dims } from '../helpers/onnx-builder.ts';
import { randomNormal, valueInfo } from '../helpers/onnx-builder.ts';
import { compileOnnx, loadBundle, runNodeBothWays } from '../helpers/webgpu.ts';

const FLOAT = 1;
const INT64 = 7;

let seed = 1;
const floats = (dims: readonly number[]): Tensor => ({ dtype: 'float32', dims, data: randomNormal(dims.reduce((a, b) => a * b, 1), 1, seed++) });
const ints = (values: readonly number[], dims: readonly number[] = [values.length]): Tensor => ({ dtype: 'int64', dims, data: BigInt64Array.from(values, (v) => BigInt(v)) });

interface Case {
  node: OnnxTypes.INodeProto;
  /** Graph inputs (fed at run time): name → declared dims and the tensor fed. */
  inputs: Record<string, { dims: Dims; value: Tensor }>;
  initializers?: [string, Tensor][];
  /** Rank of each output (declared with symbolic dims). */
  outputs: number[];
  opset?: number;
}

/** Runs the case both ways; asserts that `kind` ran once on the GPU and that the outputs are identical. */
async function check(t: ExecutionContext, kind: string, c: Case): Promise<Record<string, Tensor>> {
  const names = c.node.output!;
  const { gpu, reference, gpuCalls } = await runNodeBothWays(c.node, {
    inputs: Object.entries(c.inputs).map(([name, { dims, value }]) => valueInfo(name, value.dtype === 'int64' ? INT64 : FLOAT, dims)),
    outputs: names.map((name, i) => valueInfo(name, FLOAT, Array.from({ length: c.outputs[i]! }, (_, k) => `${name}_${k}`))),
    initializers: c.initializers ?? [],
    ...(c.opset ? { opset: c.opset } : {}),
  }, Object.fromEntries(Object.entries(c.inputs).map(([name, { value }]) => [name, value])));
  t.is(gpuCalls.get(kind), 1, `the ${kind} shader ran (calls: ${JSON.stringify([...gpuCalls])})`);
  t.falsy(gpuCalls.get('host'), 'nothing ran on the host');
  for (const name of names) {
    t.deepEqual(gpu[name]!.dims, reference[name]!.dims, `dims of ${name}`);
    t.deepEqual(Array.from(gpu[name]!.data as Float32Array), Array.from(reference[name]!.data as Float32Array), `values of ${name}`);
  }
  return gpu;
}

// GPU tests run one at a time: Dawn hangs when several devices are created concurrently in one process.

// ---- Transpose ----

for (const [dims, declared, perm] of [
  [[3, 5, 7], [3, 5, 7], [2, 0, 1]],
  [[3, 5, 7], ['a', 5, 'b'], [1, 2, 0]],
  [[2, 3, 1, 2, 3, 5], [2, 3, 1, 2, 3, 'a'], [5, 3, 1, 0, 2, 4]],
  [[1, 9, 3, 5], ['b', 's', 3, 5], [0, 2, 1, 3]],
  [[11, 13], [11, 13], undefined],
] as [number[], Dims, number[] | undefined][]) {
  test.serial(`WGSL Transpose [${declared}] perm ${perm ? `[${perm}]` : 'reversed'} matches the reference`, async (t) => {
    await check(t, 'transpose', {
      node: { opType: 'Transpose', input: ['x'], output: ['y'], attribute: perm ? [{ name: 'perm', type: 7, ints: perm }] : [] },
      inputs: { x: { dims: declared, value: floats(dims) } },
      outputs: [dims.length],
    });
  });
}

// ---- Concat ----

for (const past of [0, 3]) {
  for (const axis of [2, -2]) {
    test.serial(`WGSL Concat: KV cache past ${past} + new 2 on axis ${axis} (symbolic lengths)`, async (t) => {
      const y = await check(t, 'concat', {
        node: { opType: 'Concat', input: ['past', 'new'], output: ['y'], attribute: [{ name: 'axis', type: 2, i: axis }] },
        inputs: { past: { dims: ['b', 3, 'past', 5], value: floats([1, 3, past, 5]) }, new: { dims: ['b', 3, 's', 5], value: floats([1, 3, 2, 5]) } },
        outputs: [4],
      });
      t.deepEqual(y['y']!.dims, [1, 3, past + 2, 5]);
    });
  }
}

test.serial('WGSL Concat: empty new part and fixed dims', async (t) => {
  await check(t, 'concat', {
    node: { opType: 'Concat', input: ['a', 'b'], output: ['y'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
    inputs: { a: { dims: [3, 'n', 7], value: floats([3, 4, 7]) }, b: { dims: [3, 'm', 7], value: floats([3, 0, 7]) } },
    outputs: [3],
  });
});

test.serial('WGSL Concat: three inputs of odd sizes on axis 0', async (t) => {
  await check(t, 'concat', {
    node: { opType: 'Concat', input: ['a', 'b', 'c'], output: ['y'], attribute: [{ name: 'axis', type: 2, i: 0 }] },
    inputs: { a: { dims: [3, 7], value: floats([3, 7]) }, b: { dims: [1, 7], value: floats([1, 7]) }, c: { dims: [5, 7], value: floats([5, 7]) } },
    outputs: [2],
  });
});

test.serial('WGSL Concat: four inputs on the last axis, one a constant', async (t) => {
  await check(t, 'concat', {
    node: { opType: 'Concat', input: ['a', 'w', 'b', 'c'], output: ['y'], attribute: [{ name: 'axis', type: 2, i: -1 }] },
    inputs: { a: { dims: [5, 'k', 3], value: floats([5, 2, 3]) }, b: { dims: [5, 2, 1], value: floats([5, 2, 1]) }, c: { dims: [5, 2, 4], value: floats([5, 2, 4]) } },
    initializers: [['w', floats([5, 2, 2])]],
    outputs: [3],
  });
});

// ---- Slice ----

const sliceCase = (dims: number[], declared: Dims, starts: number[], ends: number[], axes?: number[], steps?: number[], asInputs = false): Case => {
  const args: [string, number[] | undefined][] = [['starts', starts], ['ends', ends], ['axes', axes], ['steps', steps]];
  const given = args.filter(([, v]) => v) as [string, number[]][];
  const used = args.map(([, v]) => v !== undefined).lastIndexOf(true) + 1;
  return {
    node: { opType: 'Slice', input: ['x', ...args.slice(0, used).map(([name, v]) => (v ? name : ''))], output: ['y'] },
    inputs: {
      x: { dims: declared, value: floats(dims) },
      ...(asInputs ? Object.fromEntries(given.map(([name, v]) => [name, { dims: [v.length], value: ints(v) }])) : {}),
    },
    initializers: asInputs ? [] : given.map(([name, v]) => [name, ints(v)]),
    outputs: [dims.length],
  };
};

test.serial('WGSL Slice: constant starts/ends/axes/steps on known dims', async (t) => {
  await check(t, 'slice', sliceCase([7, 9, 5], [7, 9, 5], [1, 2], [6, -1], [0, 1], [2, 3]));
});

test.serial('WGSL Slice: negative steps, clamped ends (reverse an axis)', async (t) => {
  await check(t, 'slice', sliceCase([5, 11, 3], ['a', 11, 3], [-1, 9], [-1000, 1], [1, 0], [-1, -2]));
});

test.serial('WGSL Slice: starts and ends from run-time inputs, INT64_MAX end, negative axis', async (t) => {
  await check(t, 'slice', sliceCase([4, 13, 6], ['b', 's', 6], [-5, 1], [Number.MAX_SAFE_INTEGER, 5], [1, -1], undefined, true));
});

test.serial('WGSL Slice: negative step from run-time inputs', async (t) => {
  await check(t, 'slice', sliceCase([6, 7], ['a', 'b'], [100, -2], [-100, 0], [0, 1], [-2, -3], true));
});

test.serial('WGSL Slice: empty result is not dispatched but still a GPU call', async (t) => {
  await check(t, 'slice', sliceCase([6, 7], [6, 7], [3], [3], [0]));
});

test.serial('WGSL Slice: opset 9 attributes', async (t) => {
  await check(t, 'slice', {
    node: { opType: 'Slice', input: ['x'], output: ['y'], attribute: [{ name: 'starts', type: 7, ints: [1, -4] }, { name: 'ends', type: 7, ints: [3, 100] }, { name: 'axes', type: 7, ints: [0, 2] }] },
    inputs: { x: { dims: [5, 3, 7], value: floats([5, 3, 7]) } },
    outputs: [3],
    opset: 9,
  });
});

// ---- Split ----

test.serial('WGSL Split: three unequal parts from a constant split input, negative axis', async (t) => {
  await check(t, 'split', {
    node: { opType: 'Split', input: ['x', 'split'], output: ['y0', 'y1', 'y2'], attribute: [{ name: 'axis', type: 2, i: -2 }] },
    inputs: { x: { dims: [3, 'n', 5], value: floats([3, 9, 5]) } },
    initializers: [['split', ints([2, 3, 4])]],
    outputs: [3, 3, 3],
  });
});

test.serial('WGSL Split: equal parts (last smaller) of a symbolic axis', async (t) => {
  await check(t, 'split', {
    node: { opType: 'Split', input: ['x'], output: ['y0', 'y1', 'y2'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
    inputs: { x: { dims: [2, 'n'], value: floats([2, 11]) } },
    outputs: [2, 2, 2],
    opset: 18,
  });
});

test.serial('WGSL Split: opset 11 split attribute, axis 0', async (t) => {
  await check(t, 'split', {
    node: { opType: 'Split', input: ['x'], output: ['y0', 'y1'], attribute: [{ name: 'split', type: 7, ints: [4, 1] }] },
    inputs: { x: { dims: [5, 3, 3], value: floats([5, 3, 3]) } },
    outputs: [3, 3],
    opset: 11,
  });
});

test.serial('WGSL Split with an empty part runs on the host (and agrees)', async (t) => {
  const node = { opType: 'Split', input: ['x', 'split'], output: ['y0', 'y1'] };
  const { gpu, reference, gpuCalls } = await runNodeBothWays(node, {
    inputs: [valueInfo('x', FLOAT, [6, 'n'])], outputs: [valueInfo('y0', FLOAT, ['a', 'n']), valueInfo('y1', FLOAT, ['b', 'n'])], initializers: [['split', ints([6, 0])]],
  }, { x: floats([6, 3]) });
  t.falsy(gpuCalls.get('split'));
  t.deepEqual(gpu['y1']!.dims, [0, 3]);
  t.deepEqual(Array.from(gpu['y0']!.data as Float32Array), Array.from(reference['y0']!.data as Float32Array));
});

// ---- Expand, Tile ----

test.serial('WGSL Expand: shape from a run-time int64 input, new leading axes', async (t) => {
  await check(t, 'expand', {
    node: { opType: 'Expand', input: ['x', 'shape'], output: ['y'] },
    inputs: { x: { dims: [3, 1, 5], value: floats([3, 1, 5]) }, shape: { dims: [4], value: ints([2, 1, 7, 1]) } },
    outputs: [4],
  });
});

test.serial('WGSL Expand: constant shape', async (t) => {
  await check(t, 'expand', {
    node: { opType: 'Expand', input: ['x', 'shape'], output: ['y'] },
    inputs: { x: { dims: ['a', 1], value: floats([7, 1]) } },
    initializers: [['shape', ints([7, 9])]],
    outputs: [2],
  });
});

test.serial('WGSL Tile: repeats [2, 1, 3]', async (t) => {
  await check(t, 'tile', {
    node: { opType: 'Tile', input: ['x', 'repeats'], output: ['y'] },
    inputs: { x: { dims: [3, 'n', 5], value: floats([3, 4, 5]) } },
    initializers: [['repeats', ints([2, 1, 3])]],
    outputs: [3],
  });
});

// ---- Gather ----

test.serial('WGSL Gather: embedding lookup in a constant table with negative indices', async (t) => {
  const y = await check(t, 'gather', {
    node: { opType: 'Gather', input: ['table', 'ids'], output: ['y'] },
    inputs: { ids: { dims: ['b', 's'], value: ints([0, 10, -1, 3, -11, 7], [2, 3]) } },
    initializers: [['table', floats([11, 6])]],
    outputs: [3],
  });
  t.deepEqual(y['y']!.dims, [2, 3, 6]);
});

test.serial('WGSL Gather: the last position of a run-time value (axis -2, scalar index)', async (t) => {
  const y = await check(t, 'gather', {
    node: { opType: 'Gather', input: ['x', 'last'], output: ['y'], attribute: [{ name: 'axis', type: 2, i: -2 }] },
    inputs: { x: { dims: [3, 's', 5], value: floats([3, 7, 5]) }, last: { dims: [], value: ints([-1], []) } },
    outputs: [2],
  });
  t.deepEqual(y['y']!.dims, [3, 5]);
});

test.serial('WGSL Gather: indices [2, 2] on axis 1 of a rank-3 value', async (t) => {
  await check(t, 'gather', {
    node: { opType: 'Gather', input: ['x', 'ids'], output: ['y'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
    inputs: { x: { dims: [3, 7, 'w'], value: floats([3, 7, 5]) }, ids: { dims: [2, 2], value: ints([6, 0, -3, 2], [2, 2]) } },
    outputs: [4],
  });
});

test.serial('WGSL Gather: an out-of-range index is left to the host kernel, which raises the error', async (t) => {
  const node = { opType: 'Gather', input: ['table', 'ids'], output: ['y'] };
  const error = await t.throwsAsync(runNodeBothWays(node, {
    inputs: [valueInfo('ids', INT64, ['s'])], outputs: [valueInfo('y', FLOAT, ['s', 4])], initializers: [['table', floats([5, 4])]],
  }, { ids: ints([1, 5]) }));
  t.regex(error!.message, /out of range/);
});

// ---- a chain on GPU values: a KV cache kept on the device across runs ----

test.serial('WGSL tensor ops chained on GPU values: Concat into a kept KV cache, Transpose, Split, Concat, Gather', async (t) => {
  const attr = (name: string, v: number | number[]) => (Array.isArray(v) ? { name, type: 7, ints: v } : { name, type: 2, i: v });
  const dir = await compileOnnx({
    nodes: [
      { opType: 'Concat', input: ['past', 'new'], output: ['present'], attribute: [attr('axis', 2)] }, // [1, 2, T, 3]
      { opType: 'Transpose', input: ['present'], output: ['t'], attribute: [attr('perm', [0, 2, 1, 3])] }, // [1, T, 2, 3]
      { opType: 'Split', input: ['t'], output: ['h0', 'h1'], attribute: [attr('axis', 2)] }, // [1, T, 1, 3] each
      { opType: 'Concat', input: ['h1', 'h0'], output: ['z'], attribute: [attr('axis', -1)] }, // [1, T, 1, 6]
      { opType: 'Gather', input: ['z', 'last'], output: ['y'], attribute: [attr('axis', 1)] }, // [1, 1, 6]
    ],
    inputs: [valueInfo('past', FLOAT, [1, 2, 'p', 3]), valueInfo('new', FLOAT, [1, 2, 's', 3])],
    outputs: [valueInfo('present', FLOAT, [1, 2, 't', 3]), valueInfo('z', FLOAT, [1, 't', 1, 6]), valueInfo('y', FLOAT, [1, 1, 6])],
    initializers: [['last', ints([-1], [])]],
  });
  const gpu = await loadBundle(dir, 'webgpu');
  const reference = await loadBundle(dir, 'js');
  type Run = (feeds: Record<string, unknown>, options?: { keepOnDevice?: string[] }) => Promise<Record<string, Tensor>>;
  const runGpu = (gpu as unknown as { run: Run }).run.bind(gpu);
  const release = (gpu as unknown as { release(t: unknown): void }).release.bind(gpu);
  try {
    let pastGpu: unknown = floats([1, 2, 0, 3]);
    let pastRef: Tensor = pastGpu as Tensor;
    for (const s of [3, 1, 1]) {
      const step = floats([1, 2, s, 3]);
      const onGpu = await runGpu({ past: pastGpu, new: step }, { keepOnDevice: ['present'] });
      const onRef = await reference.run({ past: pastRef, new: step });
      t.deepEqual(Object.fromEntries(gpu.gpuCalls), { concat: 2, transpose: 1, split: 1, gather: 1 });
      for (const name of ['z', 'y']) t.deepEqual(Array.from(onGpu[name]!.data as Float32Array), Array.from(onRef[name]!.data as Float32Array));
      t.deepEqual(onGpu['present']!.dims, onRef['present']!.dims);
      if (pastGpu !== pastRef) release(pastGpu);
      pastGpu = onGpu['present'];
      pastRef = onRef['present']!;
    }
    t.deepEqual((pastGpu as Tensor).dims, [1, 2, 5, 3]);
  } finally {
    gpu.dispose();
  }
});
