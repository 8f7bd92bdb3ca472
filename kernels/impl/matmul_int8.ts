// Integer batched matrix multiplication: the reference the WebAssembly GEMM
// must match bit for bit. Pure functions on typed arrays.
//
// out[bi][i][j] = columnBias[bB][j] − Z_b·Σ_k qA[bA][i][k] + Σ_k qA[bA][i][k]·qB[bB][k][j]
// with bA = bi mod batchA, bB = bi mod batchB (tfjs-cpu's batch broadcast) and
// columnBias from foldZeroPoints(bias32, Σ_k qB, Z_a, Z_b, K, N) — i.e.
// Σ_k (qA − Z_a)(qB − Z_b) + bias32 (Jacob et al. 2018, eq. 7–8). For a
// per-channel symmetric weight b, Z_b = 0 and the row-sum term vanishes.
// Int32 arithmetic wrapping modulo 2^32 (Int32Array stores), so any summation
// order gives the same bits.

/** The shape of a batched matmul, as tfjs-cpu's BatchMatMul sees it. */
export interface MatMulGeometry {
  /** Output batches: max(batchA, batchB). */
  batch: number;
  batchA: number;
  batchB: number;
  /** Rows of the output (of a, or of aᵀ). */
  m: number;
  /** The shared (inner) dimension. */
  k: number;
  /** Columns of the output (of b, or of bᵀ). */
  n: number;
  /** a is stored `[batchA, k, m]` instead of `[batchA, m, k]`. */
  transposeA: boolean;
  /** b is stored `[batchB, n, k]` instead of `[batchB, k, n]`. */
  transposeB: boolean;
}

/**
 * `out` `[batch, m, n]` = the accumulators above. `columnBias` is
 * `[batchB, n]` and already holds Z_a's terms (a has no padding, so Z_a
 * needs no other place). Zero-sized dimensions are allowed.
 */
export function matMulInt8(
    a: Int8Array, b: Int8Array, bZeroPoint: number, columnBias: Int32Array, g: MatMulGeometry,
    out: Int32Array): void {
  const {m, k, n} = g;
  const aRowStep = g.transposeA ? 1 : k;  // a[i][kk] = a[i·aRowStep + kk·aInnerStep]
  const aInnerStep = g.transposeA ? m : 1;
  for (let bi = 0; bi < g.batch; bi++) {
    const aBase = (bi % g.batchA) * m * k;
    const bBase = (bi % g.batchB) * k * n;
    const biasBase = (bi % g.batchB) * n;
    for (let i = 0; i < m; i++) {
      const aRow = aBase + i * aRowStep;
      const o = (bi * m + i) * n;
      const rowTerm = bZeroPoint === 0 ? 0 : bZeroPoint * rowSum(a, aRow, aInnerStep, k);
      for (let j = 0; j < n; j++) {
        out[o + j] = columnBias[biasBase + j] - rowTerm;
      }
      if (g.transposeB) {
        accumulateDots(a, aRow, aInnerStep, b, bBase, k, n, out, o);
      } else {
        accumulateRows(a, aRow, aInnerStep, b, bBase, k, n, out, o);
      }
    }
  }
}

function rowSum(a: Int8Array, start: number, step: number, k: number): number {
  let sum = 0;
  for (let kk = 0, p = start; kk < k; kk++, p += step) sum += a[p];
  return sum;
}

/** b stored `[n, k]`: out[o + j] += Σ_k a[k]·b[j][k] (one dot product per column). */
function accumulateDots(
    a: Int8Array, aRow: number, aStep: number, b: Int8Array, bBase: number, k: number, n: number,
    out: Int32Array, o: number): void {
  for (let j = 0; j < n; j++) {
    const bRow = bBase + j * k;
    let sum = 0;  // |sum| ≤ 128·128·k < 2^53: exact; wrapped by the Int32Array store
    for (let kk = 0, p = aRow; kk < k; kk++, p += aStep) sum += a[p] * b[bRow + kk];
    out[o + j] += sum;
  }
}

/** b stored `[k, n]`: out[o + j] += a[k]·b[k][j], row by row of b. */
function accumulateRows(
    a: Int8Array, aRow: number, aStep: number, b: Int8Array, bBase: number, k: number, n: number,
    out: Int32Array, o: number): void {
  for (let kk = 0, p = aRow; kk < k; kk++, p += aStep) {
    const q = a[p];
    if (q === 0) continue;
    const bRow = bBase + kk * n;
    for (let j = 0; j < n; j++) out[o + j] += q * b[bRow + j];
  }
}
