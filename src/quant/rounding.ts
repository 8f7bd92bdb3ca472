// Rounding of reals and integer quotients. Every rounding rule of the project
// lives in src/quant; this file holds the two that are not fixed-point.

/**
 * Rounds to the nearest integer, ties away from zero — C's `std::round`, which
 * is TFLite's `TfLiteRound`. Never returns −0.
 */
export function roundHalfAwayFromZero(x: number): number {
  // Math.round rounds ties toward +∞, which is "away from zero" only for x ≥ 0.
  return x >= 0 ? Math.round(x) + 0 : 0 - Math.round(-x);
}

/**
 * `numerator / denominator` rounded to the nearest integer, ties away from
 * zero, for integers and a positive `denominator` — TFLite's int8 reference
 * AveragePool (reference_integer_ops/pooling.h):
 * `sum > 0 ? (sum + count/2) / count : (sum − count/2) / count` with C's
 * truncating integer division.
 */
export function roundingDivide(numerator: number, denominator: number): number {
  const half = Math.floor(denominator / 2);
  const biased = numerator > 0 ? numerator + half : numerator - half;
  // Math.trunc(biased / d) is C's truncating division for |biased| < 2^53: the
  // float64 quotient errs by < |q|·2^-53 < 1/d, less than its distance to an
  // integer it does not equal.
  return Math.trunc(biased / denominator) + 0;
}

/** `x` clamped to `[lo, hi]`. */
export function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
