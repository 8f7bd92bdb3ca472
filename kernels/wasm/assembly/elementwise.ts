// Elementwise float <-> int8 conversions for the dynamic mode, bit-exact with
// src/quant (quantizeValues / dequantizeValues):
//   quantize:   q = clamp(roundHalfAwayFromZero(r / S) + Z, -128, 127), r / S in float64
//               (TFLite's AffineQuantize with TfLiteRound; there the division is float32)
//   dequantize: r = float32(S * (q - Z)), product in float64, rounded once to float32.
// Float64 lanes (f64x2) make both exact replicas of the JavaScript arithmetic.

/**
 * dst[i] = quantize(src[i]) for n float32 values. Returns the number of NaN inputs
 * (their codes are unspecified; the caller reports the error).
 *
 * Fast path (see quantizeF32Blocks for the float32 one, taken when fl32(1/S) is a
 * normal float32): P = r * fl(1/S) instead of the division D = fl(r/S). |P - D| <= |P| * 2^-51
 * (three roundings of 2^-53 each), and round-half-away-from-zero only changes value at
 * half-integers, so wherever P is farther than |P| * 2^-48 from a half-integer,
 * rounding P to nearest (the 2^52 + 2^51 "magic number" addition, whose low 32 bits
 * are then the integer) gives exactly roundHalfAwayFromZero(D). Blocks of 8 with a
 * lane closer than that (exact ties included) or a NaN are redone with the division.
 */
export function quantizeF32ToI8(src: usize, n: i32, scale: f64, zeroPoint: i32, dst: usize): i32 {
  const inverse = 1.0 / scale;
  let i = 0;
  let nans = 0;
  const inv32 = <f32>inverse;
  if (isFinite<f32>(inv32) && inv32 >= F32_MIN_NORMAL) {
    i = quantizeF32Blocks(src, n, inv32, scale, zeroPoint, dst);
    nans = nanBlocks;
  }
  if (isFinite(inverse) && inverse > 0.0) {
    const inv = f64x2.splat(inverse);
    const magic = f64x2.splat(6755399441055744.0); // 2^52 + 2^51
    const eps = f64x2.splat(3.552713678800501e-15); // 2^-48
    const half = f64x2.splat(0.5);
    const lim = f64x2.splat(16384.0), nlim = f64x2.splat(-16384.0);
    const z = i16x8.splat(<i16>zeroPoint);
    for (; i + 8 <= n; i += 8) {
      const f0 = v128.load(src + <usize>(i * 4));
      const f1 = v128.load(src + <usize>(i * 4), 16);
      let p0 = f64x2.mul(f64x2.promote_low_f32x4(f0), inv);
      let p1 = f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<i32>(f0, f0, 2, 3, 0, 1)), inv);
      let p2 = f64x2.mul(f64x2.promote_low_f32x4(f1), inv);
      let p3 = f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<i32>(f1, f1, 2, 3, 0, 1)), inv);
      const nan = v128.or(v128.or(f64x2.ne(p0, p0), f64x2.ne(p1, p1)), v128.or(f64x2.ne(p2, p2), f64x2.ne(p3, p3)));
      // Clamping to +-2^14 keeps the result (the code saturates anyway) and the magic range.
      p0 = f64x2.pmin(f64x2.pmax(p0, nlim), lim);
      p1 = f64x2.pmin(f64x2.pmax(p1, nlim), lim);
      p2 = f64x2.pmin(f64x2.pmax(p2, nlim), lim);
      p3 = f64x2.pmin(f64x2.pmax(p3, nlim), lim);
      const s0 = f64x2.add(p0, magic), s1 = f64x2.add(p1, magic);
      const s2 = f64x2.add(p2, magic), s3 = f64x2.add(p3, magic);
      const tie = v128.or(
        v128.or(nearTie(p0, s0, magic, half, eps), nearTie(p1, s1, magic, half, eps)),
        v128.or(nearTie(p2, s2, magic, half, eps), nearTie(p3, s3, magic, half, eps)));
      if (v128.any_true(v128.or(tie, nan))) {
        nans += quantizeExact(src + <usize>(i * 4), 8, scale, zeroPoint, dst + <usize>i);
        continue;
      }
      const c01 = v128.shuffle<i32>(s0, s1, 0, 2, 4, 6);
      const c23 = v128.shuffle<i32>(s2, s3, 0, 2, 4, 6);
      const w = i16x8.add_sat_s(i16x8.narrow_i32x4_s(c01, c23), z);
      v128.store64_lane(dst + <usize>i, i8x16.narrow_i16x8_s(w, w), 0);
    }
  }
  return nans + quantizeExact(src + <usize>(i * 4), n - i, scale, zeroPoint, dst + <usize>i);
}

