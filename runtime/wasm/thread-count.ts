// How many threads a model's WASM kernels get: the `threads` load option, checked, and lowered to 1 where
// threads cannot work. Browsers share WebAssembly memory between workers only when the page is cross-origin
// isolated (COOP/COEP headers: `crossOriginIsolated`, which also makes SharedArrayBuffer exist); elsewhere the
// model runs single-threaded and says so once through onNote.

export interface ThreadEnvironment {
  /** SharedArrayBuffer exists and may be shared with workers (Node; an isolated page). */
  sharedMemory: boolean;
  /** Running in Node (worker_threads) rather than a browser. */
  node: boolean;
  /** Workers can be started here (Node, or a global Worker). */
  workers: boolean;
}

/** This engine's environment (the checks are cheap: not memoised, so tests can stub the globals). */
export function threadEnvironment(): ThreadEnvironment {
  const g = globalThis as { crossOriginIsolated?: boolean; Worker?: unknown; process?: { versions?: { node?: string } } };
  const node = typeof g.process?.versions?.node === 'string';
  const sab = typeof SharedArrayBuffer === 'function';
  return { node, sharedMemory: sab && (node || g.crossOriginIsolated === true), workers: node || typeof g.Worker === 'function' };
}

/**
 * The thread count to use for `requested` (default 1) here, and a note when fewer are used than asked.
 * Throws on a count that is not an integer ≥ 1.
 */
export function resolveThreads(requested: number | undefined, env: ThreadEnvironment): { threads: number; note?: string } {
  const threads = requested ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be an integer ≥ 1, got ${threads}`);
  if (threads === 1) return { threads };
  if (!env.workers) return { threads: 1, note: `threads: ${threads} asked, but this engine cannot start workers: running single-threaded` };
  if (!env.sharedMemory) {
    return {
      threads: 1,
      note: `threads: ${threads} asked, but the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp), so WebAssembly memory cannot be shared: running single-threaded`,
    };
  }
  return { threads };
}
