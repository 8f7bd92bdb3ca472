import * as tf from '@tensorflow/tfjs-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {BACKEND_NAME} from '../../src/index';
import {
  expectFloatMatchesCpu, expectWithinLsb, int8, liveCounts, makeQuantized, makeRng, printLsbTally, quantizationOf,
  randomFloats, randomInput, randomShape, simulate,
} from './int8_test_utils';

describe('PadV2 on int8 codes', () => {
  beforeAll(async () => {
    await tf.setBackend(BACKEND_NAME);
  });
  afterAll(() => printLsbTally());

  it('pads with the zero point for 0 (bit-exact) and keeps the parameters', async () => {
    const rng = makeRng(41);
    for (let trial = 0; trial < 100; trial++) {
      const shape = randomShape(rng, 1, 4);
      const paddings = shape.map(() => [rng.int(0, 2), rng.int(0, 2)] as [number, number]);
      const x = randomInput(rng, shape);
      const before = liveCounts();
      const dequantizations = int8().stats.dequantizations;
      const q = makeQuantized(x);
      const out = tf.pad(q, paddings);
      const result = quantizationOf(out);
      expect(result.params).toEqual(x.params);
      expect(int8().stats.dequantizations).toBe(dequantizations);
      tf.dispose([q, out]);
      expect(liveCounts()).toEqual(before);
      const sim = await simulate([x], ([t]) => tf.pad(t, paddings), x.params);
      expect(out.shape).toEqual(sim.shape);
      expectWithinLsb('PadV2 (0)', result.codes, sim.codes, `trial ${trial}`, 0);
    }
  });

  it('quantizes another constant with the input parameters (saturating outside their range)', async () => {
    const rng = makeRng(42);
    for (let trial = 0; trial < 100; trial++) {
      const shape = randomShape(rng, 1, 4);
      const paddings = shape.map(() => [rng.int(0, 2), rng.int(0, 2)] as [number, number]);
      const x = randomInput(rng, shape);
      const constantValue = rng.float(-300, 300) * x.params.scale[0];
      const q = makeQuantized(x);
      const out = tf.pad(q, paddings, constantValue);
      const result = quantizationOf(out);
      tf.dispose([q, out]);
      const sim = await simulate([x], ([t]) => tf.pad(t, paddings, constantValue), x.params);
      expectWithinLsb('PadV2 (constant)', result.codes, sim.codes, `trial ${trial} constant ${constantValue}`);
    }
  });

  it('float input gives exactly the cpu result', async () => {
    const rng = makeRng(43);
    await expectFloatMatchesCpu([randomFloats(rng, [2, 3, 2])], ([t]) => tf.pad(t, [[1, 0], [0, 2], [1, 1]], 2.5));
  });

  it('bad attrs name the kernel and the attr', () => {
    const rng = makeRng(44);
    const q = makeQuantized(randomInput(rng, [2, 3]));
    const run = (attrs: object): unknown => tf.engine().runKernel('PadV2', {x: q}, attrs as tf.NamedAttrMap);
    expect(() => run({paddings: [[1, 1]], constantValue: 0})).toThrow(/PadV2: attr paddings must be 2 pairs/);
    expect(() => run({paddings: [[1, 1], [-1, 0]], constantValue: 0})).toThrow(/PadV2: attr paddings/);
    expect(() => run({paddings: [[1, 1], [0, 0]], constantValue: NaN})).toThrow(/PadV2: attr constantValue/);
    tf.dispose(q);
  });
});
