// Epilogues shared by the GEMM/convolution and depthwise kernels: int32 accumulators of
// up to 2 rows x 16 channels, left by a micro-kernel in ACC, to int8 (requantized, see
// requant.ts), int32 or float32 (dequantized, bias, relu/relu6: the dynamic mode) outputs.
import {
  A_H, A_LEFT, A_LIM, A_M0, A_NEGLIM, A_PN, A_POW, A_WMASK, A_WPOW, RQ_FLAGS, RQ_FLAG_LEFT, RQ_FLAG_SCALAR,
  RQ_HEADER, RQ_NP, requantVec, requantWide, requantWideVec, requantWith,
} from './requant';

// 2 rows x 16 int32 accumulators handed from the micro-kernel to the epilogue.
export const ACC: usize = memory.data(128, 16);
export const TMP: usize = memory.data(64, 16);

// Output modes of the fused kernels.
export const OUT_I32: i32 = 0;
export const OUT_I8: i32 = 1;
export const OUT_I8_LEFT: i32 = 2;
export const OUT_I8_WIDE: i32 = 3; // some channel has a right shift > 21 (requantWide)
export const OUT_F32: i32 = 4;

/** Bytes per output element of a mode. */
@inline export function outputBytes(mode: i32): usize {
  return mode == OUT_I32 || mode == OUT_F32 ? 4 : 1;
}

// ---------------------------------------------------------------------------
// The float32 epilogue (OUT_F32), bit-exact with the dynamic mode's TypeScript one
// (and with elementwise.ts dequantizeI32Epilogue): v = float32(scale[c] * acc) in
// float64, v = float32(v + bias[c]), relu v < 0 ? 0 : v, relu6 also v > 6 ? 6 : v.
// It also keeps the [min, max] of every value written (for the next layer's dynamic
// quantization). Parameters are set by floatEpilogueSet before the kernel call.

let fScales: usize = 0; // f64[channels]
let fBias: usize = 0;   // f32[channels], 0 = none
let fAct: i32 = 0;      // 0 linear, 1 relu, 2 relu6
const FRANGE: usize = memory.data(32, 16); // f32x4 running min, f32x4 running max

/**
 * Sets the parameters of the float32 epilogue for the next kernel calls (outKind 2)
 * and resets the running range.
 */
export function floatEpilogueSet(scales: usize, bias: usize, act: i32): void {
  fScales = scales;
  fBias = bias;
  fAct = act;
  v128.store(FRANGE, f32x4.splat(Infinity));
  v128.store(FRANGE, f32x4.splat(-Infinity), 16);
}

/** Writes [min, max] (two float32) of the values written since floatEpilogueSet to out. */
export function floatEpilogueRange(out: usize): void {
  let lo = v128.load(FRANGE), hi = v128.load(FRANGE, 16);
  lo = f32x4.pmin(lo, v128.shuffle<f32>(lo, lo, 2, 3, 0, 1));
  lo = f32x4.pmin(lo, v128.shuffle<f32>(lo, lo, 1, 0, 3, 2));
  hi = f32x4.pmax(hi, v128.shuffle<f32>(hi, hi, 2, 3, 0, 1));
  hi = f32x4.pmax(hi, v128.shuffle<f32>(hi, hi, 1, 0, 3, 2));
  store<f32>(out, f32x4.extract_lane(lo, 0));
  store<f32>(out, f32x4.extract_lane(hi, 0), 4);
}

