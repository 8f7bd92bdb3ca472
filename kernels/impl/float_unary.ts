/**
 * Float32 clamps (Relu, Relu6, ClipByValue) as tight, branch-free loops over
 * the float32 bit patterns. tfjs-backend-cpu runs them through one generic
 * per-element callback (unaryKernelFunc) that V8 cannot inline, and even an
 * inlined `v > 0 ? v : 0` costs a mispredicted branch per element on
 * activations of mixed sign (~8 ms per 1.2 M elements here). The results equal
 * the cpu kernel's for every input, including the special values:
 *
 * - Relu `max(0, x)`: NaN → NaN, −0 → +0 (Math.max orders −0 below +0).
 * - Relu6 `min(max(0, x), 6)`: likewise, NaN → NaN, −0 → +0.
 * - ClipByValue `x > hi ? hi : (x < lo ? lo : x)` (float comparisons, so
 *   −0 == +0 and NaN compares false): NaN → NaN; −0 stays −0 unless a bound
 *   says otherwise.
 *
 * The trick: for non-NaN float32 bits b, key(b) = b ^ ((b >> 31) & 0x7fffffff)
 * is an int32 with the order of the floats (except that key(−0) = −1 <
 * key(+0) = 0, handled where it matters), and comparisons written as
 * `(p > q) | 0` compile to flag moves, not branches. NaN passes through with
 * its own bits (the cpu kernel passes it through a double).
 */

const ABS = 0x7fffffff;
const INF_BITS = 0x7f800000;
const SIX_BITS = 0x40c00000; // 6.0f

/** A comparison's result as 0/1 (TypeScript's view of `bool | 0`; no conversion happens). */
function flag(condition: boolean): number {
  return condition as unknown as number;
}

function bitsOf(x: Float32Array): Int32Array {
  return new Int32Array(x.buffer, x.byteOffset, x.length);
}

export function reluFloat(x: Float32Array): Float32Array {
  const n = x.length;
  const out = new Float32Array(n);
  const xb = bitsOf(x), ob = bitsOf(out);
  for (let i = 0; i < n; i++) {
    const b = xb[i];
    const notNan = flag((b & ABS) <= INF_BITS) | 0;
    // −1 when the sign bit is set on a non-NaN (negative, −0, −∞): the output is +0.
    const negative = (b >> 31) & -notNan;
    ob[i] = b & ~negative;
  }
  return out;
}

export function relu6Float(x: Float32Array): Float32Array {
  const n = x.length;
  const out = new Float32Array(n);
  const xb = bitsOf(x), ob = bitsOf(out);
  for (let i = 0; i < n; i++) {
    const b = xb[i];
    const nan = -(flag((b & ABS) > INF_BITS) | 0);
    const negative = (b >> 31) & ~nan;
    const positive = b & ~negative; // non-NaN: bits of max(0, x) in [0, +∞], ordered as ints
    const above = -(flag(positive > SIX_BITS) | 0);
    const clamped = (positive & ~above) | (SIX_BITS & above);
    ob[i] = (clamped & ~nan) | (b & nan);
  }
  return out;
}

/** Whether clipFloat computes ClipByValue for these bounds (float32-representable, not NaN). */
export function clipBoundsSupported(lo: number, hi: number): boolean {
  return Math.fround(lo) === lo && Math.fround(hi) === hi; // false for NaN
}

/** The order key of a float32 (see above). */
function key(bits: number): number {
  return bits ^ ((bits >> 31) & ABS);
}

export function clipFloat(x: Float32Array, lo: number, hi: number): Float32Array {
  if (!clipBoundsSupported(lo, hi)) throw new Error(`clipFloat: bounds ${lo}, ${hi} are not float32 values.`);
  const bounds = new Int32Array(new Float32Array([lo, hi]).buffer);
  const loBits = bounds[0], hiBits = bounds[1];
  // x < lo ⟺ key(x) < kLo and x > hi ⟺ key(x) > kHi for non-NaN x: a zero bound
  // compares like −0 from below (key −1) and like +0 from above (key 0).
  const kLo = lo === 0 ? -1 : key(loBits);
  const kHi = hi === 0 ? 0 : key(hiBits);
  const n = x.length;
  const out = new Float32Array(n);
  const xb = bitsOf(x), ob = bitsOf(out);
  for (let i = 0; i < n; i++) {
    const b = xb[i];
    const notNan = -(flag((b & ABS) <= INF_BITS) | 0);
    const k = b ^ ((b >> 31) & ABS);
    const above = -(flag(k > kHi) | 0) & notNan;
    const below = -(flag(k < kLo) | 0) & notNan & ~above;
    ob[i] = (b & ~(above | below)) | (hiBits & above) | (loBits & below);
  }
  return out;
}
