// Int8 GEMM and convolution on WebAssembly SIMD (i32x4.dot_i16x8_s).
//
// out[m][n] = requantize(bias[n] + sum_k (A[m][k] - zA) * B[k][n])   (int8 output)
// out[m][n] =            bias[n] + sum_k (A[m][k] - zA) * B[k][n]    (int32 output)
//
// Scheme (the classic packed GEMM of Goto & van de Geijn, "Anatomy of
// High-Performance Matrix Multiplication", 2008, with the int8 accumulation of
// Jacob et al. 2018):
// - B (weights, int8) is packed once into panels of 16 columns. Inside a panel, each
//   pair of k rows is stored as 4 vectors of int16 pairs: vector g holds
//   (B[k][4g+j], B[k+1][4g+j]) for j = 0..3, so that i32x4.dot_i16x8_s of a splatted
//   pair (A[m][k]-zA, A[m][k+1]-zA) with it adds two products to 4 columns at once.
//   K is padded with zero rows to a multiple of 8 (Ks).
// - A rows are widened to int16 with zA already subtracted, a block of rows at a
//   time, into a scratch buffer (Ks int16 per row, zero-padded), then the two rows of
//   each row pair are interleaved per k pair so one pointer walks both. Subtracting zA in
//   the widening (which dot_i16x8 needs anyway) costs one i16x8.sub per 8 codes and
//   makes the zero-point term zA*sum_k B[k][n] disappear: no per-channel correction
//   is needed, whether zA is known at packing time or not. (A - zA) is in
//   [-255, 255] and B in [-127, 127]: each product and each pair sum fits int32.
//   The widening step is also where a convolution's im2col happens: padding taps
//   are written as 0, i.e. as the input zero point minus itself.
// - The micro-kernel computes a 2x16 block (8 i32x4 accumulators) over the full
//   depth, loading 4 packed B vectors and 2 splatted A pairs per k pair (one k pair per
//   loop iteration: unrolled bodies made V8's TurboFan hoist loads and spill).
// - Loop order: row block (A block ~16 KiB) > 16-column panel (B panel stays in L1 while
//   the row pairs of the block pass over it) > row pair.
import {alloc, free} from './alloc';
import {RQ_N, RQ_NP} from './requant';
import {
  ACC, OUT_F32, OUT_I32, epilogueF32, epilogueI32, epilogueI8, outputMode, storeAcc2x16,
} from './epilogue';

// Packed weights header (int32 fields).
export const PK_K: usize = 0;
export const PK_N: usize = 4;
export const PK_KS: usize = 8;
export const PK_PANELS: usize = 12;
export const PK_LASTW: usize = 16;
export const PK_BIAS: usize = 20;
export const PK_DATA: usize = 24;
export const PK_TAG: usize = 28;
/** Bytes per packed weight: 2 (int16 pairs, the fastest loop) or 1 (int8 pairs, half the memory). */
export const PK_ELEM: usize = 32;
export const PK_HEADER: usize = 64;
const GEMM_TAG: i32 = 0x47454d4d;

/**
 * Packs int8 weights B (K x N, row-major; or N x K when transposed != 0) and an
 * optional int32 bias (N values, 0 = none) into one allocation. Returns its
 * address, or 0 if allocation fails. elemBytes 2: the pairs are stored as int16
 * (the fastest loop); 1: stored as int8 in the same order (half the memory; the
 * micro-kernels widen two 16-byte loads into the four int16 pair vectors).
 */
