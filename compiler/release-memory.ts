// Compiling a multi-GB checkpoint streams one weight at a time, but V8 collects the large, short-lived
// buffers that leaves behind only when it feels pressure, so peak RSS would stack several of them up.
// Between big steps the compiler asks for a full collection (through V8's own gc(), enabled on demand).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | undefined;

export function releaseMemory(): void {
  if (!collect) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
}
