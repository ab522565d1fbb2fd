// Dispatch sizes shared by the binders.

/** Threads per workgroup of the 1-D element-wise shaders (compiler/codegen/wgsl/ uses the same). */
export const ELEMENTWISE_WORKGROUP = 256;
/** Most workgroups one 1-D dispatch uses; the shaders loop (grid-stride) over the rest. */
export const MAX_BLOCKS = 4096;

/** Workgroups for n elements at one element per thread, capped at MAX_BLOCKS. */
export function gridBlocks(n: number): number {
  return Math.min(Math.ceil(n / ELEMENTWISE_WORKGROUP), MAX_BLOCKS);
}
