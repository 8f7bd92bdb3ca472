// Integer-only Mean over axes with different input and output quantizations:
// TFLite's reduce.cc PrepareMeanOrSum and reference_ops::QuantizedMeanOrSum
// (reference/reduce.h, the integer form with the count folded into the
// multiplier).

import {multiplyByQuantizedMultiplier, quantizeMultiplier} from './fixed_point';
import {checkPerTensorParams} from './params';
import type {PerTensorParams} from './params';
import {quantRange} from './ranges';
import {clamp} from './rounding';

/** The constants of one quantized Mean. */
export interface QuantizedMeanParams {
  /** Q31 multiplier of S_in/(S_out·count). */
  multiplier: number;
  shift: number;
  inputZeroPoint: number;
  outputZeroPoint: number;
  /** Number of input elements averaged into each output. */
  count: number;
  lo: number;
  hi: number;
}

/**
 * Prepares quantizedMean. The exact formula (TFLite QuantizedMeanOrSum):
 *   (M0, n) = quantizeMultiplier(S_in/S_out);
 *   k = min(floor(log2(count)), 32, 31 + n);
 *   M0' = floor(M0·2^k / count) (int64 truncating division);  n' = n − k;
 *   out = clamp(Z_out + MBQM(Σq_in − Z_in·count, M0', n'), qmin, qmax).
 * This is r_out/S_out = (S_in/S_out)·(Σq_in − count·Z_in)/count with the
 * bias Z_out − Z_in·S_in/S_out applied exactly, in integers.
 */
export function prepareQuantizedMean(
  input: PerTensorParams,
  output: PerTensorParams,
  count: number,
  outputDtype: 'int8' | 'uint8' = 'int8',
): QuantizedMeanParams {
  checkPerTensorParams('prepareQuantizedMean', 'input', input);
  checkPerTensorParams('prepareQuantizedMean', 'output', output);
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new Error(`prepareQuantizedMean: the element count ${count} is not a positive integer`);
  }
  const scaleRatio = quantizeMultiplier(input.scale / output.scale);
  const countShift = Math.min(floorLog2(count), 32, 31 + scaleRatio.shift);
  const {min, max} = quantRange(outputDtype);
  return {
    multiplier: floorDivideShifted(scaleRatio.multiplier, countShift, count),
    shift: scaleRatio.shift - countShift,
    inputZeroPoint: input.zeroPoint,
    outputZeroPoint: output.zeroPoint,
    count,
    lo: min,
    hi: max,
  };
}

/**
 * One output code of the Mean from `sum` = Σ q_in over `p.count` input codes:
 * clamp(Z_out + MBQM(sum − Z_in·count, M0', n'), lo, hi), the centred sum
 * wrapped to int32 as TFLite's cast does.
 */
export function quantizedMean(sum: number, p: QuantizedMeanParams): number {
  const centeredSum = (sum - p.inputZeroPoint * p.count) | 0;
  return clamp(p.outputZeroPoint + multiplyByQuantizedMultiplier(centeredSum, p.multiplier, p.shift), p.lo, p.hi);
}

/** floor(log2(n)) for a positive safe integer n (63 − CountLeadingZeros(n)). */
function floorLog2(n: number): number {
  let log = 0;
  for (let power = 2; power <= n; power *= 2) {
    log += 1;
  }
  return log;
}

/**
 * floor(m·2^k / d) for 0 ≤ m < 2^31, 2^k ≤ d: exact binary long division (m·2^k
 * can reach 2^63, beyond float64's exact integers, so it is never formed).
 */
function floorDivideShifted(m: number, k: number, d: number): number {
  let quotient = Math.floor(m / d);
  let remainder = m - quotient * d;
  for (let bit = 0; bit < k; bit++) {
    remainder *= 2;
    quotient *= 2;
    if (remainder >= d) {
      remainder -= d;
      quotient += 1;
    }
  }
  return quotient;
}
