// A float16/bfloat16 tensor seen as float32 without a float32 copy held anywhere: `data` widens on each
// access. Lets the compiler treat half-precision checkpoints as float32 while keeping memory at half size
// (bundles store the half bytes and the runtime widens them once at load).
import { float32ToHalf, halfToFloat32 } from './dtype.ts';
import type { Tensor } from './tensor.ts';

export type HalfTensor = Tensor<'float16'> | Tensor<'bfloat16'>;

export class WidenedTensor implements Tensor<'float32'> {
  readonly dtype = 'float32' as const;
  readonly dims: readonly number[];

  constructor(readonly source: HalfTensor) {
    this.dims = source.dims;
  }

  get data(): Float32Array {
    const source = this.source as HalfTensor & { chunks?: () => Iterable<Uint8Array> };
    if (!source.chunks) return halfToFloat32(source.dtype, source.data as Uint16Array);
    // Widen piece by piece from a tensor still on disk: never the half and the float32 copies at once.
    const out = new Float32Array(this.dims.reduce((a, b) => a * b, 1));
    let at = 0;
    for (const piece of source.chunks()) {
      const words = new Uint16Array(piece.buffer, piece.byteOffset, piece.byteLength / 2);
      out.set(halfToFloat32(source.dtype, words), at);
      at += words.length;
    }
    return out;
  }
}

/** A float32 tensor stored at half precision: `data` narrows on access (for writing bundles). */
export class NarrowedTensor implements Tensor<'float16'> {
  readonly dtype = 'float16' as const;
  readonly dims: readonly number[];

  constructor(private readonly source: Tensor<'float32'>) {
    this.dims = source.dims;
  }

  get data(): Uint16Array {
    return float32ToHalf('float16', this.source.data);
  }
}
