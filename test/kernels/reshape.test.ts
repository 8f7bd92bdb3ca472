import * as tf from '@tensorflow/tfjs-core';
import {beforeAll, describe, expect, it} from 'vitest';

import {BACKEND_NAME, getQuantization, quantizedTensor} from '../../src/index';
import {expectFloatMatchesCpu, int8, liveCounts, makeQuantized, makeRng, randomFloats, randomInput} from './int8_test_utils';

/** Pass-through ops: each must share the input's codes and parameters. */
const passThrough = [
  {name: 'Reshape (tf.reshape)', op: (x: tf.Tensor) => tf.reshape(x, [-1])},
  {name: 'Reshape (tf.squeeze)', op: (x: tf.Tensor) => tf.squeeze(x)},
  {name: 'ExpandDims', op: (x: tf.Tensor) => tf.expandDims(x, -1)},
  {name: 'ExpandDims (axis 0)', op: (x: tf.Tensor) => tf.expandDims(x, 0)},
  {name: 'Identity (tf.clone)', op: (x: tf.Tensor) => tf.clone(x)},
] as const;

describe('Reshape, Squeeze, ExpandDims, Identity on quantized tensors', () => {
  beforeAll(async () => {
    await tf.setBackend(BACKEND_NAME);
  });

  for (const {name, op} of passThrough) {
    it(`${name}: codes bit-identical, same data, nothing dequantized, no leak`, async () => {
      const rng = makeRng(51);
      const x = randomInput(rng, [2, 1, 3, 1]);
      const before = liveCounts();
      const dequantizations = int8().stats.dequantizations;
      const q = makeQuantized(x);
      const out = op(q);
      expect(out.dataId).toBe(q.dataId);
      const info = getQuantization(out);
      expect(info?.codes).toEqual(x.codes);
      expect(info?.params).toEqual(x.params);
      expect(int8().stats.dequantizations).toBe(dequantizations);
      // The output outlives its input.
      q.dispose();
      expect(getQuantization(out)?.codes).toEqual(x.codes);
      out.dispose();
      expect(liveCounts()).toEqual(before);
    });

    it(`${name}: float input gives exactly the cpu result`, async () => {
      await expectFloatMatchesCpu([randomFloats(makeRng(52), [2, 1, 3, 1])], ([t]) => op(t));
    });
  }

  it('per-channel and int32 tensors pass through; their values still read back correctly', () => {
    const codes = Int8Array.from([1, -2, 3, -4, 5, -6]);
    const w = quantizedTensor(codes, [3, 2], {scale: [0.5, 2], zeroPoint: [0, 1], axis: 1});
    const expected = Array.from(w.dataSync());
    const r = tf.reshape(w, [6]);
    const e = tf.expandDims(r, 0);
    expect(getQuantization(e)?.params).toEqual({scale: [0.5, 2], zeroPoint: [0, 1], axis: 1});
    expect(Array.from(e.dataSync())).toEqual(expected);
    const acc = quantizedTensor(Int32Array.from([100000, -7]), [2, 1], {scale: [1e-3], zeroPoint: [0]});
    const s = tf.squeeze(acc);
    expect(getQuantization(s)?.codes).toEqual(Int32Array.from([100000, -7]));
    tf.dispose([w, r, e, acc, s]);
  });

  it('bad attrs name the kernel and the attr', () => {
    const q = makeQuantized(randomInput(makeRng(53), [2, 3]));
    expect(() => tf.engine().runKernel('Reshape', {x: q}, {shape: [4, 2]})).toThrow(/Reshape: attr shape \[4, 2\]/);
    expect(() => tf.engine().runKernel('Reshape', {x: q}, {shape: [-1, -1]})).toThrow(/Reshape: attr shape/);
    expect(() => tf.engine().runKernel('ExpandDims', {input: q}, {dim: 5})).toThrow(/ExpandDims: attr dim .*5/);
    q.dispose();
  });
});
