import {describe, expect, it} from 'vitest';

import {chooseQuantizationParams, quantRange} from '../../src/quant';
import {makeRng} from './reference_model';

describe('chooseQuantizationParams: TFLite quantization_util_test.cc vectors (uint8)', () => {
  it('ChooseQuantizationParams [−10, 30]', () => {
    const p = chooseQuantizationParams(-10, 30, {dtype: 'uint8'});
    expect(p.scale).toBeCloseTo(0.156863, 5);
    expect(p.zeroPoint).toBe(64);
  });

  it('ZeroPointOnMinBoundary [0, 30]', () => {
    const p = chooseQuantizationParams(0, 30, {dtype: 'uint8'});
    expect(p.scale).toBeCloseTo(0.117647, 5);
    expect(p.zeroPoint).toBe(0);
  });

  it('ZeroPointOnMaxBoundary [−10, 0]', () => {
    const p = chooseQuantizationParams(-10, 0, {dtype: 'uint8'});
    expect(p.scale).toBeCloseTo(0.039216, 5);
    expect(p.zeroPoint).toBe(255);
  });

  it('EmptyRangeZero [0, 0]: scale 1 here (TFLite returns scale 0), zero point 0', () => {
    expect(chooseQuantizationParams(0, 0, {dtype: 'uint8'})).toEqual({scale: 1, zeroPoint: 0});
    expect(chooseQuantizationParams(0, 0, {dtype: 'int8'})).toEqual({scale: 1, zeroPoint: 0});
  });

  it('InvalidRange [10, −30] throws naming both values', () => {
    expect(() => chooseQuantizationParams(10, -30, {dtype: 'uint8'})).toThrow(/min \(10\).*max \(-30\)/);
  });
});

describe('chooseQuantizationParams: known cases', () => {
  it('[−1, 1]', () => {
    expect(chooseQuantizationParams(-1, 1, {dtype: 'uint8'})).toEqual({scale: 2 / 255, zeroPoint: 128});
    // zero point −0.5 from both ends, rounded away from zero.
    expect(chooseQuantizationParams(-1, 1, {dtype: 'int8'})).toEqual({scale: 2 / 255, zeroPoint: -1});
  });

  it('[0, 6] (relu6 output)', () => {
    expect(chooseQuantizationParams(0, 6, {dtype: 'int8'})).toEqual({scale: 6 / 255, zeroPoint: -128});
    expect(chooseQuantizationParams(0, 6, {dtype: 'uint8'})).toEqual({scale: 6 / 255, zeroPoint: 0});
  });

  it('a range not containing 0 is widened to it', () => {
    expect(chooseQuantizationParams(2, 5, {dtype: 'int8'})).toEqual({scale: 5 / 255, zeroPoint: -128});
    expect(chooseQuantizationParams(-5, -2, {dtype: 'int8'})).toEqual({scale: 5 / 255, zeroPoint: 127});
    expect(chooseQuantizationParams(3, 3, {dtype: 'int8'})).toEqual({scale: 3 / 255, zeroPoint: -128});
    expect(chooseQuantizationParams(-3, -3, {dtype: 'uint8'})).toEqual({scale: 3 / 255, zeroPoint: 255});
  });

  it('symmetric: zero point 0 (int8) / 128 (uint8), scale max|·|/127', () => {
    expect(chooseQuantizationParams(-2, 1, {dtype: 'int8', symmetric: true})).toEqual({scale: 2 / 127, zeroPoint: 0});
    expect(chooseQuantizationParams(-0.5, 3, {dtype: 'int8', symmetric: true, narrowRange: true})).toEqual({
      scale: 3 / 127,
      zeroPoint: 0,
    });
    expect(chooseQuantizationParams(1, 4, {dtype: 'int8', symmetric: true})).toEqual({scale: 4 / 127, zeroPoint: 0});
    expect(chooseQuantizationParams(-1, 1, {dtype: 'uint8', symmetric: true})).toEqual({
      scale: 1 / 127,
      zeroPoint: 128,
    });
    expect(chooseQuantizationParams(0, 0, {dtype: 'int8', symmetric: true})).toEqual({scale: 1, zeroPoint: 0});
  });

  it('narrow range drops the lowest code', () => {
    expect(chooseQuantizationParams(-1, 1, {dtype: 'int8', narrowRange: true})).toEqual({
      scale: 2 / 254,
      zeroPoint: 0,
    });
    expect(chooseQuantizationParams(0, 1, {dtype: 'int8', narrowRange: true})).toEqual({
      scale: 1 / 254,
      zeroPoint: -127,
    });
    expect(chooseQuantizationParams(0, 1, {dtype: 'uint8', narrowRange: true})).toEqual({
      scale: 1 / 254,
      zeroPoint: 1,
    });
  });

  it('throws for NaN and infinities, naming the values', () => {
    expect(() => chooseQuantizationParams(Number.NaN, 1, {dtype: 'int8'})).toThrow(/min \(NaN\)/);
    expect(() => chooseQuantizationParams(-1, Number.POSITIVE_INFINITY, {dtype: 'int8'})).toThrow(
      /max \(Infinity\)/,
    );
    expect(() => chooseQuantizationParams(Number.NEGATIVE_INFINITY, 0, {dtype: 'uint8'})).toThrow(/-Infinity/);
  });
});

describe('chooseQuantizationParams invariants on random ranges', () => {
  it('zero point an integer code, real 0 exact, range covered to half a step', () => {
    const rng = makeRng(29);
    for (let i = 0; i < 4000; i++) {
      const dtype = i % 2 === 0 ? 'int8' : 'uint8';
      const narrowRange = i % 3 === 0;
      const a = rng.floatIn(-1, 1) * 10 ** rng.intIn(-4, 4);
      const b = i % 5 === 0 ? a : rng.floatIn(-1, 1) * 10 ** rng.intIn(-4, 4);
      const [min, max] = a <= b ? [a, b] : [b, a];
      const {scale, zeroPoint} = chooseQuantizationParams(min, max, {dtype, narrowRange});
      const qmin = quantRange(dtype).min + (narrowRange ? 1 : 0);
      const qmax = quantRange(dtype).max;
      expect(Number.isInteger(zeroPoint)).toBe(true);
      expect(zeroPoint).toBeGreaterThanOrEqual(qmin);
      expect(zeroPoint).toBeLessThanOrEqual(qmax);
      expect(scale).toBeGreaterThan(0);
      // Real 0 is the code zeroPoint, exactly: S·(Z − Z) = 0.
      expect(scale * (zeroPoint - zeroPoint)).toBe(0);
      // The representable range [S(qmin−Z), S(qmax−Z)] is the widened range, nudged by ≤ S/2.
      const rmin = Math.min(min, 0);
      const rmax = Math.max(max, 0);
      const tolerance = scale / 2 + 1e-9 * (rmax - rmin);
      expect(Math.abs(scale * (qmin - zeroPoint) - rmin)).toBeLessThanOrEqual(tolerance);
      expect(Math.abs(scale * (qmax - zeroPoint) - rmax)).toBeLessThanOrEqual(tolerance);
    }
  });
});
