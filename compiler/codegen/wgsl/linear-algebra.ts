// Matrix-product WGSL kernels: MatMul with a constant B [k, n] (the weights of a Linear; k and n are
// constants), batched MatMul of two run-time values (attention's QKᵀ and PV, numpy broadcasting of the
// batch axes, GQA's 5-D included) and Gemm (transA=0, transB 0/1, alpha, beta, bias C). All three share
// one shader shape with two paths chosen per run (runtime/webgpu/bind/linear-algebra.ts): GEMV for a few
// rows (k split across the workgroup, summed in workgroup memory) and a 64 × 64 tiled GEMM.
import {
  GEMV_MAX_ROWS, gemvColumns, MATMUL_TILE, MATMUL_TILE_K, MATMUL_WORKGROUP,
} from '../../../runtime/webgpu/bind/linear-algebra.ts';
import type { GpuConstantLayout } from '../../../runtime/plan.ts';
import type { Dim } from '../../ir/graph.ts';
import type { GpuKernelContext, GpuKernelFamily } from './kernel.ts';
import { describe, f32Literal, ShaderBuilder } from './shader.ts';

/** How Gemm's C is read for output (row, col): none, one scalar, per column, per row, or [m, n]. */
const BIAS_MODES = ['none', 'scalar', 'col', 'row', 'full'] as const;
type BiasMode = (typeof BIAS_MODES)[number];

interface MatmulSpec {
  /** Compile-time k and n (else Params `k`, `n`). */
  k: number | undefined;
  n: number | undefined;
  /** Output batch axes (0: one matrix; A and B offsets come from Params bd/as/bs otherwise). */
  batchRank: number;
  /** B read as [n, k] (Gemm transB=1) instead of [k, n]. */
  transposed: boolean;
  alpha: number;
  beta: number;
  bias: BiasMode;
}

const FLOAT_CONSTANT = new Set(['float32', 'float16', 'bfloat16']);

/** The shape of a value: a constant's dims, else its inferred shape. */
function shapeOf(ctx: GpuKernelContext, name: string | undefined): readonly Dim[] | undefined {
  return ctx.constant(name)?.dims ?? ctx.type(name)?.shape;
}

/** A float32 run-time value or a float constant (uploaded as f32). */
function floatOperand(ctx: GpuKernelContext, name: string | undefined): boolean {
  const c = ctx.constant(name);
  return c ? FLOAT_CONSTANT.has(c.dtype) : ctx.type(name)?.dtype === 'float32';
}

/** The constants among `indexes`, uploaded as f32. */
function constantLayouts(ctx: GpuKernelContext, inputs: readonly string[], indexes: readonly number[]): Record<number, GpuConstantLayout> {
  return Object.fromEntries(indexes.filter((i) => ctx.constant(inputs[i])).map((i) => [i, 'f32' as const]));
}

const known = (d: Dim | undefined) => (typeof d === 'number' ? d : undefined);

// ---- the shader ----

/** `fn batch_offsets(z) -> vec2u`: element offsets of batch z's matrices in A and B. */
function batchOffsets(b: ShaderBuilder, rank: number): string {
  if (rank === 0) return 'fn batch_offsets(z: u32) -> vec2u {\n  return vec2u(0u, 0u);\n}';
  const lines = ['fn batch_offsets(z: u32) -> vec2u {', '  var r = z;', '  var offsets = vec2u(0u, 0u);'];
  for (let i = rank - 1; i > 0; i--) {
    lines.push(`  offsets += (r % ${b.param(`bd${i}`)}) * vec2u(${b.param(`as${i}`)}, ${b.param(`bs${i}`)});`, `  r /= ${b.param(`bd${i}`)};`);
  }
  lines.push(`  offsets += r * vec2u(${b.param('as0')}, ${b.param('bs0')});`, '  return offsets;', '}');
  return lines.join('\n');
}

/** `fn epilogue(v, row, col) -> f32`: alpha · v + beta · C. */
function epilogue(spec: MatmulSpec, n: string): string {
  const scaled = spec.alpha === 1 ? 'v' : `${f32Literal(spec.alpha)} * v`;
  const at = { none: '', scalar: 'c[0]', col: 'c[col]', row: 'c[row]', full: `c[row * ${n} + col]` }[spec.bias];
  const bias = !at ? '' : spec.beta === 1 ? ` + ${at}` : ` + ${f32Literal(spec.beta)} * ${at}`;
  return `fn epilogue(v: f32, row: u32, col: u32) -> f32 {\n  return ${scaled}${bias};\n}`;
}

