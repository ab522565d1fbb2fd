// Mutates the bytes of a real model with a seeded PRNG: reading, checking and converting every tensor must only
// ever succeed or throw FormatError (one line) — never another exception, a hang or a crash.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import { FormatError } from '../../formats/errors.ts';
import { decodeOnnxModel, readOnnxModel } from '../../formats/onnx/read-model.ts';
import { tensorFromProto } from '../../formats/onnx/tensor-proto.ts';

const { onnx } = onnxProto;
const FIXTURE = new URL('../fixtures/stories260K/model.onnx', import.meta.url).pathname;
const CASES = Number(process.env.ONEBITC_FUZZ_CASES ?? 5000);
const SEED = Number(process.env.ONEBITC_FUZZ_SEED ?? 0x0eb17c);

/** mulberry32: small, fast, seeded. */
function prng(seed: number): { int(n: number): number; chance(p: number): boolean } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { int: (n) => Math.floor(next() * n), chance: (p) => next() < p };
}

/** Byte ranges of the file that are not tensor payloads: where mutations change structure rather than weights. */
function structuralRanges(bytes: Uint8Array): [number, number][] {
  const model = onnx.ModelProto.decode(bytes);
  const payloads: [number, number][] = [];
  const add = (t: Onnx.ITensorProto | null | undefined) => {
    const raw = t?.rawData;
    if (raw && raw.byteLength > 16) payloads.push([raw.byteOffset - bytes.byteOffset, raw.byteOffset - bytes.byteOffset + raw.byteLength]);
  };
  for (const init of model.graph!.initializer!) add(init);
  for (const node of model.graph!.node!) for (const a of node.attribute ?? []) add(a.t);
  payloads.sort((a, b) => a[0] - b[0]);
  const ranges: [number, number][] = [];
  let at = 0;
  for (const [begin, end] of payloads) {
    if (begin > at) ranges.push([at, begin]);
    at = Math.max(at, end);
  }
  if (at < bytes.length) ranges.push([at, bytes.length]);
  return ranges;
}

const INTERESTING = [0x00, 0x01, 0x02, 0x05, 0x07, 0x08, 0x0a, 0x10, 0x12, 0x1a, 0x22, 0x3a, 0x42, 0x7f, 0x80, 0xff];

function mutate(original: Uint8Array, structural: [number, number][], rng: ReturnType<typeof prng>): { bytes: Uint8Array; ops: string[] } {
  let bytes = original.slice();
  const ops: string[] = [];
  const structuralTotal = structural.reduce((s, [b, e]) => s + e - b, 0);
  const position = () => {
    if (rng.chance(0.15)) return rng.int(bytes.length);
    let k = rng.int(structuralTotal);
    for (const [b, e] of structural) {
      if (k < e - b) return Math.min(b + k, bytes.length - 1);
      k -= e - b;
    }
    return rng.int(bytes.length);
  };
  const count = 1 + rng.int(rng.chance(0.3) ? 8 : 3);
  for (let i = 0; i < count && bytes.length > 0; i++) {
    const pos = position();
    switch (rng.int(7)) {
      case 0: { // flip bits
        const x = 1 + rng.int(255);
        bytes[pos] ^= x;
        ops.push(`xor@${pos}^${x}`);
        break;
      }
      case 1: { // an interesting value (varint edges, common tags)
        const v = INTERESTING[rng.int(INTERESTING.length)]!;
        bytes[pos] = v;
        ops.push(`set@${pos}=${v}`);
        break;
      }
      case 2: { // truncate
        const at = rng.chance(0.5) ? pos : rng.int(bytes.length);
        bytes = bytes.slice(0, at);
        ops.push(`truncate@${at}`);
        break;
      }
      case 3: { // insert random bytes
        const n = 1 + rng.int(16);
        const ins = Uint8Array.from({ length: n }, () => rng.int(256));
        const out = new Uint8Array(bytes.length + n);
        out.set(bytes.subarray(0, pos));
        out.set(ins, pos);
        out.set(bytes.subarray(pos), pos + n);
        bytes = out;
        ops.push(`insert@${pos}+${n}`);
        break;
      }
      case 4: { // delete a run
        const n = Math.min(1 + rng.int(32), bytes.length - pos);
        const out = new Uint8Array(bytes.length - n);
        out.set(bytes.subarray(0, pos));
        out.set(bytes.subarray(pos + n), pos);
        bytes = out;
        ops.push(`delete@${pos}-${n}`);
        break;
      }
      case 5: { // overwrite a random run
        const n = 1 + rng.int(64);
        for (let j = pos; j < Math.min(bytes.length, pos + n); j++) bytes[j] = rng.int(256);
        ops.push(`random@${pos}x${n}`);
        break;
      }
      case 6: { // copy a structural chunk elsewhere
        const from = position();
        const n = 1 + rng.int(48);
        const chunk = bytes.slice(from, from + n);
        bytes.set(chunk.subarray(0, Math.max(0, Math.min(chunk.length, bytes.length - pos))), pos);
        ops.push(`copy@${from}->${pos}x${n}`);
        break;
      }
    }
  }
  return { bytes, ops };
}

