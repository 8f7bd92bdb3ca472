import * as tf from '@tensorflow/tfjs-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {BACKEND_NAME, BackendInt8, getQuantization, int8Backend, quantizedTensor, registerInt8Backend} from '../../src/index';

describe('registration', () => {
  beforeAll(async () => {
    await tf.setBackend(BACKEND_NAME);
  });
  afterAll(async () => {
    await tf.setBackend(BACKEND_NAME);
  });

  it('registers a backend named int8', async () => {
    expect(BACKEND_NAME).toBe('int8');
    expect(tf.getBackend()).toBe('int8');
    expect(tf.backend()).toBeInstanceOf(BackendInt8);
  });

  it('runs ops the cpu backend has, with the same results', async () => {
    const x = tf.tensor2d([[1, -2], [3, 4]]);
    const y = tf.tidy(() => tf.sum(tf.add(tf.mul(x, x), tf.softmax(x)), 1));
    const int8Result = await y.data();
    await tf.setBackend('cpu');
    const xc = tf.tensor2d([[1, -2], [3, 4]]);
    const yc = tf.tidy(() => tf.sum(tf.add(tf.mul(xc, xc), tf.softmax(xc)), 1));
    expect(Array.from(int8Result)).toEqual(Array.from(await yc.data()));
    tf.dispose([x, y, xc, yc]);
    await tf.setBackend('int8');
  });

  it('survives importing twice, switching back and forth, and engine reset', async () => {
    registerInt8Backend();
    registerInt8Backend();
    for (let i = 0; i < 5; i++) {
      await tf.setBackend('cpu');
      await tf.setBackend('int8');
    }
    tf.engine().reset();
    expect(await tf.setBackend('int8')).toBe(true);
    const x = tf.tensor1d([1, 2, 3]);
    expect(Array.from(await tf.exp(x).data())).toEqual(Array.from(await tf.exp(tf.tensor1d([1, 2, 3])).data()));
    tf.disposeVariables();
  });

  it('every cpu kernel is available on int8', () => {
    const cpu = tf.getKernelsForBackend('cpu').map(k => k.kernelName).sort();
    const int8 = new Set(tf.getKernelsForBackend('int8').map(k => k.kernelName));
    expect(cpu.length).toBeGreaterThan(150);
    expect(cpu.filter(name => !int8.has(name))).toEqual([]);
  });
});

