// Int8 depthwise convolution, NHWC, on WebAssembly SIMD.
//
// out[b,y,x,c*mult+m] = requantize(bias[c*mult+m]
//     + sum_{ky,kx} (in[b, y*sh - padTop + ky*dh, x*sw - padLeft + kx*dw, c] - zIn) * w[ky,kx,c,m])
// with out-of-bounds taps reading zIn (so they contribute 0).
//
// Channel multiplier 1 (the MobileNet case) runs vectorized over 16 channels:
// - The zero-point term is folded into the bias once per call,
//   bias'[c] = bias[c] - zIn * sum_t w[t][c] (Jacob et al. 2018, eq. 7 and 8), so the
//   inner loop multiplies raw int8 codes. Taps outside the image point at a row of
//   zIn codes ("indirection", Dukhan, "The Indirect Convolution Algorithm", 2019),
//   which keeps the fold exact at the borders.
// - Taps are taken in pairs: the int8 codes of taps t and t+1 are interleaved
//   byte-wise (i8x16.shuffle = punpck{l,h}bw), sign-extended to int16 and multiplied by
//   weights packed as int16 (w[t][c], w[t+1][c]) pairs with i32x4.dot_i16x8_s, which adds
//   both products of a channel into its int32 lane (no int16 overflow, any int8 weights).
//   An odd last tap is paired with zero weights.
// - Weights may also be packed as int8 (1 byte per weight, same order; static mode, where
//   they are the resident copy): each call then widens them into int16 scratch first
//   (O(weights), against O(pixels·weights) for the convolution) and sums their taps
//   there, so the loop is the same; only the resident form is half the size.
// - Interior output pixels are computed two at a time (x, x+1), sharing the weight
//   and requantization-parameter loads; border pixels one at a time.
// Other multipliers use a scalar loop (exact, slow).
import {alloc, free} from './alloc';
import {RQ_N, RQ_NP, requantOne} from './requant';
import {ACC, OUT_F32, OUT_I32, outputBytes, outputMode, storeAcc2x16, storeFloatOne} from './epilogue';

// Packed depthwise weights header (int32 fields).
export const DW_KH: usize = 0;
export const DW_KW: usize = 4;
export const DW_C: usize = 8;
export const DW_MULT: usize = 12;
export const DW_CP: usize = 16;     // channels (C*mult) rounded up to 16
export const DW_PAIRS: usize = 20;  // tap pairs, ceil(kh*kw / 2)
export const DW_BIAS: usize = 24;   // int32[Cp]
export const DW_WSUM: usize = 28;   // int32[Cp], sum over taps of w (0 for int8 pairs: summed per call)
export const DW_DATA: usize = 32;   // mult == 1: int16 (or int8)[Cp/16][pairs][16][2]; else int8[taps][C*mult] as given
export const DW_TAG: usize = 36;
export const DW_ELEM: usize = 40;   // bytes per packed weight (mult == 1): 2 (int16 pairs) or 1 (int8 pairs)
export const DW_HEADER: usize = 64;
const DW_TAG_VALUE: i32 = 0x44574357;


/**
 * Packs a depthwise filter [kh, kw, c, mult] (int8) and optional bias (c*mult int32).
 * mult == 1: int16 tap pairs per 16-channel block (see above); otherwise the filter
 * as given, [taps][c*mult], for the scalar path.
 */