/** Four channels [c, c + 4) of accumulators q as float32. */
@inline function floatGroup(q: v128, c: i32): v128 {
  const s = fScales + <usize>(c * 8);
  const d0 = f64x2.mul(f64x2.convert_low_i32x4_s(q), v128.load(s));
  const d1 = f64x2.mul(f64x2.convert_low_i32x4_s(v128.shuffle<i32>(q, q, 2, 3, 0, 1)), v128.load(s, 16));
  let v = v128.shuffle<i32>(f32x4.demote_f64x2_zero(d0), f32x4.demote_f64x2_zero(d1), 0, 1, 4, 5);
  if (fBias != 0) v = f32x4.add(v, v128.load(fBias + <usize>(c * 4)));
  if (fAct != 0) {
    const zero = f32x4.splat(0);
    v = v128.bitselect(zero, v, f32x4.lt(v, zero));
    if (fAct == 2) {
      const six = f32x4.splat(6);
      v = v128.bitselect(six, v, f32x4.gt(v, six));
    }
  }
  return v;
}

/** One channel c of accumulator q as float32. */
@inline export function floatOne(q: i32, c: i32): f32 {
  let v = <f32>(load<f64>(fScales + <usize>(c * 8)) * <f64>q);
  if (fBias != 0) v = v + load<f32>(fBias + <usize>(c * 4));
  if (fAct != 0) {
    if (v < 0) v = 0;
    else if (fAct == 2 && v > 6) v = 6;
  }
  return v;
}

/** Stores one float32 output and widens the running range by it. */
export function storeFloatOne(q: i32, c: i32, dst: usize): void {
  const v = floatOne(q, c);
  store<f32>(dst, v);
  const x = f32x4.splat(v);
  v128.store(FRANGE, f32x4.pmin(v128.load(FRANGE), x));
  v128.store(FRANGE, f32x4.pmax(v128.load(FRANGE, 16), x), 16);
}

/** One row of up to 16 accumulators (channels [c0, c0 + valid)) at acc to float32 at dst. */
export function epilogueF32(acc: usize, dst: usize, c0: i32, valid: i32): void {
  let lo = v128.load(FRANGE), hi = v128.load(FRANGE, 16);
  let j = 0;
  for (; j + 4 <= valid; j += 4) {
    const v = floatGroup(v128.load(acc + <usize>(j * 4)), c0 + j);
    v128.store(dst + <usize>(j * 4), v);
    lo = f32x4.pmin(lo, v);
    hi = f32x4.pmax(hi, v);
  }
  for (; j < valid; j++) {
    const v = floatOne(load<i32>(acc + <usize>(j * 4)), c0 + j);
    store<f32>(dst + <usize>(j * 4), v);
    const x = f32x4.splat(v);
    lo = f32x4.pmin(lo, x);
    hi = f32x4.pmax(hi, x);
  }
  v128.store(FRANGE, lo);
  v128.store(FRANGE, hi, 16);
}

/** The output mode of a requantization table (int8 output), or OUT_I32 when table == 0. */
export function outputMode(table: usize): i32 {
  if (table == 0) return OUT_I32;
  const flags = load<i32>(table, RQ_FLAGS);
  return (flags & RQ_FLAG_SCALAR) != 0 ? OUT_I8_WIDE : (flags & RQ_FLAG_LEFT) != 0 ? OUT_I8_LEFT : OUT_I8;
}

/** Requantizes ACC rows 0 and 1, columns [4g, 4g+4), in place (parameters loaded once). */
@inline function requantGroupInPlace(g: usize, table: usize, np4: usize, c0: i32, useLeft: bool): void {
  const base = table + RQ_HEADER + <usize>(c0 * 4) + g * 16;
  const left = useLeft ? v128.load(base + np4 * A_LEFT) : i32x4.splat(1);
  const m0 = v128.load(base + np4 * A_M0), nl = v128.load(base + np4 * A_NEGLIM), l = v128.load(base + np4 * A_LIM);
  const pw = v128.load(base + np4 * A_POW), h = v128.load(base + np4 * A_H), pn = v128.load(base + np4 * A_PN);
  v128.store(ACC + g * 16, requantWith(v128.load(ACC + g * 16), useLeft, left, m0, nl, l, pw, h, pn));
  v128.store(ACC + g * 16 + 64, requantWith(v128.load(ACC + g * 16 + 64), useLeft, left, m0, nl, l, pw, h, pn));
}

