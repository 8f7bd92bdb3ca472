import {describe, expect, it} from 'vitest';

import {
  ADD_LEFT_SHIFT,
  activationRange,
  prepareQuantizedAdd,
  prepareQuantizedMean,
  prepareRequantize,
  quantizeMultiplier,
  quantizedAdd,
  quantizedMean,
  requantize,
  requantizeValue,
  roundingDivide,
} from '../../src/quant';
import {clampTo, makeRng, mbqmModel, roundAway, roundDivModel} from './reference_model';

const rng = makeRng(41);
const randomScale = (): number => rng.logUniform(1e-3, 1);
const randomInt8 = (): number => rng.intIn(-128, 127);

/** TFLite reference Add (reference_integer_ops/add.h) on the BigInt model of MBQM. */
function addModel(q1: number, q2: number, p: ReturnType<typeof prepareQuantizedAdd>, lo: number, hi: number): number {
  const s1 = mbqmModel((q1 - p.input1ZeroPoint) * 2 ** ADD_LEFT_SHIFT, p.input1Multiplier, p.input1Shift);
  const s2 = mbqmModel((q2 - p.input2ZeroPoint) * 2 ** ADD_LEFT_SHIFT, p.input2Multiplier, p.input2Shift);
  return clampTo(p.outputZeroPoint + mbqmModel(s1 + s2, p.outputMultiplier, p.outputShift), lo, hi);
}

describe('quantized Add (TFLite add.cc / reference_integer_ops/add.h)', () => {
  it('prepare: the multipliers of TFLite Prepare', () => {
    const p = prepareQuantizedAdd({scale: 0.02, zeroPoint: 3}, {scale: 0.01, zeroPoint: -7}, {scale: 0.05, zeroPoint: 1});
    expect([p.input1Multiplier, p.input1Shift]).toEqual([1073741824, 0]); // 0.02/0.04 = 0.5
    expect([p.input2Multiplier, p.input2Shift]).toEqual([1073741824, -1]); // 0.25
    const out = quantizeMultiplier(0.04 / (2 ** 20 * 0.05));
    expect([p.outputMultiplier, p.outputShift]).toEqual([out.multiplier, out.shift]);
    expect([p.input1ZeroPoint, p.input2ZeroPoint, p.outputZeroPoint]).toEqual([3, -7, 1]);
  });

  it('within 1 LSB of the float sum and bit-exact with the BigInt model, random data', () => {
    let checked = 0;
    for (let trial = 0; trial < 200; trial++) {
      const a = {scale: randomScale(), zeroPoint: randomInt8()};
      const b = {scale: randomScale(), zeroPoint: randomInt8()};
      const out = {scale: randomScale() * 2, zeroPoint: randomInt8()};
      const p = prepareQuantizedAdd(a, b, out);
      for (let i = 0; i < 50; i++) {
        const q1 = randomInt8();
        const q2 = randomInt8();
        const got = quantizedAdd(q1, q2, p, -128, 127);
        const real = a.scale * (q1 - a.zeroPoint) + b.scale * (q2 - b.zeroPoint);
        const expected = clampTo(roundAway(real / out.scale) + out.zeroPoint, -128, 127);
        expect(Math.abs(got - expected)).toBeLessThanOrEqual(1);
        expect(got).toBe(addModel(q1, q2, p, -128, 127));
        checked++;
      }
    }
    expect(checked).toBe(10000);
  });

  it('equal scales add exactly; a fused clamp applies', () => {
    const s = {scale: 0.1, zeroPoint: 0};
    const p = prepareQuantizedAdd(s, s, s);
    expect(quantizedAdd(20, 30, p, -128, 127)).toBe(50);
    expect(quantizedAdd(-20, 5, p, -128, 127)).toBe(-15);
    expect(quantizedAdd(100, 100, p, -128, 127)).toBe(127);
    expect(quantizedAdd(-20, 5, p, 0, 127)).toBe(0);
  });

  it('rejects bad scales and an output multiplier ≥ 1, naming the values', () => {
    const ok = {scale: 0.1, zeroPoint: 0};
    expect(() => prepareQuantizedAdd({scale: 0, zeroPoint: 0}, ok, ok)).toThrow(/first input scale 0/);
    expect(() => prepareQuantizedAdd(ok, ok, {scale: 0.1, zeroPoint: 0.5})).toThrow(/output zero point 0.5/);
    expect(() => prepareQuantizedAdd(ok, ok, {scale: 1e-7, zeroPoint: 0})).toThrow(/output scale 1e-7/);
  });
});

