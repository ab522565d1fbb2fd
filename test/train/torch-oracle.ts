// PyTorch as an oracle: Debian's torch (CPU) under /usr/bin/python3. One process per call (importing torch
// takes about a second), JSON in on stdin and out on stdout. Without it the tests fail: .ci/run installs Debian's python3-torch.
import { spawnSync } from 'node:child_process';

const PYTHON = '/usr/bin/python3';

let available: boolean | undefined;
/** Throws a clear message when torch is missing (never a silent skip). */
export function requireTorch(): void {
  available ??= spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
  if (!available) throw new Error(`${PYTHON} has no torch: install Debian's python3-torch (.ci/run does)`);
}

/**
 * Calls `run(d)`, a Python function that `script` defines (with `torch` imported), once per input, all in one
 * process; returns what each call returned (JSON-serialisable values).
 */
export function runTorch<T>(script: string, inputs: readonly unknown[]): T[] {
  requireTorch();
  const program = `import json, sys, torch\n${script}\nprint(json.dumps([run(d) for d in json.load(sys.stdin)]))\n`;
  const r = spawnSync(PYTHON, ['-c', program], { input: JSON.stringify(inputs), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`torch oracle failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T[];
}