@inline function epilogue2x16Body(useLeft: bool, table: usize, np4: usize, c0: i32, d0: usize, d1: usize,
                                  valid: i32, zOut: i32, lo: i32, hi: i32): void {
  requantGroupInPlace(0, table, np4, c0, useLeft);
  requantGroupInPlace(1, table, np4, c0, useLeft);
  requantGroupInPlace(2, table, np4, c0, useLeft);
  requantGroupInPlace(3, table, np4, c0, useLeft);
  const z = i16x8.splat(<i16>zOut), l = i8x16.splat(<i8>lo), h = i8x16.splat(<i8>hi);
  narrowStoreI8(d0, v128.load(ACC), v128.load(ACC, 16), v128.load(ACC, 32), v128.load(ACC, 48), z, l, h, valid);
  if (d1 != 0) {
    narrowStoreI8(d1, v128.load(ACC, 64), v128.load(ACC, 80), v128.load(ACC, 96), v128.load(ACC, 112), z, l, h, valid);
  }
}

/** requantGroupInPlace for wide tables (requantWide, parameters loaded once for both rows). */
@inline function requantGroupWideInPlace(g: usize, table: usize, np4: usize, c0: i32): void {
  const base = table + RQ_HEADER + <usize>(c0 * 4) + g * 16;
  const left = v128.load(base + np4 * A_LEFT), m0 = v128.load(base + np4 * A_M0);
  const nl = v128.load(base + np4 * A_NEGLIM), l = v128.load(base + np4 * A_LIM);
  const pw = v128.load(base + np4 * A_POW), h = v128.load(base + np4 * A_H), pn = v128.load(base + np4 * A_PN);
  const wp = v128.load(base + np4 * A_WPOW), wm = v128.load(base + np4 * A_WMASK);
  v128.store(ACC + g * 16, requantWide(v128.load(ACC + g * 16), left, m0, nl, l, pw, h, pn, wp, wm));
  v128.store(ACC + g * 16 + 64, requantWide(v128.load(ACC + g * 16 + 64), left, m0, nl, l, pw, h, pn, wp, wm));
}

export function epilogue2x16Wide(table: usize, np4: usize, c0: i32, d0: usize, d1: usize, valid: i32,
                                 zOut: i32, lo: i32, hi: i32): void {
  requantGroupWideInPlace(0, table, np4, c0);
  requantGroupWideInPlace(1, table, np4, c0);
  requantGroupWideInPlace(2, table, np4, c0);
  requantGroupWideInPlace(3, table, np4, c0);
  const z = i16x8.splat(<i16>zOut), l = i8x16.splat(<i8>lo), h = i8x16.splat(<i8>hi);
  narrowStoreI8(d0, v128.load(ACC), v128.load(ACC, 16), v128.load(ACC, 32), v128.load(ACC, 48), z, l, h, valid);
  if (d1 != 0) {
    narrowStoreI8(d1, v128.load(ACC, 64), v128.load(ACC, 80), v128.load(ACC, 96), v128.load(ACC, 112), z, l, h, valid);
  }
}

export function epilogue2x16(table: usize, np4: usize, c0: i32, d0: usize, d1: usize, valid: i32,
                      zOut: i32, lo: i32, hi: i32): void {
  epilogue2x16Body(false, table, np4, c0, d0, d1, valid, zOut, lo, hi);
}

export function epilogue2x16Left(table: usize, np4: usize, c0: i32, d0: usize, d1: usize, valid: i32,
                          zOut: i32, lo: i32, hi: i32): void {
  epilogue2x16Body(true, table, np4, c0, d0, d1, valid, zOut, lo, hi);
}


