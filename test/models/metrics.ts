// Numeric comparison helpers shared by the model tests.

/**
 * Signal-to-quantization-noise ratio in dB: 10·log10(Σ ref² / Σ (ref − test)²).
 * +Infinity when the two are identical; throws when the lengths differ or an input is not finite.
 */
export function sqnrDb(reference: ArrayLike<number>, test: ArrayLike<number>): number {
  if (reference.length !== test.length) {
    throw new Error(`sqnrDb: reference has ${reference.length} values, test has ${test.length}`);
  }
  let signalPower = 0;
  let noisePower = 0;
  for (let i = 0; i < reference.length; i++) {
    const expected = reference[i];
    const difference = expected - test[i];
    if (!Number.isFinite(expected) || !Number.isFinite(difference)) {
      throw new Error(`sqnrDb: non-finite value at index ${i} (reference ${expected}, test ${test[i]})`);
    }
    signalPower += expected * expected;
    noisePower += difference * difference;
  }
  if (noisePower === 0) return Infinity;
  return 10 * Math.log10(signalPower / noisePower);
}