describe('average pooling rounding (TFLite reference_integer_ops/pooling.h)', () => {
  it('roundingDivide is the float average rounded half away from zero, on random int8 windows', () => {
    for (let i = 0; i < 3000; i++) {
      const count = rng.intIn(1, 64);
      let sum = 0;
      for (let k = 0; k < count; k++) sum += randomInt8();
      const got = roundingDivide(sum, count);
      expect(Math.abs(got - sum / count)).toBeLessThanOrEqual(0.5);
      expect(got).toBe(roundDivModel(BigInt(sum), BigInt(count)));
    }
  });
});

/** TFLite QuantizedMeanOrSum with int64 BigInt folding of the count. */
function meanModel(sum: number, count: number, input: {scale: number; zeroPoint: number}, output: {scale: number; zeroPoint: number}): number {
  const {multiplier, shift} = quantizeMultiplier(input.scale / output.scale);
  let countShift = 0;
  while (2 ** (countShift + 1) <= count) countShift++;
  countShift = Math.min(countShift, 32, 31 + shift);
  const folded = Number((BigInt(multiplier) << BigInt(countShift)) / BigInt(count));
  const centered = Number(BigInt.asIntN(32, BigInt(sum) - BigInt(input.zeroPoint) * BigInt(count)));
  return clampTo(output.zeroPoint + mbqmModel(centered, folded, shift - countShift), -128, 127);
}

describe('quantized Mean (TFLite reduce.h QuantizedMeanOrSum)', () => {
  it('within 1 LSB of the float mean and bit-exact with the BigInt model, random data', () => {
    for (let trial = 0; trial < 300; trial++) {
      const input = {scale: randomScale(), zeroPoint: randomInt8()};
      const output = {scale: input.scale * rng.logUniform(0.2, 5), zeroPoint: randomInt8()};
      const count = [1, 2, 3, 49, 196, 1024, rng.intIn(1, 5000)][trial % 7];
      const p = prepareQuantizedMean(input, output, count);
      for (let i = 0; i < 10; i++) {
        let sum = 0;
        for (let k = 0; k < count; k++) sum += randomInt8();
        const got = quantizedMean(sum, p);
        const realMean = input.scale * (sum / count - input.zeroPoint);
        const expected = clampTo(roundAway(realMean / output.scale) + output.zeroPoint, -128, 127);
        expect(Math.abs(got - expected)).toBeLessThanOrEqual(1);
        expect(got).toBe(meanModel(sum, count, input, output));
      }
    }
  });

  it('identical input and output params: the mean of the codes, with TFLite\'s double rounding', () => {
    const params = {scale: 0.05, zeroPoint: -3};
    const p = prepareQuantizedMean(params, params, 4);
    expect(quantizedMean(10 + 20 + 30 + 42, p)).toBe(26); // 25.5 → 26
    expect(quantizedMean(-128 * 4, p)).toBe(-128);
    // 25.25 → 26, not 25: (M0, n) = (2^30, 1), count 4 folds to (2^30, −1), and
    // MBQM(113, 2^30, −1) rounds twice: SRDHM 56.5 → 57, then RDivByPOT 28.5 → 29.
    expect(quantizedMean(10 + 20 + 30 + 41, p)).toBe(26);
    expect(quantizedMean(10 + 20 + 30 + 41, p)).toBe(meanModel(101, 4, params, params));
  });

  it('folds large counts exactly (the int64 M0·2^k / count)', () => {
    const input = {scale: 0.01, zeroPoint: 0};
    const output = {scale: 0.003, zeroPoint: 0};
    for (const count of [7, 2 ** 20 + 1, 2 ** 31 + 5, 3 * 2 ** 33 + 1]) {
      const p = prepareQuantizedMean(input, output, count);
      const {multiplier, shift} = quantizeMultiplier(input.scale / output.scale);
      let k = 0;
      while (2 ** (k + 1) <= count) k++;
      k = Math.min(k, 32, 31 + shift);
      expect(p.multiplier).toBe(Number((BigInt(multiplier) << BigInt(k)) / BigInt(count)));
      expect(p.shift).toBe(shift - k);
    }
  });

  it('rejects a bad count or scale', () => {
    const ok = {scale: 0.1, zeroPoint: 0};
    expect(() => prepareQuantizedMean(ok, ok, 0)).toThrow(/count 0/);
    expect(() => prepareQuantizedMean(ok, {scale: Number.NaN, zeroPoint: 0}, 4)).toThrow(/output scale NaN/);
  });
});

