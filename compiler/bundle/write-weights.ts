// weights.safetensors: every constant of the plan, in the plan's (sorted) order, streamed tensor by tensor.
import { stat } from 'node:fs/promises';
import type { SafetensorsDType } from '../../formats/safetensors/header.ts';
import { FileTensor } from '../../formats/safetensors/file-tensor.ts';
import { writeSafetensors } from '../../formats/safetensors/write-file.ts';
import type { Tensor } from '../../formats/tensor.ts';

/** Writes the tensors and returns the file's size in bytes. */
export async function writeWeights(path: string, tensors: readonly [string, Tensor][], generator: string): Promise<number> {
  const list = tensors.map(([name, t]) => ({ name, dtype: t.dtype as SafetensorsDType, shape: t.dims }));
  // Tensors still on disk (checkpoint weights kept as they are) are copied in pieces, never whole.
  const bytesOf = (t: Tensor) => (t instanceof FileTensor ? t.chunks() : t.data as ArrayBufferView);
  await writeSafetensors(path, list, (_entry, i) => bytesOf(tensors[i]![1]), { metadata: { generator } });
  return (await stat(path)).size;
}
