// The zero-point terms of Jacob et al. 2018, eq. 7–8: with
// acc = Σ_k (q1 − Z1)(q2 − Z2) = Σ q1·q2 − Z2·Σ_k q1 − Z1·Σ_k q2 + K·Z1·Z2,
// the terms that depend only on the weight operand (its per-output-channel
// code sums) are computed once and folded into the int32 bias. Pure integer
// functions; int32 results wrap modulo 2^32 like the accumulators they feed.

/**
 * Σ of the codes of each output channel, for weights laid out so that flat
 * element `e` of batch slice `s` (`sliceSize = codes.length / batches`) belongs
 * to output channel `floor(e / channelInner) % channelCount`:
 * Conv2D HWIO → (1, outC); depthwise [h,w,inC,mult] → (1, inC·mult);
 * matmul b [K,N] → (1, N); b [N,K] (transposeB) → (K, N).
 * Returns `[batches, channelCount]`.
 */
export function weightChannelSums(
    codes: ArrayLike<number>, batches: number, channelInner: number, channelCount: number): Int32Array {
  const sums = new Int32Array(batches * channelCount);
  const sliceSize = batches === 0 ? 0 : codes.length / batches;
  for (let s = 0, e = 0; s < batches; s++) {
    const row = s * channelCount;
    for (let i = 0; i < sliceSize; i++, e++) {
      sums[row + Math.floor(i / channelInner) % channelCount] += codes[e];
    }
  }
  return sums;
}

/**
 * The per-(batch, channel) constant of the accumulator:
 * `bias32[c] − Z1·Σq2[s][c] + depth·Z1·Z2` (eq. 8's a1 and N·Z1·Z2 terms),
 * where `depth` is the number of products per output (K for matmul,
 * fh·fw·inC for Conv2D, fh·fw for depthwise). `bias32` null means no bias.
 * Returns `[batches, channels]`.
 */
export function foldZeroPoints(
    bias32: Int32Array | null, weightSums: Int32Array, inputZeroPoint: number, weightZeroPoint: number,
    depth: number, channels: number): Int32Array {
  const folded = new Int32Array(weightSums.length);
  const constant = depth * inputZeroPoint * weightZeroPoint;
  for (let i = 0; i < weightSums.length; i++) {
    const bias = bias32 === null ? 0 : bias32[i % channels];
    folded[i] = bias - inputZeroPoint * weightSums[i] + constant;
  }
  return folded;
}