export function dwPack(w: usize, kh: i32, kw: i32, c: i32, mult: i32, bias: usize, elemBytes: i32): usize {
  if (kh <= 0 || kw <= 0 || c <= 0 || mult <= 0 || (elemBytes != 1 && elemBytes != 2)) return 0;
  const taps = kh * kw;
  const n = c * mult;
  const cp = (n + 15) & ~15;
  const pairs = (taps + 1) >> 1;
  const elem = mult == 1 ? elemBytes : 2;
  // int8 pairs: no stored tap sums (each call sums the taps while widening).
  const wsumBytes: usize = elem == 1 ? 0 : <usize>(cp * 4);
  const dataBytes = mult == 1 ? <usize>((cp >> 4) * pairs * 32 * elem) : <usize>(taps * n);
  const p = alloc(DW_HEADER + <usize>(cp * 4) + wsumBytes + dataBytes);
  if (p == 0) return 0;
  const biasPtr = p + DW_HEADER;
  const wsumPtr = biasPtr + <usize>(cp * 4);
  const data = wsumPtr + wsumBytes;
  store<i32>(p, kh, DW_KH);
  store<i32>(p, kw, DW_KW);
  store<i32>(p, c, DW_C);
  store<i32>(p, mult, DW_MULT);
  store<i32>(p, cp, DW_CP);
  store<i32>(p, pairs, DW_PAIRS);
  store<i32>(p, <i32>biasPtr, DW_BIAS);
  store<i32>(p, elem == 1 ? 0 : <i32>wsumPtr, DW_WSUM);
  store<i32>(p, <i32>data, DW_DATA);
  store<i32>(p, DW_TAG_VALUE, DW_TAG);
  store<i32>(p, elem, DW_ELEM);
  for (let o = 0; o < cp; o++) {
    if (elem != 1) {
      let sum = 0;
      for (let t = 0; t < taps; t++) sum += o < n ? <i32>load<i8>(w + <usize>(t * n + o)) : 0;
      store<i32>(wsumPtr + <usize>(o * 4), sum);
    }
    store<i32>(biasPtr + <usize>(o * 4), bias != 0 && o < n ? load<i32>(bias + <usize>(o * 4)) : 0);
  }
  if (mult != 1) {
    memory.copy(data, w, <usize>(taps * n));
    return p;
  }
  for (let cb = 0; cb < cp; cb += 16) {
    for (let pr = 0; pr < pairs; pr++) {
      const dst = data + <usize>(((cb >> 4) * pairs + pr) * 32 * elem);
      for (let ch = 0; ch < 16; ch++) {
        for (let t = 0; t < 2; t++) {
          const tap = pr * 2 + t;
          const o = cb + ch;
          const v: i32 = tap < taps && o < n ? <i32>load<i8>(w + <usize>(tap * n + o)) : 0;
          if (elem == 1) store<i8>(dst + <usize>(ch * 2 + t), <i8>v);
          else store<i16>(dst + <usize>(ch * 4 + t * 2), <i16>v);
        }
      }
    }
  }
  return p;
}

/** acc += dot of the interleaved taps (i0, i1) with the 4 weight vectors at wp. */
@inline function pairLo(i0: v128, i1: v128): v128 {
  return v128.shuffle<i8>(i0, i1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}
@inline function pairHi(i0: v128, i1: v128): v128 {
  return v128.shuffle<i8>(i0, i1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}

/**
 * One output pixel, all channel blocks, for a list of tap pointers (ptrs: int32
 * addresses of each tap's channel 0, or of the zIn row; an odd count is padded with a
 * repeat of the last pointer, which meets zero weights).
 */
function pixelOne(ptrs: usize, pairs: i32, wdata: usize, cp: i32, biasAdj: usize,
                  mode: i32, table: usize, np4: usize, n: i32, dst: usize,
                  zOut: i32, lo: i32, hi: i32): void {
  let wp = wdata;
  const esize = outputBytes(mode);
  for (let cb = 0; cb < cp; cb += 16) {
    const bo = biasAdj + <usize>(cb * 4);
    let a0 = v128.load(bo), a1 = v128.load(bo, 16), a2 = v128.load(bo, 32), a3 = v128.load(bo, 48);
    for (let pr = 0; pr < pairs; pr++) {
      const i0 = v128.load(<usize>load<i32>(ptrs + <usize>(pr * 8)) + <usize>cb);
      const i1 = v128.load(<usize>load<i32>(ptrs + <usize>(pr * 8), 4) + <usize>cb);
      const l = pairLo(i0, i1), h = pairHi(i0, i1);
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(l), v128.load(wp)));
      a1 = i32x4.add(a1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(l), v128.load(wp, 16)));
      a2 = i32x4.add(a2, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(h), v128.load(wp, 32)));
      a3 = i32x4.add(a3, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(h), v128.load(wp, 48)));
      wp += 64;
    }
    const valid = n - cb < 16 ? n - cb : 16;
    const d = dst + <usize>(cb * esize);
    if (mode == OUT_I32 && valid == 16) {
      v128.store(d, a0); v128.store(d, a1, 16); v128.store(d, a2, 32); v128.store(d, a3, 48);
      continue;
    }
    v128.store(ACC, a0); v128.store(ACC, a1, 16); v128.store(ACC, a2, 32); v128.store(ACC, a3, 48);
    storeAcc2x16(mode, table, np4, cb, d, 0, valid, zOut, lo, hi);
  }
}

