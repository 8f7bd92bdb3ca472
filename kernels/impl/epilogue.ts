// What happens to the int32 accumulators of a conv or matmul after the sum
// (the "epilogue"): integer requantization to int8 codes (static mode), an
// integer relu / relu6 on accumulators, or dequantization to float followed by
// bias and activation in float (dynamic mode, and static mode's non-clamp
// activations), or an integer PReLU (static mode with output parameters).
// Pure functions on typed arrays. Rounding rules come from src/quant only.

import {
  INT32_MAX, negativeSlopeMultiplier, quantizeMultiplier, requantize, requantizePrelu, roundHalfAwayFromZero,
} from '../../src/quant';

/** Per-output-channel fixed-point multipliers (M0, shift) of eq. 6, Jacob et al. 2018. */
export interface ChannelMultipliers {
  multiplier: Int32Array;
  shift: Int32Array;
}

/**
 * (M0, shift) = quantizeMultiplier(S_acc[c] / S_out) per output channel, where
 * S_acc[c] = S_in·S_w[c] is the accumulator's scale (eq. 5–6). Prepare-time
 * float arithmetic, cached with the weights by the kernels.
 */
export function channelMultipliers(accumulatorScale: Float64Array, outputScale: number): ChannelMultipliers {
  const multiplier = new Int32Array(accumulatorScale.length);
  const shift = new Int32Array(accumulatorScale.length);
  for (let c = 0; c < accumulatorScale.length; c++) {
    const q = quantizeMultiplier(accumulatorScale[c] / outputScale);
    multiplier[c] = q.multiplier;
    shift[c] = q.shift;
  }
  return {multiplier, shift};
}

/**
 * int8 codes from accumulators `[..., channels]` (CONTRACTS "Requantize"):
 * `out[i] = clamp(zOut + multiplyByQuantizedMultiplier(acc[i], M0[c], shift[c]), lo, hi)`
 * with `c = i mod channels` and `[lo, hi]` from activationRange (a fused
 * relu/relu6 is that tighter clamp). Integers only.
 */
export function requantizeToInt8(
    acc: Int32Array, channels: number, m: ChannelMultipliers, outputZeroPoint: number, lo: number,
    hi: number, out: Int8Array): void {
  for (let i = 0, c = 0; i < acc.length; i++) {
    out[i] = requantize(acc[i], m.multiplier[c], m.shift[c], outputZeroPoint, lo, hi);
    if (++c === channels) c = 0;
  }
}

/** Per-output-channel negative-side multipliers of an integer PReLU: |S_acc[c]·α[c]|/S_out and sign(α[c]). */
export interface NegativeSlopeMultipliers {
  multiplier: Int32Array;
  shift: Int32Array;
  sign: Int8Array;
}

/** src/quant negativeSlopeMultiplier per output channel (prepare time, cached by the kernels). */
export function negativeSlopeMultipliers(accumulatorScale: Float64Array, alpha: ArrayLike<number>, outputScale: number):
    NegativeSlopeMultipliers {
  const channels = accumulatorScale.length;
  const m: NegativeSlopeMultipliers = {
    multiplier: new Int32Array(channels), shift: new Int32Array(channels), sign: new Int8Array(channels),
  };
  for (let c = 0; c < channels; c++) {
    const q = negativeSlopeMultiplier(accumulatorScale[c], alpha[c], outputScale);
    m.multiplier[c] = q.multiplier;
    m.shift[c] = q.shift;
    m.sign[c] = q.sign;
  }
  return m;
}

/**
 * int8 codes of an integer PReLU from accumulators `[..., channels]`:
 * `out[i] = requantizePrelu(acc[i], M_pos[c], M_neg[c], sign(α[c]), zOut, lo, hi)` (src/quant),
 * `c = i mod channels`. Integers only.
 */
export function requantizePreluToInt8(
    acc: ArrayLike<number>, channels: number, positive: ChannelMultipliers, negative: NegativeSlopeMultipliers,
    outputZeroPoint: number, lo: number, hi: number, out: Int8Array): void {
  for (let i = 0, c = 0; i < acc.length; i++) {
    out[i] = requantizePrelu(acc[i], positive.multiplier[c], positive.shift[c], negative.multiplier[c], negative.shift[c],
                             negative.sign[c], outputZeroPoint, lo, hi);
    if (++c === channels) c = 0;
  }
}

/**
 * A fused relu or relu6 applied to int32 accumulators in place (static mode
 * without output parameters): relu is `max(acc, 0)` (real 0 is code 0);
 * relu6 also clamps at `channelSix[c]`, the code of 6 in channel c's scale.
 */
export function clampAccumulators(acc: Int32Array, channels: number, channelSix: Int32Array | null): void {
  for (let i = 0, c = 0; i < acc.length; i++) {
    const v = acc[i];
    if (v < 0) {
      acc[i] = 0;
    } else if (channelSix !== null && v > channelSix[c]) {
      acc[i] = channelSix[c];
    }
    if (++c === channels) c = 0;
  }
}

/** The code of real 6 in each accumulator scale: round(6 / scale[c]), at most INT32_MAX. */
export function sixInAccumulatorScale(accumulatorScale: Float64Array): Int32Array {
  const six = new Int32Array(accumulatorScale.length);
  for (let c = 0; c < six.length; c++) {
    six[c] = Math.min(INT32_MAX, roundHalfAwayFromZero(6 / accumulatorScale[c]));
  }
  return six;
}

