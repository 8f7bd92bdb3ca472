import {describe, expect, it} from 'vitest';

import {
  multiplyByQuantizedMultiplier,
  quantizeMultiplier,
  roundHalfAwayFromZero,
  roundingDivide,
  roundingDivideByPOT,
  saturatingRoundingDoublingHighMul,
} from '../../src/quant';
import {
  INT32_MAX,
  INT32_MIN,
  gemmlowpEdgeValues,
  makeRng,
  mbqmModel,
  quantizeMultiplierModel,
  roundDivModel,
  roundDivPow2Model,
  srdhmModel,
} from './reference_model';

const quantize = (real: number): [number, number] => {
  const {multiplier, shift} = quantizeMultiplier(real);
  return [multiplier, shift];
};

// Vectors from tensorflow/lite/kernels/internal/quantization_util_test.cc.
describe('quantizeMultiplier: TFLite quantization_util_test.cc vectors', () => {
  it('QuantizeMultiplierSmallerThanOneExp', () => {
    expect(quantize(0.25)).toEqual([1073741824, -1]);
    expect(quantize(0.5 - 5e-9)).toEqual([2147483627, -1]);
    expect(quantize(0.5 - 1e-10)).toEqual([1073741824, 0]);
    expect(quantize(0.5)).toEqual([1073741824, 0]);
    expect(quantize(0.75)).toEqual([1610612736, 0]);
    expect(quantize(1 - 1e-9)).toEqual([2147483646, 0]);
  });

  it('QuantizeMultiplierGreaterThanOne', () => {
    expect(quantize(1 + 1e-11)).toEqual([1073741824, 1]);
    expect(quantize(1.25)).toEqual([1342177280, 1]);
    expect(quantize(1.5)).toEqual([1610612736, 1]);
    expect(quantize(1.75)).toEqual([1879048192, 1]);
    expect(quantize(2 - 1e-9)).toEqual([2147483647, 1]);
    expect(quantize(2 - 1e-11)).toEqual([1073741824, 2]);
    expect(quantize(2)).toEqual([1073741824, 2]);
  });

  it('QuantizeMultiplierUnderflow (ldexp of float constants)', () => {
    expect(quantize(2 ** -31)).toEqual([1073741824, -30]);
    expect(quantize(2 ** -32)).toEqual([1073741824, -31]);
    expect(quantize(Math.fround(0.99) * 2 ** -32)).toEqual([0, 0]);
    expect(quantize(2 ** -33)).toEqual([0, 0]);
  });

  it('QuantizeMultiplierArray', () => {
    const weights = [-4, -2, -1, -0.5, -0.25, -0.125, 0, 0.125, 0.25, 0.5, 1, 2, 4];
    const significands = [
      -1073741824, -1073741824, -1073741824, -1073741824, -1073741824, -1073741824, 0, 1073741824, 1073741824,
      1073741824, 1073741824, 1073741824, 1073741824,
    ];
    const shifts = [3, 2, 1, 0, -1, -2, 0, -2, -1, 0, 1, 2, 3];
    expect(weights.map((w) => quantizeMultiplier(w).multiplier)).toEqual(significands);
    expect(weights.map((w) => quantizeMultiplier(w).shift)).toEqual(shifts);
  });

  it('the carry when the mantissa rounds to 2^31, and the flush boundary', () => {
    // (1 − 2^-40)·2^-32: frexp exponent −32, mantissa rounds up to 2^31 → (2^30, −31): kept.
    expect(quantize((1 - 2 ** -40) * 2 ** -32)).toEqual([1073741824, -31]);
    expect(quantize(1 - 2 ** -40)).toEqual([1073741824, 1]);
    // A negative mantissa rounding to −2^31 is not carried (TFLite checks only +2^31).
    expect(quantize(-(1 - 2 ** -40))).toEqual([INT32_MIN, 0]);
    expect(quantize(-0)).toEqual([0, 0]);
  });

  it('rejects non-finite multipliers with a message naming the value', () => {
    expect(() => quantizeMultiplier(Number.NaN)).toThrow(/NaN/);
    expect(() => quantizeMultiplier(Number.POSITIVE_INFINITY)).toThrow(/Infinity/);
  });

  it('matches an exact model and reconstructs real within half a unit, on random reals', () => {
    const rng = makeRng(7);
    for (let i = 0; i < 5000; i++) {
      const mantissa = rng.floatIn(0.5, 1);
      const real = (rng.uint32() & 1 ? -1 : 1) * mantissa * 2 ** rng.intIn(-40, 40);
      const got = quantizeMultiplier(real);
      expect(got).toEqual(quantizeMultiplierModel(real));
      if (got.multiplier !== 0) {
        const unit = 2 ** (got.shift - 31);
        expect(Math.abs(real - got.multiplier * unit)).toBeLessThanOrEqual(unit / 2);
        if (real > 0) {
          expect(got.multiplier).toBeGreaterThanOrEqual(2 ** 30);
          expect(got.multiplier).toBeLessThan(2 ** 31);
        }
      }
    }
  });
});

