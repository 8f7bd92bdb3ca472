// Per-channel filter scales as a weight tensor (written by src/graph, read by the
// executors), stored losslessly: the scales are JS numbers (doubles) and every value
// derived from them (bias scales, requantize multipliers) must come out bit for bit
// the same as the pass computed them.
//
//   float32 Const + attr filter_scale_divisor d (127 or 1): scale[c] = value[c] / d
//     (max-abs weight scales are a float32 max |w| divided by 127: 4 bytes a channel)
//   int32 Const of shape [n, 2]: the raw IEEE-754 bits of each double (lo, hi words)
//
// One stored value (shape [1] or [1, 2]) stands for every channel (per-tensor filter).

/** The divisors tried, in order, for a float32 encoding. */
const DIVISORS = [127, 1] as const;

export type EncodedScales =
  | {kind: 'float32'; divisor: number; values: Float32Array}
  | {kind: 'float64-bits'; values: Int32Array};

/** Smallest exact encoding of `scales` (all of them, or just the first when `perTensor`). */
export function encodeScales(scales: readonly number[], perTensor: boolean): EncodedScales {
  const kept = perTensor ? scales.slice(0, 1) : scales.slice();
  for (const divisor of DIVISORS) {
    const values = Float32Array.from(kept, s => Math.fround(s * divisor));
    if (kept.every((s, c) => values[c] / divisor === s)) return {kind: 'float32', divisor, values};
  }
  const doubles = Float64Array.from(kept);
  return {kind: 'float64-bits', values: new Int32Array(doubles.buffer.slice(0))};
}

/**
 * The scales back, exactly: from the stored values (float32 ones with their divisor, or
 * int32 double bits), expanded to `channels` when one value is stored.
 */
export function decodeScales(stored: ArrayLike<number>, dtype: string, divisor: number | undefined, channels: number,
    op: string): number[] {
  let scales: number[];
  if (dtype === 'int32') {
    if (stored.length % 2 !== 0) throw new Error(`${op}: the float64 filter scales hold an odd number (${stored.length}) of words.`);
    scales = Array.from(new Float64Array(Int32Array.from(stored).buffer));
  } else if (dtype === 'float32') {
    if (divisor === undefined || !(divisor > 0)) throw new Error(`${op}: float32 filter scales need a positive 'filter_scale_divisor' attr.`);
    scales = Array.from(stored, v => v / divisor);
  } else {
    throw new Error(`${op}: filter scales of dtype '${dtype}' (expected float32 or int32).`);
  }
  if (scales.length === 1 && channels !== 1) return new Array<number>(channels).fill(scales[0]);
  if (scales.length !== channels) throw new Error(`${op}: ${scales.length} filter scales for ${channels} output channels.`);
  return scales;
}