const F32_MIN_NORMAL: f32 = 1.1754943508222875e-38;
let nanBlocks: i32 = 0;

/**
 * The float32 fast path of quantizeF32ToI8, 16 values at a time while 16 remain;
 * returns how many values it did (NaN count in nanBlocks). inv = fl32(fl64(1/S)),
 * a normal float32, and P = fl32(r * inv). Then |P - fl64(r/S)| <= |r/S| * 2^-22
 * (four roundings of at most 2^-24 relative each, plus subnormal products' absolute
 * 2^-150, which only occur where both round to 0). P is clamped to +-1024 (the code
 * saturates there either way: |r/S| >= 1023 and |Z| <= 128), so P and fl64(r/S)
 * differ by less than 2^-12 and round alike unless P lies within 2^-11 of a
 * half-integer; such blocks (ties included) and blocks holding a NaN are redone
 * with the exact division. Elsewhere round-to-nearest-even of P equals
 * roundHalfAwayFromZero(fl64(r/S)).
 */
function quantizeF32Blocks(src: usize, n: i32, inv: f32, scale: f64, zeroPoint: i32, dst: usize): i32 {
  const iv = f32x4.splat(inv);
  const lim = f32x4.splat(1024), nlim = f32x4.splat(-1024);
  const nearHalf = f32x4.splat(0.49951171875); // 0.5 - 2^-11
  const z = i16x8.splat(<i16>zeroPoint);
  let nans = 0;
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const a = src + <usize>(i * 4);
    let p0 = f32x4.mul(v128.load(a), iv), p1 = f32x4.mul(v128.load(a, 16), iv);
    let p2 = f32x4.mul(v128.load(a, 32), iv), p3 = f32x4.mul(v128.load(a, 48), iv);
    const nan = v128.or(v128.or(f32x4.ne(p0, p0), f32x4.ne(p1, p1)), v128.or(f32x4.ne(p2, p2), f32x4.ne(p3, p3)));
    p0 = f32x4.pmax(f32x4.pmin(p0, lim), nlim);
    p1 = f32x4.pmax(f32x4.pmin(p1, lim), nlim);
    p2 = f32x4.pmax(f32x4.pmin(p2, lim), nlim);
    p3 = f32x4.pmax(f32x4.pmin(p3, lim), nlim);
    const n0 = f32x4.nearest(p0), n1 = f32x4.nearest(p1), n2 = f32x4.nearest(p2), n3 = f32x4.nearest(p3);
    const tie = v128.or(
      v128.or(f32x4.ge(f32x4.abs(f32x4.sub(p0, n0)), nearHalf), f32x4.ge(f32x4.abs(f32x4.sub(p1, n1)), nearHalf)),
      v128.or(f32x4.ge(f32x4.abs(f32x4.sub(p2, n2)), nearHalf), f32x4.ge(f32x4.abs(f32x4.sub(p3, n3)), nearHalf)));
    if (v128.any_true(v128.or(tie, nan))) {
      nans += quantizeExact16(a, scale, zeroPoint, dst + <usize>i);
      continue;
    }
    const w0 = i16x8.add_sat_s(i16x8.narrow_i32x4_s(i32x4.trunc_sat_f32x4_s(n0), i32x4.trunc_sat_f32x4_s(n1)), z);
    const w1 = i16x8.add_sat_s(i16x8.narrow_i32x4_s(i32x4.trunc_sat_f32x4_s(n2), i32x4.trunc_sat_f32x4_s(n3)), z);
    v128.store(dst + <usize>i, i8x16.narrow_i16x8_s(w0, w1));
  }
  nanBlocks = nans;
  return i;
}

/**
 * quantizeExact for 16 values, vectorized: r / S in float64 (f64x2.div), rounded half
 * away from zero (trunc, then +-1 where the remainder is >= 0.5), + Z, clamped;
 * NaN lanes get Z and are counted. Data whose quotients are all near half-integers
 * (e.g. an image mapped to [-1, 1] with S = 1/127.5) takes this path throughout.
 */
