import {alloc, free} from './alloc';

// Requantization of int32 accumulators to int8, bit-exact with TensorFlow Lite's
// MultiplyByQuantizedMultiplier (tensorflow/lite/kernels/internal/common.h):
//   RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2^left, M0), right)
// where shift > 0 is a left shift and shift <= 0 a right shift by -shift
// (gemmlowp/fixedpoint/fixedpoint.h defines the two primitives).
//
// The vector form used by the kernels avoids per-lane variable shifts (WebAssembly
// SIMD only shifts all lanes by one scalar amount). It rests on three identities:
//  1. SaturatingRoundingDoublingHighMul(x, M0) == floor((x*M0 + 2^30) / 2^31) for
//     every (x, M0) except x == M0 == INT32_MIN (M0 >= 0 here), i.e. the high
//     32-bit word of 2*x*M0 + 2^31 in 64 bits.
//  2. RoundingDivideByPOT(v, e) == floor((v + 2^(e-1) - (v < 0)) / 2^e) for e >= 1
//     and v for e == 0: with v*2^(21-e) that is one *uniform* arithmetic shift by
//     21: (v*2^(21-e) + 2^20 - (v<0)*2^(21-e)) >> 21, exact while |v| <= 2^(e+9).
//  3. The final output is clamp(zOut + r, lo, hi) with lo, hi, zOut in [-128, 127],
//     so only |r| < 256 matters: clamping v to [-2^(e+9), 2^(e+9)] first keeps the
//     result (RoundingDivideByPOT is monotone and maps +-2^(e+9) to +-512).
// Identity 2 needs e <= 21. Channels with a larger right shift (multiplier < 2^-22,
// typically near-dead channels of a per-channel quantized layer) use a second vector
// form in 64-bit lanes (requantWide): with v = SRDHM(x, M0) unclamped and
// n = v - (v < 0) (no overflow: v > INT32_MIN since M0 < 2^31),
//   RoundingDivideByPOT(v, e) == floor((n * 2^(32-e) + 2^31) / 2^32)
// (numerator and denominator of identity 2's floor times 2^(32-e)), the high 32-bit
// word of a 64-bit lane, exact for 1 <= e <= 31 with no clamp. A table with such a
// channel (RQ_FLAG_SCALAR, "wide") computes both forms and selects per lane.

// Requantization table: header, then per-channel int32 arrays of length Np (N rounded
// up to 16; padding channels produce 0 before zOut).
export const RQ_N: usize = 0;
export const RQ_NP: usize = 4;
export const RQ_FLAGS: usize = 8;
export const RQ_HEADER: usize = 64;
export const RQ_FLAG_LEFT: i32 = 1;   // some channel has a left shift
export const RQ_FLAG_SCALAR: i32 = 2; // some channel has a right shift > 21: requantWide (the "wide" tables)
// Array indices (times Np*4 bytes after the header).
export const A_M0: i32 = 0;
export const A_LEFT: i32 = 1; // 2^left
export const A_LIM: i32 = 2;  // 2^(e+9)
export const A_POW: i32 = 3;  // 2^(21-e)
export const A_H: i32 = 4;    // e >= 1 ? 2^20 : 0
export const A_PN: i32 = 5;   // e >= 1 ? 2^(21-e) : 0
export const A_SHIFT: i32 = 6; // raw TFLite shift
export const A_NEGLIM: i32 = 7; // -2^(e+9)
export const A_WPOW: i32 = 8;  // e > 21 ? 2^(32-e) : 0
export const A_WMASK: i32 = 9; // e > 21 ? -1 : 0
const RQ_ARRAYS: i32 = 10;

@inline export function rqArray(table: usize, which: i32): usize {
  return table + RQ_HEADER + <usize>(which * load<i32>(table, RQ_NP) * 4);
}

/**
 * Builds a requantization table from per-channel (M0, shift) as returned by
 * TFLite's QuantizeMultiplier (M0 in [0, 2^31), shift in [-31, 30], > 0 = left).
 * `perTensor` != 0 means one (M0, shift) pair is broadcast to all N channels.
 * Returns 0 on allocation failure or invalid parameters.
 */