// Vectors from tensorflow/lite/kernels/internal/quantization_util_test.cc
// (MultiplyByQuantizedMultiplierInt32, double-rounding branch).
describe('multiplyByQuantizedMultiplier: TFLite vectors', () => {
  const quantAndMultiply = (x: number, real: number): number => {
    const {multiplier, shift} = quantizeMultiplier(real);
    return multiplyByQuantizedMultiplier(x, multiplier, shift);
  };

  it('MultiplyByQuantizedMultiplierInt32', () => {
    expect(quantAndMultiply(0, 0.1)).toBe(0);
    expect(quantAndMultiply(1, 0)).toBe(0);
    expect(quantAndMultiply(10000, 0.00097656)).toBe(10);
    expect(quantAndMultiply(-10000, 0.00097656)).toBe(-10);
    expect(quantAndMultiply(INT32_MIN, 0.00001)).toBe(-21475);
    expect(quantAndMultiply(INT32_MAX, 0.00001)).toBe(21475);
    expect(quantAndMultiply(10000, -0.00097656)).toBe(-10);
    expect(quantAndMultiply(-10000, -0.00097656)).toBe(10);
    expect(quantAndMultiply(INT32_MIN, -0.00001)).toBe(21475);
    expect(quantAndMultiply(INT32_MAX, -0.00001)).toBe(-21475);
  });

  it('maximum x and multiplier, shift −3', () => {
    // expected = TfLiteRound(int64(x)·M / double(2^34)), the int64 product rounded to double first.
    const x = INT32_MAX;
    const expected = Math.round(Number(BigInt(x) * BigInt(INT32_MAX)) / 2 ** 34);
    expect(expected).toBe(268435456);
    expect(multiplyByQuantizedMultiplier(x, INT32_MAX, -3)).toBe(expected);
    expect(multiplyByQuantizedMultiplier(-x, INT32_MAX, -3)).toBe(-expected);
  });

  it('x·2^leftShift wraps to int32 (what TFLite compiled C does on overflow)', () => {
    // 2^30·4 wraps to 0; (2^30 + 1)·2 wraps to −2^31 + 2.
    expect(multiplyByQuantizedMultiplier(2 ** 30, 2 ** 30, 2)).toBe(0);
    expect(multiplyByQuantizedMultiplier(2 ** 30 + 1, INT32_MAX, 1)).toBe(mbqmModel(2 ** 30 + 1, INT32_MAX, 1));
    expect(multiplyByQuantizedMultiplier(2 ** 30 + 1, INT32_MAX, 1)).toBe(-(2 ** 31) + 3);
    expect(multiplyByQuantizedMultiplier(3, 2 ** 30, 31)).toBe(mbqmModel(3, 2 ** 30, 31));
  });
});