export function gemmPack(w: usize, k: i32, n: i32, transposed: i32, bias: usize, elemBytes: i32): usize {
  if (elemBytes != 1 && elemBytes != 2) return 0;
  if (k <= 0 || n <= 0) return 0;
  const ks = (k + 7) & ~7;
  const panels = (n + 15) >> 4;
  const lastValid = n - ((panels - 1) << 4);
  const lastW = lastValid <= 4 ? 4 : lastValid <= 8 ? 8 : 16;
  const np = panels << 4;
  const dataBytes = <usize>(((panels - 1) * ks * 32 + ks * lastW * 2) * elemBytes / 2);
  const p = alloc(PK_HEADER + <usize>(np * 4) + dataBytes);
  if (p == 0) return 0;
  const biasPtr = p + PK_HEADER;
  const data = biasPtr + <usize>(np * 4);
  store<i32>(p, k, PK_K);
  store<i32>(p, n, PK_N);
  store<i32>(p, ks, PK_KS);
  store<i32>(p, panels, PK_PANELS);
  store<i32>(p, lastW, PK_LASTW);
  store<i32>(p, <i32>biasPtr, PK_BIAS);
  store<i32>(p, <i32>data, PK_DATA);
  store<i32>(p, GEMM_TAG, PK_TAG);
  store<i32>(p, elemBytes, PK_ELEM);
  for (let c = 0; c < np; c++) {
    store<i32>(biasPtr + <usize>(c * 4), bias != 0 && c < n ? load<i32>(bias + <usize>(c * 4)) : 0);
  }
  for (let pn = 0; pn < panels; pn++) {
    const width = pn == panels - 1 ? lastW : 16;
    let dst = data + <usize>(pn * ks * 16 * elemBytes);
    for (let kk = 0; kk < ks; kk += 2) {
      for (let j = 0; j < width; j++) {
        const col = (pn << 4) + j;
        for (let t = 0; t < 2; t++) {
          const row = kk + t;
          let v: i32 = 0;
          if (row < k && col < n) {
            v = transposed != 0
              ? <i32>load<i8>(w + <usize>(col * k + row))
              : <i32>load<i8>(w + <usize>(row * n + col));
          }
          if (elemBytes == 2) store<i16>(dst, <i16>v);
          else store<i8>(dst, <i8>v);
          dst += <usize>elemBytes;
        }
      }
    }
  }
  return p;
}

// ---------------------------------------------------------------------------
// Micro-kernels: a row pair (a: interleaved widened rows) x 4*G columns over Ks/2 k
// pairs (steps = Ks/8). Accumulators start from the bias.

/**
 * The 2x16 micro-kernel with its fused epilogue: a row pair (the second row is zeros
 * when there is one row; d1 == 0 then) times one full 16-column panel, written to d0
 * and d1 (valid columns only).
 */
function kern2x16(a: usize, b: usize, steps: i32, bias: usize, mode: i32,
                  table: usize, np4: usize, c0: i32, d0: usize, d1: usize, valid: i32,
                  zOut: i32, lo: i32, hi: i32): void {
  let c00 = v128.load(bias), c01 = v128.load(bias, 16), c02 = v128.load(bias, 32), c03 = v128.load(bias, 48);
  let c10 = c00, c11 = c01, c12 = c02, c13 = c03;
  const end = a + <usize>(steps * 32);
  while (a < end) {
    const x0 = v128.load32_splat(a), x1 = v128.load32_splat(a, 4);
    const b0 = v128.load(b), b1 = v128.load(b, 16), b2 = v128.load(b, 32), b3 = v128.load(b, 48);
    c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x0, b0)); c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x1, b0));
    c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x0, b1)); c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x1, b1));
    c02 = i32x4.add(c02, i32x4.dot_i16x8_s(x0, b2)); c12 = i32x4.add(c12, i32x4.dot_i16x8_s(x1, b2));
    c03 = i32x4.add(c03, i32x4.dot_i16x8_s(x0, b3)); c13 = i32x4.add(c13, i32x4.dot_i16x8_s(x1, b3));
    a += 8; b += 64;
  }
  if (mode == OUT_I32 && valid == 16) {
    v128.store(d0, c00); v128.store(d0, c01, 16); v128.store(d0, c02, 32); v128.store(d0, c03, 48);
    if (d1 != 0) {
      v128.store(d1, c10); v128.store(d1, c11, 16); v128.store(d1, c12, 32); v128.store(d1, c13, 48);
    }
    return;
  }
  v128.store(ACC, c00); v128.store(ACC, c01, 16); v128.store(ACC, c02, 32); v128.store(ACC, c03, 48);
  v128.store(ACC, c10, 64); v128.store(ACC, c11, 80); v128.store(ACC, c12, 96); v128.store(ACC, c13, 112);
  storeAcc2x16(mode, table, np4, c0, d0, d1, valid, zOut, lo, hi);
}

/** Last panel 8 columns wide: accumulators to ACC (rows at ACC and ACC + 64). */
function mk2x8(a: usize, b: usize, steps: i32, bias: usize): void {
  let c00 = v128.load(bias), c01 = v128.load(bias, 16);
  let c10 = c00, c11 = c01;
  const end = a + <usize>(steps * 32);
  while (a < end) {
    const x0 = v128.load32_splat(a), x1 = v128.load32_splat(a, 4);
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x0, b0)); c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x1, b0));
    c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x0, b1)); c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x1, b1));
    a += 8; b += 32;
  }
  v128.store(ACC, c00); v128.store(ACC, c01, 16);
  v128.store(ACC, c10, 64); v128.store(ACC, c11, 80);
}

