// Worker threads sharing model.wasm's memory: each worker instantiates the same compiled module over the same
// shared WebAssembly.Memory, so a kernel's export called in a worker reads the constants and writes the arena
// the calling thread sees. Calls go through a control block instead of messages (a message costs a trip
// through the event loop; the calling thread's run is synchronous and cannot yield to it):
//
//   control: Int32Array over a SharedArrayBuffer, 16 i32 (64 bytes, one cache line) per worker:
//   [GO generation, FN index, ARG0 … ARG3, DONE generation, FAILED]
//
// The caller writes FN and the arguments, bumps GO and notifies; the worker runs the export, sets FAILED,
// stores GO into DONE and notifies. Atomics give the ordering: the wasm stores made before a store to GO/DONE
// are seen by the thread that loads the new value. Workers spin briefly before sleeping in Atomics.wait (the
// kernels of one model run come back to back); the caller joins by spinning on DONE, then Atomics.wait where
// the thread may block (Node's main thread, workers; not a browser's main thread).
import { THREAD_WORKER_SOURCE } from './thread-worker.ts';

const SLOT = 16;
const GO = 0, FN = 1, ARG = 2, DONE = 6, FAILED = 7;
const QUIT = -1;
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
  private disposed = false;

  private constructor(
    private readonly workers: WorkerHandle[],
    control: SharedArrayBuffer,
    names: readonly string[],
    private readonly local: Readonly<Record<string, unknown>>,
  ) {
    this.ctl = new Int32Array(control);
    this.index = new Map(names.map((n, i) => [n, i]));
  }

  /**
   * `threads − 1` workers, each with its own instance of `module` over `memory` (shared), able to call the
   * exports `names`; the calling thread is thread 0 and calls them on `local` (its own instance's exports).
   */
  static async create(module: WebAssembly.Module, memory: WebAssembly.Memory, local: Readonly<Record<string, unknown>>, names: readonly string[], threads: number): Promise<ThreadPool> {
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
    return new ThreadPool(workers, control, names, local);
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
    const generations: number[] = [];
    for (let k = 1; k < args.length; k++) {
      const base = (k - 1) * SLOT;
      const a = args[k]!;
      ctl[base + FN] = fn;
      for (let i = 0; i < 4; i++) ctl[base + ARG + i] = a[i] ?? 0;
      generations.push(Atomics.add(ctl, base + GO, 1) + 1);
      Atomics.notify(ctl, base + GO, 1);
    }
    let failure: unknown;
    try {
      if (args.length) (this.local[name] as (...a: number[]) => unknown)(...args[0]!);
    } catch (e) {
      failure = e;
    }
    // join every started worker, even when the local call failed: they write the same memory
    let failedWorker = 0;
    generations.forEach((gen, i) => {
      const base = i * SLOT;
      let spins = 0;
      for (let done = Atomics.load(ctl, base + DONE); done !== gen; done = Atomics.load(ctl, base + DONE)) {
        if (this.blocking && ++spins > JOIN_SPIN) { Atomics.wait(ctl, base + DONE, done, 10); spins = 0; }
      }
      if (ctl[base + FAILED]) failedWorker = i + 1;
    });
    if (failure) throw failure;
    if (failedWorker) throw new Error(`WASM worker ${failedWorker}: export '${name}' trapped`);
  }

  /** Stops the workers (they also never keep a Node process alive: they are unref'd). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.workers.forEach((w, i) => {
      const base = i * SLOT;
      this.ctl[base + FN] = QUIT;
      Atomics.add(this.ctl, base + GO, 1);
      Atomics.notify(this.ctl, base + GO, 1);
      w.terminate();
    });
  }
}
