// The small pure pieces of WASM threads: the shared-memory import rewrite (checked by the engine: the rewritten
// module instantiates over a shared memory, the original does not), the chunk size, and the thread count
// resolution per environment (a browser page that is not cross-origin isolated runs single-threaded with a note).
import test from 'ava';
import { createKernelModule, finishModule } from '../../compiler/codegen/wasm/module.ts';
import { CHUNKS_PER_THREAD, chunkUnits } from '../../runtime/wasm/row-split.ts';
import { withSharedMemoryImport } from '../../runtime/wasm/shared-memory.ts';
import { resolveThreads, threadEnvironment } from '../../runtime/wasm/thread-count.ts';
import { canBlock } from '../../runtime/wasm/thread-pool.ts';
import { THREAD_WORKER_SOURCE } from '../../runtime/wasm/thread-worker.ts';

// (module (import "a" "f" (func)) (import "t" "t" (table 1 2 funcref)) (import "g" "g" (global i32))
//  (import "env" "memory" (memory 1 65536)) (func (export "size") (result i32) memory.size))
const HAND_MADE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0,
  1, 8, 2, 96, 0, 0, 96, 0, 1, 127, // types: () → (), () → i32
  2, 40, 4, // imports: 4
  1, 97, 1, 102, 0, 0, // a.f func 0
  1, 116, 1, 116, 1, 0x70, 1, 1, 2, // t.t table funcref min 1 max 2
  1, 103, 1, 103, 3, 0x7f, 0, // g.g global i32 const
  3, 101, 110, 118, 6, 109, 101, 109, 111, 114, 121, 2, 1, 1, 0x80, 0x80, 4, // env.memory min 1 max 65536
  3, 2, 1, 1, // functions: one of type 1
  7, 8, 1, 4, 115, 105, 122, 101, 0, 1, // export "size" = func 1
  10, 6, 1, 4, 0, 63, 0, 11, // code: memory.size
]);

test('withSharedMemoryImport: the module instantiates over a shared memory only after the rewrite, nothing else changes', async (t) => {
  t.true(WebAssembly.validate(HAND_MADE));
  const shared = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
  const imports = { a: { f: () => {} }, t: { t: new WebAssembly.Table({ initial: 1, maximum: 2, element: 'anyfunc' }) }, g: { g: 7 }, env: { memory: shared } };
  await t.throwsAsync(WebAssembly.instantiate(HAND_MADE, imports));
  const rewritten = withSharedMemoryImport(HAND_MADE);
  const diff = [...rewritten].flatMap((b, i) => (b === HAND_MADE[i] ? [] : [[i, HAND_MADE[i], b]]));
  t.deepEqual(diff, [[HAND_MADE.indexOf(0x80) - 2, 1, 3]], 'only the memory limits flag, 1 → 3');
  const { instance } = await WebAssembly.instantiate(rewritten as Uint8Array<ArrayBuffer>, imports);
  t.is((instance.exports['size'] as () => number)(), 1);
  t.is(withSharedMemoryImport(rewritten).join(), rewritten.join(), 'already shared: unchanged');
  t.is(HAND_MADE[HAND_MADE.indexOf(0x80) - 2], 1, 'the input is not modified');
});

test('withSharedMemoryImport on a kernel module from createKernelModule; clear errors otherwise', (t) => {
  const mod = createKernelModule();
  const { binary } = finishModule(mod);
  mod.dispose();
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
  t.notThrows(() => new WebAssembly.Instance(new WebAssembly.Module(withSharedMemoryImport(binary) as Uint8Array<ArrayBuffer>), { env: { memory } }));
  t.throws(() => withSharedMemoryImport(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])), { message: /not a WebAssembly binary/ });
  t.throws(() => withSharedMemoryImport(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])), { message: /imports no memory/ });
  const noMax = HAND_MADE.slice();
  const flag = HAND_MADE.indexOf(0x80) - 2;
  noMax.set([0, 1, 0, 0, 0], flag); // min 1, no maximum (and padding bytes that are never read)
  t.throws(() => withSharedMemoryImport(noMax), { message: /needs a maximum/ });
});

test('chunkUnits: about CHUNKS_PER_THREAD chunks per thread, at least one unit', (t) => {
  t.is(CHUNKS_PER_THREAD, 2);
  t.is(chunkUnits(256, 2), 64); // 4096 rows on 2 threads: 4 chunks of 1024 rows
  t.is(chunkUnits(257, 2), 65);
  t.is(chunkUnits(3, 2), 1);
  t.is(chunkUnits(0, 2), 1);
  for (let units = 1; units < 300; units += 7) {
    for (let threads = 1; threads < 9; threads++) {
      const chunks = Math.ceil(units / chunkUnits(units, threads));
      t.true(chunks <= CHUNKS_PER_THREAD * threads && (chunks === units || chunks > CHUNKS_PER_THREAD * threads / 2));
    }
  }
  t.throws(() => chunkUnits(4, 0), { instanceOf: RangeError });
});

test('resolveThreads: browsers without cross-origin isolation or workers run single-threaded and say why', (t) => {
  const node = { node: true, sharedMemory: true, workers: true };
  const isolated = { node: false, sharedMemory: true, workers: true };
  const notIsolated = { node: false, sharedMemory: false, workers: true };
  t.deepEqual(resolveThreads(undefined, node), { threads: 1 });
  t.deepEqual(resolveThreads(4, node), { threads: 4 });
  t.deepEqual(resolveThreads(2, isolated), { threads: 2 });
  const r = resolveThreads(2, notIsolated);
  t.is(r.threads, 1);
  t.regex(r.note!, /not cross-origin isolated \(serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp\).*single-threaded/);
  t.deepEqual(resolveThreads(1, notIsolated), { threads: 1 }, 'no note when one thread is asked');
  t.regex(resolveThreads(2, { node: false, sharedMemory: true, workers: false }).note!, /cannot start workers/);
  t.throws(() => resolveThreads(0, node), { message: 'threads must be an integer ≥ 1, got 0' });
  t.throws(() => resolveThreads(2.5, node), { instanceOf: RangeError });
});

test('threadEnvironment: Node, and a stubbed browser page with and without crossOriginIsolated', (t) => {
  t.deepEqual(threadEnvironment(), { node: true, sharedMemory: true, workers: true });
  const g = globalThis as { process?: unknown; crossOriginIsolated?: boolean; Worker?: unknown };
  const saved = { process: g.process, Worker: g.Worker };
  try {
    g.process = undefined;
    g.Worker = class {};
    g.crossOriginIsolated = false;
    t.deepEqual(threadEnvironment(), { node: false, sharedMemory: false, workers: true });
    g.crossOriginIsolated = true;
    t.deepEqual(threadEnvironment(), { node: false, sharedMemory: true, workers: true });
  } finally {
    g.process = saved.process;
    g.Worker = saved.Worker;
    delete g.crossOriginIsolated;
  }
});

test('the worker source is one self-contained script, and Node threads may block', (t) => {
  t.notThrows(() => new Function(THREAD_WORKER_SOURCE));
  t.true(THREAD_WORKER_SOURCE.startsWith('(function threadWorkerMain('));
  t.true(canBlock());
});
