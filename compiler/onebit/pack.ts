// Packing of the sign matrix S of a OneBit linear (docs ONEBIT.md §1, the reference convention):
//   row-major [out, ceil(in/8)] bytes; bit j of byte k (LSB first) is column 8k+j;
//   bit = 1 means −1, bit = 0 means +1; sign(0) = +1 (so −0 and NaN are +1 too); padding bits are 0.

/** Bytes per packed row of `inDim` signs: ceil(inDim / 8). */
export function packedRowBytes(inDim: number): number {
  return Math.ceil(inDim / 8);
}

function checkDims(what: string, out: number, inDim: number): void {
  if (!Number.isInteger(out) || out < 0 || !Number.isInteger(inDim) || inDim < 0) {
    throw new RangeError(`${what}: out and in must be non-negative integers, got out=${out}, in=${inDim}`);
  }
}

/** Packs sign(weight) for a row-major weight of shape [out, in]. Returns bytes (out, ceil(in/8)). */
export function packSigns(weight: ArrayLike<number>, out: number, inDim: number): Uint8Array {
  checkDims('packSigns', out, inDim);
  if (weight.length !== out * inDim) {
    throw new RangeError(`packSigns: weight has ${weight.length} elements, expected out·in = ${out}·${inDim} = ${out * inDim}`);
  }
  const rowBytes = packedRowBytes(inDim);
  const bits = new Uint8Array(out * rowBytes); // (out, ceil(in/8)), zero-filled: padding bits stay 0
  for (let o = 0; o < out; o++) {
    const row = o * inDim;
    const rowOut = o * rowBytes;
    for (let i = 0; i < inDim; i++) {
      if (weight[row + i]! < 0) bits[rowOut + (i >> 3)]! |= 1 << (i & 7);
    }
  }
  return bits;
}

/**
 * Unpacks bytes (out, ceil(in/8)) to signs ±1, row-major [out, in].
 * Rejects nonzero padding bits: the convention says they are 0, so anything else is not a valid checkpoint.
 */
export function unpackSigns(bits: Uint8Array, out: number, inDim: number): Int8Array {
  checkDims('unpackSigns', out, inDim);
  const rowBytes = packedRowBytes(inDim);
  if (bits.length !== out * rowBytes) {
    throw new RangeError(`unpackSigns: got ${bits.length} bytes, expected out·ceil(in/8) = ${out}·${rowBytes} = ${out * rowBytes}`);
  }
  const signs = new Int8Array(out * inDim); // (out, in)
  const tail = inDim & 7;
  const paddingMask = tail === 0 ? 0 : 0xff & ~((1 << tail) - 1);
  for (let o = 0; o < out; o++) {
    const rowIn = o * rowBytes;
    if (paddingMask !== 0 && (bits[rowIn + rowBytes - 1]! & paddingMask) !== 0) {
      throw new RangeError(`unpackSigns: row ${o} has nonzero padding bits (columns ≥ ${inDim}); padding must be 0`);
    }
    for (let i = 0; i < inDim; i++) {
      signs[o * inDim + i] = (bits[rowIn + (i >> 3)]! >> (i & 7)) & 1 ? -1 : 1;
    }
  }
  return signs;
}
