// Worker threads sharing model.wasm's memory: each worker instantiates the same compiled module over the same
// shared WebAssembly.Memory, so a kernel's export called in a worker reads the constants and writes the arena
// the calling thread sees. Jobs go through a control block instead of messages (a message costs a trip
// through the event loop; the calling thread's run is synchronous and cannot yield to it):
//
//   control: Int32Array over a SharedArrayBuffer:
//   [TICKET, FN, Y, UNITS, CHUNK, DONE, FAILED, GO, QUIT]
//
// A job is `fn(y, u0, u1)` over units [0, UNITS) in chunks of CHUNK units. The caller writes the fields, sets
// TICKET = generation << 16 (chunk 0 next), bumps GO and wakes the workers; then every thread, the caller
// included, claims the next chunk by compare-exchanging TICKET to TICKET + 1, runs it and adds 1 to DONE, until
// no chunk is left; the caller waits for DONE to reach the chunk count and clears TICKET. Claiming chunks as
// they come balances the work and keeps a worker that is slow to wake or descheduled (a busy machine) from
// holding the others up: at worst the caller runs every chunk itself. A claim that succeeds proves the fields
// it read were its job's: the next job's fields are written only after TICKET was cleared.
// Atomics give the ordering: the wasm stores made before an atomic store are seen by the thread that reads the
// new value. Workers spin briefly before sleeping in Atomics.wait (the kernels of one model run come back to
// back); the caller joins by spinning, then Atomics.wait where the thread may block (Node's main thread;
// not a browser's main thread, where it throws).
import { THREAD_WORKER_SOURCE } from './thread-worker.ts';

const TICKET = 0, FN = 1, Y = 2, UNITS = 3, CHUNK = 4, DONE = 5, FAILED = 6, GO = 7, QUIT = 8;
const CONTROL_BYTES = 64; // one cache line
/** Chunks per job at most (the low 16 bits of TICKET). */
export const MAX_CHUNKS = 0xffff;
/** Generations (the high bits of TICKET) wrap below 2^15: they only need to differ from the previous job's. */
const GENERATIONS = 0x7fff;
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
  private generation = 0;
  private disposed = false;
  /** Chunks run by the workers and by the calling thread since creation (how much the workers helped). */
  readonly counts = { worker: 0, caller: 0 };

  private constructor(
    private readonly workers: WorkerHandle[],
    control: SharedArrayBuffer,
    names: readonly string[],
    private readonly local: Readonly<Record<string, unknown>>,
    private readonly callerWorks: boolean,
  ) {
    this.ctl = new Int32Array(control);
    this.index = new Map(names.map((n, i) => [n, i]));
  }

  /**
   * `threads − 1` workers, each with its own instance of `module` over `memory` (shared), able to call the
   * exports `names`; the calling thread is thread 0 and calls them on `local` (its own instance's exports).
   * `callerWorks: false` leaves every chunk to the workers (tests use it to prove the workers' results).
   */
  static async create(module: WebAssembly.Module, memory: WebAssembly.Memory, local: Readonly<Record<string, unknown>>, names: readonly string[], threads: number,
    options: { callerWorks?: boolean } = {}): Promise<ThreadPool> {
    if (!Number.isInteger(threads) || threads < 2) throw new RangeError(`ThreadPool: threads must be an integer ≥ 2, got ${threads}`);
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    const workers: WorkerHandle[] = [];
    try {
      for (let i = 0; i < threads - 1; i++) workers.push(await startWorker());
      await Promise.all(workers.map(async (w, i) => {
        const reply = w.next();
        w.post({ module, memory, control, names: [...names], spin: WORKER_SPIN });
        const answer = await reply;
        if (answer !== 'ready') throw new Error(`WASM worker ${i + 1} failed to start: ${(answer as { error?: string }).error ?? String(answer)}`);
      }));
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    // only once started (while the caller awaits 'ready' the workers must keep the process alive): a model the
    // user forgot to dispose must not keep the process running
    for (const w of workers) w.unref();
    return new ThreadPool(workers, control, names, local, options.callerWorks ?? true);
  }

  /** Threads that run jobs, the calling one included. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * Runs export `name(y, u0, u1)` over units [0, units) in chunks of `chunk` units ([u0, u1) = [k·chunk,
   * min(units, (k + 1)·chunk))), on all threads at once; returns when every chunk has run. Chunks must write
   * disjoint memory. A trap in any chunk stops the chunks not yet started and is thrown here.
   */
  run(name: string, y: number, units: number, chunk: number): void {
    if (this.disposed) throw new Error('ThreadPool: run() after dispose()');
    const fn = this.index.get(name);
    if (fn === undefined) throw new Error(`ThreadPool: '${name}' is not one of the exports the workers were given`);
    if (!Number.isInteger(units) || units < 0 || !Number.isInteger(chunk) || chunk < 1) throw new RangeError(`ThreadPool: units must be an integer ≥ 0 and chunk ≥ 1, got ${units}, ${chunk}`);
    const chunks = Math.ceil(units / chunk);
    if (chunks > MAX_CHUNKS) throw new RangeError(`ThreadPool: ${chunks} chunks, more than ${MAX_CHUNKS}`);
    if (chunks === 0) return;
    const ctl = this.ctl;
    ctl[FN] = fn;
    ctl[Y] = y;
    ctl[UNITS] = units;
    ctl[CHUNK] = chunk;
    ctl[DONE] = 0;
    ctl[FAILED] = 0;
    this.generation = (this.generation % GENERATIONS) + 1;
    Atomics.store(ctl, TICKET, this.generation << 16);
    Atomics.add(ctl, GO, 1);
    Atomics.notify(ctl, GO);
    const call = this.local[name] as (...a: number[]) => unknown;
    let failure: unknown;
    let own = 0;
    while (this.callerWorks) {
      const t = Atomics.load(ctl, TICKET);
      const k = t & 0xffff;
      if (k >= chunks) break;
      if (Atomics.compareExchange(ctl, TICKET, t, t + 1) !== t) continue;
      own++;
      if (!Atomics.load(ctl, FAILED)) {
        try {
          call(y, k * chunk, Math.min(units, (k + 1) * chunk));
        } catch (e) {
          failure = e;
          Atomics.store(ctl, FAILED, 1);
        }
      }
      Atomics.add(ctl, DONE, 1);
    }
    // join: every chunk claimed has run (a worker may still be inside one)
    let spins = 0;
    for (let done = Atomics.load(ctl, DONE); done < chunks; done = Atomics.load(ctl, DONE)) {
      if (this.blocking && ++spins > JOIN_SPIN) { Atomics.wait(ctl, DONE, done, 10); spins = 0; }
    }
    Atomics.store(ctl, TICKET, 0);
    this.counts.caller += own;
    this.counts.worker += chunks - own;
    if (failure) throw failure;
    if (ctl[FAILED]) throw new Error(`WASM worker: export '${name}' trapped`);
  }

  /** Stops the workers (they also never keep a Node process alive: they are unref'd). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.ctl, QUIT, 1);
    Atomics.add(this.ctl, GO, 1);
    Atomics.notify(this.ctl, GO);
    for (const w of this.workers) w.terminate();
  }
}
