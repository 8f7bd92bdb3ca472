import * as tf from '@tensorflow/tfjs-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {BACKEND_NAME} from '../../src/index';
import {
  expectFloatMatchesCpu, expectWithinLsb, int8, liveCounts, makeQuantized, makeRng, printLsbTally, quantizationOf,
  randomFloats, randomInput, randomShape, Rng, simulate,
} from './int8_test_utils';

/** A random axis argument: one axis, a list (possibly negative, possibly empty), or null for all. */
function randomAxes(rng: Rng, rank: number): number | number[] | null {
  const kind = rng.int(0, 5);
  if (kind === 0) return null;
  const axes = Array.from({length: rank}, (_, i) => i).filter(() => rng.bool());
  if (kind === 1 && rank > 0) return rng.int(-rank, rank - 1);
  return axes.map(a => rng.bool() ? a - rank : a);
}

describe('Mean on int8 codes', () => {
  beforeAll(async () => {
    await tf.setBackend(BACKEND_NAME);
  });
  afterAll(() => printLsbTally());

  it('keeps the input parameters and equals the float simulation within 1 LSB', async () => {
    const rng = makeRng(31);
    for (let trial = 0; trial < 200; trial++) {
      const shape = randomShape(rng, 1, 4, 6);
      const x = randomInput(rng, shape);
      const axes = randomAxes(rng, shape.length);
      const keepDims = rng.bool();
      const before = liveCounts();
      const dequantizations = int8().stats.dequantizations;
      const q = makeQuantized(x);
      const out = tf.mean(q, axes ?? undefined, keepDims);
      const result = quantizationOf(out);
      expect(result.params).toEqual(x.params);
      expect(int8().stats.dequantizations).toBe(dequantizations);
      tf.dispose([q, out]);
      expect(liveCounts()).toEqual(before);
      const sim = await simulate([x], ([t]) => tf.mean(t, axes ?? undefined, keepDims), x.params);
      expect(out.shape).toEqual(sim.shape);
      const context = `trial ${trial} shape [${shape}] axes ${JSON.stringify(axes)} keepDims ${keepDims}`;
      expectWithinLsb('Mean (input params)', result.codes, sim.codes, context);
      // Off-by-one also happens away from ties: TFLite folds the count into the multiplier, and
      // MultiplyByQuantizedMultiplier rounds twice (doubling high multiply, then the right shift).
    }
  });

  it('global average over H and W of an NHWC tensor (MobileNet head), large count', async () => {
    const rng = makeRng(32);
    const x = randomInput(rng, [2, 7, 7, 16], undefined, false);
    const q = makeQuantized(x);
    const out = tf.mean(q, [1, 2], true);
    const result = quantizationOf(out);
    tf.dispose([q, out]);
    const sim = await simulate([x], ([t]) => tf.mean(t, [1, 2], true), x.params);
    expectWithinLsb('Mean (input params)', result.codes, sim.codes, 'global average');
  });

  it('attrs outputScale/outputZeroPoint requantize within 1 LSB', async () => {
    const rng = makeRng(33);
    for (let trial = 0; trial < 200; trial++) {
      const shape = randomShape(rng, 1, 4, 6);
      const x = randomInput(rng, shape);
      const axes = randomAxes(rng, shape.length);
      const outParams = {scale: [x.params.scale[0] * rng.logUniform(0.1, 10)], zeroPoint: [rng.int(-128, 127)]};
      const q = makeQuantized(x);
      const attrs = {axis: axes, keepDims: false, outputScale: outParams.scale[0], outputZeroPoint: outParams.zeroPoint[0]};
      const out = tf.engine().runKernel('Mean', {x: q}, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
      const result = quantizationOf(out);
      expect(result.params).toEqual(outParams);
      tf.dispose([q, out]);
      const sim = await simulate([x], ([t]) => tf.mean(t, axes ?? undefined), outParams);
      expectWithinLsb('Mean (attr output params)', result.codes, sim.codes, `trial ${trial}`);
    }
  });

  it('float input gives exactly the cpu result', async () => {
    const rng = makeRng(34);
    for (let trial = 0; trial < 10; trial++) {
      const shape = randomShape(rng, 1, 4);
      const axes = randomAxes(rng, shape.length);
      await expectFloatMatchesCpu([randomFloats(rng, shape)], ([t]) => tf.mean(t, axes ?? undefined, trial % 2 === 0));
    }
  });

  it('bad attrs name the kernel and the attr', () => {
    const rng = makeRng(35);
    const q = makeQuantized(randomInput(rng, [2, 3]));
    const run = (attrs: object): unknown => tf.engine().runKernel('Mean', {x: q}, attrs as tf.NamedAttrMap);
    expect(() => run({axis: 2, keepDims: false})).toThrow(/Mean: attr axis 2/);
    expect(() => run({axis: 'x', keepDims: false})).toThrow(/Mean: attr axis must be/);
    expect(() => run({axis: 0, keepDims: false, outputScale: 1, outputZeroPoint: 0.5})).toThrow(/Mean: attr outputZeroPoint .*0\.5/);
    tf.dispose(q);
  });
});
