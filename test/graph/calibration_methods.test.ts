import {describe, expect, it} from 'vitest';

import {
  accumulateHistogram, emptyHistogram, emptyStats, extremesOf, Histogram, quantizationMse, rangeEma, rangeEntropy, rangeFor, rangeMinMax,
  rangeMse, rangePercentile, RunningStats, updateStats,
} from '../../src/graph/calibration_methods';
import {seededRandom} from './helpers';

function gaussian(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Stats and histogram of `samples` (each an array of values), as calibration would build them. */
function observe(samples: number[][]): {stats: RunningStats; histogram: Histogram} {
  let stats = emptyStats();
  for (const s of samples) stats = updateStats(stats, extremesOf(s, () => { throw new Error('bad'); }));
  const histogram = emptyHistogram(stats);
  for (const s of samples) accumulateHistogram(histogram, s);
  return {stats, histogram};
}

function gaussianSamples(count: number, size: number, seed: number, outlier?: number): number[][] {
  const random = seededRandom(seed);
  const samples = Array.from({length: count}, () => Array.from({length: size}, () => gaussian(random)));
  if (outlier !== undefined) samples[0][0] = outlier;
  return samples;
}

describe('calibration methods on known distributions', () => {
  it('minmax: the extremes seen', () => {
    const {stats} = observe([[-1, 0.5, 2], [0, 3, -0.25]]);
    expect(rangeMinMax(stats)).toEqual({min: -1, max: 3});
  });

  it('ema: the moving average (decay 0.9) of per-sample extremes', () => {
    const {stats} = observe([[0, 10], [0, 20], [-5, 0]]);
    const expectedMax = 0.9 * (0.9 * 10 + 0.1 * 20) + 0.1 * 0;
    const expectedMin = 0.9 * (0.9 * 0 + 0.1 * 0) + 0.1 * -5;
    expect(rangeEma(stats).max).toBeCloseTo(expectedMax, 10);
    expect(rangeEma(stats).min).toBeCloseTo(expectedMin, 10);
    // One outlying sample moves the EMA less than the min/max.
    expect(rangeEma(stats).max).toBeLessThan(rangeMinMax(stats).max);
  });

  it('percentile: the 0.01%/99.99% quantiles of a uniform distribution clip nothing that matters', () => {
    const random = seededRandom(4);
    const samples = [Array.from({length: 200_000}, () => random() * 4 - 1)]; // U(-1, 3)
    const {histogram} = observe(samples);
    const r = rangePercentile(histogram);
    expect(r.min).toBeGreaterThan(-1.002);
    expect(r.min).toBeLessThan(-0.997);
    expect(r.max).toBeLessThan(3.002);
    expect(r.max).toBeGreaterThan(2.997);
  });

  it('percentile: a single huge outlier is clipped; a Gaussian lands near ±3.9σ', () => {
    const {histogram, stats} = observe(gaussianSamples(4, 50_000, 5, 60));
    expect(stats.max).toBe(60);
    const r = rangePercentile(histogram);
    expect(r.max).toBeGreaterThan(3.2);
    expect(r.max).toBeLessThan(4.5);
    expect(r.min).toBeLessThan(-3.2);
  });

  it('entropy clips a Gaussian\'s lone outlier far inside the seen range; mse weighs its squared error and clips less', () => {
    const {histogram} = observe(gaussianSamples(4, 50_000, 6, 40));
    const entropy = rangeEntropy(histogram);
    expect(entropy.max).toBeLessThan(8);
    expect(entropy.max).toBeGreaterThan(2);
    expect(entropy.min).toBeLessThan(-2);
    const mse = rangeMse(histogram);
    expect(mse.max).toBeLessThan(40);
    expect(quantizationMse(histogram, mse)).toBeLessThan(quantizationMse(histogram, {min: histogram.lo, max: histogram.hi}));
    expect(quantizationMse(histogram, mse)).toBeLessThan(quantizationMse(histogram, entropy));
  });

  it('mse: a uniform distribution keeps (nearly) its full range, and the chosen range has the least error', () => {
    const random = seededRandom(8);
    const {histogram} = observe([Array.from({length: 100_000}, () => random() * 6)]); // U(0, 6): a ReLU6-like activation
    const r = rangeMse(histogram);
    expect(r.min).toBe(0);
    expect(r.max).toBeGreaterThan(5.8);
    const full = quantizationMse(histogram, {min: 0, max: histogram.hi});
    expect(quantizationMse(histogram, r)).toBeLessThanOrEqual(full);
    // Nothing to gain by clipping a uniform distribution in KL terms either.
    expect(rangeEntropy(histogram).max).toBeGreaterThan(5.5);
  });

  it('entropy on a one-sided (post-ReLU) half-Gaussian keeps min at 0 and clips only the tail', () => {
    const samples = gaussianSamples(2, 100_000, 9).map(s => s.map(v => Math.max(0, v)));
    const {histogram, stats} = observe(samples);
    const r = rangeEntropy(histogram);
    expect(r.min).toBe(0);
    expect(r.max).toBeGreaterThan(1.5);
    expect(r.max).toBeLessThanOrEqual(stats.max);
  });

  it('a constant tensor (min == max) gives a histogram over [0, c] and finite ranges', () => {
    const {stats, histogram} = observe([[2, 2, 2], [2, 2]]);
    for (const method of ['minmax', 'ema', 'percentile', 'entropy', 'mse'] as const) {
      const r = rangeFor(method, stats, histogram);
      expect(Number.isFinite(r.min) && Number.isFinite(r.max)).toBe(true);
      expect(r.max).toBeGreaterThanOrEqual(r.min);
    }
  });

  it('extremesOf reports NaN and Infinity with their index', () => {
    const fail = (i: number, v: number): never => { throw new Error(`bad ${v} at ${i}`); };
    expect(() => extremesOf([0, 1, NaN], fail)).toThrow('bad NaN at 2');
    expect(() => extremesOf([Infinity], fail)).toThrow('bad Infinity at 0');
    expect(extremesOf([3, -2, 5], fail)).toEqual({min: -2, max: 5});
  });
});
