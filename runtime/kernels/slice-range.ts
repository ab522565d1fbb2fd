// ONNX Slice on one axis: where the slice starts and how many elements it takes, once the start and end
// are resolved against the axis size (negative from the end) and clamped (to [0, size] for positive steps,
// [-1, size - 1] for negative ones). Shared by the reference kernel and the WebGPU binder.
export function sliceRange(start: number, end: number, step: number, size: number): { first: number; count: number } {
  let b = start < 0 ? start + size : start;
  let e = end < 0 ? end + size : end;
  if (step > 0) {
    b = Math.min(Math.max(b, 0), size);
    e = Math.min(Math.max(e, 0), size);
  } else {
    b = Math.min(Math.max(b, 0), size - 1);
    e = Math.min(Math.max(e, -1), size - 1);
  }
  return { first: b, count: Math.max(0, Math.ceil((e - b) / step)) };
}