/** The fused activations of tfjs's fused conv/matmul kernels. */
export type FusedActivationName = 'linear' | 'relu' | 'relu6' | 'leakyrelu' | 'prelu' | 'sigmoid' | 'elu';

/**
 * A float operand broadcast over an output `[..., channels]`: one value, one
 * per channel (the last axis), or one per output element.
 */
export interface ChannelBroadcast {
  kind: 'scalar' | 'channel' | 'full';
  values: Float32Array;
}

/** values[i] += bias (broadcast), in place. */
export function addBias(values: Float32Array, channels: number, bias: ChannelBroadcast): void {
  const b = bias.values;
  if (bias.kind === 'scalar') {
    for (let i = 0; i < values.length; i++) values[i] += b[0];
  } else if (bias.kind === 'channel') {
    for (let i = 0, c = 0; i < values.length; i++) {
      values[i] += b[c];
      if (++c === channels) c = 0;
    }
  } else {
    for (let i = 0; i < values.length; i++) values[i] += b[i];
  }
}

/**
 * A fused activation in float, in place, with tfjs-cpu's formulas:
 * relu max(x, 0); relu6 min(max(x, 0), 6); leakyrelu x < 0 ? α·x : x;
 * prelu x < 0 ? alpha·x : x (alpha broadcast); sigmoid 1/(1 + e^−x);
 * elu x ≥ 0 ? x : e^x − 1.
 */
export function applyActivation(
    values: Float32Array, channels: number, activation: FusedActivationName, alpha: ChannelBroadcast | null,
    leakyreluAlpha: number): void {
  switch (activation) {
    case 'linear':
      return;
    case 'relu':
      return mapInPlace(values, x => x < 0 ? 0 : x);
    case 'relu6':
      return mapInPlace(values, x => x < 0 ? 0 : x > 6 ? 6 : x);
    case 'leakyrelu':
      return mapInPlace(values, x => x < 0 ? leakyreluAlpha * x : x);
    case 'sigmoid':
      return mapInPlace(values, x => 1 / (1 + Math.exp(-x)));
    case 'elu':
      return mapInPlace(values, x => x >= 0 ? x : Math.exp(x) - 1);
    case 'prelu':
      if (alpha === null) throw new Error(`applyActivation: 'prelu' needs alpha values`);
      return prelu(values, channels, alpha);
  }
}

function mapInPlace(values: Float32Array, f: (x: number) => number): void {
  for (let i = 0; i < values.length; i++) values[i] = f(values[i]);
}

function prelu(values: Float32Array, channels: number, alpha: ChannelBroadcast): void {
  const a = alpha.values;
  for (let i = 0, c = 0; i < values.length; i++) {
    const x = values[i];
    if (x < 0) {
      values[i] = x * (alpha.kind === 'scalar' ? a[0] : alpha.kind === 'channel' ? a[c] : a[i]);
    }
    if (++c === channels) c = 0;
  }
}

/** How an operand of `shape` broadcasts over an output `[..., channels]`. */
export type BroadcastKind = ChannelBroadcast['kind'];

/**
 * How `shape` broadcasts (numpy rules, as tfjs's fused bias and prelu weights)
 * over an output of `outShape` whose last axis is the channel axis. Throws,
 * naming `what`, when the shapes do not broadcast to `outShape`.
 */
export function broadcastKind(shape: readonly number[], outShape: readonly number[], what: string): BroadcastKind {
  checkBroadcast(shape, outShape, what);
  const significant = dropLeadingOnes(shape);
  if (significant.length === 0) return 'scalar';
  if (significant.length === 1 && significant[0] === outShape[outShape.length - 1]) return 'channel';
  return 'full';
}

/** `values` of `shape` broadcast over an output of `outShape` (see broadcastKind). */
export function broadcastOverOutput(
    values: Float32Array, shape: readonly number[], outShape: readonly number[], what: string): ChannelBroadcast {
  const kind = broadcastKind(shape, outShape, what);
  return {kind, values: kind === 'full' ? expand(values, shape, outShape) : values};
}

function dropLeadingOnes(shape: readonly number[]): number[] {
  let first = 0;
  while (first < shape.length && shape[first] === 1) first++;
  return shape.slice(first);
}

function checkBroadcast(shape: readonly number[], outShape: readonly number[], what: string): void {
  const offset = outShape.length - shape.length;
  const fits = offset >= 0 && shape.every((d, i) => d === 1 || d === outShape[offset + i]);
  if (!fits) {
    throw new Error(
        `${what} of shape [${shape.join(', ')}] does not broadcast to the output shape [${outShape.join(', ')}]`);
  }
}

/** values of `shape` repeated to fill `outShape` (right-aligned broadcast). */
function expand(values: Float32Array, shape: readonly number[], outShape: readonly number[]): Float32Array {
  const rank = outShape.length;
  const padded = new Array<number>(rank - shape.length).fill(1).concat(shape);
  const sourceStrides = new Array<number>(rank);
  for (let d = rank - 1, stride = 1; d >= 0; d--) {
    sourceStrides[d] = padded[d] === 1 ? 0 : stride;
    stride *= padded[d];
  }
  const size = outShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  const index = new Array<number>(rank).fill(0);
  for (let i = 0; i < size; i++) {
    let source = 0;
    for (let d = 0; d < rank; d++) source += index[d] * sourceStrides[d];
    out[i] = values[source];
    for (let d = rank - 1; d >= 0 && ++index[d] === outShape[d]; d--) index[d] = 0;
  }
  return out;
}
