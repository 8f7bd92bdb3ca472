// Small plain-TypeScript reference loops and random generators for the wasm
// kernel tests. The arithmetic rules come from src/quant (requantize =
// clamp(zOut + multiplyByQuantizedMultiplier(acc, M0, shift), lo, hi)).
import {quantizeMultiplier, requantize} from '../../src/quant';

/** mulberry32: a small deterministic PRNG. */
export function makeRng(seed: number): {next(): number; int(lo: number, hi: number): number; pick<T>(a: T[]): T} {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (a) => a[Math.floor(next() * a.length)],
  };
}

export type Rng = ReturnType<typeof makeRng>;

export function randomInt8(rng: Rng, n: number, lo = -128, hi = 127): Int8Array {
  const a = new Int8Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.int(lo, hi);
  return a;
}

/** Codes biased towards the extremes sometimes (saturating inputs). */
export function randomCodes(rng: Rng, n: number, lo = -128, hi = 127): Int8Array {
  const mode = rng.int(0, 3);
  const a = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = mode === 0 ? rng.pick([lo, hi]) : mode === 1 && rng.next() < 0.5 ? rng.pick([lo, hi]) : rng.int(lo, hi);
  }
  return a;
}

export function randomBias(rng: Rng, n: number): Int32Array {
  const b = new Int32Array(n);
  const mode = rng.int(0, 4);
  for (let i = 0; i < n; i++) {
    b[i] = mode === 0 ? 0 : mode === 4 ? rng.int(-(2 ** 31), 2 ** 31 - 1) : rng.int(-(2 ** 20), 2 ** 20);
  }
  return b;
}

/** Per-channel (M0, shift) from random real multipliers, with extreme cases mixed in. */
export function randomRequant(rng: Rng, n: number, kind = rng.int(0, 6)): {multiplier: Int32Array; shift: Int32Array} {
  const multiplier = new Int32Array(n);
  const shift = new Int32Array(n);
  for (let c = 0; c < n; c++) {
    let real: number;
    switch (kind) {
      case 0: real = 2 ** (-4 - 14 * rng.next()); break;           // typical conv: 2^-4 .. 2^-18
      case 1: real = 2 ** (-1 - 30 * rng.next()); break;           // right shifts 0..31 (scalar path too)
      case 2: real = 2 ** (8 * rng.next() - 2); break;             // left shifts (M > 1)
      case 3: real = rng.pick([0.5, 0.9999999999, 1, 2 ** -21, 2 ** -22, 2 ** -23, 1.5, 2 ** 20]); break;
      case 4: real = 2 ** (-6 - 3 * rng.next()); break;           // typical, some uniform
      case 5: real = 2 ** (-8 - 12 * rng.next()); break;
      default: real = 2 ** (-1 - 21 * rng.next()); break;          // right shifts 0..21 (vector path)
    }
    const q = quantizeMultiplier(real);
    multiplier[c] = q.multiplier;
    shift[c] = q.shift;
  }
  return {multiplier, shift};
}

export function clampRange(rng: Rng, zOut: number): {lo: number; hi: number} {
  switch (rng.int(0, 3)) {
    case 0: return {lo: Math.max(-128, zOut), hi: 127};                       // relu
    case 1: return {lo: Math.max(-128, zOut), hi: Math.min(127, zOut + rng.int(0, 60))}; // relu6-like
    default: return {lo: -128, hi: 127};
  }
}

/** Reference GEMM: int32 accumulators (wrapping like int32), B [k, n] row-major. */
export function refGemmInt32(a: Int8Array, lda: number, m: number, k: number, zA: number,
                             b: Int8Array, n: number, bias: Int32Array | null): Int32Array {
  const out = new Int32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = bias ? bias[j] : 0;
      for (let p = 0; p < k; p++) acc = (acc + (a[i * lda + p] - zA) * b[p * n + j]) | 0;
      out[i * n + j] = acc;
    }
  }
  return out;
}

