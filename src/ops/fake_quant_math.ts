// Quantization simulated in float (what the executors do on a float backend):
//   q = clamp(round(x/s) + z, qmin, qmax),  x' = s·(q − z)
// The rounding is src/quant's (the only place rounding rules are written), applied
// to the tensor's values in JavaScript (float64), so the simulation rounds exactly
// as the int8 kernels do. The heavy work (convolutions) stays in tfjs ops.

import * as tf from '@tensorflow/tfjs-core';

import {INT32_MAX, INT32_MIN, requantize, requantizePrelu, roundHalfAwayFromZero} from '../quant';
import type {NegativeSlopeMultiplier} from '../quant';
import {clamp} from '../quant/rounding';

/** The [outer, channels, inner] split of `shape` around `axis` (one channel for axis < 0). */
function channelSplit(shape: readonly number[], axis: number): {channels: number; inner: number} {
  if (axis < 0) return {channels: 1, inner: shape.reduce((a, b) => a * b, 1)};
  return {channels: shape[axis], inner: shape.slice(axis + 1).reduce((a, b) => a * b, 1)};
}

/** Integer codes of x (per channel along `axis`, or per tensor for axis < 0). */
export function quantizeToCodes(x: tf.Tensor, scales: readonly number[], zeroPoints: readonly number[], qmin: number, qmax: number,
    axis = -1): Float32Array {
  const values = x.dataSync() as Float32Array;
  const {channels, inner} = channelSplit(x.shape, axis);
  const codes = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    codes[i] = clamp(roundHalfAwayFromZero(values[i] / scales[c]) + zeroPoints[c], qmin, qmax);
  }
  return codes;
}

/** Fake quantization per tensor (axis < 0) or per channel along `axis`: the reals the codes stand for. */
export function fakeQuantize(x: tf.Tensor, scales: readonly number[], zeroPoints: readonly number[], qmin: number, qmax: number,
    axis = -1): tf.Tensor {
  const codes = quantizeToCodes(x, scales, zeroPoints, qmin, qmax, axis);
  const {channels, inner} = channelSplit(x.shape, axis);
  const reals = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    reals[i] = scales[c] * (codes[i] - zeroPoints[c]);
  }
  return tf.tensor(reals, x.shape, 'float32');
}

export interface RequantizeSpec {
  /** S_in·S_w[c]: the real value of one accumulator unit, per output channel (last axis). */
  accumulatorScales: readonly number[];
  multipliers: readonly number[];
  shifts: readonly number[];
  outputScale: number;
  outputZeroPoint: number;
  lo: number;
  hi: number;
  /** A fused prelu: per channel, the multiplier of negative accumulators (requantizePrelu). */
  negativeSlopes?: readonly NegativeSlopeMultiplier[];
}

/**
 * The int8 kernels' epilogue applied to a float conv/matmul result (bias included,
 * no activation): acc = round(y / (S_in·S_w[c])) recovers the int32 accumulator,
 * then q = requantize(acc, M0[c], shift[c], Z_out, lo, hi) exactly as src/quant
 * defines it (double rounding included) — requantizePrelu for a fused prelu;
 * returns S_out·(q − Z_out).
 */
export function requantizeAccumulators(y: tf.Tensor, spec: RequantizeSpec): tf.Tensor {
  const values = y.dataSync() as Float32Array;
  const channels = spec.accumulatorScales.length;
  const reals = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const c = i % channels;
    const acc = clamp(roundHalfAwayFromZero(values[i] / spec.accumulatorScales[c]), INT32_MIN, INT32_MAX);
    const slope = spec.negativeSlopes?.[c];
    const q = slope === undefined
      ? requantize(acc, spec.multipliers[c], spec.shifts[c], spec.outputZeroPoint, spec.lo, spec.hi)
      : requantizePrelu(acc, spec.multipliers[c], spec.shifts[c], slope.multiplier, slope.shift, slope.sign, spec.outputZeroPoint, spec.lo, spec.hi);
    reals[i] = spec.outputScale * (q - spec.outputZeroPoint);
  }
  return tf.tensor(reals, y.shape, 'float32');
}
