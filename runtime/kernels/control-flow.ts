// If and Loop: run their body graphs through the interpreter (KernelContext.runSubgraph).
import type { Tensor } from '../../formats/tensor.ts';
import { allocate } from '../../formats/dtype.ts';
import { tensor } from '../../formats/tensor.ts';
import type { Kernel, KernelTable } from '../kernel.ts';
import { KernelError, required } from '../kernel.ts';

function truth(t: Tensor, what: string): boolean {
  if (t.data.length !== 1) throw new KernelError(`${what} must hold one element, got ${t.data.length}`);
  return Boolean(Number(t.data[0]));
}

const If: Kernel = (inputs, attrs, ctx) => {
  const branch = truth(required(inputs, 0), 'condition') ? attrs.graph('then_branch') : attrs.graph('else_branch');
  return ctx.runSubgraph(branch, new Map());
};

/** Stacks same-shaped tensors along a new leading axis (Loop's scan outputs). */
function stack(parts: Tensor[], name: string): Tensor {
  const first = parts[0]!;
  const size = first.data.length;
  const data = allocate(first.dtype, size * parts.length);
  parts.forEach((p, k) => {
    if (p.data.length !== size || p.dtype !== first.dtype) throw new KernelError(`scan output '${name}' changes shape or dtype between iterations`);
    for (let i = 0; i < size; i++) (data as unknown[])[k * size + i] = p.data[i];
  });
  return tensor(first.dtype, [parts.length, ...first.dims], data);
}

const Loop: Kernel = (inputs, attrs, ctx) => {
  const body = attrs.graph('body');
  const maxTrips = inputs[0] ? Number(inputs[0].data[0]) : Infinity;
  let cond = inputs[1] ? truth(inputs[1], 'cond') : true;
  let carried = inputs.slice(2).map((t, i) => {
    if (!t) throw new KernelError(`loop-carried input ${i} is missing`);
    return t;
  });
  const scanCount = body.outputs.length - 1 - carried.length;
  if (scanCount < 0) throw new KernelError(`body has ${body.outputs.length} outputs, fewer than 1 + ${carried.length} carried values`);
  const scans: Tensor[][] = Array.from({ length: scanCount }, () => []);
  for (let trip = 0; trip < maxTrips && cond; trip++) {
    const feeds = new Map<string, Tensor>([
      [body.inputs[0]!, tensor('int64', [], BigInt64Array.of(BigInt(trip)))],
      [body.inputs[1]!, tensor('bool', [], Uint8Array.of(cond ? 1 : 0))],
    ]);
    carried.forEach((t, i) => feeds.set(body.inputs[2 + i]!, t));
    const out = ctx.runSubgraph(body, feeds);
    cond = truth(out[0]!, 'body condition output');
    carried = out.slice(1, 1 + carried.length);
    out.slice(1 + carried.length).forEach((t, i) => scans[i]!.push(t));
  }
  const scanOutputs = scans.map((parts, i) => {
    if (parts.length) return stack(parts, body.outputs[1 + carried.length + i]!);
    return tensor('float32', [0], new Float32Array(0));
  });
  return [...carried, ...scanOutputs];
};

export const kernels: KernelTable = { If, Loop };
