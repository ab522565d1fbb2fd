// Per kind of WASM call: the output dims and the kernel's arguments for the actual input tensors, or
// undefined when this run's shapes fall outside what the kernel handles (the reference kernel runs instead).
import type { Tensor } from '../../formats/tensor.ts';
import { sizeOf } from '../../formats/tensor.ts';
import type { GraphNode } from '../graph.ts';
import { broadcastShapes } from '../kernels/broadcast.ts';
import type { WasmCall } from '../plan.ts';

export interface BoundCall {
  dims: number[];
  /** Arguments for the export, given the output's byte offset. */
  args: (y: number) => number[];
  /** Several calls instead of one (a batched product broadcast over more than one batch axis). */
  calls?: (y: number) => number[][];
  /** Message for a non-zero status returned by the kernel. */
  failure?: (status: number) => string;
}

type Pointer = (input: number) => number;

export function bindCall(call: WasmCall, node: GraphNode, inputs: readonly (Tensor | undefined)[], ptr: Pointer): BoundCall | undefined {
  const x = inputs[0]!;
  const lead = x.dims.slice(0, -1);
  const rowsOf = (width: number) => (width === 0 ? 0 : sizeOf(x.dims) / width);
  const s = call.sizes;
  switch (call.kind) {
    case 'onebit-linear':
    case 'onebit-lut':
      return { dims: [...lead, s['out']!], args: (y) => [ptr(0), y, rowsOf(s['in']!)] };
    case 'matmul-const':
      return { dims: x.dims.length === 1 ? [s['n']!] : [...lead, s['n']!], args: (y) => [ptr(0), y, rowsOf(s['k']!)] };
    case 'rms-norm':
    case 'layer-norm':
      return { dims: [...x.dims], args: (y) => [ptr(0), y, rowsOf(s['width']!)] };
    case 'unary':
      return { dims: [...x.dims], args: (y) => [ptr(0), y, sizeOf(x.dims)] };
    case 'softmax': {
      const cols = x.dims.at(-1) ?? 1;
      return { dims: [...x.dims], args: (y) => [ptr(0), y, rowsOf(cols), cols] };
    }
    case 'reduce-mean': {
      const cols = x.dims.at(-1) ?? 1;
      return cols === 0 ? undefined : { dims: [...lead, 1], args: (y) => [ptr(0), y, rowsOf(cols), cols] };
    }
    case 'transpose': {
      const [rows, cols] = x.dims.slice(-2) as [number, number];
      return { dims: [...x.dims.slice(0, -2), cols, rows], args: (y) => [ptr(0), y, sizeOf(x.dims.slice(0, -2)), rows, cols] };
    }
    case 'gather': {
      const indices = inputs[1]!;
      const rows = s['rows']!;
      return {
        dims: [...indices.dims, s['width']!],
        args: (y) => [ptr(1), y, sizeOf(indices.dims)],
        failure: (status) => `index ${indices.data[status - 1]} (position ${status - 1}) is out of range for data with ${rows} rows`,
      };
    }
    case 'matmul':
      return bindMatMul(inputs[0]!, inputs[1]!, ptr);
    case 'binary':
      return bindBinary(inputs[0]!, inputs[1]!, ptr);
  }
  void node;
}

/**
 * Batched a [..., m, k] × b [..., k, n] with numpy broadcasting of the batch axes: the kernel walks the last
 * batch axis (stride 0 on the side that broadcasts it); the outer batch axes, if any, become separate calls.
 */
function bindMatMul(a: Tensor, b: Tensor, ptr: Pointer): BoundCall | undefined {
  if (a.dims.length < 2 || b.dims.length < 2) return undefined;
  const [m, k] = a.dims.slice(-2) as [number, number];
  const [k2, n] = b.dims.slice(-2) as [number, number];
  if (k !== k2) return undefined;
  let batch: number[];
  try {
    batch = broadcastShapes(a.dims.slice(0, -2), b.dims.slice(0, -2));
  } catch {
    return undefined;
  }
  const dims = [...batch, m, n];
  if (batch.length <= 1) {
    const stride = (t: Tensor, size: number) => (t.dims.length === 2 || t.dims[0] === 1 ? 0 : size);
    return { dims, args: (y) => [ptr(0), ptr(1), y, batch[0] ?? 1, m, k, n, stride(a, m * k), stride(b, k * n)] };
  }
  // Element strides of each operand's batch axes (0 where it broadcasts), aligned to the output's.
  const strides = (t: Tensor, matrix: number) => {
    const own = t.dims.slice(0, -2);
    const padded = [...new Array<number>(batch.length - own.length).fill(1), ...own];
    const out = new Array<number>(batch.length).fill(0);
    let s = matrix;
    for (let i = batch.length - 1; i >= 0; i--) { out[i] = padded[i] === 1 ? 0 : s; s *= padded[i]!; }
    return out;
  };
  const as = strides(a, m * k);
  const bs = strides(b, k * n);
  const last = batch.length - 1;
  const outer = batch.slice(0, last);
  const calls = (y: number): number[][] => {
    const list: number[][] = [];
    const index = new Array<number>(outer.length).fill(0);
    for (let c = 0; c < sizeOf(outer); c++) {
      let ao = 0;
      let bo = 0;
      for (let i = 0; i < outer.length; i++) { ao += index[i]! * as[i]!; bo += index[i]! * bs[i]!; }
      list.push([ptr(0) + 4 * ao, ptr(1) + 4 * bo, y + 4 * c * batch[last]! * m * n, batch[last]!, m, k, n, as[last]!, bs[last]!]);
      for (let i = outer.length - 1; i >= 0 && ++index[i]! === outer[i]!; i--) index[i] = 0;
    }
    return list;
  };
  return { dims, args: (y) => calls(y)[0]!, calls };
}

/**
 * Element-wise with broadcasting the kernel can index as `operand[floor(i / repeat) % period]`: each operand's
 * non-1 dims must form one block equal to the output's dims there (a bias, a scalar, a per-row factor…).
 */
function bindBinary(a: Tensor, b: Tensor, ptr: Pointer): BoundCall | undefined {
  let dims: number[];
  try {
    dims = broadcastShapes(a.dims, b.dims);
  } catch {
    return undefined; // the reference kernel reports it
  }
  const pa = pattern(a.dims, dims);
  const pb = pattern(b.dims, dims);
  if (!pa || !pb) return undefined;
  return { dims, args: (y) => [ptr(0), pa.repeat, pa.period, ptr(1), pb.repeat, pb.period, y, sizeOf(dims)] };
}

function pattern(operand: readonly number[], out: readonly number[]): { repeat: number; period: number } | undefined {
  const dims = [...new Array<number>(out.length - operand.length).fill(1), ...operand];
  const first = dims.findIndex((d) => d !== 1);
  if (first < 0) return { repeat: 1, period: 1 };
  let last = dims.length - 1;
  while (dims[last] === 1) last--;
  for (let i = first; i <= last; i++) if (dims[i] !== out[i]) return undefined;
  return { repeat: sizeOf(out.slice(last + 1)), period: sizeOf(dims.slice(first, last + 1)) };
}
