// Worker threads sharing model.wasm's memory: each worker instantiates the same compiled module over the same
// shared WebAssembly.Memory, so a kernel's export called in a worker reads the constants and writes the arena
// the calling thread sees. Calls go through a control block instead of messages (a message costs a trip
// through the event loop; the calling thread's run is synchronous and cannot yield to it):
//
//   control: Int32Array over a SharedArrayBuffer, 16 i32 (64 bytes, one cache line) per worker:
//   [GO, FN, ARG0 … ARG3, DONE, FAILED, CLAIM]
//
// A call has a generation g > 0 (per worker). The caller writes FN and the arguments, stores CLAIM = g, then
// GO = g and notifies. The worker claims it by compare-exchanging CLAIM from g to −g, runs the export, sets
// FAILED and stores DONE = g. Once its own share is done, the caller takes back every call no worker has
// claimed yet (CLAIM g → 0) and runs it itself — so a worker that is slow to wake (a busy machine, a
// descheduled thread) costs the single-threaded time, not a wait — and joins the claimed ones on DONE.
// Atomics give the ordering: the wasm stores made before a store to CLAIM/DONE are seen by the thread that
// reads the new value. Workers spin briefly before sleeping in Atomics.wait (the kernels of one model run come
// back to back); the caller joins by spinning, then Atomics.wait where the thread may block (Node's main
// thread, workers; not a browser's main thread).
import { THREAD_WORKER_SOURCE } from './thread-worker.ts';

const SLOT = 16;
const GO = 0, FN = 1, ARG = 2, DONE = 6, FAILED = 7, CLAIM = 8;
const QUIT = -1;
/** Generations wrap below 2^30 (they only need to differ from the previous one). */
const GENERATIONS = 0x3fffffff;
/** Loads of the control block a worker spins before it sleeps (~0.1–0.5 ms). */
const WORKER_SPIN = 100_000;
/** Loads the caller spins on a worker's DONE before it sleeps (where it may). */
const JOIN_SPIN = 100_000;

interface WorkerHandle {
  post(message: unknown): void;
  next(): Promise<unknown>;
  terminate(): void;
  /** Lets the process exit while the worker lives (Node; a no-op in browsers). */
  unref(): void;
}

/** Whether this thread may block in Atomics.wait (false on a browser's main thread). */
export function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

const isNode = (): boolean => typeof process === 'object' && typeof process.versions?.node === 'string';

async function startWorker(): Promise<WorkerHandle> {
  if (isNode()) {
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(THREAD_WORKER_SOURCE, { eval: true });
    return {
      unref: () => void w.unref(),
      post: (m) => w.postMessage(m),
      next: () => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); }),
      terminate: () => void w.terminate(),
    };
  }
  const url = URL.createObjectURL(new Blob([THREAD_WORKER_SOURCE], { type: 'text/javascript' }));
  const w = new Worker(url);
  URL.revokeObjectURL(url);
  return {
    post: (m) => w.postMessage(m),
    next: () => new Promise((resolve, reject) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => reject(new Error(e.message));
    }),
    terminate: () => w.terminate(),
    unref: () => {},
  };
}

export class ThreadPool {
  private readonly ctl: Int32Array;
  private readonly index: Map<string, number>;
  private readonly blocking = canBlock();
  private readonly generation: number[];
  private disposed = false;
  /** Calls run by workers and calls the caller took back, since creation (how much the workers helped). */
  readonly counts = { worker: 0, takenBack: 0 };

  private constructor(
    private readonly workers: WorkerHandle[],
    control: SharedArrayBuffer,
    names: readonly string[],
    private readonly local: Readonly<Record<string, unknown>>,
    private readonly takeBack: boolean,
  ) {
    this.ctl = new Int32Array(control);
    this.index = new Map(names.map((n, i) => [n, i]));
    this.generation = workers.map(() => 0);
  }