describe('requantize between per-tensor params (TFLite reference_ops::Requantize)', () => {
  it('within 1 LSB of the float requantization and bit-exact with the model', () => {
    for (let trial = 0; trial < 300; trial++) {
      const from = {scale: randomScale(), zeroPoint: randomInt8()};
      const to = {scale: randomScale(), zeroPoint: randomInt8()};
      const p = prepareRequantize(from, to);
      for (let i = 0; i < 30; i++) {
        const q = randomInt8();
        const got = requantizeValue(q, p);
        const expected = clampTo(roundAway((from.scale * (q - from.zeroPoint)) / to.scale) + to.zeroPoint, -128, 127);
        expect(Math.abs(got - expected)).toBeLessThanOrEqual(1);
        const {multiplier, shift} = quantizeMultiplier(from.scale / to.scale);
        expect(got).toBe(clampTo(to.zeroPoint + mbqmModel(q - from.zeroPoint, multiplier, shift), -128, 127));
      }
    }
  });

  it('same scale only moves the zero point; uint8 output range', () => {
    const p = prepareRequantize({scale: 0.5, zeroPoint: 10}, {scale: 0.5, zeroPoint: -20});
    expect([-128, 0, 10, 127].map((q) => requantizeValue(q, p))).toEqual([-128, -30, -20, 97]);
    const u = prepareRequantize({scale: 0.5, zeroPoint: 0}, {scale: 0.5, zeroPoint: 128}, 'uint8');
    expect([-128, 0, 127].map((q) => requantizeValue(q, u))).toEqual([0, 128, 255]);
  });

  it('saturates to the right end when the scale ratio is large (int32 accumulator to int8)', () => {
    const p = prepareRequantize({scale: 1000, zeroPoint: 0}, {scale: 1, zeroPoint: 0});
    expect([3_000_000, -3_000_000, 2_000_000_000, -2_147_483_648, 0, 1].map((q) => requantizeValue(q, p)))
        .toEqual([127, -128, 127, -128, 0, 127]);
  });

  it('rejects bad params', () => {
    expect(() => prepareRequantize({scale: -1, zeroPoint: 0}, {scale: 1, zeroPoint: 0})).toThrow(/from scale -1/);
  });
});

describe('conv/matmul epilogue requantize and activationRange', () => {
  it('within 1 LSB of round(acc·M) + Z, bit-exact with the model', () => {
    for (let i = 0; i < 5000; i++) {
      const real = rng.logUniform(1e-5, 0.9);
      const {multiplier, shift} = quantizeMultiplier(real);
      const acc = rng.intIn(-(2 ** 24), 2 ** 24);
      const zeroPoint = randomInt8();
      const got = requantize(acc, multiplier, shift, zeroPoint, -128, 127);
      const expected = clampTo(roundAway(acc * real) + zeroPoint, -128, 127);
      expect(Math.abs(got - expected)).toBeLessThanOrEqual(1);
      expect(got).toBe(clampTo(zeroPoint + mbqmModel(acc, multiplier, shift), -128, 127));
    }
  });

  it('activation ranges (TFLite CalculateActivationRangeQuantized)', () => {
    expect(activationRange('linear', 0.05, -10, 'int8')).toEqual({lo: -128, hi: 127});
    expect(activationRange('relu', 0.05, -10, 'int8')).toEqual({lo: -10, hi: 127});
    expect(activationRange('relu6', 0.05, -10, 'int8')).toEqual({lo: -10, hi: 110});
    expect(activationRange('relu6', 6 / 255, -128, 'int8')).toEqual({lo: -128, hi: 127});
    expect(activationRange('relu6', 0.1, 100, 'int8')).toEqual({lo: 100, hi: 127});
    expect(activationRange('relu', 0.1, -200, 'int8')).toEqual({lo: -128, hi: 127});
    expect(activationRange('relu6', 0.08, 0, 'uint8')).toEqual({lo: 0, hi: 75}); // 6/0.08 = 75
    expect(activationRange('relu6', 0.048, 0, 'int8')).toEqual({lo: 0, hi: 125}); // 124.99999… → 125
    expect(() => activationRange('gelu' as 'relu', 0.1, 0, 'int8')).toThrow(/'gelu'/);
  });
});