/**
 * Two horizontally adjacent interior output pixels (their taps start at pa and pb),
 * all channel blocks; offs holds the tap offsets (padded to pairs with a repeat).
 */
function pixelTwo(pa: usize, pb: usize, offs: usize, pairs: i32, wdata: usize, cp: i32, biasAdj: usize,
                  mode: i32, table: usize, np4: usize, n: i32, da: usize, db: usize,
                  zOut: i32, lo: i32, hi: i32): void {
  let wp = wdata;
  const esize = outputBytes(mode);
  for (let cb = 0; cb < cp; cb += 16) {
    const bo = biasAdj + <usize>(cb * 4);
    let a0 = v128.load(bo), a1 = v128.load(bo, 16), a2 = v128.load(bo, 32), a3 = v128.load(bo, 48);
    let b0 = a0, b1 = a1, b2 = a2, b3 = a3;
    const qa = pa + <usize>cb, qb = pb + <usize>cb;
    for (let pr = 0; pr < pairs; pr++) {
      const o0 = <usize>load<i32>(offs + <usize>(pr * 8));
      const o1 = <usize>load<i32>(offs + <usize>(pr * 8), 4);
      const w0 = v128.load(wp), w1 = v128.load(wp, 16), w2 = v128.load(wp, 32), w3 = v128.load(wp, 48);
      let i0 = v128.load(qa + o0), i1 = v128.load(qa + o1);
      let l = pairLo(i0, i1), h = pairHi(i0, i1);
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(l), w0));
      a1 = i32x4.add(a1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(l), w1));
      a2 = i32x4.add(a2, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(h), w2));
      a3 = i32x4.add(a3, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(h), w3));
      i0 = v128.load(qb + o0); i1 = v128.load(qb + o1);
      l = pairLo(i0, i1); h = pairHi(i0, i1);
      b0 = i32x4.add(b0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(l), w0));
      b1 = i32x4.add(b1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(l), w1));
      b2 = i32x4.add(b2, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(h), w2));
      b3 = i32x4.add(b3, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(h), w3));
      wp += 64;
    }
    const valid = n - cb < 16 ? n - cb : 16;
    const dA = da + <usize>(cb * esize), dB = db + <usize>(cb * esize);
    if (mode == OUT_I32 && valid == 16) {
      v128.store(dA, a0); v128.store(dA, a1, 16); v128.store(dA, a2, 32); v128.store(dA, a3, 48);
      v128.store(dB, b0); v128.store(dB, b1, 16); v128.store(dB, b2, 32); v128.store(dB, b3, 48);
      continue;
    }
    v128.store(ACC, a0); v128.store(ACC, a1, 16); v128.store(ACC, a2, 32); v128.store(ACC, a3, 48);
    v128.store(ACC, b0, 64); v128.store(ACC, b1, 80); v128.store(ACC, b2, 96); v128.store(ACC, b3, 112);
    storeAcc2x16(mode, table, np4, cb, dA, dB, valid, zOut, lo, hi);
  }
}

/** Scalar fallback for channel multiplier > 1. */
function dwScalar(input: usize, batch: i32, h: i32, w: i32, c: i32, packed: usize,
                  sh: i32, sw: i32, dh: i32, dw: i32, padTop: i32, padLeft: i32, oh: i32, ow: i32,
                  zIn: i32, mode: i32, table: usize, np4: usize, zOut: i32, lo: i32, hi: i32, out: usize): void {
  const kh = load<i32>(packed, DW_KH), kw = load<i32>(packed, DW_KW), mult = load<i32>(packed, DW_MULT);
  const cp = load<i32>(packed, DW_CP);
  const bias = <usize>load<i32>(packed, DW_BIAS), data = <usize>load<i32>(packed, DW_DATA);
  const n = c * mult;
  for (let b = 0; b < batch; b++) for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) {
    const pix = (b * oh + y) * ow + x;
    for (let o = 0; o < n; o++) {
      const ci = o / mult;
      let acc = load<i32>(bias + <usize>(o * 4));
      for (let ky = 0; ky < kh; ky++) {
        const iy = y * sh - padTop + ky * dh;
        if (iy < 0 || iy >= h) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = x * sw - padLeft + kx * dw;
          if (ix < 0 || ix >= w) continue;
          const v = <i32>load<i8>(input + <usize>(((b * h + iy) * w + ix) * c + ci)) - zIn;
          acc += v * <i32>load<i8>(data + <usize>((ky * kw + kx) * n + o));
        }
      }
      if (mode == OUT_I32) {
        store<i32>(out + <usize>((pix * n + o) * 4), acc);
      } else if (mode == OUT_F32) {
        storeFloatOne(acc, o, out + <usize>((pix * n + o) * 4));
      } else {
        const v = requantOne(acc, table, np4, o, zOut, lo, hi);
        store<i8>(out + <usize>(pix * n + o), <i8>v);
      }
    }
  }
}

