// The fixed-point multiply of Jacob et al. 2018 (§2.2, eq. 5–6) exactly as
// gemmlowp (fixedpoint/fixedpoint.h) and TFLite (kernels/internal/common.h,
// quantization_util.cc) define it. All arguments named int32 must be int32
// numbers (integers in [−2^31, 2^31 − 1]); the functions do not check, since
// they run in kernels' inner loops, and they allocate nothing.

import {roundHalfAwayFromZero} from './rounding';

export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;

const TWO_POW_15 = 32768;
const TWO_POW_16 = 65536;
const TWO_POW_30 = 1073741824;
const TWO_POW_31 = 2147483648;

/** A real multiplier M ≈ multiplier · 2^(shift − 31): `multiplier` is Q31 (M0 of eq. 6). */
export interface QuantizedMultiplier {
  multiplier: number;
  shift: number;
}

/**
 * gemmlowp's SaturatingRoundingDoublingHighMul: the high 32 bits of 2·a·b,
 * rounded — `(a·b + nudge) / 2^31` in int64 with C's truncating division and
 * nudge = 2^30 for a·b ≥ 0, 1 − 2^30 otherwise. The one overflowing case,
 * a = b = INT32_MIN, saturates to INT32_MAX.
 *
 * That formula equals floor((a·b + 2^30) / 2^31) for every int64 a·b (for
 * a·b < 0, −floor((2^30 − 1 − a·b)/2^31) = floor((a·b + 2^30)/2^31)), which is
 * what is computed here, exactly, in float64: a·b is split at b's 16-bit halves
 * so that no partial product exceeds 2^47.
 */
export function saturatingRoundingDoublingHighMul(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) {
    return INT32_MAX;
  }
  const bLow = b & 0xffff; // b = bHigh·2^16 + bLow, bLow ∈ [0, 2^16)
  const bHigh = b >> 16;
  // a·b + 2^30 = (a·bHigh + floor(low/2^16))·2^16 + (low mod 2^16), low = a·bLow + 2^30;
  // the last term is < 2^16, so it cannot change floor(·/2^31).
  const low = a * bLow + TWO_POW_30;
  const high = a * bHigh + Math.floor(low / TWO_POW_16);
  return Math.floor(high / TWO_POW_15);
}

/**
 * gemmlowp's RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away
 * from zero, by remainder and threshold. `exponent` must lie in [0, 31].
 */
export function roundingDivideByPOT(x: number, exponent: number): number {
  const mask = ((1 << exponent) - 1) | 0; // 2^exponent − 1, also for exponent = 31
  const remainder = x & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/**
 * TFLite's MultiplyByQuantizedMultiplier, default (double-rounding) variant:
 * x · M with M = multiplier·2^(shift−31) (Jacob et al. eq. 6), i.e.
 * RDivByPOT(SRDHM(x·2^max(shift,0), multiplier), max(−shift,0)).
 *
 * `x·2^leftShift` is computed in int32 as TFLite does (`x * (1 << left_shift)`);
 * on overflow C has undefined behaviour and compiled code wraps modulo 2^32 —
 * so does this (Math.imul). `shift` must lie in [−31, 31]; quantizeMultiplier
 * never returns a shift below −31.
 */
export function multiplyByQuantizedMultiplier(x: number, multiplier: number, shift: number): number {
  const leftShift = shift > 0 ? shift : 0;
  const rightShift = shift > 0 ? 0 : -shift;
  const shifted = Math.imul(x, 1 << leftShift);
  return roundingDivideByPOT(saturatingRoundingDoublingHighMul(shifted, multiplier), rightShift);
}

/**
 * TFLite's QuantizeMultiplier (quantization_util.cc, double rounding):
 * real = q·2^shift with q = frexp mantissa ∈ [0.5, 1); multiplier = round(q·2^31)
 * (ties away from zero); a rounded mantissa of exactly 2^31 becomes 2^30 with
 * shift + 1; shift < −31 flushes to (0, 0); real = 0 gives (0, 0). A negative
 * real gives a negative multiplier (and −2^31 when the mantissa rounds to −1).
 * Throws for NaN or ±Infinity, on which TFLite aborts.
 */
export function quantizeMultiplier(real: number): QuantizedMultiplier {
  if (!Number.isFinite(real)) {
    throw new Error(`quantizeMultiplier: the real multiplier ${real} is not a finite number`);
  }
  // |real| < 2^-40 has a frexp exponent ≤ −39, so it flushes to zero in any case.
  if (Math.abs(real) < 2 ** -40) {
    return {multiplier: 0, shift: 0};
  }
  const {mantissa, exponent} = frexp(real);
  let multiplier = roundHalfAwayFromZero(mantissa * TWO_POW_31);
  let shift = exponent;
  if (multiplier === TWO_POW_31) {
    multiplier = TWO_POW_30;
    shift += 1;
  }
  if (shift < -31) {
    return {multiplier: 0, shift: 0};
  }
  return {multiplier, shift};
}

/**
 * C's frexp for finite x with 2^-40 ≤ |x|: x = mantissa·2^exponent with
 * |mantissa| ∈ [0.5, 1). Exact: only multiplications by powers of two.
 */
function frexp(x: number): {mantissa: number; exponent: number} {
  const magnitude = Math.abs(x);
  let exponent = Math.floor(Math.log2(magnitude)) + 1;
  let mantissa = magnitude * 2 ** -exponent;
  // Math.log2 may be off by one next to powers of two; correct it.
  while (mantissa >= 1) {
    mantissa /= 2;
    exponent += 1;
  }
  while (mantissa < 0.5) {
    mantissa *= 2;
    exponent -= 1;
  }
  return {mantissa: x < 0 ? -mantissa : mantissa, exponent};
}
