// GPU storage buffers reused across nodes and runs, by size class (powers of two from 256 bytes): a decode
// step's values grow by one position each step, so exact sizes would never match again. A buffer released
// during a run is reused by later dispatches of the same run: the queue runs them in order.
const MIN_BYTES = 256;

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly all = new Set<GPUBuffer>();

  constructor(private readonly device: GPUDevice) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const reused = this.free.get(size)?.pop();
    if (reused) return reused;
    const buffer = this.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    this.all.add(buffer);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    if (!this.all.has(buffer)) return; // not ours (a caller's buffer)
    const list = this.free.get(buffer.size) ?? [];
    if (!list.includes(buffer)) list.push(buffer);
    this.free.set(buffer.size, list);
  }

  destroy(): void {
    for (const b of this.all) b.destroy();
    this.all.clear();
    this.free.clear();
  }
}

function sizeClass(bytes: number): number {
  let size = MIN_BYTES;
  while (size < bytes) size *= 2;
  return size;
}
