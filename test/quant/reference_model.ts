// Test-only exact models of the integer definitions, written independently of
// src/quant with BigInt (arbitrary precision), plus a seeded PRNG.

export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;

/** mulberry32: a small seeded PRNG, uint32 outputs. */
export function makeRng(seed: number): {
  uint32: () => number;
  int32: () => number;
  /** Integer in [lo, hi]. */
  intIn: (lo: number, hi: number) => number;
  /** Float in [lo, hi). */
  floatIn: (lo: number, hi: number) => number;
  /** exp(uniform(log lo, log hi)). */
  logUniform: (lo: number, hi: number) => number;
} {
  let state = seed >>> 0;
  const uint32 = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const unit = (): number => uint32() / 4294967296;
  return {
    uint32,
    int32: () => uint32() | 0,
    intIn: (lo, hi) => lo + Math.floor(unit() * (hi - lo + 1)),
    floatIn: (lo, hi) => lo + unit() * (hi - lo),
    logUniform: (lo, hi) => Math.exp(Math.log(lo) + unit() * (Math.log(hi) - Math.log(lo))),
  };
}

/**
 * gemmlowp's edge values (test/test_fixedpoint.cc MakeTestValsInt32, without
 * its mt19937 randoms): ±2^i + {−2..2} for i < 31 and the int32 extremes.
 */
export function gemmlowpEdgeValues(): number[] {
  const values: number[] = [];
  for (let i = 0; i < 31; i++) {
    const p = 2 ** i;
    for (const d of [-2, -1, 0, 1, 2]) {
      values.push(p + d, -p + d);
    }
  }
  values.push(INT32_MIN, INT32_MIN + 1, INT32_MIN + 2, INT32_MAX - 2, INT32_MAX - 1, INT32_MAX);
  return values.filter((v) => v >= INT32_MIN && v <= INT32_MAX);
}

const B30 = 1n << 30n;
const B31 = 1n << 31n;

/** gemmlowp SaturatingRoundingDoublingHighMul, literally, in int64 (BigInt `/` truncates like C). */
export function srdhmModel(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) {
    return INT32_MAX;
  }
  const ab = BigInt(a) * BigInt(b);
  const nudge = ab >= 0n ? B30 : 1n - B30;
  return Number((ab + nudge) / B31);
}

/** x / 2^exponent rounded to nearest, ties away from zero, exactly (the meaning of RoundingDivideByPOT). */
export function roundDivPow2Model(x: number, exponent: number): number {
  return roundDivModel(BigInt(x), 1n << BigInt(exponent));
}

/** n / d (d > 0) rounded to nearest, ties away from zero, exactly. */
export function roundDivModel(n: bigint, d: bigint): number {
  const magnitude = n < 0n ? -n : n;
  let q = magnitude / d;
  if (2n * (magnitude % d) >= d) {
    q += 1n;
  }
  return Number(n < 0n ? -q : q);
}

/** TFLite MultiplyByQuantizedMultiplier (double rounding); x·2^left wraps to int32 as compiled C does. */
export function mbqmModel(x: number, multiplier: number, shift: number): number {
  const left = Math.max(shift, 0);
  const right = Math.max(-shift, 0);
  const shifted = Number(BigInt.asIntN(32, BigInt(x) << BigInt(left)));
  return roundDivPow2Model(srdhmModel(shifted, multiplier), right);
}

/**
 * TFLite QuantizeMultiplier, derived without frexp: find e with
 * 2^(e−1) ≤ |real| < 2^e by comparing against powers of two, then
 * round(|real|·2^(31−e)) half away from zero, the +2^31 carry and the flush.
 */
export function quantizeMultiplierModel(real: number): {multiplier: number; shift: number} {
  if (real === 0) {
    return {multiplier: 0, shift: 0};
  }
  const magnitude = Math.abs(real);
  let e = 0;
  while (2 ** e <= magnitude) e++;
  while (2 ** (e - 1) > magnitude) e--;
  const scaled = magnitude * 2 ** (31 - e); // in [2^30, 2^31), exact
  let q = Math.floor(scaled) + (scaled - Math.floor(scaled) >= 0.5 ? 1 : 0);
  // TFLite carries only +2^31 (q_fixed == 1LL << 31); a mantissa rounding to −1 stays −2^31.
  if (q === 2 ** 31 && real > 0) {
    q = 2 ** 30;
    e += 1;
  }
  if (e < -31) {
    return {multiplier: 0, shift: 0};
  }
  return {multiplier: real < 0 ? -q : q, shift: e};
}

/** Real rounding half away from zero for the float references. */
export function roundAway(x: number): number {
  const r = Math.sign(x) * Math.round(Math.abs(x));
  return r === 0 ? 0 : r;
}

export function clampTo(x: number, lo: number, hi: number): number {
  return Math.min(Math.max(x, lo), hi);
}
