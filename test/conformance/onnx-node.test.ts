// Every supported op against ONNX's own node test cases (Debian's libonnx-testdata): each case's model
// goes through the importer, verifier, shape inference and plan builder, then runs on the reference
// kernels; outputs must match the expected tensors, and inferred output dtypes/shapes must match too.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import onnxProto from 'onnx-proto';
import { tensorFromProto } from '../../formats/onnx/tensor-proto.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { buildPlan } from '../../compiler/codegen/js/emit-plan.ts';
import { importOnnx } from '../../compiler/import/onnx.ts';
import { formatDiagnostic } from '../../compiler/ir/diagnostics.ts';
import { inferShapes } from '../../compiler/ir/infer-shapes.ts';
import { verifyModel } from '../../compiler/ir/verify.ts';
import { Interpreter } from '../../runtime/execute.ts';
import { widenStoredConstants } from '../../runtime/model.ts';
import type { TensorSpec } from '../../runtime/plan.ts';
import { WasmBackend } from '../../runtime/wasm/backend.ts';
import { emitWasm } from '../../compiler/codegen/wasm/emit-wasm.ts';
import { KERNELS, SUPPORTED_OPS } from '../../runtime/kernels/index.ts';
import { mismatch } from '../helpers/compare.ts';
import { KNOWN_SKIPS, OPS_WITHOUT_CASES } from './known-skips.ts';

const { onnx } = onnxProto;
const DATA = '/usr/share/libonnx-testdata/data';
const ROOTS = ['node', 'pytorch-converted', 'pytorch-operator', 'simple'].map((d) => join(DATA, d));
const BFLOAT16 = 16;
const NON_TENSOR = 'uses sequence or optional values; the runtime has tensors only';

interface Case { name: string; dir: string; ops: string[]; nonTensor: boolean; declared: Map<string, number> }

function listCases(): Case[] {
  return ROOTS.filter(existsSync).flatMap((root) => readdirSync(root).sort().map((name) => join(root, name))).flatMap((dir) => {
    const name = dir.slice(DATA.length + 1);
    if (!existsSync(join(dir, 'model.onnx'))) return [];
    const model = onnx.ModelProto.decode(readFileSync(join(dir, 'model.onnx')));
    const g = model.graph!;
    const values = [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])];
    const nonTensor = values.some((v) => v.type && !v.type.tensorType) || (g.node ?? []).some((n) => (n.attribute ?? []).some((a) => a.g && JSON.stringify(a.g).includes('sequenceType')));
    const declared = new Map(values.filter((v) => v.type?.tensorType).map((v) => [v.name!, v.type!.tensorType!.elemType!]));
    return [{ name, dir, ops: [...new Set((g.node ?? []).map((n) => n.opType!))], nonTensor, declared }];
  });
}

const cases = listCases();
const supported = new Set(SUPPORTED_OPS);

/** Symbol values of this run: each symbolic dim of the plan's inputs bound to the feed's size. */
function symbolValues(specs: readonly TensorSpec[], inputs: readonly Tensor[]): Map<string, number> {
  const symbols = new Map<string, number>();
  specs.forEach((spec, i) => spec.dims.forEach((d, a) => { if (typeof d === 'string') symbols.set(d, inputs[i]!.dims[a]!); }));
  return symbols;
}

