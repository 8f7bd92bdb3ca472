/**
 * Float32 FusedBatchNorm (tf.batchNorm) as a loop over channels. tfjs-backend-cpu
 * computes, per element i, in double arithmetic stored to float32,
 *   out[i] = off[i mod |off|] + (x[i] − mean[i mod |mean|]) · scale[i mod |scale|]
 *            / sqrt(var[i mod |var|] + ε)
 * with a missing scale read as [1] and a missing offset as [0], four cyclic
 * counters and four wrap checks per element. Here the parameters are first
 * expanded to one double per channel (the sqrt computed once per channel: the
 * same value) and the same expression is evaluated in the same order, so the
 * results are bit-identical.
 */

/** The per-element parameters, each of length 1 or `channels`. */
export interface BatchNormParams {
  mean: ArrayLike<number>;
  variance: ArrayLike<number>;
  /** Undefined: 1 (the cpu kernel's default). */
  scale?: ArrayLike<number>;
  /** Undefined: 0 (the cpu kernel's default). */
  offset?: ArrayLike<number>;
  varianceEpsilon: number;
}

/**
 * The number of channels the parameters cycle over when the fast loop applies
 * (every parameter length 1 or C, and C divides the size of x); null otherwise.
 */
export function batchNormChannels(xSize: number, p: BatchNormParams): number | null {
  const lengths = [p.mean.length, p.variance.length, p.scale?.length ?? 1, p.offset?.length ?? 1];
  const channels = Math.max(...lengths);
  if (channels < 1 || lengths.some(l => l !== 1 && l !== channels) || xSize % channels !== 0) return null;
  return channels;
}

function expand(values: ArrayLike<number> | undefined, fallback: number, channels: number): Float64Array {
  const out = new Float64Array(channels);
  if (values === undefined) return out.fill(fallback);
  if (values.length === 1) return out.fill(values[0]);
  for (let c = 0; c < channels; c++) out[c] = values[c];
  return out;
}

export function batchNormFloat(x: Float32Array, p: BatchNormParams, channels: number): Float32Array {
  const mean = expand(p.mean, 0, channels);
  const scale = expand(p.scale, 1, channels);
  const offset = expand(p.offset, 0, channels);
  const root = expand(p.variance, 0, channels);
  for (let c = 0; c < channels; c++) root[c] = Math.sqrt(root[c] + p.varianceEpsilon);
  const n = x.length;
  const out = new Float32Array(n);
  if (channels === 1) {
    const m = mean[0], s = scale[0], o = offset[0], r = root[0];
    for (let i = 0; i < n; i++) out[i] = o + (x[i] - m) * s / r;
    return out;
  }
  // One loop with a wrapping channel counter (faster in V8 than a nested row × channel loop).
  for (let i = 0, c = 0; i < n; i++) {
    out[i] = offset[c] + (x[i] - mean[c]) * scale[c] / root[c];
    if (++c === channels) c = 0;
  }
  return out;
}
