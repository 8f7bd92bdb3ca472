// The clipping threshold of symmetric narrow-range int8 weights: the real c
// that code ±127 stands for, S = c/127 (Jacob et al. 2018 eq. 1 with Z = 0).
// Max-abs (c = max|w|) never clips; the MSE-optimal c (Krishnamoorthi 2018,
// §3.5 "clipping"; Banner et al. 2019) trades a little clipping error on the
// tail for a finer step on the bulk of the channel.

import {clamp, roundHalfAwayFromZero} from './rounding';

/** The narrow int8 range of symmetric weights (CONTRACTS: −127..127, zero point 0). */
export const WEIGHT_CODE_MAX = 127;

/** How the clipping threshold c of a weight channel is chosen (S = c/127). */
export type WeightClipMethod = 'maxAbs' | 'mse';

/** Default number of candidate thresholds of the MSE search. */
export const MSE_CLIP_CANDIDATES = 100;

/** max |w| of `values` (0 for an empty or all-zero channel). */
export function maxAbsOf(values: ArrayLike<number>): number {
  let maxAbs = 0;
  for (let i = 0; i < values.length; i++) {
    const magnitude = Math.abs(values[i]);
    if (magnitude > maxAbs) {
      maxAbs = magnitude;
    }
  }
  return maxAbs;
}

/**
 * Σ (w − Q_c(w))² with Q_c(w) = S·clamp(round(w/S), −127, 127), S = c/127:
 * the squared error of quantizing `values` symmetrically with threshold `c`
 * (round half away from zero, as quantizeWeightsPerChannel). `c` > 0.
 */
export function clipSquaredError(values: ArrayLike<number>, c: number): number {
  return clipErrors(values, c).total;
}

/**
 * The error of threshold c, and its clipping part Σ_{|w|>c} (|w| − c)²: a
 * value beyond c gets code ±127 (w/S > 127 rounds to ≥ 127, clamped), i.e.
 * ±c. The clipping part only grows as c shrinks, which bounds the search.
 */
function clipErrors(values: ArrayLike<number>, c: number): {total: number; clipping: number} {
  const scale = c / WEIGHT_CODE_MAX;
  let total = 0;
  let clipping = 0;
  for (let i = 0; i < values.length; i++) {
    const w = values[i];
    const code = clamp(roundHalfAwayFromZero(w / scale), -WEIGHT_CODE_MAX, WEIGHT_CODE_MAX);
    const difference = w - code * scale;
    total += difference * difference;
    const beyond = Math.abs(w) - c;
    if (beyond > 0) clipping += beyond * beyond;
  }
  return {total, clipping};
}

/**
 * The MSE-optimal clipping threshold of one weight channel: the c among the
 * grid c_k = max|w|·k/candidates, k = 1..candidates, that minimises
 * Σ (w − Q_c(w))² (clipSquaredError). The grid includes max|w| itself (k =
 * candidates) and ties keep the larger c, so the result is max|w| whenever
 * clipping does not lower the error, and its error is never above max-abs's.
 * The scan runs from max|w| down and stops once the clipping error alone
 * (which only grows as c shrinks) reaches the best error, so the cost is at
 * most candidates · n quantizations, usually far fewer (weights are
 * quantized once, so it is paid once per weight tensor). Returns 0 for an
 * all-zero or empty channel; the values must be finite.
 */
export function mseOptimalClip(values: ArrayLike<number>, candidates = MSE_CLIP_CANDIDATES): number {
  if (!Number.isInteger(candidates) || candidates < 1) {
    throw new Error(`mseOptimalClip: candidates must be a positive integer, got ${candidates}`);
  }
  const maxAbs = maxAbsOf(values);
  if (maxAbs === 0) {
    return 0;
  }
  let best = maxAbs;
  let bestError = clipSquaredError(values, maxAbs);
  for (let k = candidates - 1; k >= 1 && bestError > 0; k--) {
    const c = (maxAbs * k) / candidates;
    const {total, clipping} = clipErrors(values, c);
    if (total < bestError) {
      best = c;
      bestError = total;
    }
    // Every smaller c clips at least as much: none can beat bestError.
    if (clipping >= bestError) break;
  }
  return best;
}

/** The clipping threshold of one channel by `method` (0 for an all-zero channel). */
export function weightClip(values: ArrayLike<number>, method: WeightClipMethod): number {
  switch (method) {
    case 'maxAbs':
      return maxAbsOf(values);
    case 'mse':
      return mseOptimalClip(values);
    default:
      throw new Error(`Unknown weight clip method '${String(method)}' (expected 'maxAbs' or 'mse')`);
  }
}
