// weights.safetensors: every constant of the plan, in the plan's (sorted) order, streamed tensor by tensor.
import { stat } from 'node:fs/promises';
import type { SafetensorsDType } from '../../formats/safetensors/header.ts';
import { writeSafetensors } from '../../formats/safetensors/write-file.ts';
import type { Tensor } from '../../formats/tensor.ts';

/** Writes the tensors and returns the file's size in bytes. */
export async function writeWeights(path: string, tensors: readonly [string, Tensor][], generator: string): Promise<number> {
  const list = tensors.map(([name, t]) => ({ name, dtype: t.dtype as SafetensorsDType, shape: t.dims }));
  await writeSafetensors(path, list, (_entry, i) => tensors[i]![1].data as ArrayBufferView, { metadata: { generator } });
  return (await stat(path)).size;
}