describe('saturatingRoundingDoublingHighMul', () => {
  const edges = gemmlowpEdgeValues();

  it('known cases: saturation, nudge direction, ties', () => {
    expect(saturatingRoundingDoublingHighMul(INT32_MIN, INT32_MIN)).toBe(INT32_MAX);
    expect(saturatingRoundingDoublingHighMul(INT32_MIN, INT32_MAX)).toBe(-INT32_MAX);
    expect(saturatingRoundingDoublingHighMul(INT32_MAX, INT32_MAX)).toBe(INT32_MAX - 1);
    expect(saturatingRoundingDoublingHighMul(2 ** 30, 1)).toBe(1); // +0.5 → 1
    expect(saturatingRoundingDoublingHighMul(-(2 ** 30), 1)).toBe(0); // −0.5 → 0 (gemmlowp nudge)
    expect(saturatingRoundingDoublingHighMul(-(2 ** 30) - 1, 1)).toBe(-1);
    expect(saturatingRoundingDoublingHighMul(-3 * 2 ** 29, 2)).toBe(-1); // −1.5 → −1
    expect(saturatingRoundingDoublingHighMul(0, INT32_MIN)).toBe(0);
  });

  // gemmlowp test/test_fixedpoint.cc test_mul<0,0>: within 1 of the rounded real product.
  it('gemmlowp test_mul tolerance on all pairs of its edge values', () => {
    for (const a of edges) {
      for (const b of edges) {
        const got = saturatingRoundingDoublingHighMul(a, b);
        const real = Math.min(Math.max(Math.round((a / 2 ** 31) * b), INT32_MIN), INT32_MAX);
        expect(Math.abs(got - real)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('bit-exact with the int64 model on all edge pairs', () => {
    let mismatches = 0;
    for (const a of edges) {
      for (const b of edges) {
        if (saturatingRoundingDoublingHighMul(a, b) !== srdhmModel(a, b)) mismatches++;
      }
    }
    expect(mismatches).toBe(0);
  });

  it('bit-exact with the int64 model on 20000 random pairs', () => {
    const rng = makeRng(11);
    for (let i = 0; i < 20000; i++) {
      const a = rng.int32();
      const b = i % 4 === 0 ? edges[rng.intIn(0, edges.length - 1)] : rng.int32();
      expect(saturatingRoundingDoublingHighMul(a, b)).toBe(srdhmModel(a, b));
    }
  });
});

describe('roundingDivideByPOT', () => {
  const edges = gemmlowpEdgeValues();

  it('known cases: ties away from zero', () => {
    expect(roundingDivideByPOT(5, 1)).toBe(3);
    expect(roundingDivideByPOT(-5, 1)).toBe(-3);
    expect(roundingDivideByPOT(6, 2)).toBe(2); // 1.5 → 2
    expect(roundingDivideByPOT(-6, 2)).toBe(-2);
    expect(roundingDivideByPOT(-7, 2)).toBe(-2); // −1.75
    expect(roundingDivideByPOT(-5, 2)).toBe(-1); // −1.25
    expect(roundingDivideByPOT(INT32_MIN, 31)).toBe(-1);
    expect(roundingDivideByPOT(INT32_MAX, 31)).toBe(1);
    expect(roundingDivideByPOT(-(2 ** 30), 31)).toBe(-1); // −0.5 → −1
    expect(roundingDivideByPOT(2 ** 30 - 1, 31)).toBe(0);
    expect(roundingDivideByPOT(INT32_MIN, 0)).toBe(INT32_MIN);
  });

  // gemmlowp test/test_fixedpoint.cc RoundingDivideByPOTOp: reference std::round(x / 2^s), tolerance 0.
  it('gemmlowp RoundingDivideByPOTOp reference on its edge values, exponents 0..31', () => {
    for (let s = 0; s < 32; s++) {
      for (const x of edges) {
        expect(roundingDivideByPOT(x, s)).toBe(roundHalfAwayFromZero(x / 2 ** s));
      }
    }
  });

  it('bit-exact with the exact model on random int32, exponents 0..31', () => {
    const rng = makeRng(13);
    for (let s = 0; s < 32; s++) {
      for (let i = 0; i < 300; i++) {
        const x = rng.int32();
        expect(roundingDivideByPOT(x, s)).toBe(roundDivPow2Model(x, s));
      }
    }
  });
});

describe('multiplyByQuantizedMultiplier property test', () => {
  it('bit-exact with the BigInt model for shifts −31..30 on random and extreme inputs', () => {
    const rng = makeRng(17);
    const specials = [INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX];
    let checked = 0;
    for (let shift = -31; shift <= 30; shift++) {
      for (let i = 0; i < 160; i++) {
        const x = i < specials.length ? specials[i] : rng.int32();
        const kind = i % 4;
        const multiplier =
          kind === 0
            ? rng.intIn(2 ** 30, INT32_MAX) // what quantizeMultiplier returns for positive reals
            : kind === 1
              ? specials[i % specials.length]
              : rng.int32();
        expect(multiplyByQuantizedMultiplier(x, multiplier, shift)).toBe(mbqmModel(x, multiplier, shift));
        checked++;
      }
    }
    expect(checked).toBe(62 * 160);
  });

  it('agrees with x·real within 1 when nothing saturates', () => {
    const rng = makeRng(19);
    for (let i = 0; i < 5000; i++) {
      const real = rng.logUniform(1e-6, 4);
      const x = rng.intIn(-(2 ** 20), 2 ** 20);
      const {multiplier, shift} = quantizeMultiplier(real);
      const got = multiplyByQuantizedMultiplier(x, multiplier, shift);
      expect(Math.abs(got - x * real)).toBeLessThanOrEqual(1);
    }
  });
});

describe('roundHalfAwayFromZero and roundingDivide', () => {
  it('rounds ties away from zero and never returns −0', () => {
    expect([2.5, -2.5, 0.5, -0.5, 1.4999, -1.4999, 0.49999999999999994].map(roundHalfAwayFromZero)).toEqual([
      3, -3, 1, -1, 1, -1, 0,
    ]);
    expect(Object.is(roundHalfAwayFromZero(-0.2), 0)).toBe(true);
    expect(Object.is(roundHalfAwayFromZero(-0), 0)).toBe(true);
  });

  it('TFLite average-pool rounding: known cases', () => {
    expect(roundingDivide(3, 2)).toBe(2);
    expect(roundingDivide(-3, 2)).toBe(-2);
    expect(roundingDivide(5, 10)).toBe(1);
    expect(roundingDivide(-5, 10)).toBe(-1);
    expect(roundingDivide(4, 10)).toBe(0);
    expect(roundingDivide(2, 5)).toBe(0);
    expect(roundingDivide(3, 5)).toBe(1);
    expect(Object.is(roundingDivide(-2, 5), 0)).toBe(true);
    expect(roundingDivide(0, 7)).toBe(0);
    expect(roundingDivide(-128 * 49, 49)).toBe(-128);
  });

  it('bit-exact with exact rational rounding on random sums of int8 windows', () => {
    const rng = makeRng(23);
    for (let i = 0; i < 5000; i++) {
      const count = rng.intIn(1, 400);
      let sum = 0;
      for (let k = 0; k < count; k++) sum += rng.intIn(-128, 127);
      expect(roundingDivide(sum, count)).toBe(roundDivModel(BigInt(sum), BigInt(count)));
    }
    for (let i = 0; i < 2000; i++) {
      const count = rng.intIn(1, 2 ** 30);
      const sum = rng.int32();
      expect(roundingDivide(sum, count)).toBe(roundDivModel(BigInt(sum), BigInt(count)));
    }
  });
});
