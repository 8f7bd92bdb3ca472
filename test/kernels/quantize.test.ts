import * as tf from '@tensorflow/tfjs-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {BACKEND_NAME, getQuantization, quantizedTensor} from '../../src/index';
import {
  dequantize, expectWithinLsb, fakeQuantize, int8, liveCounts, makeQuantized, makeRng, printLsbTally, quantizationOf,
  randomFloats, randomInput, randomParams, randomShape, simulate,
} from './int8_test_utils';

const run = (kernel: string, x: tf.Tensor, attrs: object = {}): tf.Tensor =>
    tf.engine().runKernel(kernel, {x}, attrs as tf.NamedAttrMap) as tf.Tensor;

describe('Int8Quantize', () => {
  beforeAll(async () => {
    await tf.setBackend(BACKEND_NAME);
  });
  afterAll(() => printLsbTally());

  it('quantizes float values like the fake quantizer (round half away from zero, clamp)', () => {
    const rng = makeRng(61);
    for (let trial = 0; trial < 100; trial++) {
      const shape = randomShape(rng, 0, 4);
      const params = randomParams(rng);
      const f = randomFloats(rng, shape, -200 * params.scale[0], 200 * params.scale[0]);
      const before = liveCounts();
      const x = tf.tensor(f.values, shape);
      const out = run('Int8Quantize', x, {scale: params.scale[0], zeroPoint: params.zeroPoint[0]});
      const result = quantizationOf(out);
      expect(result.params).toEqual(params);
      tf.dispose([x, out]);
      expect(liveCounts()).toEqual(before);
      expectWithinLsb('Int8Quantize (float)', result.codes, fakeQuantize(f.values, params), `trial ${trial}`);
    }
  });

  it('rounds ties away from zero', () => {
    const x = tf.tensor1d([0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 1000, -1000]);
    const out = run('Int8Quantize', x, {scale: 1, zeroPoint: 0});
    expect(Array.from(quantizationOf(out).codes)).toEqual([1, -1, 2, -2, 3, -3, 127, -128]);
    tf.dispose([x, out]);
  });

  it('an already quantized input with the same parameters is shared, not copied', () => {
    const x = randomInput(makeRng(62), [3, 2]);
    const q = makeQuantized(x);
    const dequantizations = int8().stats.dequantizations;
    const out = run('Int8Quantize', q, {scale: x.params.scale[0], zeroPoint: x.params.zeroPoint[0]});
    expect(out.dataId).toBe(q.dataId);
    expect(int8().stats.dequantizations).toBe(dequantizations);
    tf.dispose([q, out]);
  });

  it('an int8 input with other parameters is requantized in integers within 1 LSB', async () => {
    const rng = makeRng(63);
    for (let trial = 0; trial < 150; trial++) {
      const x = randomInput(rng, randomShape(rng, 1, 3));
      const to = {scale: [x.params.scale[0] * rng.logUniform(0.01, 100)], zeroPoint: [rng.int(-128, 127)]};
      const dequantizations = int8().stats.dequantizations;
      const q = makeQuantized(x);
      const out = run('Int8Quantize', q, {scale: to.scale[0], zeroPoint: to.zeroPoint[0]});
      const result = quantizationOf(out);
      expect(result.params).toEqual(to);
      expect(int8().stats.dequantizations).toBe(dequantizations);
      tf.dispose([q, out]);
      const sim = await simulate([x], ([t]) => t, to);
      expectWithinLsb('Int8Quantize (requantize int8)', result.codes, sim.codes, `trial ${trial}`);
    }
  });

  it('an int32 per-channel accumulator tensor is requantized to int8 in integers within 1 LSB', () => {
    const rng = makeRng(64);
    for (let trial = 0; trial < 50; trial++) {
      const channels = rng.int(1, 5);
      const shape = [rng.int(1, 4), channels];
      const scale = Array.from({length: channels}, () => rng.logUniform(1e-5, 1e-3));
      const to = {scale: [rng.logUniform(0.01, 0.1)], zeroPoint: [rng.int(-128, 127)]};
      const codes = Int32Array.from({length: shape[0] * channels}, () => rng.int(-200000, 200000));
      const acc = quantizedTensor(codes, shape, {scale, zeroPoint: new Array(channels).fill(0), axis: 1});
      const dequantizations = int8().stats.dequantizations;
      const out = run('Int8Quantize', acc, {scale: to.scale[0], zeroPoint: to.zeroPoint[0]});
      const result = quantizationOf(out);
      expect(int8().stats.dequantizations).toBe(dequantizations);
      const reals = Array.from(codes, (q, i) => Math.fround(scale[i % channels] * q));
      expectWithinLsb('Int8Quantize (requantize int32 per channel)', result.codes, fakeQuantize(reals, to), `trial ${trial}`);
      tf.dispose([acc, out]);
    }
  });

  it('bad attrs name the kernel and the attr', () => {
    const x = tf.tensor1d([1, 2]);
    expect(() => run('Int8Quantize', x, {zeroPoint: 0})).toThrow(/Int8Quantize: attr scale is missing/);
    expect(() => run('Int8Quantize', x, {scale: 1})).toThrow(/Int8Quantize: attr zeroPoint is missing/);
    expect(() => run('Int8Quantize', x, {scale: -2, zeroPoint: 0})).toThrow(/Int8Quantize: attr scale .*-2/);
    expect(() => run('Int8Quantize', x, {scale: 1, zeroPoint: 128})).toThrow(/Int8Quantize: attr zeroPoint .*128/);
    const nan = tf.tensor1d([1, NaN]);
    expect(() => run('Int8Quantize', nan, {scale: 1, zeroPoint: 0})).toThrow(/Int8Quantize.*NaN/);
    tf.dispose([x, nan]);
  });
});