function quantizeExact16(src: usize, scale: f64, zeroPoint: i32, dst: usize): i32 {
  const s = f64x2.splat(scale);
  const z = f64x2.splat(<f64>zeroPoint);
  const half = f64x2.splat(0.5), one = f64x2.splat(1.0), zero = f64x2.splat(0.0);
  const lo = f64x2.splat(-128.0), hi = f64x2.splat(127.0);
  let nanLanes = i32x4.splat(0);
  let w0 = i32x4.splat(0), w1 = w0, w2 = w0, w3 = w0;
  for (let g = 0; g < 4; g++) {
    const x = v128.load(src + <usize>(g * 16));
    let r0 = f64x2.div(f64x2.promote_low_f32x4(x), s);
    let r1 = f64x2.div(f64x2.promote_low_f32x4(v128.shuffle<i32>(x, x, 2, 3, 0, 1)), s);
    const n0 = f64x2.ne(r0, r0), n1 = f64x2.ne(r1, r1);
    r0 = roundAwayClamp(r0, z, half, one, zero, lo, hi);
    r1 = roundAwayClamp(r1, z, half, one, zero, lo, hi);
    r0 = v128.bitselect(z, r0, n0);
    r1 = v128.bitselect(z, r1, n1);
    nanLanes = i32x4.sub(nanLanes, v128.shuffle<i32>(n0, n1, 0, 2, 4, 6));
    const q = v128.shuffle<i32>(i32x4.trunc_sat_f64x2_s_zero(r0), i32x4.trunc_sat_f64x2_s_zero(r1), 0, 1, 4, 5);
    if (g == 0) w0 = q; else if (g == 1) w1 = q; else if (g == 2) w2 = q; else w3 = q;
  }
  v128.store(dst, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(w0, w1), i16x8.narrow_i32x4_s(w2, w3)));
  return i32x4.extract_lane(nanLanes, 0) + i32x4.extract_lane(nanLanes, 1) +
    i32x4.extract_lane(nanLanes, 2) + i32x4.extract_lane(nanLanes, 3);
}

/** clamp(roundHalfAwayFromZero(v) + z, lo, hi) on two float64 lanes (NaN lanes: anything). */
@inline function roundAwayClamp(v: v128, z: v128, half: v128, one: v128, zero: v128, lo: v128, hi: v128): v128 {
  const t = f64x2.trunc(v);
  const away = f64x2.ge(f64x2.abs(f64x2.sub(v, t)), half); // false for +-Infinity (NaN remainder)
  const step = v128.bitselect(f64x2.neg(one), one, f64x2.lt(v, zero));
  const r = f64x2.add(f64x2.add(t, v128.and(step, away)), z);
  return f64x2.pmax(f64x2.pmin(r, hi), lo);
}

/** Lanes of p (|p| <= 2^14; s = p + magic) within |p| * 2^-48 of a half-integer. */
@inline function nearTie(p: v128, s: v128, magic: v128, half: v128, eps: v128): v128 {
  const nearest = f64x2.sub(s, magic); // p rounded to an integer (exact)
  const d = f64x2.abs(f64x2.sub(p, nearest)); // exact, in [0, 0.5]
  return f64x2.ge(d, f64x2.sub(half, f64x2.mul(f64x2.abs(p), eps)));
}

/** The reference arithmetic, one value at a time: r / S in float64, rounded half away. */
function quantizeExact(src: usize, n: i32, scale: f64, zeroPoint: i32, dst: usize): i32 {
  let nans = 0;
  for (let i = 0; i < n; i++) {
    const v = <f64>load<f32>(src + <usize>(i * 4)) / scale;
    if (v != v) {
      nans++;
      store<i8>(dst + <usize>i, <i8>zeroPoint);
      continue;
    }
    let r = roundHalfAwayFromZero(v) + <f64>zeroPoint;
    r = r < -128.0 ? -128.0 : r > 127.0 ? 127.0 : r;
    store<i8>(dst + <usize>i, <i8><i32>r);
  }
  return nans;
}

@inline function roundHalfAwayFromZero(v: f64): f64 {
  const t = trunc(v);
  const d = abs(v - t);
  return d >= 0.5 ? t + (v < 0 ? -1.0 : 1.0) : t;
}

