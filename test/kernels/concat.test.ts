import * as tf from '@tensorflow/tfjs-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {BACKEND_NAME} from '../../src/index';
import {chooseQuantizationParams} from '../../src/quant';
import {
  expectFloatMatchesCpu, expectWithinLsb, fakeQuantize, int8, liveCounts, makeQuantized, makeRng, printLsbTally,
  quantizationOf, QuantizedInput, randomFloats, randomInput, randomParams, randomShape, Rng, simulate,
} from './int8_test_utils';

/** 1–4 shapes that agree on every axis but `axis`. */
function concatShapes(rng: Rng): {shapes: number[][]; axis: number} {
  const base = randomShape(rng, 1, 4);
  const axis = rng.int(0, base.length - 1);
  const count = rng.int(1, 4);
  const shapes = Array.from({length: count}, () => base.map((d, i) => i === axis ? rng.int(1, 4) : d));
  // Negative axes count from the end.
  return {shapes, axis: rng.bool() ? axis : axis - base.length};
}

describe('Concat on int8 codes', () => {
  beforeAll(async () => {
    await tf.setBackend(BACKEND_NAME);
  });
  afterAll(() => printLsbTally());

  it('inputs with identical parameters: codes copied bit for bit, parameters kept', async () => {
    const rng = makeRng(21);
    for (let trial = 0; trial < 60; trial++) {
      const {shapes, axis} = concatShapes(rng);
      const params = randomParams(rng);
      const inputs = shapes.map(s => randomInput(rng, s, params));
      const before = liveCounts();
      const dequantizations = int8().stats.dequantizations;
      const qs = inputs.map(makeQuantized);
      const out = tf.concat(qs, axis);
      const result = quantizationOf(out);
      expect(result.params).toEqual(params);
      expect(int8().stats.dequantizations).toBe(dequantizations);
      tf.dispose([...qs, out]);
      expect(liveCounts()).toEqual(before);
      const sim = await simulate(inputs, xs => tf.concat(xs, axis), params);
      expectWithinLsb('Concat (same params)', result.codes, sim.codes, `trial ${trial}`, 0);
    }
  });

  it('inputs with different parameters are requantized to the union range within 1 LSB', async () => {
    const rng = makeRng(22);
    for (let trial = 0; trial < 100; trial++) {
      const {shapes, axis} = concatShapes(rng);
      const inputs = shapes.map(s => randomInput(rng, s));
      const dequantizations = int8().stats.dequantizations;
      const qs = inputs.map(makeQuantized);
      const out = tf.concat(qs, axis);
      const result = quantizationOf(out);
      expect(int8().stats.dequantizations).toBe(dequantizations);
      tf.dispose([...qs, out]);
      // The chosen range covers every input's range up to the zero-point nudge (under one output step).
      const lo = Math.min(0, ...inputs.map(x => x.params.scale[0] * (-128 - x.params.zeroPoint[0])));
      const hi = Math.max(0, ...inputs.map(x => x.params.scale[0] * (127 - x.params.zeroPoint[0])));
      const {scale, zeroPoint} = result.params;
      expect(scale[0] * (-128 - zeroPoint[0])).toBeLessThanOrEqual(lo + scale[0]);
      expect(scale[0] * (127 - zeroPoint[0])).toBeGreaterThanOrEqual(hi - scale[0]);
      const sim = await simulate(inputs, xs => tf.concat(xs, axis), result.params);
      expectWithinLsb('Concat (requantized, union range)', result.codes, sim.codes, `trial ${trial}`);
    }
  });

  it('attrs outputScale/outputZeroPoint set the output parameters (saturating like the simulation)', async () => {
    const rng = makeRng(23);
    for (let trial = 0; trial < 100; trial++) {
      const {shapes, axis} = concatShapes(rng);
      const inputs = shapes.map(s => randomInput(rng, s));
      const outParams = {scale: [rng.logUniform(1e-3, 10)], zeroPoint: [rng.int(-128, 127)]};
      const qs = inputs.map(makeQuantized);
      const out = tf.engine().runKernel('Concat', qs as unknown as tf.NamedTensorMap,
                                        {axis, outputScale: outParams.scale[0], outputZeroPoint: outParams.zeroPoint[0]}) as
          tf.Tensor;
      const result = quantizationOf(out);
      expect(result.params).toEqual(outParams);
      tf.dispose([...qs, out]);
      const sim = await simulate(inputs, xs => tf.concat(xs, axis), outParams);
      expectWithinLsb('Concat (attr output params)', result.codes, sim.codes, `trial ${trial}`);
    }
  });

  it('a float input among quantized ones is quantized with its own range; empty inputs are skipped', async () => {
    const rng = makeRng(24);
    const a = randomInput(rng, [2, 3]);
    const f = randomFloats(rng, [2, 2], -3, 7);
    const qa = makeQuantized(a);
    const fb = tf.tensor(f.values, f.shape);
    const empty = makeQuantized(randomInput(rng, [2, 0]));
    const out = tf.concat([qa, empty, fb], 1);
    const result = quantizationOf(out);
    tf.dispose([qa, fb, empty, out]);
    let min = 0;
    let max = 0;
    f.values.forEach(v => { min = Math.min(min, v); max = Math.max(max, v); });
    const own = chooseQuantizationParams(min, max, {dtype: 'int8'});
    const bParams = {scale: [own.scale], zeroPoint: [own.zeroPoint]};
    const b: QuantizedInput = {codes: Int8Array.from(fakeQuantize(f.values, bParams)), shape: [2, 2], params: bParams};
    const sim = await simulate([a, b], xs => tf.concat(xs, 1), result.params);
    expectWithinLsb('Concat (one float input)', result.codes, sim.codes, 'mixed');
  });

  it('float inputs give exactly the cpu result', async () => {
    const rng = makeRng(25);
    for (let trial = 0; trial < 10; trial++) {
      const {shapes, axis} = concatShapes(rng);
      await expectFloatMatchesCpu(shapes.map(s => randomFloats(rng, s)), xs => tf.concat(xs, axis));
    }
  });

  it('bad attrs and shapes name the kernel and the attr', () => {
    const rng = makeRng(26);
    const a = makeQuantized(randomInput(rng, [2, 3]));
    const b = makeQuantized(randomInput(rng, [3, 3]));
    const run = (xs: tf.Tensor[], attrs: object): unknown =>
        tf.engine().runKernel('Concat', xs as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap);
    expect(() => run([a, b], {axis: 1})).toThrow(/Concat: input shapes \[2, 3\], \[3, 3\] along axis 1/);
    expect(() => run([a, a], {axis: 5})).toThrow(/Concat: attr axis 5/);
    expect(() => run([a, a], {})).toThrow(/Concat: attr axis must be an integer/);
    expect(() => run([a, a], {axis: 0, outputZeroPoint: 1})).toThrow(/Concat: attr outputZeroPoint .*outputScale/);
    tf.dispose([a, b]);
  });
});
