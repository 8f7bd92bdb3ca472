import * as tf from '@tensorflow/tfjs-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {BACKEND_NAME, getQuantization} from '../../src/index';
import {chooseQuantizationParams} from '../../src/quant';
import {
  dequantize, expectFloatMatchesCpu, expectWithinLsb, fakeQuantize, int8, liveCounts, makeQuantized, makeRng,
  printLsbTally, quantizationOf, QuantizedInput, randomFloats, randomInput, randomParams, randomShape, Rng, simulate,
} from './int8_test_utils';

/** Two broadcast-compatible shapes: drop leading axes of either and set some axes to 1. */
function broadcastPair(rng: Rng): [number[], number[]] {
  const full = randomShape(rng, 0, 4);
  const thin = (shape: number[]): number[] => shape.slice(rng.int(0, shape.length)).map(d => rng.int(0, 2) === 0 ? 1 : d);
  const a = rng.bool() ? full.slice() : thin(full);
  const b = thin(full);
  return rng.bool() ? [a, b] : [b, a];
}

describe('Add on int8 codes', () => {
  beforeAll(async () => {
    await tf.setBackend(BACKEND_NAME);
  });
  afterAll(() => printLsbTally());

  it('equals the float simulation within 1 LSB (random shapes, broadcasts, params, chosen output params)', async () => {
    const rng = makeRng(1);
    for (let trial = 0; trial < 150; trial++) {
      const [aShape, bShape] = broadcastPair(rng);
      const a = randomInput(rng, aShape);
      const b = randomInput(rng, bShape);
      const before = liveCounts();
      const dequantizations = int8().stats.dequantizations;
      const qa = makeQuantized(a);
      const qb = makeQuantized(b);
      const out = tf.add(qa, qb);
      const result = quantizationOf(out);
      expect(int8().stats.dequantizations).toBe(dequantizations);
      tf.dispose([qa, qb, out]);
      expect(liveCounts()).toEqual(before);

      const sim = await simulate([a, b], ([x, y]) => tf.add(x, y), result.params);
      expect(out.shape).toEqual(sim.shape);
      expectWithinLsb('Add (chosen output params)', result.codes, sim.codes,
                      `trial ${trial}: [${aShape}] + [${bShape}] a ${JSON.stringify(a.params)} b ${JSON.stringify(b.params)}`);
    }
  });

  it('uses attrs outputScale/outputZeroPoint and stays within 1 LSB, saturating like the simulation', async () => {
    const rng = makeRng(2);
    for (let trial = 0; trial < 150; trial++) {
      const [aShape, bShape] = broadcastPair(rng);
      const a = randomInput(rng, aShape);
      const b = randomInput(rng, bShape);
      const maxScale = Math.max(a.params.scale[0], b.params.scale[0]);
      // From much finer than the inputs (saturating) to much coarser.
      const outParams = {scale: [maxScale * rng.logUniform(0.05, 20)], zeroPoint: [rng.int(-128, 127)]};
      const qa = makeQuantized(a);
      const qb = makeQuantized(b);
      const out = tf.engine().runKernel('Add', {a: qa, b: qb},
                                        {outputScale: outParams.scale[0], outputZeroPoint: outParams.zeroPoint[0]}) as
          tf.Tensor;
      const result = quantizationOf(out);
      expect(result.params).toEqual(outParams);
      tf.dispose([qa, qb, out]);
      const sim = await simulate([a, b], ([x, y]) => tf.add(x, y), outParams);
      expectWithinLsb('Add (attr output params)', result.codes, sim.codes, `trial ${trial}`);
    }
  });

  it('adds a tensor to itself and handles degenerate inputs (all codes at the zero point)', async () => {
    const rng = makeRng(3);
    const a = randomInput(rng, [4, 3]);
    const q = makeQuantized(a);
    const twice = tf.add(q, q);
    const result = quantizationOf(twice);
    const sim = await simulate([a, a], ([x, y]) => tf.add(x, y), result.params);
    expectWithinLsb('Add (chosen output params)', result.codes, sim.codes, 'a + a');
    const zeros: QuantizedInput = {codes: new Int8Array(6).fill(-7), shape: [6], params: {scale: [1e-3], zeroPoint: [-7]}};
    const qz = makeQuantized(zeros);
    const sum = tf.add(qz, qz);
    expect(Array.from(sum.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
    tf.dispose([q, twice, qz, sum]);
  });

  it('quantizes a float input with its own range when the other input is quantized', async () => {
    const rng = makeRng(4);
    for (let trial = 0; trial < 40; trial++) {
      const [aShape, bShape] = broadcastPair(rng);
      const a = randomInput(rng, aShape);
      const f = randomFloats(rng, bShape, -rng.logUniform(0.01, 50), rng.logUniform(0.01, 50));
      const before = liveCounts();
      const qa = makeQuantized(a);
      const fb = tf.tensor(f.values, f.shape);
      const floatFirst = rng.bool();
      const out = floatFirst ? tf.add(fb, qa) : tf.add(qa, fb);
      const result = quantizationOf(out);
      tf.dispose([qa, fb, out]);
      expect(liveCounts()).toEqual(before);
      // The documented semantics: b is first fake-quantized with its own [min, max].
      let min = 0;
      let max = 0;
      f.values.forEach(v => { min = Math.min(min, v); max = Math.max(max, v); });
      const own = chooseQuantizationParams(min, max, {dtype: 'int8'});
      const bParams = {scale: [own.scale], zeroPoint: [own.zeroPoint]};
      const b: QuantizedInput = {codes: Int8Array.from(fakeQuantize(f.values, bParams)), shape: bShape, params: bParams};
      const sim = await simulate(floatFirst ? [b, a] : [a, b], ([x, y]) => tf.add(x, y), result.params);
      expectWithinLsb('Add (one float input)', result.codes, sim.codes, `trial ${trial}`);
    }
  });

  it('float inputs give exactly the cpu result', async () => {
    const rng = makeRng(5);
    for (let trial = 0; trial < 10; trial++) {
      const [aShape, bShape] = broadcastPair(rng);
      await expectFloatMatchesCpu([randomFloats(rng, aShape), randomFloats(rng, bShape)], ([x, y]) => tf.add(x, y));
    }
  });

  it('a per-channel or int32 input is not computed on: it is dequantized (counted) and added in float', () => {
    const w = tf.tidy(() => tf.engine().runKernel('Int8FromCodes', {x: tf.tensor2d([[1, 2], [3, 4]])},
                                                  {dtype: 'int8', scale: [1, 0.5], zeroPoint: [0, 0], axis: 1}) as tf.Tensor);
    const count = int8().stats.dequantizations;
    const f = tf.tensor2d([[1, 1], [1, 1]]);
    const out = tf.add(w, f);
    expect(getQuantization(out)).toBeNull();
    expect(Array.from(out.dataSync())).toEqual([2, 2, 4, 3]);
    expect(int8().stats.dequantizations).toBe(count + 1);
    tf.dispose([w, f, out]);
  });

  it('bad attrs and shapes name the kernel and the attr', () => {
    const rng = makeRng(6);
    const a = makeQuantized(randomInput(rng, [2, 3]));
    const b = makeQuantized(randomInput(rng, [3, 2]));
    const run = (x: tf.Tensor, y: tf.Tensor, attrs: object): unknown =>
        tf.engine().runKernel('Add', {a: x, b: y}, attrs as tf.NamedAttrMap);
    expect(() => run(a, a, {outputScale: 0.1})).toThrow(/Add: attr outputScale .*outputZeroPoint/);
    expect(() => run(a, a, {outputScale: -1, outputZeroPoint: 0})).toThrow(/Add: attr outputScale .*-1/);
    expect(() => run(a, a, {outputScale: 1, outputZeroPoint: 300})).toThrow(/Add: attr outputZeroPoint .*300/);
    expect(() => run(a, a, {outputScale: 1e-12, outputZeroPoint: 0})).toThrow(/Add: attr outputScale/);
    expect(() => run(a, b, {})).toThrow(/Add: inputs a \[2, 3\] and b \[3, 2\]/);
    tf.dispose([a, b]);
    void dequantize;
    void randomParams;
  });
});