/** dst[i] = float32(scale * (src[i] - zeroPoint)) for n int8 codes. */
export function dequantizeI8ToF32(src: usize, n: i32, scale: f64, zeroPoint: i32, dst: usize): void {
  const s = f64x2.splat(scale);
  const z = i16x8.splat(<i16>zeroPoint);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const c = i16x8.sub(v128.load8x8_s(src + <usize>i), z); // q - Z, exact in int16
    const lo = i32x4.extend_low_i16x8_s(c);
    const hi = i32x4.extend_high_i16x8_s(c);
    const d0 = f64x2.mul(f64x2.convert_low_i32x4_s(lo), s);
    const d1 = f64x2.mul(f64x2.convert_low_i32x4_s(v128.shuffle<i32>(lo, lo, 2, 3, 0, 1)), s);
    const d2 = f64x2.mul(f64x2.convert_low_i32x4_s(hi), s);
    const d3 = f64x2.mul(f64x2.convert_low_i32x4_s(v128.shuffle<i32>(hi, hi, 2, 3, 0, 1)), s);
    v128.store(dst + <usize>(i * 4),
      v128.shuffle<i32>(f32x4.demote_f64x2_zero(d0), f32x4.demote_f64x2_zero(d1), 0, 1, 4, 5));
    v128.store(dst + <usize>(i * 4),
      v128.shuffle<i32>(f32x4.demote_f64x2_zero(d2), f32x4.demote_f64x2_zero(d3), 0, 1, 4, 5), 16);
  }
  for (; i < n; i++) {
    store<f32>(dst + <usize>(i * 4), <f32>(scale * <f64>(<i32>load<i8>(src + <usize>i) - zeroPoint)));
  }
}

/**
 * Dequantizes int32 accumulators [rows, channels] with a float64 scale per channel
 * (scales: f64[channels]) and zero point 0: dst = float32(scale[c] * q).
 */
export function dequantizeI32ToF32PerChannel(src: usize, rows: i32, channels: i32, scales: usize, dst: usize): void {
  for (let r = 0; r < rows; r++) {
    const s = src + <usize>(r * channels * 4);
    const d = dst + <usize>(r * channels * 4);
    let c = 0;
    for (; c + 4 <= channels; c += 4) {
      const q = v128.load(s + <usize>(c * 4));
      const d0 = f64x2.mul(f64x2.convert_low_i32x4_s(q), v128.load(scales + <usize>(c * 8)));
      const d1 = f64x2.mul(f64x2.convert_low_i32x4_s(v128.shuffle<i32>(q, q, 2, 3, 0, 1)),
        v128.load(scales + <usize>(c * 8), 16));
      v128.store(d + <usize>(c * 4),
        v128.shuffle<i32>(f32x4.demote_f64x2_zero(d0), f32x4.demote_f64x2_zero(d1), 0, 1, 4, 5));
    }
    for (; c < channels; c++) {
      store<f32>(d + <usize>(c * 4), <f32>(load<f64>(scales + <usize>(c * 8)) * <f64>load<i32>(s + <usize>(c * 4))));
    }
  }
}

/**
 * The range of n float32 values (for dynamic per-tensor quantization): writes
 * [min, max] as two float32 at out and returns the number of NaN values (ignored by
 * the range). n == 0 (or only NaN) writes [+Infinity, -Infinity].
 */
export function rangeF32(src: usize, n: i32, out: usize): i32 {
  let lo = f32x4.splat(Infinity), hi = f32x4.splat(-Infinity);
  let nanCount = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(src + <usize>(i * 4));
    const isNan = f32x4.ne(v, v); // -1 in NaN lanes
    nanCount = i32x4.sub(nanCount, isNan);
    // pmin/pmax keep the accumulator where v is NaN (the comparison is false).
    lo = f32x4.pmin(lo, v);
    hi = f32x4.pmax(hi, v);
  }
  lo = f32x4.pmin(lo, v128.shuffle<f32>(lo, lo, 2, 3, 0, 1));
  lo = f32x4.pmin(lo, v128.shuffle<f32>(lo, lo, 1, 0, 3, 2));
  hi = f32x4.pmax(hi, v128.shuffle<f32>(hi, hi, 2, 3, 0, 1));
  hi = f32x4.pmax(hi, v128.shuffle<f32>(hi, hi, 1, 0, 3, 2));
  let mn = f32x4.extract_lane(lo, 0), mx = f32x4.extract_lane(hi, 0);
  let nans = i32x4.extract_lane(nanCount, 0) + i32x4.extract_lane(nanCount, 1) +
    i32x4.extract_lane(nanCount, 2) + i32x4.extract_lane(nanCount, 3);
  for (; i < n; i++) {
    const v = load<f32>(src + <usize>(i * 4));
    if (v != v) {
      nans++;
      continue;
    }
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  store<f32>(out, mn);
  store<f32>(out, mx, 4);
  return nans;
}

