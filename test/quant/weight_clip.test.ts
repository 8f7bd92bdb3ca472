import {describe, expect, it} from 'vitest';

import {clipSquaredError, maxAbsOf, mseOptimalClip, quantizeWeightsPerChannel, weightClip} from '../../src/quant';
import {makeRng} from './reference_model';

/** n samples of a Laplace(0, b) distribution (inverse CDF of a uniform). */
function laplace(seed: number, n: number, b: number): number[] {
  const rng = makeRng(seed);
  return Array.from({length: n}, () => {
    const u = rng.floatIn(-0.5, 0.5);
    return -b * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
  });
}

/** Σ (w − Q(w))² straight from the definition, codes −127..127, ties away from zero. */
function squaredErrorModel(values: number[], c: number): number {
  const s = c / 127;
  return values.reduce((sum, w) => {
    const r = w / s;
    const rounded = r >= 0 ? Math.floor(r + 0.5) : -Math.floor(-r + 0.5);
    const q = Math.max(-127, Math.min(127, rounded));
    return sum + (w - q * s) ** 2;
  }, 0);
}

describe('clipSquaredError', () => {
  it('is Σ (w − S·clamp(round(w/S), −127, 127))² with S = c/127', () => {
    const values = laplace(3, 500, 0.1);
    for (const c of [maxAbsOf(values), 0.3, 0.05, 1e-4]) {
      expect(clipSquaredError(values, c)).toBeCloseTo(squaredErrorModel(values, c), 12);
    }
    // Clipped values cost (|w| − c)²; values on the grid cost nothing.
    expect(clipSquaredError([3, -5, 1], 1)).toBeCloseTo(4 + 16, 12);
    expect(clipSquaredError([127, -64, 0, 1], 127)).toBe(0);
  });
});

describe('mseOptimalClip', () => {
  it('on a Laplace channel its error is ≤ max-abs error and minimal over the grid', () => {
    for (const seed of [1, 2, 3, 4]) {
      const values = laplace(seed, 4096, 0.02);
      const maxAbs = maxAbsOf(values);
      const c = mseOptimalClip(values);
      expect(c).toBeGreaterThan(0);
      expect(c).toBeLessThanOrEqual(maxAbs);
      const errorMse = clipSquaredError(values, c);
      expect(errorMse).toBeLessThanOrEqual(clipSquaredError(values, maxAbs));
      for (let k = 1; k <= 100; k++) {
        expect(errorMse).toBeLessThanOrEqual(clipSquaredError(values, (maxAbs * k) / 100));
      }
    }
  });

  it('on a long Laplace tail it clips near the 8-bit optimum ≈ 9.9·b (Banner et al. 2019)', () => {
    // 2^17 samples: max|w| ≈ b·ln(2^17) ≈ 11.8·b, beyond the optimum.
    const b = 0.02;
    const values = laplace(8, 1 << 17, b);
    const maxAbs = maxAbsOf(values);
    const c = mseOptimalClip(values);
    expect(maxAbs).toBeGreaterThan(11 * b);
    expect(c).toBeGreaterThan(8.5 * b);
    expect(c).toBeLessThan(10.5 * b);
    expect(clipSquaredError(values, c)).toBeLessThan(clipSquaredError(values, maxAbs));
  });

  it('on a uniform channel picks (almost) max|w|', () => {
    for (const seed of [5, 6, 7]) {
      const rng = makeRng(seed);
      const values = Array.from({length: 4096}, () => rng.floatIn(-0.3, 0.3));
      const maxAbs = maxAbsOf(values);
      const c = mseOptimalClip(values);
      expect(c).toBeGreaterThanOrEqual(0.98 * maxAbs);
      expect(c).toBeLessThanOrEqual(maxAbs);
    }
  });

  it('keeps max|w| when clipping does not help, 0 for an all-zero channel', () => {
    // Every value on the max-abs grid: error 0, nothing beats it.
    expect(mseOptimalClip([1, -1, 0.5, 0])).toBe(1);
    expect(mseOptimalClip([0.2])).toBe(0.2);
    expect(mseOptimalClip([0, 0, 0])).toBe(0);
    expect(mseOptimalClip([])).toBe(0);
    expect(() => mseOptimalClip([1], 0)).toThrow(/candidates/);
  });

  it('a single large outlier is kept: clipping it would cost more than the bulk gains', () => {
    const rng = makeRng(11);
    const values = Array.from({length: 256}, () => rng.floatIn(-0.01, 0.01));
    values[17] = 1;
    // Clipping it to c costs (1 − c)², while the whole bulk's rounding error
    // at max-abs is only 255·(1/127)²/12 ≈ 1.3e-3.
    expect(mseOptimalClip(values)).toBe(1);
  });
});

describe('weightClip and quantizeWeightsPerChannel with clip', () => {
  it('weightClip dispatches on the method', () => {
    const values = laplace(9, 1000, 1);
    expect(weightClip(values, 'maxAbs')).toBe(maxAbsOf(values));
    expect(weightClip(values, 'mse')).toBe(mseOptimalClip(values));
    expect(() => weightClip(values, 'p99' as never)).toThrow(/Unknown weight clip method 'p99'/);
  });

  it("clip 'mse' uses each channel's MSE-optimal threshold; the default stays max-abs", () => {
    // [outer 2, channels 3, inner 4] along axis 1: channel c holds elements with floor(i/4) % 3 = c.
    const shape = [2, 3, 4];
    const rng = makeRng(13);
    const values = Array.from({length: 24}, () => rng.floatIn(-1, 1) ** 5);
    const channel = (c: number) => values.filter((_, i) => Math.floor(i / 4) % 3 === c);
    const byDefault = quantizeWeightsPerChannel(values, shape, 1);
    const maxAbs = quantizeWeightsPerChannel(values, shape, 1, 'w', {clip: 'maxAbs'});
    const mse = quantizeWeightsPerChannel(values, shape, 1, 'w', {clip: 'mse'});
    expect(maxAbs).toEqual(byDefault);
    for (let c = 0; c < 3; c++) {
      expect(byDefault.scale[c]).toBe(maxAbsOf(channel(c)) / 127);
      expect(mse.scale[c]).toBe(mseOptimalClip(channel(c)) / 127);
    }
    for (let i = 0; i < 24; i++) {
      const s = mse.scale[Math.floor(i / 4) % 3];
      const expected = Math.max(-127, Math.min(127, Math.sign(values[i]) * Math.floor(Math.abs(values[i] / s) + 0.5))) + 0;
      expect(mse.codes[i]).toBe(expected);
    }
    let errorMse = 0;
    let errorMaxAbs = 0;
    for (let i = 0; i < 24; i++) {
      const c = Math.floor(i / 4) % 3;
      errorMse += (values[i] - mse.codes[i] * mse.scale[c]) ** 2;
      errorMaxAbs += (values[i] - maxAbs.codes[i] * maxAbs.scale[c]) ** 2;
    }
    expect(errorMse).toBeLessThanOrEqual(errorMaxAbs);
  });

  it("clip 'mse' rejects non-finite weights naming the tensor; all-zero channels get scale 1", () => {
    expect(() => quantizeWeightsPerChannel([1, Number.NaN], [2], 0, 'fc/kernel', {clip: 'mse'})).toThrow(
      /'fc\/kernel'.*index 1/,
    );
    const {scale, codes} = quantizeWeightsPerChannel([0, 0, 0.5, -1], [2, 2], 0, 'w', {clip: 'mse'});
    expect(scale).toEqual([1, 1 / 127]);
    expect(Array.from(codes)).toEqual([0, 0, 64, -127]);
  });
});