/** Last panel 4 columns wide: accumulators to ACC. */
function mk2x4(a: usize, b: usize, steps: i32, bias: usize): void {
  let c00 = v128.load(bias);
  let c10 = c00;
  const end = a + <usize>(steps * 32);
  while (a < end) {
    const x0 = v128.load32_splat(a), x1 = v128.load32_splat(a, 4);
    const b0 = v128.load(b);
    c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x0, b0)); c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x1, b0));
    a += 8; b += 16;
  }
  v128.store(ACC, c00);
  v128.store(ACC, c10, 64);
}

// The same micro-kernels on int8-packed weights: per k pair 32 bytes (16 columns)
// instead of 64; extend_low/high of each 16-byte load gives two of the int16 pair
// vectors of the int16 packing.

function kern2x16b(a: usize, b: usize, steps: i32, bias: usize, mode: i32,
                   table: usize, np4: usize, c0: i32, d0: usize, d1: usize, valid: i32,
                   zOut: i32, lo: i32, hi: i32): void {
  let c00 = v128.load(bias), c01 = v128.load(bias, 16), c02 = v128.load(bias, 32), c03 = v128.load(bias, 48);
  let c10 = c00, c11 = c01, c12 = c02, c13 = c03;
  const end = a + <usize>(steps * 32);
  while (a < end) {
    const x0 = v128.load32_splat(a), x1 = v128.load32_splat(a, 4);
    const v0 = v128.load(b), v1 = v128.load(b, 16);
    const b0 = i16x8.extend_low_i8x16_s(v0), b1 = i16x8.extend_high_i8x16_s(v0);
    const b2 = i16x8.extend_low_i8x16_s(v1), b3 = i16x8.extend_high_i8x16_s(v1);
    c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x0, b0)); c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x1, b0));
    c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x0, b1)); c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x1, b1));
    c02 = i32x4.add(c02, i32x4.dot_i16x8_s(x0, b2)); c12 = i32x4.add(c12, i32x4.dot_i16x8_s(x1, b2));
    c03 = i32x4.add(c03, i32x4.dot_i16x8_s(x0, b3)); c13 = i32x4.add(c13, i32x4.dot_i16x8_s(x1, b3));
    a += 8; b += 32;
  }
  if (mode == OUT_I32 && valid == 16) {
    v128.store(d0, c00); v128.store(d0, c01, 16); v128.store(d0, c02, 32); v128.store(d0, c03, 48);
    if (d1 != 0) {
      v128.store(d1, c10); v128.store(d1, c11, 16); v128.store(d1, c12, 32); v128.store(d1, c13, 48);
    }
    return;
  }
  v128.store(ACC, c00); v128.store(ACC, c01, 16); v128.store(ACC, c02, 32); v128.store(ACC, c03, 48);
  v128.store(ACC, c10, 64); v128.store(ACC, c11, 80); v128.store(ACC, c12, 96); v128.store(ACC, c13, 112);
  storeAcc2x16(mode, table, np4, c0, d0, d1, valid, zOut, lo, hi);
}

function mk2x8b(a: usize, b: usize, steps: i32, bias: usize): void {
  let c00 = v128.load(bias), c01 = v128.load(bias, 16);
  let c10 = c00, c11 = c01;
  const end = a + <usize>(steps * 32);
  while (a < end) {
    const x0 = v128.load32_splat(a), x1 = v128.load32_splat(a, 4);
    const v0 = v128.load(b);
    const b0 = i16x8.extend_low_i8x16_s(v0), b1 = i16x8.extend_high_i8x16_s(v0);
    c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x0, b0)); c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x1, b0));
    c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x0, b1)); c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x1, b1));
    a += 8; b += 16;
  }
  v128.store(ACC, c00); v128.store(ACC, c01, 16);
  v128.store(ACC, c10, 64); v128.store(ACC, c11, 80);
}

function mk2x4b(a: usize, b: usize, steps: i32, bias: usize): void {
  let c00 = v128.load(bias);
  let c10 = c00;
  const end = a + <usize>(steps * 32);
  while (a < end) {
    const x0 = v128.load32_splat(a), x1 = v128.load32_splat(a, 4);
    const b0 = v128.load8x8_s(b);
    c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x0, b0)); c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x1, b0));
    a += 8; b += 8;
  }
  v128.store(ACC, c00);
  v128.store(ACC, c10, 64);
}