/** Requantizes int32 accumulators [rows, n] per channel with src/quant's requantize. */
export function refRequant(acc: Int32Array, n: number, multiplier: Int32Array, shift: Int32Array,
                           zOut: number, lo: number, hi: number): Int8Array {
  const out = new Int8Array(acc.length);
  for (let i = 0; i < acc.length; i++) {
    const c = i % n;
    const mc = multiplier.length === 1 ? 0 : c;
    out[i] = requantize(acc[i], multiplier[mc], shift[mc], zOut, lo, hi);
  }
  return out;
}

/** Reference NHWC convolution (HWIO filter), int32 accumulators; padding reads zIn. */
export function refConvInt32(input: Int8Array, batch: number, h: number, w: number, cin: number,
                             filter: Int8Array, kh: number, kw: number, cout: number, sh: number, sw: number,
                             dh: number, dw: number, pt: number, pl: number, oh: number, ow: number,
                             zIn: number, bias: Int32Array | null): Int32Array {
  const out = new Int32Array(batch * oh * ow * cout);
  for (let b = 0; b < batch; b++) for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) {
    for (let co = 0; co < cout; co++) {
      let acc = bias ? bias[co] : 0;
      for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
        const iy = y * sh - pt + ky * dh;
        const ix = x * sw - pl + kx * dw;
        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue; // (zIn - zIn) * w = 0
        for (let ci = 0; ci < cin; ci++) {
          const q = input[((b * h + iy) * w + ix) * cin + ci];
          acc = (acc + (q - zIn) * filter[((ky * kw + kx) * cin + ci) * cout + co]) | 0;
        }
      }
      out[((b * oh + y) * ow + x) * cout + co] = acc;
    }
  }
  return out;
}

/** Reference NHWC depthwise convolution (filter [kh, kw, c, mult]), int32 accumulators. */
export function refDepthwiseInt32(input: Int8Array, batch: number, h: number, w: number, c: number,
                                  filter: Int8Array, kh: number, kw: number, mult: number, sh: number, sw: number,
                                  dh: number, dw: number, pt: number, pl: number, oh: number, ow: number,
                                  zIn: number, bias: Int32Array | null): Int32Array {
  const n = c * mult;
  const out = new Int32Array(batch * oh * ow * n);
  for (let b = 0; b < batch; b++) for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) {
    for (let o = 0; o < n; o++) {
      const ci = Math.floor(o / mult);
      let acc = bias ? bias[o] : 0;
      for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
        const iy = y * sh - pt + ky * dh;
        const ix = x * sw - pl + kx * dw;
        const q = iy < 0 || iy >= h || ix < 0 || ix >= w ? zIn : input[((b * h + iy) * w + ix) * c + ci];
        acc = (acc + (q - zIn) * filter[(ky * kw + kx) * n + o]) | 0;
      }
      out[((b * oh + y) * ow + x) * n + o] = acc;
    }
  }
  return out;
}

/** Output size and explicit padding of tfjs 'same' / 'valid' padding. */
export function convOutput(inSize: number, k: number, stride: number, dil: number, same: boolean):
    {out: number; padBefore: number} {
  const eff = (k - 1) * dil + 1;
  if (!same) return {out: Math.max(0, Math.floor((inSize - eff) / stride) + 1), padBefore: 0};
  const out = Math.ceil(inSize / stride);
  const total = Math.max(0, (out - 1) * stride + eff - inSize);
  return {out, padBefore: Math.floor(total / 2)};
}

/** Index and values of the first mismatch, or null. */
export function firstMismatch(got: ArrayLike<number>, want: ArrayLike<number>): string | null {
  if (got.length !== want.length) return `length ${got.length} != ${want.length}`;
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== want[i] && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) {
      return `index ${i}: got ${got[i]}, want ${want[i]}`;
    }
  }
  return null;
}
