// Epilogues shared by the GEMM/convolution and depthwise kernels: int32 accumulators of
// up to 2 rows x 16 channels, left by a micro-kernel in ACC, to int8 (requantized, see
// requant.ts) or int32 outputs.
import {
  A_H, A_LEFT, A_LIM, A_M0, A_NEGLIM, A_PN, A_POW, RQ_FLAGS, RQ_FLAG_LEFT, RQ_FLAG_SCALAR,
  RQ_HEADER, RQ_NP, requantOne, requantVec, requantWith,
} from './requant';

// 2 rows x 16 int32 accumulators handed from the micro-kernel to the epilogue.
export const ACC: usize = memory.data(128, 16);
export const TMP: usize = memory.data(64, 16);

// Output modes of the fused kernels.
export const OUT_I32: i32 = 0;
export const OUT_I8: i32 = 1;
export const OUT_I8_LEFT: i32 = 2;
export const OUT_I8_SCALAR: i32 = 3;

/** The output mode of a requantization table (int8 output), or OUT_I32 when table == 0. */
export function outputMode(table: usize): i32 {
  if (table == 0) return OUT_I32;
  const flags = load<i32>(table, RQ_FLAGS);
  return (flags & RQ_FLAG_SCALAR) != 0 ? OUT_I8_SCALAR : (flags & RQ_FLAG_LEFT) != 0 ? OUT_I8_LEFT : OUT_I8;
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
  if ((flags & RQ_FLAG_SCALAR) != 0) {
    for (let j = 0; j < valid; j++) {
      const v = requantOne(load<i32>(acc + <usize>(j * 4)), table, np4, c0 + j, zOut, lo, hi);
      store<i8>(dst + <usize>j, <i8>v);
    }
    return;
  }
  const z = i16x8.splat(<i16>zOut), l = i8x16.splat(<i8>lo), h = i8x16.splat(<i8>hi);
  const zero = i32x4.splat(0);
  let r0: v128, r1 = zero, r2 = zero, r3 = zero;
  if ((flags & RQ_FLAG_LEFT) != 0) {
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
  } else {
    epilogueI8(ACC, d0, c0, valid, 16, table, zOut, lo, hi);
    if (d1 != 0) epilogueI8(ACC + 64, d1, c0, valid, 16, table, zOut, lo, hi);
  }
}