// ---------------------------------------------------------------------------
// Row sources. Mode 0: rows of a matrix A (lda bytes apart). Mode 1: im2col of an
// NHWC int8 input for a KHxKW convolution (one row per output pixel).

let srcMode: i32 = 0;
let srcPtr: usize = 0;
let srcLda: i32 = 0;
let srcZero: i32 = 0;
let srcK: i32 = 0;
let cvH: i32 = 0, cvW: i32 = 0, cvC: i32 = 0, cvKH: i32 = 0, cvKW: i32 = 0;
let cvSH: i32 = 0, cvSW: i32 = 0, cvDH: i32 = 0, cvDW: i32 = 0, cvPT: i32 = 0, cvPL: i32 = 0;
let cvOH: i32 = 0, cvOW: i32 = 0;

/** dst[i] = src[i] - z for i < len (int8 -> int16). */
@inline function widen(src: usize, len: i32, z: i32, dst: usize): void {
  const zv = i16x8.splat(<i16>z);
  let i = 0;
  for (; i + 16 <= len; i += 16) {
    const v = v128.load(src + <usize>i);
    v128.store(dst + <usize>(i * 2), i16x8.sub(i16x8.extend_low_i8x16_s(v), zv));
    v128.store(dst + <usize>(i * 2), i16x8.sub(i16x8.extend_high_i8x16_s(v), zv), 16);
  }
  if (i + 8 <= len) {
    v128.store(dst + <usize>(i * 2), i16x8.sub(v128.load8x8_s(src + <usize>i), zv));
    i += 8;
  }
  for (; i < len; i++) store<i16>(dst + <usize>(i * 2), <i16>(<i32>load<i8>(src + <usize>i) - z));
}

function fillRows(r0: i32, rows: i32, dst: usize, ks: i32): void {
  const rowBytes = <usize>(ks * 2);
  if (srcMode == 0) {
    for (let r = 0; r < rows; r++) {
      const d = dst + <usize>r * rowBytes;
      widen(srcPtr + <usize>(r0 + r) * <usize>srcLda, srcK, srcZero, d);
      for (let k = srcK; k < ks; k++) store<i16>(d + <usize>(k * 2), 0);
    }
    return;
  }
  const pixels = cvOH * cvOW;
  const cin = cvC;
  const segBytes = <usize>(cin * 2);
  for (let r = 0; r < rows; r++) {
    const d = dst + <usize>r * rowBytes;
    const m = r0 + r;
    const b = m / pixels;
    const pix = m - b * pixels;
    const oy = pix / cvOW;
    const ox = pix - oy * cvOW;
    const iy0 = oy * cvSH - cvPT;
    const ix0 = ox * cvSW - cvPL;
    let seg = d;
    const rowSpanOk = cvDW == 1 && ix0 >= 0 && ix0 + cvKW <= cvW;
    for (let ky = 0; ky < cvKH; ky++) {
      const iy = iy0 + ky * cvDH;
      const rowOk = iy >= 0 && iy < cvH;
      if (rowOk && rowSpanOk) {
        // The kw taps of this filter row are contiguous in the input.
        widen(srcPtr + <usize>(((b * cvH + iy) * cvW + ix0) * cin), cvKW * cin, srcZero, seg);
        seg += segBytes * <usize>cvKW;
        continue;
      }
      for (let kx = 0; kx < cvKW; kx++) {
        const ix = ix0 + kx * cvDW;
        if (rowOk && ix >= 0 && ix < cvW) {
          widen(srcPtr + <usize>(((b * cvH + iy) * cvW + ix) * cin), cin, srcZero, seg);
        } else {
          memory.fill(seg, 0, segBytes);
        }
        seg += segBytes;
      }
    }
    const k = cvKH * cvKW * cin;
    memory.fill(d + <usize>(k * 2), 0, <usize>((ks - k) * 2));
  }
}

/**
 * Interleaves pairs of widened rows: for rows 2p and 2p+1, the (k, k+1) int16 pairs
 * alternate (row 2p pair, row 2p+1 pair, ...), so one pointer walks both rows.
 */
function interleavePairs(src: usize, pairs: i32, ks: i32, dst: usize): void {
  const rowBytes = <usize>(ks * 2);
  for (let p = 0; p < pairs; p++) {
    const s0 = src + <usize>(p * 2) * rowBytes;
    const s1 = s0 + rowBytes;
    const d = dst + <usize>(p * 2) * rowBytes;
    for (let k = 0; k < ks; k += 8) {
      const v0 = v128.load(s0 + <usize>(k * 2));
      const v1 = v128.load(s1 + <usize>(k * 2));
      v128.store(d + <usize>(k * 4), v128.shuffle<i32>(v0, v1, 0, 4, 1, 5));
      v128.store(d + <usize>(k * 4), v128.shuffle<i32>(v0, v1, 2, 6, 3, 7), 16);
    }
  }
}

