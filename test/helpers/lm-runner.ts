// Runs a built language-model IR (I/O convention: input_ids + past_key_values.{i}.key/value → logits +
// present.{i}.key/value) on the reference interpreter, for the template tests.
import { buildPlan } from '../../compiler/codegen/js/emit-plan.ts';
import type { IrModel } from '../../compiler/ir/graph.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { tensor } from '../../formats/tensor.ts';
import { Interpreter } from '../../runtime/execute.ts';
import type { RuntimeGraph } from '../../runtime/graph.ts';
import { KERNELS } from '../../runtime/kernels/index.ts';

export interface Step { logits: Float32Array; dims: number[]; presents: Tensor[] }

export class Runner {
  private readonly graph: RuntimeGraph;
  private readonly interpreter: Interpreter;
  private readonly constants: ReturnType<typeof Interpreter.constants>;
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;

  constructor(readonly model: IrModel) {
    const { plan } = buildPlan(model, 'weights.safetensors');
    this.graph = plan.graph;
    this.interpreter = new Interpreter(KERNELS, plan.opset);
    // Constants as the graph sees them (half-precision weights are float32 views), read once.
    this.constants = Interpreter.constants(new Map([...model.graph.initializers].map(([n, t]) => [n, tensor(t.dtype, t.dims, t.data)])));
    const pasts = model.graph.inputs.filter((v) => v.name.startsWith('past_key_values.'));
    this.layers = pasts.length / 2;
    this.kvHeads = pasts[0]!.shape![1] as number;
    this.headDim = pasts[0]!.shape![3] as number;
  }

  /** One run: `ids` [batch][sequence], `past` the previous step's presents (empty cache when absent). */
  run(ids: number[][], past?: Tensor[]): Step {
    const batch = ids.length;
    const feeds = new Map<string, Tensor>([['input_ids', tensor('int64', [batch, ids[0]!.length], BigInt64Array.from(ids.flat(), BigInt))]]);
    for (let i = 0; i < this.layers; i++) {
      feeds.set(`past_key_values.${i}.key`, past?.[2 * i] ?? tensor('float32', [batch, this.kvHeads, 0, this.headDim]));
      feeds.set(`past_key_values.${i}.value`, past?.[2 * i + 1] ?? tensor('float32', [batch, this.kvHeads, 0, this.headDim]));
    }
    const [logits, ...presents] = this.interpreter.run(this.graph, feeds, this.constants);
    return { logits: logits!.data as Float32Array, dims: [...logits!.dims], presents };
  }

  /** Logits of `ids` [sequence] run in pieces of the given sizes, each with the previous piece's cache. */
  inPieces(ids: number[], sizes: number[]): Float32Array {
    const out: number[] = [];
    let past: Tensor[] | undefined;
    let at = 0;
    for (const size of sizes) {
      const step = this.run([ids.slice(at, at + size)], past);
      out.push(...step.logits);
      past = step.presents;
      at += size;
    }
    return Float32Array.from(out);
  }

  /** Greedy decoding of `steps` tokens after `prompt`, one token per run with the KV cache; also the last step. */
  greedy(prompt: number[], steps: number): { ids: number[]; last: Step } {
    const argmaxLast = (s: Step): number => {
      const vocab = s.dims.at(-1)!;
      const row = s.logits.subarray(s.logits.length - vocab);
      let best = 0;
      for (let v = 1; v < vocab; v++) if (row[v]! > row[best]!) best = v;
      return best;
    };
    let step = this.run([prompt]);
    const ids: number[] = [];
    while (ids.length < steps) {
      ids.push(argmaxLast(step));
      if (ids.length < steps) step = this.run([[ids.at(-1)!]], step.presents);
    }
    return { ids, last: step };
  }
}