export function requantTableCreate(m0Ptr: usize, shiftPtr: usize, n: i32, perTensor: i32): usize {
  if (n <= 0) return 0;
  const np = (n + 15) & ~15;
  const table = alloc(RQ_HEADER + <usize>(RQ_ARRAYS * np * 4));
  if (table == 0) return 0;
  store<i32>(table, n, RQ_N);
  store<i32>(table, np, RQ_NP);
  let flags = 0;
  for (let c = 0; c < np; c++) {
    let m0 = 0;
    let shift = 0;
    if (c < n) {
      const src = (perTensor & 1) != 0 ? 0 : c;
      m0 = load<i32>(m0Ptr + <usize>(src * 4));
      // Bit 1 of `perTensor`: the shifts are int8 (one byte each) rather than int32.
      shift = (perTensor & 2) != 0 ? <i32>load<i8>(shiftPtr + <usize>src) : load<i32>(shiftPtr + <usize>(src * 4));
      if (m0 < 0 || shift > 31 || shift < -31) {
        free(table);
        return 0;
      }
    }
    const left = shift > 0 ? shift : 0;
    const e = shift > 0 ? 0 : -shift;
    if (left > 0) flags |= RQ_FLAG_LEFT;
    if (e > 21) flags |= RQ_FLAG_SCALAR;
    const o = <usize>(c * 4);
    const ee = e > 21 ? 21 : e; // uniform-shift entries of a wide channel: computed, then not selected
    store<i32>(rqArray(table, A_M0) + o, m0);
    store<i32>(rqArray(table, A_LEFT) + o, 1 << left);
    store<i32>(rqArray(table, A_LIM) + o, 1 << (ee + 9));
    store<i32>(rqArray(table, A_NEGLIM) + o, -(1 << (ee + 9)));
    store<i32>(rqArray(table, A_POW) + o, 1 << (21 - ee));
    store<i32>(rqArray(table, A_H) + o, ee >= 1 ? 1 << 20 : 0);
    store<i32>(rqArray(table, A_PN) + o, ee >= 1 ? 1 << (21 - ee) : 0);
    store<i32>(rqArray(table, A_SHIFT) + o, shift);
    store<i32>(rqArray(table, A_WPOW) + o, e > 21 ? 1 << (32 - e) : 0);
    store<i32>(rqArray(table, A_WMASK) + o, e > 21 ? -1 : 0);
  }
  store<i32>(table, flags, RQ_FLAGS);
  return table;
}

/** gemmlowp SaturatingRoundingDoublingHighMul, scalar. */
@inline export function srdhm(a: i32, b: i32): i32 {
  if (a == b && a == i32.MIN_VALUE) return i32.MAX_VALUE;
  const ab = <i64>a * <i64>b;
  const nudge: i64 = ab >= 0 ? <i64>(1 << 30) : <i64>(1 - (1 << 30));
  return <i32>((ab + nudge) / (<i64>1 << 31)); // truncating division, as in C++
}

/** gemmlowp RoundingDivideByPOT, scalar. */
@inline export function rdbpot(x: i32, e: i32): i32 {
  const mask = (1 << e) - 1;
  const remainder = x & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (remainder > threshold ? 1 : 0);
}

/** TFLite MultiplyByQuantizedMultiplier, scalar (x * 2^left wraps like int32). */
@inline export function mulByQuantizedMultiplier(x: i32, m0: i32, shift: i32): i32 {
  const left = shift > 0 ? shift : 0;
  const right = shift > 0 ? 0 : -shift;
  return rdbpot(srdhm(x * (1 << left), m0), right);
}

/** Exported for tests: the scalar path on one value. */
export function requantScalar(x: i32, m0: i32, shift: i32): i32 {
  return mulByQuantizedMultiplier(x, m0, shift);
}

/**
 * Vector requantization of 4 accumulators, given the channel parameters as vectors:
 * returns r (before zOut) exactly when |r| < 256, else a value on the same side with
 * |r| >= 256 (identity 3). `left` is the 2^left vector, used when useLeft.
 */