// ---------------------------------------------------------------------------
// Driver.

/** Returns 0, or a negative error code. */
// Output kinds of run (and of conv2d's last argument).
const KIND_I8: i32 = 0;
const KIND_I32: i32 = 1;
const KIND_F32: i32 = 2;

function run(m: i32, packed: usize, out: usize, ldc: i32, kind: i32,
             table: usize, zOut: i32, lo: i32, hi: i32): i32 {
  if (load<i32>(packed, PK_TAG) != GEMM_TAG) return -2;
  if (kind < KIND_I8 || kind > KIND_F32) return -5;
  const outInt32 = kind == KIND_I32;
  if (kind == KIND_I8) {
    if (table == 0 || load<i32>(table, RQ_N) < load<i32>(packed, PK_N)) return -3;
  }
  if (m <= 0) return 0;
  const n = load<i32>(packed, PK_N);
  const ks = load<i32>(packed, PK_KS);
  const panels = load<i32>(packed, PK_PANELS);
  const lastW = load<i32>(packed, PK_LASTW);
  const bias = <usize>load<i32>(packed, PK_BIAS);
  const data = <usize>load<i32>(packed, PK_DATA);
  const bytes8 = load<i32>(packed, PK_ELEM) == 1;
  const panelBytes = <usize>(ks * (bytes8 ? 16 : 32));
  // Rows per block: the widened block (mb * ks * 2 bytes) stays around 16 KiB.
  let mb = 8192 / ks;
  if (mb < 2) mb = 2;
  if (mb > 256) mb = 256;
  mb &= ~1;
  if (mb > m) mb = (m + 1) & ~1;
  const rowBytes = <usize>(ks * 2);
  // scratch: widened rows; apack: the same rows, pairs of rows interleaved per k pair.
  const scratch = alloc(<usize>mb * rowBytes * 2);
  if (scratch == 0) return -1;
  const apack = scratch + <usize>mb * rowBytes;
  const steps = ks >> 3;
  const esize: usize = kind == KIND_I8 ? 1 : 4;
  const ldcBytes = <usize>ldc * esize;
  const mode = outInt32 ? OUT_I32 : kind == KIND_F32 ? OUT_F32 : outputMode(table);
  const np4: usize = kind != KIND_I8 ? 0 : <usize>(load<i32>(table, RQ_NP) * 4);
  for (let r0 = 0; r0 < m; r0 += mb) {
    const rows = m - r0 < mb ? m - r0 : mb;
    fillRows(r0, rows, scratch, ks);
    if ((rows & 1) != 0) memory.fill(scratch + <usize>rows * rowBytes, 0, rowBytes);
    interleavePairs(scratch, (rows + 1) >> 1, ks, apack);
    for (let pn = 0; pn < panels; pn++) {
      const width = pn == panels - 1 ? lastW : 16;
      const c0 = pn << 4;
      const valid = n - c0 < 16 ? n - c0 : 16;
      const bp = data + <usize>pn * panelBytes;
      const bb = bias + <usize>(c0 * 4);
      for (let r = 0; r < rows; r += 2) {
        const a = apack + <usize>r * rowBytes;
        const two = r + 1 < rows;
        const d0 = out + <usize>(r0 + r) * ldcBytes + <usize>c0 * esize;
        const d1 = two ? d0 + ldcBytes : 0;
        if (width == 16) {
          if (bytes8) kern2x16b(a, bp, steps, bb, mode, table, np4, c0, d0, d1, valid, zOut, lo, hi);
          else kern2x16(a, bp, steps, bb, mode, table, np4, c0, d0, d1, valid, zOut, lo, hi);
          continue;
        }
        if (width == 8) {
          if (bytes8) mk2x8b(a, bp, steps, bb); else mk2x8(a, bp, steps, bb);
        } else if (bytes8) {
          mk2x4b(a, bp, steps, bb);
        } else {
          mk2x4(a, bp, steps, bb);
        }
        if (outInt32) {
          epilogueI32(ACC, d0, valid);
          if (two) epilogueI32(ACC + 64, d1, valid);
        } else if (kind == KIND_F32) {
          epilogueF32(ACC, d0, c0, valid);
          if (two) epilogueF32(ACC + 64, d1, c0, valid);
        } else {
          epilogueI8(ACC, d0, c0, valid, width, table, zOut, lo, hi);
          if (two) epilogueI8(ACC + 64, d1, c0, valid, width, table, zOut, lo, hi);
        }
      }
    }
  }
  free(scratch);
  return 0;
}