  /**
   * `threads − 1` workers, each with its own instance of `module` over `memory` (shared), able to call the
   * exports `names`; the calling thread is thread 0 and calls them on `local` (its own instance's exports).
   * `takeBack: false` makes the caller always wait for the workers (tests use it to prove the workers' results).
   */
  static async create(module: WebAssembly.Module, memory: WebAssembly.Memory, local: Readonly<Record<string, unknown>>, names: readonly string[], threads: number,
    options: { takeBack?: boolean } = {}): Promise<ThreadPool> {
    if (!Number.isInteger(threads) || threads < 2) throw new RangeError(`ThreadPool: threads must be an integer ≥ 2, got ${threads}`);
    const control = new SharedArrayBuffer((threads - 1) * SLOT * 4);
    const workers: WorkerHandle[] = [];
    try {
      for (let i = 0; i < threads - 1; i++) workers.push(await startWorker());
      await Promise.all(workers.map(async (w, slot) => {
        const reply = w.next();
        w.post({ module, memory, control, slot, names: [...names], spin: WORKER_SPIN });
        const answer = await reply;
        if (answer !== 'ready') throw new Error(`WASM worker ${slot + 1} failed to start: ${(answer as { error?: string }).error ?? String(answer)}`);
      }));
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    // only once started (while the caller awaits 'ready' the workers must keep the process alive): a model the
    // user forgot to dispose must not keep the process running
    for (const w of workers) w.unref();
    return new ThreadPool(workers, control, names, local, options.takeBack ?? true);
  }

  /** Threads that run calls, the calling one included. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * Calls export `name` once per entry of `args` (at most `threads` entries, up to 4 i32 each): entry 0 on the
   * calling thread, entry k on worker k − 1, all at once; returns when every call has finished. The calls must
   * write disjoint memory.
   */
  run(name: string, args: readonly (readonly number[])[]): void {
    if (this.disposed) throw new Error('ThreadPool: run() after dispose()');
    const fn = this.index.get(name);
    if (fn === undefined) throw new Error(`ThreadPool: '${name}' is not one of the exports the workers were given`);
    if (args.length > this.threads) throw new RangeError(`ThreadPool: ${args.length} calls for ${this.threads} threads`);
    const ctl = this.ctl;
    const call = this.local[name] as (...a: number[]) => unknown;
    const posted: number[] = [];
    for (let k = 1; k < args.length; k++) posted.push(this.post(k - 1, fn, args[k]!));
    let failure: unknown;
    try {
      if (args.length) call(...args[0]!);
    } catch (e) {
      failure = e;
    }
    // take back what no worker claimed, join the rest (even when the local call failed: they write the same memory)
    let failedWorker = 0;
    posted.forEach((gen, i) => {
      const base = i * SLOT;
      if (this.takeBack && Atomics.compareExchange(ctl, base + CLAIM, gen, 0) === gen) {
        this.counts.takenBack++;
        if (failure === undefined) {
          try { call(...args[i + 1]!); } catch (e) { failure = e; }
        }
        return;
      }
      let spins = 0;
      for (let done = Atomics.load(ctl, base + DONE); done !== gen; done = Atomics.load(ctl, base + DONE)) {
        if (this.blocking && ++spins > JOIN_SPIN) { Atomics.wait(ctl, base + DONE, done, 10); spins = 0; }
      }
      this.counts.worker++;
      if (ctl[base + FAILED]) failedWorker = i + 1;
    });
    if (failure) throw failure;
    if (failedWorker) throw new Error(`WASM worker ${failedWorker}: export '${name}' trapped`);
  }

  /** Posts export `fn` with `args` to worker `i`; returns the call's generation. */
  private post(i: number, fn: number, args: readonly number[]): number {
    const ctl = this.ctl;
    const base = i * SLOT;
    const gen = (this.generation[i]! % GENERATIONS) + 1;
    this.generation[i] = gen;
    ctl[base + FN] = fn;
    for (let a = 0; a < 4; a++) ctl[base + ARG + a] = args[a] ?? 0;
    Atomics.store(ctl, base + CLAIM, gen);
    Atomics.store(ctl, base + GO, gen);
    Atomics.notify(ctl, base + GO, 1);
    return gen;
  }

  /** Stops the workers (they also never keep a Node process alive: they are unref'd). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.workers.forEach((w, i) => {
      this.post(i, QUIT, []);
      w.terminate();
    });
  }
}
