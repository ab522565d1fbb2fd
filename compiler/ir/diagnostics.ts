// Diagnostics as data: what shape inference, the verifier and the importers report. Printed as one line each.

export interface Diagnostic {
  severity: 'error' | 'warning';
  /** The model file, as the user named it. */
  file?: string;
  /** Set for subgraphs only (If branches, Loop bodies); absent means the main graph. */
  graph?: string;
  node?: string;
  op?: string;
  /** A value (tensor) name, when the problem is about one value rather than a node. */
  value?: string;
  message: string;
  /** What to do about it, when we know. */
  hint?: string;
}

/** `model.onnx: node '/model/Add' (Add): input 1 'x' has dtype int64, expected float32 like input 0` */
export function formatDiagnostic(d: Diagnostic): string {
  let line = d.severity === 'warning' ? 'warning: ' : '';
  if (d.file) line += `${d.file}: `;
  if (d.graph) line += `graph '${d.graph}': `;
  if (d.node) line += `node '${d.node}'${d.op ? ` (${d.op})` : ''}: `;
  else if (d.op) line += `op ${d.op}: `;
  else if (d.value) line += `value '${d.value}': `;
  line += d.message;
  if (d.hint) line += ` (hint: ${d.hint})`;
  return line;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/** Thrown when a step cannot go on; carries every error found, not only the first. */
export class CompileError extends Error {
  override name = 'CompileError';
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    const shown = errors.length > 0 ? errors : diagnostics;
    super(shown.map(formatDiagnostic).join('\n') || 'compile failed');
    this.diagnostics = diagnostics;
  }
}

/** Throws a CompileError when `diagnostics` holds any error; warnings alone pass. */
export function throwIfErrors(diagnostics: Diagnostic[]): void {
  if (hasErrors(diagnostics)) throw new CompileError(diagnostics);
}