/**
 * out (int8, M x N, row stride ldc) = requantize(A (int8, M x K, row stride lda) x packed).
 * Returns 0, or a negative error code (-1 out of memory, -2 bad packed weights,
 * -3 bad requantization table).
 */
export function gemmI8(a: usize, lda: i32, m: i32, zA: i32, packed: usize, table: usize,
                       zOut: i32, lo: i32, hi: i32, out: usize, ldc: i32): i32 {
  srcMode = 0; srcPtr = a; srcLda = lda; srcZero = zA; srcK = load<i32>(packed, PK_K);
  return run(m, packed, out, ldc, KIND_I8, table, zOut, lo, hi);
}

/** out (int32, M x N, row stride ldc elements) = bias + (A - zA) x B. */
export function gemmI32(a: usize, lda: i32, m: i32, zA: i32, packed: usize, out: usize, ldc: i32): i32 {
  srcMode = 0; srcPtr = a; srcLda = lda; srcZero = zA; srcK = load<i32>(packed, PK_K);
  return run(m, packed, out, ldc, KIND_I32, 0, 0, 0, 0);
}

/**
 * out (float32, M x N, row stride ldc elements) = the float epilogue (epilogue.ts,
 * parameters from floatEpilogueSet) of bias + (A - zA) x B.
 */
export function gemmF32(a: usize, lda: i32, m: i32, zA: i32, packed: usize, out: usize, ldc: i32): i32 {
  srcMode = 0; srcPtr = a; srcLda = lda; srcZero = zA; srcK = load<i32>(packed, PK_K);
  return run(m, packed, out, ldc, KIND_F32, 0, 0, 0, 0);
}

/**
 * NHWC convolution: input [batch, h, w, cin] int8 with zero point zIn, weights packed
 * from the HWIO filter viewed as a (kh*kw*cin) x cout matrix, output
 * [batch, oh, ow, cout]. Padding reads as zIn. outKind: 0 int8 (requantized by table,
 * zOut, clamped to [lo, hi]), 1 int32 accumulators, 2 float32 (the float epilogue,
 * parameters from floatEpilogueSet); table, zOut, lo, hi are unused for 1 and 2.
 */
export function conv2d(input: usize, batch: i32, h: i32, w: i32, cin: i32,
                       kh: i32, kw: i32, sh: i32, sw: i32, dh: i32, dw: i32,
                       padTop: i32, padLeft: i32, oh: i32, ow: i32, zIn: i32,
                       packed: usize, table: usize, zOut: i32, lo: i32, hi: i32,
                       out: usize, outKind: i32): i32 {
  if (load<i32>(packed, PK_TAG) != GEMM_TAG) return -2;
  if (load<i32>(packed, PK_K) != kh * kw * cin) return -4;
  const cout = load<i32>(packed, PK_N);
  srcPtr = input; srcZero = zIn; srcK = kh * kw * cin;
  if (kh == 1 && kw == 1 && sh == 1 && sw == 1 && padTop == 0 && padLeft == 0 && oh == h && ow == w) {
    // 1x1, stride 1, no padding: the input is the A matrix itself.
    srcMode = 0; srcLda = cin;
  } else {
    srcMode = 1;
    cvH = h; cvW = w; cvC = cin; cvKH = kh; cvKW = kw; cvSH = sh; cvSW = sw;
    cvDH = dh; cvDW = dw; cvPT = padTop; cvPL = padLeft; cvOH = oh; cvOW = ow;
  }
  return run(batch * oh * ow, packed, out, cout, outKind, table, zOut, lo, hi);
}

/**
 * The address of the int32 bias (N values, then zeros up to a multiple of 16) stored
 * inside packed GEMM weights, or 0 when `packed` is not GEMM weights. Callers may
 * overwrite the first N values between kernel calls (the bias of a static layer
 * depends on the bias tensor and the input scale, the packing only on the weights).
 */
export function gemmBiasPtr(packed: usize): usize {
  if (packed == 0 || load<i32>(packed, PK_TAG) != GEMM_TAG) return 0;
  return <usize>load<i32>(packed, PK_BIAS);
}