/** The GEMV path: workgroup (wid.x, wid.y = row): COLS columns × SPLITS slices of k, summed in `partial`. */
function gemvPath(spec: MatmulSpec, k: string, n: string): string {
  const cols = gemvColumns(spec.transposed);
  const splits = MATMUL_WORKGROUP / cols;
  // adjacent threads read adjacent addresses of B: columns of B [k, n], k of Bᵀ [n, k]
  const [c, s] = spec.transposed ? [`lid.x / ${splits}u`, `lid.x % ${splits}u`] : [`lid.x % ${cols}u`, `lid.x / ${cols}u`];
  const slot = (split: string) => (spec.transposed ? `lc * ${splits}u + ${split}` : `${split} * ${cols}u + lc`);
  return `
let lc = ${c};
let s = ${s};
let row = wid.y;
let col = wid.x * ${cols}u + lc;
var acc = 0.0;
if (col < ${n}) {
  let aRow = offsets.x + row * ${k};
  for (var kk = s; kk < ${k}; kk += ${splits}u) {
    acc = fma(a[aRow + kk], b_at(offsets.y, kk, col), acc);
  }
}
partial[lid.x] = acc;
workgroupBarrier();
if (s == 0u && col < ${n}) {
  var sum = 0.0;
  for (var t = 0u; t < ${splits}u; t++) {
    sum += partial[${slot('t')}];
  }
  y[yOff + row * ${n} + col] = epilogue(sum, row, col);
}`;
}

/** The tiled path: workgroup (wid.x, wid.y) computes a TILE × TILE block, 4 × 4 per thread (rows ty + 16i, cols tx + 16j). */
function tiledPath(spec: MatmulSpec, m: string, k: string, n: string): string {
  const T = MATMUL_TILE;
  const TK = MATMUL_TILE_K;
  const per = (T * TK) / MATMUL_WORKGROUP; // tile elements each thread loads
  const step = T / 4; // 16 threads along each axis
  // B tile [TK][T], loaded along the contiguous axis of B
  const bIndex = spec.transposed ? [`i / ${TK}u`, `i % ${TK}u`] : [`i % ${T}u`, `i / ${T}u`];
  return `
let tx = lid.x % ${step}u;
let ty = lid.x / ${step}u;
let row0 = wid.y * ${T}u;
let col0 = wid.x * ${T}u;
var acc: array<vec4f, 4>;
for (var k0 = 0u; k0 < ${k}; k0 += ${TK}u) {
  for (var e = 0u; e < ${per}u; e++) {
    let i = lid.x + e * ${MATMUL_WORKGROUP}u;
    let r = row0 + i / ${TK}u;
    let kk = k0 + i % ${TK}u;
    var v = 0.0;
    if (r < ${m} && kk < ${k}) {
      v = a[offsets.x + r * ${k} + kk];
    }
    tile_a[i] = v;
  }
  for (var e = 0u; e < ${per}u; e++) {
    let i = lid.x + e * ${MATMUL_WORKGROUP}u;
    let ct = ${bIndex[0]};
    let kt = ${bIndex[1]};
    var v = 0.0;
    if (k0 + kt < ${k} && col0 + ct < ${n}) {
      v = b_at(offsets.y, k0 + kt, col0 + ct);
    }
    tile_b[kt * ${T}u + ct] = v;
  }
  workgroupBarrier();
  for (var kt = 0u; kt < ${TK}u; kt++) {
    let bv = vec4f(tile_b[kt * ${T}u + tx], tile_b[kt * ${T}u + tx + ${step}u], tile_b[kt * ${T}u + tx + ${2 * step}u], tile_b[kt * ${T}u + tx + ${3 * step}u]);
    for (var i = 0u; i < 4u; i++) {
      acc[i] = fma(vec4f(tile_a[(ty + i * ${step}u) * ${TK}u + kt]), bv, acc[i]);
    }
  }
  workgroupBarrier();
}
for (var i = 0u; i < 4u; i++) {
  let row = row0 + ty + i * ${step}u;
  for (var j = 0u; j < 4u; j++) {
    let col = col0 + tx + j * ${step}u;
    if (row < ${m} && col < ${n}) {
      y[yOff + row * ${n} + col] = epilogue(acc[i][j], row, col);
    }
  }
}`;
}

function matmulShader(op: string, shapes: string, spec: MatmulSpec): ReturnType<ShaderBuilder['build']> {
  const b = new ShaderBuilder(op, shapes);
  const gemv = b.param('gemv');
  const m = b.param('m');
  const k = b.size('k', spec.k);
  const n = b.size('n', spec.n);
  b.storage('a', 'f32', 'read').storage('b', 'f32', 'read');
  if (spec.bias !== 'none') b.storage('c', 'f32', 'read');
  b.storage('y', 'f32', 'read_write');
  const bAt = spec.transposed ? `b[offset + col * ${k} + kk]` : `b[offset + kk * ${n} + col]`;
  b.declare(`var<workgroup> tile_a: array<f32, ${MATMUL_TILE * MATMUL_TILE_K}>; // [row][k]`);
  b.declare(`var<workgroup> tile_b: array<f32, ${MATMUL_TILE * MATMUL_TILE_K}>; // [k][col]`);
  b.declare(`var<workgroup> partial: array<f32, ${MATMUL_WORKGROUP}>;`);
  b.declare(`fn b_at(offset: u32, kk: u32, col: u32) -> f32 {\n  return ${bAt};\n}`);
  b.declare(batchOffsets(b, spec.batchRank));
  b.declare(epilogue(spec, n));
  return b.build([MATMUL_WORKGROUP], `
let offsets = batch_offsets(wid.z);
let yOff = wid.z * ${m} * ${n};
// up to ${GEMV_MAX_ROWS} rows: GEMV; more: tiled
if (${gemv} == 1u) {${indent(gemvPath(spec, k, n))}
} else {${indent(tiledPath(spec, m, k, n))}
}`);
}

