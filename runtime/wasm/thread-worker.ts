// The code each worker of runtime/wasm/thread-pool.ts runs. It is shipped as the source text of one
// self-contained function (Function.prototype.toString), so it needs no file of its own beside model.js: Node
// starts it with `new Worker(source, { eval: true })`, browsers from a Blob URL. It must therefore reference
// nothing outside its own body (no imports, no module-level names).
//
// Protocol: one message { module, memory, control, slot, names, spin }; the worker instantiates the module over
// the shared memory, answers 'ready' (or { error }), then serves calls through its slot of the control block
// (Int32Array over a SharedArrayBuffer, see thread-pool.ts for the field order) until told to quit.

/**
 * The worker's body; runs in the worker, never in the calling thread. `nodeWorkerThreads`: imports
 * node:worker_threads in Node, undefined in browsers. It comes as a parameter written only inside
 * THREAD_WORKER_SOURCE's text, because bundlers rewrite `require(…)` and `import(…)` written here into helpers
 * the worker would not have. (A dynamic import, because a Node eval worker runs as CommonJS or, when the
 * parent runs with --input-type=module, as an ES module: only import() works in both.)
 */
export function threadWorkerMain(nodeWorkerThreads: (() => Promise<unknown>) | undefined): void {
  interface Init { module: WebAssembly.Module; memory: WebAssembly.Memory; control: SharedArrayBuffer; slot: number; names: string[]; spin: number }
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
    const base = init.slot * 16; // GO, FN, ARG0 … ARG3, DONE, FAILED, CLAIM (thread-pool.ts)
    let seen = 0;
    for (;;) {
      // spin a little (calls come back to back while a model runs), then sleep until GO changes
      let spins = 0;
      while (Atomics.load(ctl, base) === seen) {
        if (++spins > init.spin) { Atomics.wait(ctl, base, seen); spins = 0; }
      }
      seen = Atomics.load(ctl, base);
      // claim the posted call (CLAIM = its generation) unless the caller took it back meanwhile
      const job = Atomics.load(ctl, base + 8);
      if (job <= 0 || Atomics.compareExchange(ctl, base + 8, job, -job) !== job) continue;
      const fn = ctl[base + 1]!;
      if (fn < 0) return;
      try {
        fns[fn]!(ctl[base + 2]!, ctl[base + 3]!, ctl[base + 4]!, ctl[base + 5]!);
        ctl[base + 7] = 0;
      } catch {
        ctl[base + 7] = 1;
      }
      Atomics.store(ctl, base + 6, job);
      Atomics.notify(ctl, base + 6);
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
