// The code each worker of runtime/wasm/thread-pool.ts runs. It is shipped as the source text of one
// self-contained function (Function.prototype.toString), so it needs no file of its own beside model.js: Node
// starts it with `new Worker(source, { eval: true })`, browsers from a Blob URL. It must therefore reference
// nothing outside its own body (no imports, no module-level names).
//
// Protocol: one message { module, memory, control, names, spin }; the worker instantiates the module over the
// shared memory, answers 'ready' (or { error }), then sleeps on the control block's GO and, each time it
// changes, claims and runs chunks of the posted job (see thread-pool.ts for the fields) until none is left,
// or returns when QUIT is set.

/**
 * The worker's body; runs in the worker, never in the calling thread. `nodeWorkerThreads`: imports
 * node:worker_threads in Node, undefined in browsers. It comes as a parameter written only inside
 * THREAD_WORKER_SOURCE's text, because bundlers rewrite `require(…)` and `import(…)` written here into helpers
 * the worker would not have. (A dynamic import, because a Node eval worker runs as CommonJS or, when the
 * parent runs with --input-type=module, as an ES module: only import() works in both.)
 */
export function threadWorkerMain(nodeWorkerThreads: (() => Promise<unknown>) | undefined): void {
  interface Init { module: WebAssembly.Module; memory: WebAssembly.Memory; control: SharedArrayBuffer; names: string[]; spin: number }
  type Post = (message: unknown) => void;
  const serve = (init: Init, post: Post): void => {
    let fns: ((...args: number[]) => unknown)[];
    try {
      const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
      fns = init.names.map((n) => instance.exports[n] as (...args: number[]) => unknown);
    } catch (e) {
      post({ error: String(e) });
      return;
    }
    post('ready');
    const ctl = new Int32Array(init.control);
    // TICKET, FN, Y, UNITS, CHUNK, DONE, FAILED, GO, QUIT (thread-pool.ts)
    const TICKET = 0, FN = 1, Y = 2, UNITS = 3, CHUNK = 4, DONE = 5, FAILED = 6, GO = 7, QUIT = 8;
    let seen = 0;
    for (;;) {
      // spin a little (jobs come back to back while a model runs), then sleep until GO changes
      let spins = 0;
      while (Atomics.load(ctl, GO) === seen) {
        if (++spins > init.spin) { Atomics.wait(ctl, GO, seen); spins = 0; }
      }
      seen = Atomics.load(ctl, GO);
      if (Atomics.load(ctl, QUIT)) return;
      for (;;) {
        const t = Atomics.load(ctl, TICKET);
        if (t === 0) break; // no job
        const units = ctl[UNITS]!, chunk = ctl[CHUNK]!, fn = ctl[FN]!, y = ctl[Y]!;
        const k = t & 0xffff;
        if (k * chunk >= units) break; // every chunk claimed
        if (Atomics.compareExchange(ctl, TICKET, t, t + 1) !== t) continue;
        if (!Atomics.load(ctl, FAILED)) {
          try {
            fns[fn]!(y, k * chunk, Math.min(units, (k + 1) * chunk));
          } catch {
            Atomics.store(ctl, FAILED, 1);
          }
        }
        Atomics.add(ctl, DONE, 1);
        Atomics.notify(ctl, DONE);
      }
    }
  };
  const g = globalThis as unknown as { postMessage?: Post; onmessage?: ((e: { data: Init }) => void) | null };
  if (nodeWorkerThreads) {
    // messages posted before the listener is attached wait on the port
    void nodeWorkerThreads().then((wt) => {
      const { parentPort } = wt as { parentPort: { once(ev: 'message', f: (m: Init) => void): void; postMessage: Post } };
      parentPort.once('message', (init) => serve(init, (m) => parentPort.postMessage(m)));
    });
  } else {
    g.onmessage = (e) => { g.onmessage = null; serve(e.data, (m) => g.postMessage!(m)); };
  }
}

/** Source text that runs threadWorkerMain when evaluated as a script. */
export const THREAD_WORKER_SOURCE = `(${threadWorkerMain.toString()})(typeof process === 'object' && process.versions && process.versions.node ? () => import('node:worker_threads') : undefined);\n`;
