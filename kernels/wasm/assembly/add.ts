// TFLite's int8 Add (reference_integer_ops/add.h; src/quant/add.ts quantizedAdd), per
// tensor, equal shapes, 16 codes at a time:
//   out = clamp(zOut + MBQM(MBQM((a − zA)·2^20, mA, sA) + MBQM((b − zB)·2^20, mB, sB), mO, sO), lo, hi)
// Every shift is a right shift e = −s >= 0 and one per tensor, so the vector form needs
// no per-lane shifts:
// - SaturatingRoundingDoublingHighMul(x, M0) (M0 in [0, 2^31), never the saturating
//   case) is the high 32-bit word of 2·x·M0 + 2^31 in 64 bits (requant.ts identity 1);
// - RoundingDivideByPOT(v, e) == (v + 2^(e−1) − (v < 0)) >> e for e >= 1 (identity 2
//   with its uniform shift e), v for e == 0. No int32 overflow: |(a − zA)·2^20| < 2^28,
//   so |v| < 2^28 for the inputs and |sum| < 2^29 for the output stage, and
//   2^(e−1) <= 2^30.
// The last n mod 16 codes take the scalar form of requant.ts (mulByQuantizedMultiplier).
import {mulByQuantizedMultiplier} from './requant';

@inline function srdhmVec(x: v128, m0: v128): v128 {
  const half = i64x2.splat(<i64>1 << 31);
  const lo = i64x2.add(i64x2.shl(i64x2.extmul_low_i32x4_s(x, m0), 1), half);
  const hi = i64x2.add(i64x2.shl(i64x2.extmul_high_i32x4_s(x, m0), 1), half);
  return v128.shuffle<i32>(lo, hi, 1, 3, 5, 7);
}

@inline function rdbpotVec(v: v128, e: i32, h: v128): v128 {
  if (e == 0) return v;
  return i32x4.shr_s(i32x4.add(i32x4.add(v, h), i32x4.shr_s(v, 31)), e);
}

/** Four output lanes (before zOut) from four codes of each input (as int32). */
@inline function addGroup(a: v128, b: v128, za: v128, ma: v128, ea: i32, ha: v128,
                          zb: v128, mb: v128, eb: i32, hb: v128, mo: v128, eo: i32, ho: v128): v128 {
  const sa = rdbpotVec(srdhmVec(i32x4.shl(i32x4.sub(a, za), 20), ma), ea, ha);
  const sb = rdbpotVec(srdhmVec(i32x4.shl(i32x4.sub(b, zb), 20), mb), eb, hb);
  return rdbpotVec(srdhmVec(i32x4.add(sa, sb), mo), eo, ho);
}

@inline function addOne(a: i32, b: i32, zA: i32, mA: i32, sA: i32, zB: i32, mB: i32, sB: i32,
                        zO: i32, mO: i32, sO: i32, lo: i32, hi: i32): i32 {
  const x = mulByQuantizedMultiplier((a - zA) << 20, mA, sA);
  const y = mulByQuantizedMultiplier((b - zB) << 20, mB, sB);
  const r = zO + mulByQuantizedMultiplier(x + y, mO, sO);
  return r < lo ? lo : r > hi ? hi : r;
}

/**
 * out[i] = quantized add of a[i] and b[i], i < n (int8, per tensor). Shifts are TFLite's
 * (<= 0: right shifts by −s, at most 31). Returns 0, or −1 for a shift out of range.
 */
export function addI8(a: usize, b: usize, out: usize, n: i32, zA: i32, mA: i32, sA: i32, zB: i32, mB: i32,
                      sB: i32, zO: i32, mO: i32, sO: i32, lo: i32, hi: i32): i32 {
  if (sA > 0 || sB > 0 || sO > 0 || sA < -31 || sB < -31 || sO < -31) return -1;
  const ea = -sA, eb = -sB, eo = -sO;
  const za = i32x4.splat(zA), zb = i32x4.splat(zB);
  const ma = i32x4.splat(mA), mb = i32x4.splat(mB), mo = i32x4.splat(mO);
  const ha = i32x4.splat(ea > 0 ? 1 << (ea - 1) : 0);
  const hb = i32x4.splat(eb > 0 ? 1 << (eb - 1) : 0);
  const ho = i32x4.splat(eo > 0 ? 1 << (eo - 1) : 0);
  const zo = i32x4.splat(zO), vlo = i32x4.splat(lo), vhi = i32x4.splat(hi);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const va = v128.load(a + <usize>i), vb = v128.load(b + <usize>i);
    const a0 = i16x8.extend_low_i8x16_s(va), a1 = i16x8.extend_high_i8x16_s(va);
    const b0 = i16x8.extend_low_i8x16_s(vb), b1 = i16x8.extend_high_i8x16_s(vb);
    let r0 = addGroup(i32x4.extend_low_i16x8_s(a0), i32x4.extend_low_i16x8_s(b0),
                      za, ma, ea, ha, zb, mb, eb, hb, mo, eo, ho);
    let r1 = addGroup(i32x4.extend_high_i16x8_s(a0), i32x4.extend_high_i16x8_s(b0),
                      za, ma, ea, ha, zb, mb, eb, hb, mo, eo, ho);
    let r2 = addGroup(i32x4.extend_low_i16x8_s(a1), i32x4.extend_low_i16x8_s(b1),
                      za, ma, ea, ha, zb, mb, eb, hb, mo, eo, ho);
    let r3 = addGroup(i32x4.extend_high_i16x8_s(a1), i32x4.extend_high_i16x8_s(b1),
                      za, ma, ea, ha, zb, mb, eb, hb, mo, eo, ho);
    r0 = i32x4.min_s(i32x4.max_s(i32x4.add(r0, zo), vlo), vhi);
    r1 = i32x4.min_s(i32x4.max_s(i32x4.add(r1, zo), vlo), vhi);
    r2 = i32x4.min_s(i32x4.max_s(i32x4.add(r2, zo), vlo), vhi);
    r3 = i32x4.min_s(i32x4.max_s(i32x4.add(r3, zo), vlo), vhi);
    v128.store(out + <usize>i, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(r0, r1), i16x8.narrow_i32x4_s(r2, r3)));
  }
  for (; i < n; i++) {
    const r = addOne(<i32>load<i8>(a + <usize>i), <i32>load<i8>(b + <usize>i), zA, mA, sA, zB, mB, sB, zO, mO, sO,
                     lo, hi);
    store<i8>(out + <usize>i, <i8>r);
  }
  return 0;
}

/**
 * Constant padding of int8 codes, the innermost runs given: for r < rows, the run of
 * `run` bytes at src + r·run goes to dst + dstOffset(r), where the offsets are
 * int32 at offsets[r]. dst (dstLen bytes) is first filled with `fill`.
 */
export function padRowsI8(src: usize, rows: i32, run: i32, offsets: usize, dst: usize, dstLen: i32,
                          fill: i32): void {
  memory.fill(dst, <u8>fill, <usize>dstLen);
  for (let r = 0; r < rows; r++) {
    memory.copy(dst + <usize>load<i32>(offsets + <usize>(r * 4)), src + <usize>(r * run), <usize>run);
  }
}
