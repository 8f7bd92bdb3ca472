// Requantization: int32 accumulators to output codes (Jacob et al. 2018, eq. 7
// followed by the clamp of §2.4), fused activation ranges, an integer PReLU
// (one multiplier per sign of the accumulator), and moving codes between two
// per-tensor quantizations.

import {multiplyByQuantizedMultiplier, quantizeMultiplier} from './fixed_point';
import {checkPerTensorParams} from './params';
import type {PerTensorParams} from './params';
import {quantRange} from './ranges';
import {clamp, roundHalfAwayFromZero} from './rounding';

/** A fused activation of a quantized kernel. */
export type FusedActivation = 'linear' | 'relu' | 'relu6';

/** An inclusive output code range [lo, hi]. */
export interface ActivationRange {
  lo: number;
  hi: number;
}

/**
 * The conv/matmul epilogue (CONTRACTS "Requantize"):
 * clamp(zeroPoint + multiplyByQuantizedMultiplier(acc, multiplier, shift), lo, hi).
 */
export function requantize(
  acc: number,
  multiplier: number,
  shift: number,
  zeroPoint: number,
  lo: number,
  hi: number,
): number {
  return clamp(zeroPoint + multiplyByQuantizedMultiplier(acc, multiplier, shift), lo, hi);
}

/**
 * The output code range of a fused activation — TFLite's
 * CalculateActivationRangeQuantized: linear is the dtype's range; relu raises
 * lo to the code of 0 (max(qmin, Z)); relu6 also lowers hi to the code of 6
 * (min(qmax, Z + roundHalfAwayFromZero(6/S))).
 */
export function activationRange(
  activation: FusedActivation,
  scale: number,
  zeroPoint: number,
  dtype: 'int8' | 'uint8',
): ActivationRange {
  const {min, max} = quantRange(dtype);
  switch (activation) {
    case 'linear':
      return {lo: min, hi: max};
    case 'relu':
      return {lo: Math.max(min, zeroPoint), hi: max};
    case 'relu6':
      return {lo: Math.max(min, zeroPoint), hi: Math.min(max, zeroPoint + roundHalfAwayFromZero(6 / scale))};
    default:
      throw new Error(`activationRange: unsupported fused activation '${String(activation)}'`);
  }
}

/** Constants to move codes from one per-tensor quantization to another. */
export interface RequantizeParams {
  multiplier: number;
  shift: number;
  fromZeroPoint: number;
  toZeroPoint: number;
  lo: number;
  hi: number;
}

/**
 * Prepares requantizeValue: (M0, shift) = quantizeMultiplier(S_from/S_to) and
 * the output dtype's full range — TFLite's Quantize kernel for an already
 * quantized input (quantize.cc Prepare, reference_ops::Requantize).
 */
export function prepareRequantize(
  from: PerTensorParams,
  to: PerTensorParams,
  outputDtype: 'int8' | 'uint8' = 'int8',
): RequantizeParams {
  checkPerTensorParams('prepareRequantize', 'from', from);
  checkPerTensorParams('prepareRequantize', 'to', to);
  const {multiplier, shift} = quantizeMultiplier(from.scale / to.scale);
  const {min, max} = quantRange(outputDtype);
  return {multiplier, shift, fromZeroPoint: from.zeroPoint, toZeroPoint: to.zeroPoint, lo: min, hi: max};
}

/**
 * One code moved to the other quantization:
 * clamp(Z_to + multiplyByQuantizedMultiplier(q − Z_from, M0, shift), lo, hi).
 */
export function requantizeValue(q: number, p: RequantizeParams): number {
  const centered = saturateBeforeLeftShift((q - p.fromZeroPoint) | 0, p.shift);
  return clamp(p.toZeroPoint + multiplyByQuantizedMultiplier(centered, p.multiplier, p.shift), p.lo, p.hi);
}

/**
 * Clamps x so that x·2^shift stays in int32. Where TFLite's int32 shift would
 * wrap (undefined behaviour), |x·M| already exceeds every int8/int32 output
 * range (M0 ≥ 2^30), so the clamp saturates to the correct end instead.
 */
function saturateBeforeLeftShift(x: number, shift: number): number {
  if (shift <= 0) return x;
  const limit = 2 ** (31 - shift);
  return x >= limit ? limit - 1 : x < -limit ? -limit : x;
}

/** The multiplier of the negative side of an integer PReLU for one output channel. */
export interface NegativeSlopeMultiplier {
  /** Q31 M0 of |S_acc·α| / S_out (quantizeMultiplier); 0 with shift 0 when α = 0. */
  multiplier: number;
  shift: number;
  /** sign(α): −1, 0 or 1. */
  sign: number;
}

/**
 * Prepares requantizePrelu's negative side: |S_acc·α|/S_out as (M0, shift) and sign(α)
 * kept apart, so M0 stays a positive Q31 multiplier (as every other one here).
 * Prepare-time float arithmetic. Throws for a non-finite α.
 */
export function negativeSlopeMultiplier(accumulatorScale: number, alpha: number, outputScale: number): NegativeSlopeMultiplier {
  if (!Number.isFinite(alpha)) {
    throw new Error(`negativeSlopeMultiplier: the PReLU slope ${alpha} is not a finite number`);
  }
  if (alpha === 0) return {multiplier: 0, shift: 0, sign: 0};
  const {multiplier, shift} = quantizeMultiplier((accumulatorScale * Math.abs(alpha)) / outputScale);
  return {multiplier, shift, sign: alpha > 0 ? 1 : -1};
}

/**
 * Integer PReLU on an int32 accumulator (bias included, zero point 0): the accumulator
 * has the sign of the real value, so
 *   acc ≥ 0: clamp(Z + acc·M_pos, lo, hi),   M_pos = S_acc/S_out
 *   acc < 0: clamp(Z + sign(α)·(acc·|M_neg|), lo, hi),   M_neg = S_acc·α/S_out
 * each product being multiplyByQuantizedMultiplier (double rounding); α = 0 gives Z.
 * acc·2^shift saturates instead of wrapping (as requantizeValue), which only matters
 * where the result is clamped anyway.
 */
export function requantizePrelu(
  acc: number,
  positiveMultiplier: number,
  positiveShift: number,
  negativeMultiplier: number,
  negativeShift: number,
  negativeSign: number,
  zeroPoint: number,
  lo: number,
  hi: number,
): number {
  if (acc >= 0) {
    return clamp(zeroPoint + multiplyByQuantizedMultiplier(saturateBeforeLeftShift(acc, positiveShift), positiveMultiplier, positiveShift), lo, hi);
  }
  if (negativeSign === 0) return clamp(zeroPoint, lo, hi);
  const product = multiplyByQuantizedMultiplier(saturateBeforeLeftShift(acc, negativeShift), negativeMultiplier, negativeShift);
  return clamp(zeroPoint + (negativeSign < 0 ? -product : product), lo, hi);
}