describe('quantized tensors', () => {
  beforeAll(async () => {
    await tf.setBackend('int8');
  });

  it('read back dequantized through dataSync(), data() and array()', async () => {
    const before = tf.memory().numTensors;
    const t = quantizedTensor(new Int8Array([-128, -1, 0, 5, 127, 10]), [2, 3], {scale: [0.5], zeroPoint: [-1]});
    expect(t.dtype).toBe('float32');
    expect(Array.from(t.dataSync())).toEqual([-63.5, 0, 0.5, 3, 64, 5.5]);
    expect(Array.from(await t.data())).toEqual([-63.5, 0, 0.5, 3, 64, 5.5]);
    expect(await t.array()).toEqual([[-63.5, 0, 0.5], [3, 64, 5.5]]);
    t.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('per-channel int8 and int32 codes dequantize along their axis', () => {
    const w = quantizedTensor(new Int8Array([1, 2, 3, 4, 5, 6]), [3, 2], {scale: [1, 0.25], zeroPoint: [0, 0], axis: 1});
    expect(Array.from(w.dataSync())).toEqual([1, 0.5, 3, 1, 5, 1.5]);
    const acc = quantizedTensor(new Int32Array([1000000, -7]), [2], {scale: [0.001], zeroPoint: [0]});
    expect(Array.from(acc.dataSync())).toEqual([Math.fround(1000), Math.fround(-0.007)]);
    tf.dispose([w, acc]);
  });

  it('a float op sees dequantized values, dequantized once, with no leak', () => {
    const backend = int8Backend();
    const before = tf.memory().numTensors;
    const q = quantizedTensor(new Int8Array([0, 10, 20]), [3], {scale: [0.1], zeroPoint: [10]});
    const count = backend.stats.dequantizations;
    const e = tf.exp(q);
    const e2 = tf.exp(q);
    const expected = [-1, 0, 1].map(v => Math.exp(v));
    const got = Array.from(e.dataSync());
    got.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
    expect(Array.from(e2.dataSync())).toEqual(got);
    expect(backend.stats.dequantizations - count).toBe(1);
    tf.dispose([q, e, e2]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('getQuantization returns codes and parameters; a float tensor gives null', () => {
    const q = quantizedTensor(new Int8Array([3, -4]), [2], {scale: [2], zeroPoint: [1]});
    const info = getQuantization(q);
    expect(info?.dtype).toBe('int8');
    expect(Array.from(info?.codes ?? [])).toEqual([3, -4]);
    expect(info?.params).toEqual({scale: [2], zeroPoint: [1]});
    const f = tf.tensor1d([1, 2]);
    expect(getQuantization(f)).toBeNull();
    tf.dispose([q, f]);
  });

  it('reshape shares codes without dequantizing', () => {
    const backend = int8Backend();
    const q = quantizedTensor(new Int8Array([1, 2, 3, 4]), [2, 2], {scale: [1], zeroPoint: [0]});
    const count = backend.stats.dequantizations;
    const r = tf.reshape(q, [4]);
    expect(getQuantization(r)?.codes).toEqual(new Int8Array([1, 2, 3, 4]));
    expect(backend.stats.dequantizations).toBe(count);
    tf.dispose([q, r]);
  });

  it('disposing frees the codes', () => {
    const backend = int8Backend();
    const q = quantizedTensor(new Int8Array([1, 2]), [2], {scale: [1], zeroPoint: [0]});
    const store = backend.getQuantized(q.dataId)?.store;
    q.dispose();
    expect(backend.getQuantized(q.dataId)).toBeUndefined();
    expect(() => store?.codes()).toThrow(/freed/);
  });

  it('a tensor moved to cpu keeps its dequantized values', async () => {
    const q = quantizedTensor(new Int8Array([2, 4]), [2], {scale: [0.5], zeroPoint: [0]});
    await tf.setBackend('cpu');
    const doubled = tf.mul(q, 2);
    expect(Array.from(doubled.dataSync())).toEqual([2, 4]);
    tf.dispose([q, doubled]);
    await tf.setBackend('int8');
  });
});

describe('bad input', () => {
  beforeAll(async () => {
    await tf.setBackend('int8');
  });

  it('reading after dispose names the tensor', () => {
    const q = quantizedTensor(new Int8Array([1]), [1], {scale: [1], zeroPoint: [0]}, 'act');
    q.dispose();
    expect(() => getQuantization(q)).toThrow(/Tensor \d+ .*disposed/);
    expect(() => q.dataSync()).toThrow(/disposed/);
  });

  it('a per-channel axis out of range names the tensor and the axis', () => {
    expect(() => quantizedTensor(new Int8Array(4), [2, 2], {scale: [1, 1], zeroPoint: [0, 0], axis: 2}, 'conv1/weights'))
        .toThrow(/conv1\/weights.*axis|axis.*conv1\/weights/);
  });

  it('a scale that is not positive and finite names the value', () => {
    expect(() => quantizedTensor(new Int8Array(1), [1], {scale: [0], zeroPoint: [0]}, 'x')).toThrow(/'?x'?.*0|scale/);
    expect(() => quantizedTensor(new Int8Array(1), [1], {scale: [NaN], zeroPoint: [0]}, 'x')).toThrow(/NaN/);
    expect(() => quantizedTensor(new Int8Array(1), [1], {scale: [-1], zeroPoint: [0]}, 'x')).toThrow(/-1/);
  });

  it('a zero point outside the dtype range names the value', () => {
    expect(() => quantizedTensor(new Int8Array(1), [1], {scale: [1], zeroPoint: [200]}, 'x')).toThrow(/200/);
  });

  it('codes that do not fill the shape are refused', () => {
    expect(() => quantizedTensor(new Int8Array(3), [2, 2], {scale: [1], zeroPoint: [0]}, 'x')).toThrow(/3 codes.*\[2, 2\]/);
  });
});