@inline export function requantWith(acc: v128, useLeft: bool, left: v128, m0: v128,
                                    negLim: v128, lim: v128, pow: v128, h: v128, pn: v128): v128 {
  let x = acc;
  if (useLeft) x = i32x4.mul(x, left);
  const half = i64x2.splat(<i64>1 << 31);
  const lo = i64x2.add(i64x2.shl(i64x2.extmul_low_i32x4_s(x, m0), 1), half);
  const hi = i64x2.add(i64x2.shl(i64x2.extmul_high_i32x4_s(x, m0), 1), half);
  let v = v128.shuffle<i32>(lo, hi, 1, 3, 5, 7);
  v = i32x4.min_s(i32x4.max_s(v, negLim), lim);
  const neg = i32x4.shr_s(v, 31);
  const t = i32x4.sub(i32x4.add(i32x4.mul(v, pow), h), v128.and(neg, pn));
  return i32x4.shr_s(t, 21);
}

/**
 * requantWith for tables with channels of right shift > 21 (see the top): both the
 * uniform-shift form and the 64-bit-lane form, selected per lane by wmask. Always
 * applies `left` (2^left, 1 where no left shift).
 */
@inline export function requantWide(acc: v128, left: v128, m0: v128, negLim: v128, lim: v128, pow: v128,
                                    h: v128, pn: v128, wpow: v128, wmask: v128): v128 {
  const x = i32x4.mul(acc, left);
  const half = i64x2.splat(<i64>1 << 31);
  const lo = i64x2.add(i64x2.shl(i64x2.extmul_low_i32x4_s(x, m0), 1), half);
  const hi = i64x2.add(i64x2.shl(i64x2.extmul_high_i32x4_s(x, m0), 1), half);
  const v = v128.shuffle<i32>(lo, hi, 1, 3, 5, 7);
  const vc = i32x4.min_s(i32x4.max_s(v, negLim), lim);
  const neg = i32x4.shr_s(vc, 31);
  const narrow = i32x4.shr_s(i32x4.sub(i32x4.add(i32x4.mul(vc, pow), h), v128.and(neg, pn)), 21);
  const n = i32x4.add(v, i32x4.shr_s(v, 31));
  const wl = i64x2.add(i64x2.extmul_low_i32x4_s(n, wpow), half);
  const wh = i64x2.add(i64x2.extmul_high_i32x4_s(n, wpow), half);
  const wide = v128.shuffle<i32>(wl, wh, 1, 3, 5, 7);
  return v128.bitselect(wide, narrow, wmask);
}

/** requantWide with the parameters of channels [c, c+4) loaded from the table (o = c*4). */
@inline export function requantWideVec(acc: v128, table: usize, np4: usize, o: usize): v128 {
  const base = table + RQ_HEADER + o;
  return requantWide(acc, v128.load(base + np4 * A_LEFT), v128.load(base + np4 * A_M0),
    v128.load(base + np4 * A_NEGLIM), v128.load(base + np4 * A_LIM), v128.load(base + np4 * A_POW),
    v128.load(base + np4 * A_H), v128.load(base + np4 * A_PN), v128.load(base + np4 * A_WPOW),
    v128.load(base + np4 * A_WMASK));
}

/** requantWith with the parameters of channels [c, c+4) loaded from the table (o = c*4). */
@inline export function requantVec(acc: v128, table: usize, np4: usize, o: usize, useLeft: bool): v128 {
  const base = table + RQ_HEADER + o;
  return requantWith(acc, useLeft, useLeft ? v128.load(base + np4 * A_LEFT) : acc,
    v128.load(base + np4 * A_M0), v128.load(base + np4 * A_NEGLIM), v128.load(base + np4 * A_LIM),
    v128.load(base + np4 * A_POW), v128.load(base + np4 * A_H), v128.load(base + np4 * A_PN));
}

/**
 * Scalar requantization of one accumulator of channel c to an output code,
 * exact for all parameters: clamp(zOut + MBQM(acc), lo, hi), the sum taken without
 * int32 overflow (as src/quant's requantize does).
 */
@inline export function requantOne(acc: i32, table: usize, np4: usize, c: i32, zOut: i32, lo: i32, hi: i32): i32 {
  const base = table + RQ_HEADER + <usize>(c * 4);
  const r = <i64>mulByQuantizedMultiplier(acc, load<i32>(base + np4 * A_M0), load<i32>(base + np4 * A_SHIFT)) + <i64>zOut;
  return r < <i64>lo ? lo : r > <i64>hi ? hi : <i32>r;
}