describe('Int8Dequantize', () => {
  beforeAll(async () => {
    await tf.setBackend(BACKEND_NAME);
  });

  it('gives a plain float tensor r = S·(q − Z), per tensor and per channel, without counting a dequantization', () => {
    const x = randomInput(makeRng(71), [2, 3]);
    const before = liveCounts();
    const q = makeQuantized(x);
    const dequantizations = int8().stats.dequantizations;
    const out = run('Int8Dequantize', q);
    expect(getQuantization(out)).toBeNull();
    expect(out.dtype).toBe('float32');
    expect(out.shape).toEqual([2, 3]);
    expect(Array.from(out.dataSync())).toEqual(Array.from(dequantize(x)));
    expect(int8().stats.dequantizations).toBe(dequantizations);
    const w = quantizedTensor(Int8Array.from([1, 2, 3, 4]), [2, 2], {scale: [1, 0.25], zeroPoint: [0, 2], axis: 1});
    const wr = tf.reshape(w, [4]);
    const wf = run('Int8Dequantize', wr);
    expect(Array.from(wf.dataSync())).toEqual([1, 0, 3, 0.5]);
    tf.dispose([q, out, w, wr, wf]);
    expect(liveCounts()).toEqual(before);
  });

  it('passes a float input through', () => {
    const f = tf.tensor1d([1.5, -2]);
    const out = run('Int8Dequantize', f);
    expect(Array.from(out.dataSync())).toEqual([1.5, -2]);
    tf.dispose([f, out]);
  });
});

describe('Int8FromCodes', () => {
  beforeAll(async () => {
    await tf.setBackend(BACKEND_NAME);
  });

  it('makes a quantized tensor with exactly those codes and parameters (int8, int32, per channel)', () => {
    const before = liveCounts();
    const x = tf.tensor2d([[-128, 0, 127], [5, -5, 1]]);
    const a = run('Int8FromCodes', x, {dtype: 'int8', scale: [0.1], zeroPoint: [-3], axis: -1});
    const infoA = getQuantization(a);
    expect(infoA?.dtype).toBe('int8');
    expect(Array.from(infoA?.codes ?? [])).toEqual([-128, 0, 127, 5, -5, 1]);
    expect(infoA?.params).toEqual({scale: [0.1], zeroPoint: [-3]});
    const b = run('Int8FromCodes', x, {dtype: 'int32', scale: [1, 2, 3], zeroPoint: [0, 0, 0], axis: 1});
    const infoB = getQuantization(b);
    expect(infoB?.dtype).toBe('int32');
    expect(infoB?.params).toEqual({scale: [1, 2, 3], zeroPoint: [0, 0, 0], axis: 1});
    expect(Array.from(b.dataSync())).toEqual([-128, 0, 381, 5, -10, 3]);
    tf.dispose([x, a, b]);
    expect(liveCounts()).toEqual(before);
  });

  it('a value that is not an integer code in range is an error naming the value', () => {
    const frac = tf.tensor1d([1, 3.5]);
    const big = tf.tensor1d([300]);
    const x = tf.tensor1d([1, 2]);
    const attrs = {dtype: 'int8', scale: [1], zeroPoint: [0], axis: -1};
    expect(() => run('Int8FromCodes', frac, attrs)).toThrow(/Int8FromCodes: input x holds 3\.5 at index 1/);
    expect(() => run('Int8FromCodes', big, attrs)).toThrow(/Int8FromCodes: input x holds 300 at index 0/);
    expect(() => run('Int8FromCodes', x, {...attrs, dtype: 'uint8'})).toThrow(/Int8FromCodes: attr dtype/);
    expect(() => run('Int8FromCodes', x, {...attrs, axis: 1})).toThrow(/Int8FromCodes: attr axis/);
    expect(() => run('Int8FromCodes', x, {...attrs, scale: [0]})).toThrow(/Int8FromCodes.*scale\[0\] = 0/);
    expect(() => run('Int8FromCodes', x, {...attrs, axis: 0})).toThrow(/Int8FromCodes.*2 expected/);
    tf.dispose([frac, big, x]);
  });
});