/** Structure-aware mutations: decode, change fields the byte mutator rarely reaches in a consistent way, encode. */
function mutateFields(original: Uint8Array, rng: ReturnType<typeof prng>): { bytes: Uint8Array; ops: string[] } {
  const model = onnx.ModelProto.decode(original);
  const g = model.graph!;
  const ops: string[] = [];
  const pick = <T>(list: readonly T[]): T | undefined => (list.length ? list[rng.int(list.length)] : undefined);
  const anyInt = () => pick([-1, 0, 1, 2, 3, 7, 64, 2 ** 31, 2 ** 40, -(2 ** 40)])!;
  const count = 1 + rng.int(3);
  for (let i = 0; i < count; i++) {
    const init = pick(g.initializer!)!;
    const node = pick(g.node!)!;
    const attr = pick(node.attribute ?? []);
    switch (rng.int(16)) {
      case 0: init.dims![rng.int(init.dims!.length || 1)] = anyInt(); ops.push(`dims ${init.name}`); break;
      case 1: init.dataType = rng.int(26); ops.push(`dataType ${init.name}=${init.dataType}`); break;
      case 2: init.rawData = init.rawData!.subarray(0, rng.int(init.rawData!.length + 1)); ops.push(`rawData ${init.name}`); break;
      case 3: init.floatData = [1, 2, 3].slice(0, rng.int(4)); init.rawData = new Uint8Array(0); ops.push(`floatData ${init.name}`); break;
      case 4: {
        init.dataLocation = 1;
        init.externalData = [{ key: pick(['location', 'offset', 'length', 'bogus'])!, value: pick(['x.bin', '../x.bin', '/etc/passwd', 'model.onnx', '', '12', '-1'])! }];
        if (rng.chance(0.5)) init.externalData.push({ key: 'location', value: pick(['model.onnx', 'sub/../model.onnx', '..'])! });
        ops.push(`external ${init.name}`);
        break;
      }
      case 5: init.name = pick(['', g.initializer![0]!.name!, 'input_ids'])!; ops.push('init name'); break;
      case 6: node.opType = pick(['', 'Foo', 'bad op', 'If', 'Loop'])!; ops.push(`opType ${node.name}`); break;
      case 7: if (node.input!.length) node.input![rng.int(node.input!.length)] = pick(['nowhere', '', g.node![g.node!.length - 1]!.output![0]!])!; ops.push(`input ${node.name}`); break;
      case 8: node.output = rng.chance(0.5) ? [] : [pick(g.initializer!)!.name!]; ops.push(`output ${node.name}`); break;
      case 9: node.domain = pick(['com.foo', 'ai.onnx', 'ai.onnx.ml'])!; ops.push(`domain ${node.name}`); break;
      case 10: if (attr) { attr.type = rng.int(16); ops.push(`attr type ${node.name}`); } break;
      case 11: if (attr?.t) { attr.t.dims = [anyInt(), anyInt()]; ops.push(`attr tensor dims ${node.name}`); } break;
      case 12: model.opsetImport = rng.chance(0.3) ? [] : [{ domain: pick(['', 'ai.onnx', 'x'])!, version: anyInt() }]; ops.push('opset'); break;
      case 13: model.irVersion = anyInt(); ops.push('ir'); break;
      case 14: { const a = rng.int(g.node!.length), b = rng.int(g.node!.length); [g.node![a], g.node![b]] = [g.node![b]!, g.node![a]!]; ops.push(`swap ${a} ${b}`); break; }
      case 15: {
        const v = pick([...g.input!, ...g.output!])!;
        if (rng.chance(0.5)) v.type = null; else if (v.type?.tensorType) v.type.tensorType.elemType = rng.int(26);
        ops.push(`value ${v.name}`);
        break;
      }
    }
  }
  return { bytes: onnx.ModelProto.encode(model).finish(), ops };
}

