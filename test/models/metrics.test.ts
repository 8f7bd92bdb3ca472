import {describe, expect, it} from 'vitest';

import {sqnrDb} from './metrics';

describe('sqnrDb', () => {
  it('is +Infinity for identical signals', () => {
    expect(sqnrDb([1, -2, 3], new Float32Array([1, -2, 3]))).toBe(Infinity);
  });

  it('is 10·log10(signal power / noise power)', () => {
    // Σref² = 100, Σ(ref−test)² = 1 → 20 dB.
    expect(sqnrDb([6, 8], [6, 9])).toBeCloseTo(20, 10);
    expect(sqnrDb([10, 0], [10, 0.1])).toBeCloseTo(40, 10);
  });

  it('rejects different lengths and non-finite values', () => {
    expect(() => sqnrDb([1, 2], [1])).toThrow(/2 values.*1/);
    expect(() => sqnrDb([1, 2], [1, NaN])).toThrow(/index 1/);
  });
});