@inline export function narrowStoreI8(dst: usize, r0: v128, r1: v128, r2: v128, r3: v128,
                               zOut: v128, lo: v128, hi: v128, valid: i32): void {
  const s01 = i16x8.add_sat_s(i16x8.narrow_i32x4_s(r0, r1), zOut);
  const s23 = i16x8.add_sat_s(i16x8.narrow_i32x4_s(r2, r3), zOut);
  const q = i8x16.min_s(i8x16.max_s(i8x16.narrow_i16x8_s(s01, s23), lo), hi);
  if (valid >= 16) {
    v128.store(dst, q);
  } else {
    v128.store(TMP, q);
    memory.copy(dst, TMP, <usize>valid);
  }
}

export function epilogueI8(acc: usize, dst: usize, c0: i32, valid: i32, width: i32,
                    table: usize, zOut: i32, lo: i32, hi: i32): void {
  const flags = load<i32>(table, RQ_FLAGS);
  const np4 = <usize>(load<i32>(table, RQ_NP) * 4);
  const o = <usize>(c0 * 4);
  const z = i16x8.splat(<i16>zOut), l = i8x16.splat(<i8>lo), h = i8x16.splat(<i8>hi);
  const zero = i32x4.splat(0);
  let r0: v128, r1 = zero, r2 = zero, r3 = zero;
  if ((flags & RQ_FLAG_SCALAR) != 0) {
    r0 = requantWideVec(v128.load(acc), table, np4, o);
    if (width > 4) r1 = requantWideVec(v128.load(acc, 16), table, np4, o + 16);
    if (width > 8) {
      r2 = requantWideVec(v128.load(acc, 32), table, np4, o + 32);
      r3 = requantWideVec(v128.load(acc, 48), table, np4, o + 48);
    }
  } else if ((flags & RQ_FLAG_LEFT) != 0) {
    r0 = requantVec(v128.load(acc), table, np4, o, true);
    if (width > 4) r1 = requantVec(v128.load(acc, 16), table, np4, o + 16, true);
    if (width > 8) {
      r2 = requantVec(v128.load(acc, 32), table, np4, o + 32, true);
      r3 = requantVec(v128.load(acc, 48), table, np4, o + 48, true);
    }
  } else {
    r0 = requantVec(v128.load(acc), table, np4, o, false);
    if (width > 4) r1 = requantVec(v128.load(acc, 16), table, np4, o + 16, false);
    if (width > 8) {
      r2 = requantVec(v128.load(acc, 32), table, np4, o + 32, false);
      r3 = requantVec(v128.load(acc, 48), table, np4, o + 48, false);
    }
  }
  narrowStoreI8(dst, r0, r1, r2, r3, z, l, h, valid);
}

export function epilogueI32(acc: usize, dst: usize, valid: i32): void {
  if (valid >= 16) {
    v128.store(dst, v128.load(acc));
    v128.store(dst, v128.load(acc, 16), 16);
    v128.store(dst, v128.load(acc, 32), 32);
    v128.store(dst, v128.load(acc, 48), 48);
  } else {
    memory.copy(dst, acc, <usize>(valid * 4));
  }
}


/**
 * Writes ACC rows 0 (to d0) and 1 (to d1, unless 0), channels [c0, c0 + valid) of a
 * 16-channel block, in the given output mode.
 */
export function storeAcc2x16(mode: i32, table: usize, np4: usize, c0: i32, d0: usize, d1: usize, valid: i32,
                             zOut: i32, lo: i32, hi: i32): void {
  if (mode == OUT_I8) {
    epilogue2x16(table, np4, c0, d0, d1, valid, zOut, lo, hi);
  } else if (mode == OUT_I32) {
    epilogueI32(ACC, d0, valid);
    if (d1 != 0) epilogueI32(ACC + 64, d1, valid);
  } else if (mode == OUT_I8_LEFT) {
    epilogue2x16Left(table, np4, c0, d0, d1, valid, zOut, lo, hi);
  } else if (mode == OUT_F32) {
    epilogueF32(ACC, d0, c0, valid);
    if (d1 != 0) epilogueF32(ACC + 64, d1, c0, valid);
  } else {
    epilogue2x16Wide(table, np4, c0, d0, d1, valid, zOut, lo, hi);
  }
}