/**
 * The float epilogue of the dynamic mode on int32 accumulators [rows, channels]:
 * dequantize with a float64 scale per channel (scales: f64[channels]), add an optional
 * float32 bias per channel (bias: f32[channels], 0 = none) and apply act
 * (0 linear, 1 relu, 2 relu6), writing float32 to dst (dst may equal src).
 * Bit-exact with the TypeScript epilogue: v = float32(scale[c] * q);
 * v = float32(v + bias[c]); relu: v < 0 ? 0 : v; relu6: v < 0 ? 0 : v > 6 ? 6 : v
 * (selects, not min/max, so -0 and NaN pass through as they do there).
 */
export function dequantizeI32Epilogue(src: usize, rows: i32, channels: i32, scales: usize, bias: usize,
                                      act: i32, dst: usize): void {
  const zero = f32x4.splat(0), six = f32x4.splat(6);
  for (let r = 0; r < rows; r++) {
    const s = src + <usize>r * <usize>(channels * 4);
    const d = dst + <usize>r * <usize>(channels * 4);
    let c = 0;
    for (; c + 4 <= channels; c += 4) {
      const q = v128.load(s + <usize>(c * 4));
      const d0 = f64x2.mul(f64x2.convert_low_i32x4_s(q), v128.load(scales + <usize>(c * 8)));
      const d1 = f64x2.mul(f64x2.convert_low_i32x4_s(v128.shuffle<i32>(q, q, 2, 3, 0, 1)),
        v128.load(scales + <usize>(c * 8), 16));
      let v = v128.shuffle<i32>(f32x4.demote_f64x2_zero(d0), f32x4.demote_f64x2_zero(d1), 0, 1, 4, 5);
      if (bias != 0) v = f32x4.add(v, v128.load(bias + <usize>(c * 4)));
      if (act != 0) {
        v = v128.bitselect(zero, v, f32x4.lt(v, zero));
        if (act == 2) v = v128.bitselect(six, v, f32x4.gt(v, six));
      }
      v128.store(d + <usize>(c * 4), v);
    }
    for (; c < channels; c++) {
      let v = <f32>(load<f64>(scales + <usize>(c * 8)) * <f64>load<i32>(s + <usize>(c * 4)));
      if (bias != 0) v = v + load<f32>(bias + <usize>(c * 4));
      if (act != 0) {
        if (v < 0) v = 0;
        else if (act == 2 && v > 6) v = 6;
      }
      store<f32>(d + <usize>(c * 4), v);
    }
  }
}

/** dst[c][r] = src[r][c] for an int8 matrix [rows, cols] (row-major), in 16x16 tiles. */
export function transposeI8(src: usize, rows: i32, cols: i32, dst: usize): void {
  for (let r0 = 0; r0 < rows; r0 += 16) {
    const r1 = r0 + 16 < rows ? r0 + 16 : rows;
    for (let c0 = 0; c0 < cols; c0 += 16) {
      const c1 = c0 + 16 < cols ? c0 + 16 : cols;
      for (let r = r0; r < r1; r++) {
        const s = src + <usize>r * <usize>cols;
        for (let c = c0; c < c1; c++) {
          store<i8>(dst + <usize>c * <usize>rows + <usize>r, load<i8>(s + <usize>c));
        }
      }
    }
  }
}

/**
 * dst[p][c * m + j] = src[p][c] for `pixels` rows of c int8 channels: repeats each
 * channel m times, so that a depthwise convolution with channel multiplier m runs as
 * one with multiplier 1 over c * m channels (its filter [kh, kw, c, m] is already laid
 * out as [kh, kw, c * m]).
 */
export function repeatChannelsI8(src: usize, pixels: i32, c: i32, m: i32, dst: usize): void {
  let d = dst;
  const end = src + <usize>pixels * <usize>c;
  for (let s = src; s < end; s++) {
    const v = load<i8>(s);
    for (let j = 0; j < m; j++) store<i8>(d + <usize>j, v);
    d += <usize>m;
  }
}
