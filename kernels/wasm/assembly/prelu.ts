// The integer prelu epilogue: int32 accumulators [rows, channels] (bias included) to int8,
// bit-exact with src/quant requantizePrelu (kernels/impl/epilogue.ts requantizePreluToInt8):
//   acc >= 0: clamp(zOut + MBQM(acc, pos[c]), lo, hi)
//   acc <  0: clamp(zOut + sign[c] * MBQM(acc, neg[c]), lo, hi)      (sign 0: zOut)
// where MBQM is TFLite's MultiplyByQuantizedMultiplier with x * 2^left saturated to int32
// instead of wrapping. `pos` and `neg` are requantization tables (requant.ts). Four channels
// at a time with requant.ts's vector forms when neither table has a left shift (no
// saturation to do then); the scalar form otherwise and for the last channels. Negating a
// vector result keeps identity 3 of requant.ts (|r| >= 256 stays |r| >= 256, on the other
// side), so the clamp gives the same code.
import {
  A_M0, A_SHIFT, RQ_FLAGS, RQ_FLAG_LEFT, RQ_FLAG_SCALAR, RQ_HEADER, RQ_NP, mulByQuantizedMultiplier, requantVec,
  requantWideVec,
} from './requant';

/** x clamped so that x * 2^shift fits in int32 (src/quant saturateBeforeLeftShift). */
@inline function saturateBeforeLeftShift(x: i32, shift: i32): i32 {
  if (shift <= 0) return x;
  const limit = <i64>1 << (31 - shift);
  return <i64>x >= limit ? <i32>(limit - 1) : <i64>x < -limit ? <i32>(-limit) : x;
}

/** MBQM of acc with channel c's (M0, shift) of `table`, saturating before the left shift. */
@inline function saturatingMbqm(acc: i32, table: usize, np4: usize, c: i32): i32 {
  const base = table + RQ_HEADER + <usize>(c * 4);
  const shift = load<i32>(base + np4 * A_SHIFT);
  return mulByQuantizedMultiplier(saturateBeforeLeftShift(acc, shift), load<i32>(base + np4 * A_M0), shift);
}

/** One output code (the scalar form above). */
@inline function preluOne(acc: i32, c: i32, pos: usize, pnp4: usize, neg: usize, nnp4: usize, signs: usize,
                          zOut: i32, lo: i32, hi: i32): i32 {
  let r: i64 = 0;
  if (acc >= 0) {
    r = <i64>saturatingMbqm(acc, pos, pnp4, c);
  } else {
    const sign = load<i32>(signs + <usize>(c * 4));
    if (sign != 0) {
      const p = <i64>saturatingMbqm(acc, neg, nnp4, c);
      r = sign < 0 ? -p : p;
    }
  }
  const v = <i64>zOut + r;
  return v < <i64>lo ? lo : v > <i64>hi ? hi : <i32>v;
}

/** requantVec / requantWideVec of 4 accumulators with the table's channels [c, c + 4) (o = c * 4). */
@inline function requant4(q: v128, table: usize, np4: usize, o: usize, wide: bool): v128 {
  return wide ? requantWideVec(q, table, np4, o) : requantVec(q, table, np4, o, false);
}

/**
 * dst[r][c] (int8) from src[r][c] (int32) as above; signs: int32[channels] of -1, 0, 1
 * (sign of alpha[c]).
 */
export function preluI32ToI8(src: usize, rows: i32, channels: i32, pos: usize, neg: usize, signs: usize,
                             zOut: i32, lo: i32, hi: i32, dst: usize): void {
  const pFlags = load<i32>(pos, RQ_FLAGS);
  const nFlags = load<i32>(neg, RQ_FLAGS);
  const vector = ((pFlags | nFlags) & RQ_FLAG_LEFT) == 0;
  const pWide = (pFlags & RQ_FLAG_SCALAR) != 0;
  const nWide = (nFlags & RQ_FLAG_SCALAR) != 0;
  const pnp4 = <usize>(load<i32>(pos, RQ_NP) * 4);
  const nnp4 = <usize>(load<i32>(neg, RQ_NP) * 4);
  const z = i32x4.splat(zOut), l = i32x4.splat(lo), h = i32x4.splat(hi), zero = i32x4.splat(0);
  for (let r = 0; r < rows; r++) {
    const s = src + <usize>r * <usize>(channels * 4);
    const d = dst + <usize>r * <usize>channels;
    let c = 0;
    if (vector) {
      for (; c + 4 <= channels; c += 4) {
        const o = <usize>(c * 4);
        const q = v128.load(s + o);
        const rp = requant4(q, pos, pnp4, o, pWide);
        const rn = i32x4.mul(requant4(q, neg, nnp4, o, nWide), v128.load(signs + o));
        const v = i32x4.min_s(i32x4.max_s(i32x4.add(v128.bitselect(rn, rp, i32x4.lt_s(q, zero)), z), l), h);
        const w = i16x8.narrow_i32x4_s(v, v);
        v128.store32_lane(d + <usize>c, i8x16.narrow_i16x8_s(w, w), 0);
      }
    }
    for (; c < channels; c++) {
      store<i8>(d + <usize>c, <i8>preluOne(load<i32>(s + <usize>(c * 4)), c, pos, pnp4, neg, nnp4, signs, zOut, lo, hi));
    }
  }
}
