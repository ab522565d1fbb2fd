// Building one WGSL compute shader from small parts: a header naming the op and shapes, the Params uniform
// (binding 0: the u32 values the runtime binder computes per run, only those the shader needs), the storage
// bindings (inputs, then outputs, in GpuCall order) and the entry point `main`. Sizes the compiler knows are
// written as constants; sizes that vary per run (sequence, past length) are read from Params.
import type { Dim } from '../../ir/graph.ts';

export type WgslScalar = 'f32' | 'i32' | 'u32';

export interface GeneratedShader {
  source: string;
  /** Params fields, in order (GpuCall.params). */
  params: string[];
}

export class ShaderBuilder {
  private readonly params: string[] = [];
  private readonly paramTypes = new Map<string, WgslScalar>();
  private readonly bindings: string[] = [];
  private readonly decls: string[] = [];

  /** `op` and `shapes` go into the header comment: `// onebitc: Softmax f32[?, 8, ?, ?] → …`. */
  constructor(private readonly op: string, private readonly shapes: string) {}

  /** A run-time value from the binder: `p.name`. */
  param(name: string, type: WgslScalar = 'u32'): string {
    if (!this.paramTypes.has(name)) { this.params.push(name); this.paramTypes.set(name, type); }
    return `p.${name}`;
  }

  /** A size: a constant when known at compile time, else the binder's value of that name. */
  size(name: string, known: number | undefined): string {
    return known === undefined ? this.param(name) : `${known}u`;
  }

  /** Declares the next storage binding: `var<storage, read> name: array<type>` (read_write for outputs). */
  storage(name: string, type: WgslScalar | 'vec4<f32>', access: 'read' | 'read_write'): this {
    this.bindings.push(`var<storage, ${access}> ${name}: array<${type}>;`);
    return this;
  }

  /** Module-scope declarations: consts, helper functions, workgroup arrays. */
  declare(code: string): this {
    this.decls.push(code.trim());
    return this;
  }

  /** The source with `main` of this workgroup size and body (uses `gid`, `lid`, `wid` builtins). */
  build(workgroup: readonly number[], body: string): GeneratedShader {
    const lines = [`// onebitc: ${this.op} ${this.shapes}`];
    if (this.params.length) {
      lines.push(`struct Params {\n${this.params.map((p) => `  ${p}: ${this.paramTypes.get(p)},`).join('\n')}\n}`);
      lines.push('@group(0) @binding(0) var<uniform> p: Params;');
    }
    this.bindings.forEach((b, i) => lines.push(`@group(0) @binding(${i + 1}) ${b}`));
    lines.push(...this.decls);
    lines.push(
      `@compute @workgroup_size(${workgroup.join(', ')})`,
      'fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {',
      indent(body.trim()),
      '}',
    );
    return { source: lines.join('\n') + '\n', params: [...this.params] };
  }
}

const indent = (code: string) => code.split('\n').map((l) => (l ? `  ${l}` : l)).join('\n');

/** `f32[?, 64]`-style description of a value for shader headers (symbolic dims as `?`). */
export function describe(dtype: string, shape: readonly Dim[] | undefined): string {
  const short = dtype === 'float32' ? 'f32' : dtype;
  return `${short}[${shape ? shape.map((d) => (typeof d === 'number' ? d : '?')).join(', ') : '…'}]`;
}

/** A WGSL f32 literal that round-trips the value. */
export function f32Literal(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`not a finite f32: ${value}`);
  const text = String(Math.fround(value));
  return /[.eE]/.test(text) ? text : `${text}.0`;
}
