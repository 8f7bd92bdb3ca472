import * as tf from '@tensorflow/tfjs-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {BACKEND_NAME, getQuantization} from '../../src/index';
import {
  expectFloatMatchesCpu, expectWithinLsb, int8, liveCounts, makeQuantized, makeRng, printLsbTally, quantizationOf,
  randomFloats, randomInput, randomShape, simulate,
} from './int8_test_utils';

const activations = [
  {kernel: 'Relu', op: (x: tf.Tensor) => tf.relu(x)},
  {kernel: 'Relu6', op: (x: tf.Tensor) => tf.relu6(x)},
] as const;

describe('Relu and Relu6 on int8 codes', () => {
  beforeAll(async () => {
    await tf.setBackend(BACKEND_NAME);
  });
  afterAll(() => printLsbTally());

  for (const {kernel, op} of activations) {
    it(`${kernel}: keeps the parameters and equals the float simulation within 1 LSB`, async () => {
      const rng = makeRng(kernel.length);
      for (let trial = 0; trial < 120; trial++) {
        const shape = randomShape(rng, 0, 4);
        // Scales up to 0.2 so that 6.0 is inside the code range for relu6 clamps to bite.
        const params = {scale: [rng.logUniform(1e-3, 0.2)], zeroPoint: [rng.int(-128, 127)]};
        const x = randomInput(rng, shape, trial % 2 === 0 ? params : undefined);
        const before = liveCounts();
        const dequantizations = int8().stats.dequantizations;
        const q = makeQuantized(x);
        const out = op(q);
        const result = quantizationOf(out);
        expect(result.params).toEqual(x.params);
        expect(int8().stats.dequantizations).toBe(dequantizations);
        tf.dispose([q, out]);
        expect(liveCounts()).toEqual(before);
        const sim = await simulate([x], ([t]) => op(t), x.params);
        expectWithinLsb(kernel, result.codes, sim.codes, `trial ${trial} ${JSON.stringify(x.params)}`);
      }
    });

    it(`${kernel}: float input gives exactly the cpu result`, async () => {
      const rng = makeRng(7);
      await expectFloatMatchesCpu([randomFloats(rng, [3, 4], -10, 10)], ([t]) => op(t));
    });
  }

  it('relu clamps at the zero point and relu6 at Z + round(6/S)', () => {
    const x = makeQuantized({codes: Int8Array.from([-128, -3, 0, 1, 2, 59, 60, 61, 127]), shape: [9],
                             params: {scale: [0.1], zeroPoint: [0]}});
    const r = tf.relu(x);
    const r6 = tf.relu6(x);
    expect(Array.from(quantizationOf(r).codes)).toEqual([0, 0, 0, 1, 2, 59, 60, 61, 127]);
    expect(Array.from(quantizationOf(r6).codes)).toEqual([0, 0, 0, 1, 2, 59, 60, 60, 60]);
    tf.dispose([x, r, r6]);
  });

  it('a per-channel input runs in float (dequantized, counted)', () => {
    const w = tf.tidy(() => tf.engine().runKernel('Int8FromCodes', {x: tf.tensor1d([-2, 3])},
                                                  {dtype: 'int8', scale: [1, 2], zeroPoint: [0, 0], axis: 0}) as tf.Tensor);
    const count = int8().stats.dequantizations;
    const out = tf.relu(w);
    expect(getQuantization(out)).toBeNull();
    expect(Array.from(out.dataSync())).toEqual([0, 6]);
    expect(int8().stats.dequantizations).toBe(count + 1);
    tf.dispose([w, out]);
  });
});
