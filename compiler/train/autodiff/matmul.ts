// Dense row-major matrix products for training: C (m×n) [+]= op(A)·op(B), with op = identity or transpose.
// Loop orders keep the innermost access contiguous for each of the three layouts the forward and backward
// passes use (NN, NT, TN); accumulation is in float64 (JS numbers) per output element or row update.
import type { Floats } from './floats.ts';

export interface MatrixOperand {
  data: Floats | ArrayLike<number>;
  offset: number;
  /** Read as its transpose: stored (k×m) for A, (n×k) for B. */
  transposed: boolean;
}

export function matmulInto(
  c: Floats, cOffset: number, a: MatrixOperand, b: MatrixOperand, m: number, k: number, n: number, accumulate: boolean,
): void {
  if (!accumulate) c.fill(0, cOffset, cOffset + m * n);
  const A = a.data;
  const B = b.data;
  const ao = a.offset;
  const bo = b.offset;
  if (!a.transposed && !b.transposed) {
    // C[i,:] += A[i,p]·B[p,:]
    for (let i = 0; i < m; i++) {
      const row = cOffset + i * n;
      for (let p = 0; p < k; p++) {
        const av = A[ao + i * k + p]!;
        if (av === 0) continue;
        const bRow = bo + p * n;
        for (let j = 0; j < n; j++) c[row + j] += av * B[bRow + j]!;
      }
    }
  } else if (!a.transposed && b.transposed) {
    // C[i,j] += A[i,:]·B[j,:]
    for (let i = 0; i < m; i++) {
      const aRow = ao + i * k;
      const row = cOffset + i * n;
      for (let j = 0; j < n; j++) {
        const bRow = bo + j * k;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        let p = 0;
        for (; p + 3 < k; p += 4) {
          s0 += A[aRow + p]! * B[bRow + p]!;
          s1 += A[aRow + p + 1]! * B[bRow + p + 1]!;
          s2 += A[aRow + p + 2]! * B[bRow + p + 2]!;
          s3 += A[aRow + p + 3]! * B[bRow + p + 3]!;
        }
        for (; p < k; p++) s0 += A[aRow + p]! * B[bRow + p]!;
        c[row + j] += s0 + s1 + s2 + s3;
      }
    }
  } else if (a.transposed && !b.transposed) {
    // C[i,:] += A[p,i]·B[p,:]   (A stored k×m)
    for (let p = 0; p < k; p++) {
      const bRow = bo + p * n;
      const aRow = ao + p * m;
      for (let i = 0; i < m; i++) {
        const av = A[aRow + i]!;
        if (av === 0) continue;
        const row = cOffset + i * n;
        for (let j = 0; j < n; j++) c[row + j] += av * B[bRow + j]!;
      }
    }
  } else {
    // C[i,j] += Σ_p A[p,i]·B[j,p]   (rare: A stored k×m, B stored n×k)
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += A[ao + p * m + i]! * B[bo + j * k + p]!;
        c[cOffset + i * n + j] += s;
      }
    }
  }
}

export const plain = (data: Floats | ArrayLike<number>, offset = 0): MatrixOperand => ({ data, offset, transposed: false });
export const transposed = (data: Floats | ArrayLike<number>, offset = 0): MatrixOperand => ({ data, offset, transposed: true });
