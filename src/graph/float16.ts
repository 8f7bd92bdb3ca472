// float16 storage of float constants (pure functions on numbers). tfjs decodes a weight
// stored with the manifest quantization {dtype: 'float16'} to float32 exactly, so a value
// that is a float16 (here: times a power of two) is stored in 2 bytes without loss, and
// everything downstream uses the decoded value.

/** Smallest positive normal float16, 2^-14. */
export const FLOAT16_MIN_NORMAL = 2 ** -14;
/** Largest finite float16. */
export const FLOAT16_MAX = 65504;
/** Spacing of float16 subnormals, 2^-24. */
const FLOAT16_SUBNORMAL_STEP = 2 ** -24;

/** floor(log2(a)) for a finite a > 0, exact (Math.log2 may be off by one next to powers of two). */
function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  return e;
}

/** The float16 bits of `x` when x is exactly a float16 (normal, subnormal or ±0); undefined otherwise. */
export function float16BitsOf(x: number): number | undefined {
  if (!Number.isFinite(x)) return undefined;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === 0) return sign;
  if (a < FLOAT16_MIN_NORMAL) {
    const m = a / FLOAT16_SUBNORMAL_STEP;
    return Number.isInteger(m) ? sign | m : undefined;
  }
  if (a > FLOAT16_MAX) return undefined;
  const e = exponentOf(a);
  const fraction = a / 2 ** (e - 10) - 1024;
  return Number.isInteger(fraction) ? sign | ((e + 15) << 10) | fraction : undefined;
}

export function isFloat16(x: number): boolean {
  return float16BitsOf(x) !== undefined;
}

/** Whether every value is exactly a float16 (so float16 storage is lossless). */
export function allFloat16(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) {
    if (float16BitsOf(values[i]) === undefined) return false;
  }
  return true;
}

/** The float16 bit patterns of values that are all float16s (throws naming `name` otherwise). */
export function float16Bits(values: ArrayLike<number>, name: string): Uint16Array {
  const bits = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const b = float16BitsOf(values[i]);
    if (b === undefined) throw new Error(`Weight '${name}' is stored as float16 but value #${i} (${values[i]}) is not a float16.`);
    bits[i] = b;
  }
  return bits;
}

export type Float16Rounding = 'up' | 'nearest';

/**
 * A normal float16 near x (x ≠ 0 with |x| in [2^-14, 65504]): 'up' the smallest ≥ x,
 * 'nearest' the nearest (ties away from zero); undefined outside the normal range.
 */
export function toFloat16(x: number, rounding: Float16Rounding): number | undefined {
  const a = Math.abs(x);
  if (!(a >= FLOAT16_MIN_NORMAL && a <= FLOAT16_MAX)) return undefined;
  const ulp = 2 ** (exponentOf(a) - 10);
  // x / ulp is exact (a power of two), so the rounding is decided on exact numbers.
  const steps = x / ulp;
  const rounded = (rounding === 'up' ? Math.ceil(steps) : Math.sign(steps) * Math.round(Math.abs(steps))) * ulp;
  return Math.abs(rounded) <= FLOAT16_MAX ? rounded : undefined;
}

/** The smallest float32 ≥ x (x finite). */
export function roundUpToFloat32(x: number): number {
  const f = Math.fround(x);
  if (f >= x) return f;
  const bits = new Float32Array([f]);
  const word = new Int32Array(bits.buffer);
  // One ulp toward +∞: for f ≥ 0 the bit pattern grows, for f < 0 it shrinks (−0 → smallest positive).
  if (f > 0) word[0]++;
  else if (f < 0) word[0]--;
  else word[0] = 1;
  return bits[0];
}

/**
 * How per-channel float constants are stored: as float16 with a power-of-two offset k ≥ 0
 * (stored = value·2^k, so value = stored·2^-k exactly), or as float32.
 */
export type FloatStorage = {dtype: 'float16'; exponent: number} | {dtype: 'float32'};

/**
 * The power-of-two offset k ≥ 0 that brings every nonzero |value| into float16's normal
 * range (0 when they already are), or undefined when they do not fit for any such k.
 */
function float16Exponent(values: readonly number[]): number | undefined {
  let lo = Infinity;
  let hi = 0;
  for (const v of values) {
    const a = Math.abs(v);
    if (a > 0) {
      lo = Math.min(lo, a);
      hi = Math.max(hi, a);
    }
  }
  if (hi === 0) return 0;
  if (!Number.isFinite(hi)) return undefined;
  const exponent = lo < FLOAT16_MIN_NORMAL ? exponentOf(FLOAT16_MIN_NORMAL) - exponentOf(lo) : 0;
  // Rounding up stays ≤ FLOAT16_MAX when the value is (65504 is a float16).
  return hi * 2 ** exponent <= FLOAT16_MAX ? exponent : undefined;
}

/**
 * Per-channel float constants made storable without loss: each value moved to the
 * float16 grid (times 2^-exponent, one exponent for all) with `rounding`, or, when the
 * values span more than float16's normal range, to float32 (rounded up for 'up').
 * The returned values are the ones to compute with: storing them loses nothing.
 */
export function storableFloats(values: readonly number[], rounding: Float16Rounding): {values: number[]; storage: FloatStorage} {
  const exponent = float16Exponent(values);
  if (exponent !== undefined) {
    const scale = 2 ** exponent;
    return {
      values: values.map(v => (v === 0 ? 0 : (toFloat16(v * scale, rounding) as number) / scale)),
      storage: {dtype: 'float16', exponent},
    };
  }
  return {values: values.map(v => (rounding === 'up' ? roundUpToFloat32(v) : Math.fround(v))), storage: {dtype: 'float32'}};
}