const indent = (code: string) => code.split('\n').map((l) => (l ? `  ${l}` : l)).join('\n');

const DISPATCH: [string, number][] = [['gx', 1], ['gy', 1], ['gz', 1]];

// ---- the families ----

/** MatMul: A [..., k] · constant B [k, n] ('matmul-const'), or two values of rank ≥ 2 ('matmul'). */
export const matmulKernel: GpuKernelFamily = (node, ctx) => {
  if (node.domain !== '' || node.op !== 'MatMul') return undefined;
  const [a, bName] = node.inputs;
  const aShape = shapeOf(ctx, a);
  const bShape = shapeOf(ctx, bName);
  if (!aShape || !bShape || !floatOperand(ctx, a) || !floatOperand(ctx, bName)) return undefined;
  const header = `${describe('float32', aShape)} × ${describe('float32', bShape)}`;
  const w = ctx.constant(bName);
  const plain = { alpha: 1, beta: 1, bias: 'none' as const, transposed: false };
  if (w && w.dims.length === 2 && !ctx.constant(a) && aShape.length >= 1) {
    const [k, n] = w.dims as [number, number];
    const shader = matmulShader('MatMul', header, { ...plain, k, n, batchRank: 0 });
    return { kind: 'matmul-const', bindings: [0, 1], constants: { 1: 'f32' }, dispatch: DISPATCH, sizes: { k, n }, shader };
  }
  if (aShape.length < 2 || bShape.length < 2) return undefined;
  const k = known(aShape.at(-1)) ?? known(bShape.at(-2));
  const n = known(bShape.at(-1));
  const batchRank = Math.max(aShape.length, bShape.length) - 2;
  const shader = matmulShader('MatMul', header, { ...plain, k, n, batchRank });
  const sizes: Record<string, number> = { batchRank };
  if (k !== undefined) sizes['k'] = k;
  if (n !== undefined) sizes['n'] = n;
  return { kind: 'matmul', bindings: [0, 1], constants: constantLayouts(ctx, node.inputs, [0, 1]), dispatch: DISPATCH, sizes, shader };
};

/** How C [..] broadcasts to [m, n], from its shape; undefined when it cannot be told at compile time. */
function biasMode(shape: readonly Dim[], n: number | undefined): BiasMode | undefined {
  if (shape.length > 2) return undefined;
  if (shape.every((d) => d === 1)) return 'scalar';
  const last = shape.at(-1);
  if (shape.length === 1 || shape[0] === 1) return last === 1 && n !== 1 ? undefined : 'col';
  if (last === 1) return 'row';
  return n === undefined || last === n ? 'full' : undefined;
}

/** Gemm with transA=0: y [m, n] = alpha · A [m, k] · B (+ beta · C), B [k, n] or (transB=1) [n, k]. */
export const gemmKernel: GpuKernelFamily = (node, ctx) => {
  if (node.domain !== '' || node.op !== 'Gemm' || (node.attrs['transA'] ?? 0) !== 0) return undefined;
  const [a, bName, cName] = node.inputs;
  const aShape = shapeOf(ctx, a);
  const bShape = shapeOf(ctx, bName);
  if (aShape?.length !== 2 || bShape?.length !== 2 || !floatOperand(ctx, a) || !floatOperand(ctx, bName)) return undefined;
  const transposed = node.attrs['transB'] === 1;
  const alpha = (node.attrs['alpha'] as number | undefined) ?? 1;
  const beta = (node.attrs['beta'] as number | undefined) ?? 1;
  const k = known(aShape[1]) ?? known(bShape[transposed ? 1 : 0]);
  const n = known(bShape[transposed ? 0 : 1]);
  let bias: BiasMode = 'none';
  if (cName) {
    const cShape = shapeOf(ctx, cName);
    const mode = cShape && floatOperand(ctx, cName) ? biasMode(cShape, n) : undefined;
    if (!mode) return undefined;
    bias = mode;
  }
  const cText = cName ? ` + ${describe('float32', shapeOf(ctx, cName))}` : '';
  const header = `${describe('float32', aShape)} × ${describe('float32', bShape)}${transposed ? 'ᵀ' : ''}${cText}`;
  const shader = matmulShader('Gemm', header, { k, n, batchRank: 0, transposed, alpha, beta, bias });
  const sizes: Record<string, number> = { transB: transposed ? 1 : 0, c: BIAS_MODES.indexOf(bias) };
  if (k !== undefined) sizes['k'] = k;
  if (n !== undefined) sizes['n'] = n;
  const bindings = cName ? [0, 1, 2] : [0, 1];
  return { kind: 'gemm', bindings, constants: constantLayouts(ctx, node.inputs, bindings), dispatch: DISPATCH, sizes, shader };
};