/** Everything later code does with a model's tensors: every initializer and Constant/attribute tensor, in subgraphs too. */
function convertAll(model: Onnx.IModelProto, where: { file: string; dir: string }): void {
  const graphs: Onnx.IGraphProto[] = [model.graph!];
  while (graphs.length) {
    const g = graphs.pop()!;
    for (const init of g.initializer ?? []) tensorFromProto(init, where);
    for (const node of g.node ?? []) {
      for (const a of node.attribute ?? []) {
        if (a.t) tensorFromProto(a.t, where);
        for (const t of a.tensors ?? []) tensorFromProto(t, where);
        if (a.g) graphs.push(a.g);
        graphs.push(...(a.graphs ?? []));
      }
    }
  }
}

test(`${CASES} mutated copies of stories260K/model.onnx: only success or FormatError`, async (t) => {
  t.timeout(180_000);
  const original = new Uint8Array(readFileSync(FIXTURE));
  const structural = structuralRanges(original);
  const dir = mkdtempSync(join(tmpdir(), 'onebitc-fuzz-'));
  const where = { file: join(dir, 'model.onnx'), dir };
  const rng = prng(SEED);
  const failures: string[] = [];
  const outcomes = new Map<string, number>();
  let slowest = 0;
  try {
    for (let i = 0; i < CASES; i++) {
      const { bytes, ops } = rng.chance(0.25) ? mutateFields(original, rng) : mutate(original, structural, rng);
      const started = performance.now();
      const viaFile = i % 100 === 0;
      try {
        let model: Onnx.IModelProto;
        if (viaFile) {
          writeFileSync(where.file, bytes);
          model = await readOnnxModel(where.file);
        } else {
          model = decodeOnnxModel(bytes, where.file, dir);
        }
        convertAll(model, where);
        outcomes.set('accepted', (outcomes.get('accepted') ?? 0) + 1);
      } catch (e) {
        if (!(e instanceof FormatError) || e.message.includes('\n') || !e.message.startsWith(`${where.file}: `)) {
          failures.push(`case ${i} [${ops.join(' ')}]: ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`);
        } else {
          const kind = e.detail.replace(/'[^']*'|\d+|\([^)]*\)/g, '…').slice(0, 60);
          outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
        }
      }
      slowest = Math.max(slowest, performance.now() - started);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const summary = [...outcomes.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([k, n]) => `${n} × ${k}`);
  t.log(`slowest case ${slowest.toFixed(1)} ms; outcomes:\n  ${summary.join('\n  ')}`);
  t.deepEqual(failures.slice(0, 5), []);
  t.true((outcomes.get('accepted') ?? 0) > 0, 'some mutations keep a valid model');
  t.true(outcomes.size > 10, 'mutations reach many different checks');
  t.true(slowest < 5_000, `no case is close to hanging (slowest ${slowest.toFixed(0)} ms)`);
});