/** Runs a case on the reference kernels and, where the compiler picks WASM kernels for it, on those too. */
async function runCase(c: Case, viaWasm: string[]): Promise<string | undefined> {
  const model = await importOnnx(join(c.dir, 'model.onnx'));
  const problems = [...verifyModel(model, { supportedOps: SUPPORTED_OPS }), ...inferShapes(model)].filter((d) => d.severity === 'error');
  if (problems.length) return problems.map(formatDiagnostic).join('; ');
  const { plan, weights: stored } = buildPlan(model, 'weights.safetensors');
  const weights = new Map(stored);
  widenStoredConstants(plan, weights);
  const interpreter = new Interpreter(KERNELS, plan.opset);
  const wasm = emitWasm(model);
  const backend = wasm && await WasmBackend.create(wasm.plan, wasm.binary, new Map(weights));
  if (backend) viaWasm.push(c.name);
  const sets = readdirSync(c.dir).filter((d) => d.startsWith('test_data_set_')).sort();
  for (const set of sets) {
    const read = (prefix: string) => readdirSync(join(c.dir, set)).filter((f) => f.startsWith(prefix)).sort((a, b) => parseInt(a.slice(prefix.length)) - parseInt(b.slice(prefix.length)))
      .map((f) => tensorFromProto(onnx.TensorProto.decode(readFileSync(join(c.dir, set, f))), { file: join(c.dir, set, f), dir: c.dir }));
    // ONNX 1.12 stores bfloat16 test tensors as uint16 words: take the dtype the graph declares.
    const asDeclared = (t: Tensor, name: string): Tensor => (t.dtype === 'uint16' && c.declared.get(name) === BFLOAT16 ? { ...t, dtype: 'bfloat16' } as Tensor : t);
    const inputs = read('input_').map((t, i) => asDeclared(t, plan.graph.inputs[i]!));
    const expected = read('output_').map((t, i) => asDeclared(t, plan.graph.outputs[i]!));
    const feeds = new Map<string, Tensor>(plan.graph.inputs.map((name, i) => [name, inputs[i]!]));
    const constants = Interpreter.constants(new Map(weights));
    const actual = interpreter.run(plan.graph, feeds, constants);
    const fromWasm = backend && interpreter.run(plan.graph, feeds, constants, backend.hooks(symbolValues(plan.inputs, inputs)));
    for (let i = 0; i < expected.length; i++) {
      const why = mismatch(actual[i]!, expected[i]!);
      if (why) return `${set}: output '${plan.graph.outputs[i]}': ${why}`;
      const whyWasm = fromWasm && mismatch(fromWasm[i]!, expected[i]!);
      if (whyWasm) return `${set}: output '${plan.graph.outputs[i]}' with WASM kernels: ${whyWasm}`;
      const inferred = model.graph.types.get(plan.graph.outputs[i]!);
      if (inferred && inferred.dtype !== expected[i]!.dtype) return `inferred dtype ${inferred.dtype} for '${plan.graph.outputs[i]}', actual ${expected[i]!.dtype}`;
      const shape = inferred?.shape;
      if (shape && shape.every((d) => typeof d === 'number') && shape.join(',') !== expected[i]!.dims.join(',')) {
        return `inferred shape [${shape}] for '${plan.graph.outputs[i]}', actual [${expected[i]!.dims}]`;
      }
    }
  }
  return undefined;
}

// One test per supported op: the cases whose graph uses it and only supported ops.
for (const op of SUPPORTED_OPS.filter((o) => !(o in OPS_WITHOUT_CASES))) {
  const mine = cases.filter((c) => c.ops.includes(op) && c.ops.every((o) => supported.has(o)));
  test(`${op}: ONNX node conformance cases`, async (t) => {
    t.true(cases.length > 0, `no test data at ${DATA}: install Debian's libonnx-testdata`);
    let passed = 0;
    const failed: string[] = [];
    const skipped: string[] = [];
    const viaWasm: string[] = [];
    for (const c of mine) {
      const reason = KNOWN_SKIPS[c.name] ?? (c.nonTensor ? NON_TENSOR : undefined);
      if (reason) { skipped.push(`${c.name} (${reason})`); continue; }
      const why = await runCase(c, viaWasm).catch((e: Error) => `${e.name}: ${e.message}`);
      if (why) failed.push(`${c.name}: ${why}`);
      else passed++;
    }
    t.log(`${op}: ${mine.length} cases, ${passed} passed (${viaWasm.length} also with WASM kernels), ${failed.length} failed, ${skipped.length} skipped${skipped.length ? `: ${skipped.join('; ')}` : ''}`);
    for (const f of failed) t.log(`FAIL ${f}`);
    t.deepEqual(failed, []);
    t.true(passed > 0, `${op} has no passing conformance case`);
  });
}

test('every case of a supported op that is excluded is listed with its reason', (t) => {
  const excluded = cases.filter((c) => c.ops.some((o) => supported.has(o)) && !c.ops.every((o) => supported.has(o)));
  const lines = excluded.map((c) => `${c.name}: uses unsupported ${c.ops.filter((o) => !supported.has(o)).join(', ')}`);
  t.log(`${cases.length} ONNX node cases in all; ${excluded.length} cases of supported ops also use unsupported ops and are not run:`);
  for (const l of lines) t.log(`  ${l}`);
  t.true(cases.length > 0);
});

test('the supported ops without any ONNX case are exactly the ones listed, each with its reason', (t) => {
  const without = SUPPORTED_OPS.filter((op) => !cases.some((c) => c.ops.includes(op) && c.ops.every((o) => supported.has(o))));
  for (const op of without) t.log(`${op}: no ONNX case (${OPS_WITHOUT_CASES[op] ?? 'no reason listed'})`);
  t.deepEqual(without, Object.keys(OPS_WITHOUT_CASES).sort());
});