/**
 * Depthwise convolution. input [batch, h, w, c] int8 (zero point zIn); packed from
 * dwPack; output [batch, oh, ow, c*mult], int8 requantized by `table` (zOut, clamp to
 * [lo, hi]) when outKind == 0, int32 accumulators when 1, float32 (the float epilogue,
 * parameters from floatEpilogueSet) when 2. Returns 0 or a negative error.
 */
export function depthwiseConv2d(input: usize, batch: i32, h: i32, w: i32, c: i32, packed: usize,
                                sh: i32, sw: i32, dh: i32, dw: i32, padTop: i32, padLeft: i32,
                                oh: i32, ow: i32, zIn: i32, table: usize, zOut: i32, lo: i32, hi: i32,
                                out: usize, outKind: i32): i32 {
  if (load<i32>(packed, DW_TAG) != DW_TAG_VALUE) return -2;
  if (load<i32>(packed, DW_C) != c) return -4;
  const mult = load<i32>(packed, DW_MULT);
  const n = c * mult;
  if (outKind < 0 || outKind > 2) return -5;
  if (outKind == 0 && (table == 0 || load<i32>(table, RQ_N) < n)) return -3;
  const mode = outKind == 1 ? OUT_I32 : outKind == 2 ? OUT_F32 : outputMode(table);
  const np4: usize = outKind != 0 ? 0 : <usize>(load<i32>(table, RQ_NP) * 4);
  if (batch <= 0 || oh <= 0 || ow <= 0) return 0;
  if (mult != 1) {
    dwScalar(input, batch, h, w, c, packed, sh, sw, dh, dw, padTop, padLeft, oh, ow,
      zIn, mode, table, np4, zOut, lo, hi, out);
    return 0;
  }
  const kh = load<i32>(packed, DW_KH), kw = load<i32>(packed, DW_KW);
  const cp = load<i32>(packed, DW_CP);
  const taps = kh * kw;
  const pairs = load<i32>(packed, DW_PAIRS);
  const bias = <usize>load<i32>(packed, DW_BIAS), wsum = <usize>load<i32>(packed, DW_WSUM);
  const narrow = load<i32>(packed, DW_ELEM) == 1;
  let data = <usize>load<i32>(packed, DW_DATA);
  // Per-call scratch: folded bias (cp int32), zIn row (cp bytes), tap offsets and pointers
  // (2 * pairs int32 each), then (int8-packed weights) the weights widened to int16 pairs.
  const wideBytes: usize = narrow ? <usize>((cp >> 4) * pairs * 64) : 0;
  const headBytes: usize = (<usize>(cp * 4 + cp + pairs * 16) + 15) & ~<usize>15;
  const scratch = alloc(headBytes + wideBytes);
  if (scratch == 0) return -1;
  const biasAdj = scratch;
  const zrow = scratch + <usize>(cp * 4);
  const offs = zrow + <usize>cp;
  const ptrs = offs + <usize>(pairs * 8);
  if (narrow) {
    // Widen int8 pairs to int16 pairs (same order), and fold zIn·Σ taps into the bias.
    const wide = scratch + headBytes;
    const blocks = (cp >> 4) * pairs * 2;
    for (let i = 0; i < blocks; i++) {
      const v = v128.load(data + <usize>(i * 16));
      v128.store(wide + <usize>(i * 32), i16x8.extend_low_i8x16_s(v));
      v128.store(wide + <usize>(i * 32), i16x8.extend_high_i8x16_s(v), 16);
    }
    for (let cb = 0; cb < cp; cb += 16) {
      for (let ch = 0; ch < 16; ch++) {
        let sum = 0;
        for (let pr = 0; pr < pairs; pr++) {
          const q = data + <usize>(((cb >> 4) * pairs + pr) * 32 + ch * 2);
          sum += <i32>load<i8>(q) + <i32>load<i8>(q, 1);
        }
        const o = cb + ch;
        store<i32>(biasAdj + <usize>(o * 4), load<i32>(bias + <usize>(o * 4)) - zIn * sum);
      }
    }
    data = wide;
  } else {
    for (let o = 0; o < cp; o++) {
      store<i32>(biasAdj + <usize>(o * 4), load<i32>(bias + <usize>(o * 4)) - zIn * load<i32>(wsum + <usize>(o * 4)));
    }
  }
  memory.fill(zrow, <u8>zIn, <usize>cp);
  for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
    store<i32>(offs + <usize>((ky * kw + kx) * 4), (ky * dh * w + kx * dw) * c);
  }
  if ((taps & 1) != 0) store<i32>(offs + <usize>(taps * 4), load<i32>(offs + <usize>((taps - 1) * 4)));
  // Output pixels whose taps are all inside the image.
  const yLo = padTop <= 0 ? 0 : (padTop + sh - 1) / sh;
  let yHi = (h - 1 - (kh - 1) * dh + padTop); // last y with y*sh - padTop + (kh-1)*dh <= h-1
  yHi = yHi < 0 ? -1 : yHi / sh;
  const xLo = padLeft <= 0 ? 0 : (padLeft + sw - 1) / sw;
  let xHi = (w - 1 - (kw - 1) * dw + padLeft);
  xHi = xHi < 0 ? -1 : xHi / sw;
  // The output may be narrower (shorter) than the taps allow: explicit padding with a
  // smaller right (bottom) pad, or tfjs's numeric padding, whose output size comes from
  // the filter height alone. Pixels past the output must never be written (pixelTwo
  // writes x + 1).
  if (xHi > ow - 1) xHi = ow - 1;
  if (yHi > oh - 1) yHi = oh - 1;
  const esize = outputBytes(mode);
  const rowStrideIn = w * c;
  const outPixel = <usize>(n * esize);
  const inStepX = <usize>(sw * c);
  for (let b = 0; b < batch; b++) {
    const inB = input + <usize>(b * h * rowStrideIn);
    for (let y = 0; y < oh; y++) {
      const iy0 = y * sh - padTop;
      const yInside = y >= yLo && y <= yHi;
      let x = 0;
      while (x < ow) {
        const ix0 = x * sw - padLeft;
        const dst = out + <usize>(((b * oh + y) * ow + x)) * outPixel;
        if (yInside && x >= xLo && x <= xHi) {
          const base = inB + <usize>((iy0 * w + ix0) * c);
          if (x + 1 <= xHi) {
            pixelTwo(base, base + inStepX, offs, pairs, data, cp, biasAdj, mode, table, np4, n,
              dst, dst + outPixel, zOut, lo, hi);
            x += 2;
            continue;
          }
          for (let t = 0; t < pairs * 2; t++) {
            store<i32>(ptrs + <usize>(t * 4), <i32>base + load<i32>(offs + <usize>(t * 4)));
          }
        } else {
          for (let ky = 0; ky < kh; ky++) {
            const iy = iy0 + ky * dh;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ix0 + kx * dw;
              const ok = iy >= 0 && iy < h && ix >= 0 && ix < w;
              store<i32>(ptrs + <usize>((ky * kw + kx) * 4),
                ok ? <i32>inB + (iy * w + ix) * c : <i32>zrow);
            }
          }
          if ((taps & 1) != 0) store<i32>(ptrs + <usize>(taps * 4), load<i32>(ptrs + <usize>((taps - 1) * 4)));
        }
        pixelOne(ptrs, pairs, data, cp, biasAdj, mode, table, np4, n, dst, zOut, lo, hi);
        x++;
      }
    }
  }
  free(scratch);
  return 0;
}

/**
 * The address of the int32 bias (C*mult values, then zeros up to a multiple of 16)
 * stored inside packed depthwise weights, or 0 when `packed` is not depthwise weights.
 * Callers may overwrite the first C*mult values between kernel calls.
 */
export function dwBiasPtr(packed: usize): usize {
  if (packed == 0 || load<i32>(packed, DW_TAG) != DW_TAG_VALUE) return 0;
  return <usize>load<i32>(packed, DW_BIAS);
}
