// Edge cases and bad input of the conv and matmul kernels: K = 1, 1×1
// spatial inputs, padding larger than the kernel, all-zero / constant inputs
// and weights (degenerate ranges), very large and very small magnitudes,
// negative zero points, empty and non-finite inputs; shape mismatches and
// unsupported attribute combinations give errors naming kernel and attribute.
import * as tf from '@tensorflow/tfjs-core';
import {beforeAll, describe, expect, it} from 'vitest';

import {getQuantization, quantizedTensor} from '../../src/index';
import {fakeQuantize, randomCodes, randomData, rngFor, sqnrDb, valuesOn} from './conv_matmul_helpers';

/** Runs `fn` on cpu and on int8 and returns both results (make random data outside `fn`). */
async function both(fn: () => tf.Tensor): Promise<{cpu: Float32Array; int8: Float32Array}> {
  const cpu = await valuesOn('cpu', fn);
  const int8 = await valuesOn('int8', fn);
  expect(int8.shape).toEqual(cpu.shape);
  return {cpu: cpu.values, int8: int8.values};
}

describe('conv / matmul edge cases (dynamic mode, vs tfjs-cpu)', () => {
  beforeAll(async () => {
    await tf.setBackend('int8');
  });
  const rng = rngFor(500);

  it('K = 1: a 1×1 conv of one channel, a matmul with k = 1', async () => {
    const x = randomData(rng, 2 * 5 * 5, 0);
    const w = randomData(rng, 3, 0);
    const conv = await both(() => tf.conv2d(tf.tensor4d(x, [2, 5, 5, 1]), tf.tensor4d(w, [1, 1, 1, 3]), 1, 'valid'));
    expect(sqnrDb(conv.cpu, conv.int8)).toBeGreaterThanOrEqual(30);
    const mm = await both(() => tf.matMul(tf.tensor2d(x.slice(0, 7), [7, 1]), tf.tensor2d(w, [1, 3])));
    expect(sqnrDb(mm.cpu, mm.int8)).toBeGreaterThanOrEqual(30);
  });

  it('1×1 spatial input with a 3×3 same-padded filter, and depthwise with multiplier 3', async () => {
    const x = randomData(rng, 4, 0);
    const w = randomData(rng, 9 * 4 * 2, 3);
    const r = await both(() => tf.conv2d(tf.tensor4d(x, [1, 1, 1, 4]), tf.tensor4d(w, [3, 3, 4, 2]), 1, 'same'));
    expect(sqnrDb(r.cpu, r.int8)).toBeGreaterThanOrEqual(30);
    const dw = randomData(rng, 9 * 4 * 3, 3);
    const d = await both(() => tf.depthwiseConv2d(tf.tensor4d(x, [1, 1, 1, 4]), tf.tensor4d(dw, [3, 3, 4, 3]), 1,
                                                  'same'));
    expect(sqnrDb(d.cpu, d.int8)).toBeGreaterThanOrEqual(30);
  });

  it('padding larger than the kernel (numeric and explicit)', async () => {
    const x = randomData(rng, 4 * 4 * 2, 1);
    const w = randomData(rng, 2 * 2 * 2 * 3, 3);
    for (const pad of [5, [[0, 0], [6, 2], [0, 7], [0, 0]]] as const) {
      const r = await both(() => tf.fused.conv2d({x: tf.tensor4d(x, [1, 4, 4, 2]), filter: tf.tensor4d(w, [2, 2, 2, 3]),
                                                  strides: 1, pad: pad as unknown as 'valid', bias: tf.tensor1d([0.5, -1, 2])}));
      expect(sqnrDb(r.cpu, r.int8)).toBeGreaterThanOrEqual(30);
    }
  });

  it('all-zero input: exactly the bias (and the activation of it)', async () => {
    const w = randomData(rng, 3 * 3 * 2 * 4, 3);
    const bias = [0.25, -0.5, 3, -7];
    for (const activation of ['linear', 'relu', 'elu', 'sigmoid'] as const) {
      const r = await both(() => tf.fused.conv2d({x: tf.zeros([1, 5, 5, 2]) as tf.Tensor4D, filter: tf.tensor4d(w, [3, 3, 2, 4]),
                                                  strides: 1, pad: 'same', bias: tf.tensor1d(bias), activation}));
      expect(Array.from(r.int8)).toEqual(Array.from(r.cpu));
    }
    const b = randomData(rng, 8);
    const mm = await both(() => tf.fused.matMul({a: tf.zeros([3, 4]), b: tf.tensor2d(b, [4, 2]),
                                                 bias: tf.tensor1d([1, -2])}));
    expect(Array.from(mm.int8)).toEqual(Array.from(mm.cpu));
  });

  it('constant input and constant / all-zero weights (degenerate ranges)', async () => {
    for (const value of [3.7, -0.02, 1e-30]) {
      const w = randomData(rng, 2 * 2 * 3 * 2, 3);
      const r = await both(() => tf.conv2d(tf.fill([1, 4, 4, 3], value) as tf.Tensor4D, tf.tensor4d(w, [2, 2, 3, 2]), 1, 'valid'));
      expect(sqnrDb(r.cpu, r.int8)).toBeGreaterThanOrEqual(30);
    }
    const x = randomData(rng, 16);
    const zeroWeights = await both(() => tf.fused.conv2d({x: tf.tensor4d(x, [1, 4, 4, 1]),
                                                          filter: tf.zeros([2, 2, 1, 2]) as tf.Tensor4D, strides: 1, pad: 'same',
                                                          bias: tf.tensor1d([1, 2])}));
    expect(Array.from(zeroWeights.int8)).toEqual(Array.from(zeroWeights.cpu));
    const a = randomData(rng, 12);
    const constWeights = await both(() => tf.matMul(tf.tensor2d(a, [3, 4]), tf.fill([4, 5], -0.3)));
    expect(sqnrDb(constWeights.cpu, constWeights.int8)).toBeGreaterThanOrEqual(30);
  });

  it('very large and very small magnitudes', async () => {
    for (const [xMag, wMag] of [[1e15, 1e10], [1e-20, 1e-10], [1e6, 1e-6]]) {
      const x = randomData(rng, 2 * 6 * 6 * 3, 3, xMag);
      const w = randomData(rng, 3 * 3 * 3 * 4, 3, wMag);
      const r = await both(() => tf.conv2d(tf.tensor4d(x, [2, 6, 6, 3]), tf.tensor4d(w, [3, 3, 3, 4]), 2, 'same'));
      expect(sqnrDb(r.cpu, r.int8)).toBeGreaterThanOrEqual(30);
      const mm = await both(() => tf.matMul(tf.tensor2d(x.slice(0, 30), [5, 6]), tf.tensor2d(w.slice(0, 24), [6, 4])));
      expect(sqnrDb(mm.cpu, mm.int8)).toBeGreaterThanOrEqual(30);
    }
  });

  it('all-positive input (zero point −128) and all-negative input (zero point 127)', async () => {
    for (const sign of [1, -1]) {
      const x = randomData(rng, 64, 1).map(v => sign * (v + 0.5));
      const w = randomData(rng, 64);
      const r = await both(() => tf.matMul(tf.tensor2d(x, [8, 8]), tf.tensor2d(w, [8, 8])));
      expect(sqnrDb(r.cpu, r.int8)).toBeGreaterThanOrEqual(30);
    }
  });

  it('NaN / Infinity in inputs or weights, and empty inputs, run tfjs-cpu\'s float kernel', async () => {
    const x = randomData(rng, 16);
    x[3] = NaN;
    x[9] = Infinity;
    const r = await both(() => tf.conv2d(tf.tensor4d(x, [1, 4, 4, 1]), tf.ones([2, 2, 1, 1]) as tf.Tensor4D, 1, 'same'));
    expect(Array.from(r.int8)).toEqual(Array.from(r.cpu));
    const w = randomData(rng, 8);
    w[5] = NaN;
    const nanFilter = await both(() => tf.conv2d(tf.tensor4d(randomData(rngFor(1), 16), [1, 4, 4, 1]),
                                                 tf.tensor4d(w, [2, 2, 1, 2]), 1, 'same'));
    expect(Array.from(nanFilter.int8)).toEqual(Array.from(nanFilter.cpu));
    const nanB = await both(() => tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([1, NaN, -Infinity, 4], [2, 2])));
    expect(Array.from(nanB.int8)).toEqual(Array.from(nanB.cpu));
    const empty = await both(() => tf.conv2d(tf.zeros([0, 4, 4, 2]) as tf.Tensor4D, tf.ones([2, 2, 2, 3]) as tf.Tensor4D, 1, 'same'));
    expect(empty.int8.length).toBe(0);
  });
});

describe('conv / matmul edge cases (static mode)', () => {
  beforeAll(async () => {
    await tf.setBackend('int8');
  });

  it('negative zero points and an all-zero-point input (real zeros) requantize to the output zero point', () => {
    const rng = rngFor(600);
    const filter = quantizedTensor(randomCodes(rng, 3 * 3 * 2 * 3, -127, 127), [3, 3, 2, 3],
                                   {scale: [0.01, 0.02, 0.03], zeroPoint: [0, 0, 0], axis: 3});
    const x = quantizedTensor(new Int8Array(2 * 5 * 5 * 2).fill(-100), [2, 5, 5, 2],
                              {scale: [0.1], zeroPoint: [-100]});
    const y = tf.engine().runKernel('Conv2D', {x, filter}, {
      strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1, outputScale: 0.5, outputZeroPoint: -77,
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const q = getQuantization(y);
    expect(q?.dtype).toBe('int8');
    expect(Array.from(q?.codes as Int8Array).every(v => v === -77)).toBe(true);
    tf.dispose([filter, x, y]);
  });

  it('K = 1 and 1×1 spatial: codes equal the fake-quantized product', () => {
    const x = quantizedTensor(Int8Array.of(-128, 127, 0, 5), [1, 1, 1, 4], {scale: [0.5], zeroPoint: [-3]});
    const filter = quantizedTensor(Int8Array.of(127, -127, 64, 1), [1, 1, 4, 1], {scale: [0.25], zeroPoint: [0]});
    const y = tf.engine().runKernel('DepthwiseConv2dNative', {x, filter}, {
      strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: 1, outputScale: 1.5, outputZeroPoint: -20,
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const real = [-128, 127, 0, 5].map((q, i) => 0.5 * (q + 3) * 0.25 * [127, -127, 64, 1][i]);
    expect(Array.from(getQuantization(y)?.codes as Int8Array)).toEqual(Array.from(fakeQuantize(real, 1.5, -20)));
    tf.dispose([x, filter, y]);
  });
});

describe('bad input: errors name the kernel and the attribute or input', () => {
  beforeAll(async () => {
    await tf.setBackend('int8');
  });
  const run = (kernel: string, inputs: tf.NamedTensorMap, attrs: Record<string, unknown>) => () =>
      tf.tidy(() => tf.engine().runKernel(kernel, inputs, attrs as tf.NamedAttrMap));
  const conv = {strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1};

  it('conv shapes', () => {
    const x = tf.zeros([1, 4, 4, 3]);
    expect(run('Conv2D', {x: tf.zeros([4, 4, 3]), filter: tf.zeros([2, 2, 3, 1])}, conv))
        .toThrow(/Conv2D: input 'x' must be rank 4, but got rank 3/);
    expect(run('Conv2D', {x, filter: tf.zeros([2, 2, 3])}, conv)).toThrow(/Conv2D: input 'filter' must be rank 4/);
    expect(run('Conv2D', {x, filter: tf.zeros([2, 2, 4, 1])}, conv))
        .toThrow(/Conv2D: depth of input 'x' \(3\) must match the input depth of 'filter' \(4\)/);
    expect(run('DepthwiseConv2dNative', {x, filter: tf.zeros([2, 2, 2, 1])}, conv))
        .toThrow(/DepthwiseConv2dNative: depth of input 'x' \(3\)/);
    expect(run('FusedConv2D', {x, filter: tf.zeros([2, 2, 3, 4]), bias: tf.zeros([5])}, conv))
        .toThrow(/FusedConv2D: input 'bias' of shape \[5\] does not broadcast to the output shape \[1, 4, 4, 4\]/);
    expect(run('FusedDepthwiseConv2D', {x, filter: tf.zeros([2, 2, 3, 2]), preluActivationWeights: tf.zeros([4])},
               {...conv, activation: 'prelu'}))
        .toThrow(/FusedDepthwiseConv2D: input 'preluActivationWeights' of shape \[4\]/);
  });

  it('conv attributes', () => {
    const inputs = (): tf.NamedTensorMap => ({x: tf.zeros([1, 6, 6, 2]), filter: tf.zeros([3, 3, 2, 1])});
    expect(run('DepthwiseConv2dNative', inputs(), {...conv, strides: 2, dilations: 2}))
        .toThrow(/DepthwiseConv2dNative: either attribute 'strides' or attribute 'dilations' must be 1/);
    expect(() => tf.tidy(() => tf.depthwiseConv2d(tf.zeros([1, 6, 6, 2]) as tf.Tensor4D,
                                                  tf.zeros([3, 3, 2, 1]) as tf.Tensor4D, 2, 'same', 'NHWC', 2)))
        .toThrow(/either attribute 'strides' or attribute 'dilations' must be 1/);  // through tfjs's op, too
    expect(run('Conv2D', inputs(), {...conv, strides: [0, 1]})).toThrow(/Conv2D: attribute 'strides'/);
    expect(run('Conv2D', inputs(), {...conv, dilations: [1, 1.5]})).toThrow(/Conv2D: attribute 'dilations'/);
    expect(run('Conv2D', inputs(), {...conv, pad: 'full'})).toThrow(/Conv2D: attribute 'pad'/);
    expect(run('Conv2D', inputs(), {...conv, pad: [[0, 0], [1, 1]]})).toThrow(/Conv2D: attribute 'pad'/);
    expect(run('Conv2D', inputs(), {...conv, pad: 1.5, dimRoundingMode: 'floor'}))
        .toThrow(/Conv2D: pad must be an integer when using dimRoundingMode floor/);
    expect(run('Conv2D', inputs(), {...conv, pad: 1, dimRoundingMode: 'up'})).toThrow(/Conv2D: attribute 'dimRoundingMode'/);
    expect(run('Conv2D', inputs(), {...conv, dataFormat: 'NWHC'})).toThrow(/Conv2D: attribute 'dataFormat'/);
    expect(run('FusedConv2D', inputs(), {...conv, activation: 'gelu'}))
        .toThrow(/FusedConv2D: attribute 'activation' 'gelu' is not supported/);
    expect(run('FusedConv2D', inputs(), {...conv, activation: 'prelu'}))
        .toThrow(/FusedConv2D: attribute 'activation' is 'prelu' but input 'preluActivationWeights' is missing/);
    expect(run('Conv2D', inputs(), {...conv, outputScale: 0.1}))
        .toThrow(/Conv2D: attr outputScale was given without attr outputZeroPoint/);
    expect(run('Conv2D', inputs(), {...conv, outputScale: -1, outputZeroPoint: 0})).toThrow(/Conv2D: attr outputScale/);
    expect(run('Conv2D', inputs(), {...conv, outputScale: 1, outputZeroPoint: 200}))
        .toThrow(/Conv2D: attr outputZeroPoint/);
  });

  it('matmul shapes and attributes', async () => {
    const a = (): tf.Tensor => tf.zeros([2, 3]);
    expect(run('BatchMatMul', {a: a(), b: tf.zeros([4, 5])}, {transposeA: false, transposeB: false}))
        .toThrow(/BatchMatMul: inner shapes \(3\) and \(4\) of inputs 'a' \[2, 3\] and 'b' \[4, 5\] must match/);
    expect(run('BatchMatMul', {a: a(), b: tf.zeros([5, 3])}, {transposeA: true, transposeB: true}))
        .toThrow(/transposeA=true, transposeB=true/);
    expect(run('BatchMatMul', {a: tf.zeros([3]), b: tf.zeros([3, 2])}, {}))
        .toThrow(/BatchMatMul: input 'a' must be at least rank 2/);
    expect(run('BatchMatMul', {a: tf.zeros([2, 1, 2, 3]), b: tf.zeros([1, 3, 3, 2])}, {}))
        .toThrow(/BatchMatMul: batch dimensions \[2, 1\] of 'a' and \[1, 3\] of 'b'/);
    expect(run('BatchMatMul', {a: tf.zeros([2, 2, 3]), b: tf.zeros([3, 3, 2])}, {}))
        .toThrow(/BatchMatMul: .*Operands could not be broadcast/);
    expect(run('_FusedMatMul', {a: a(), b: tf.zeros([3, 4]), bias: tf.zeros([3])}, {activation: 'linear'}))
        .toThrow(/_FusedMatMul: input 'bias' of shape \[3\] does not broadcast to the output shape \[2, 4\]/);
    expect(run('_FusedMatMul', {a: a(), b: tf.zeros([3, 4])}, {activation: 'swish'}))
        .toThrow(/_FusedMatMul: attribute 'activation' 'swish'/);
    expect(run('_FusedMatMul', {a: a(), b: tf.zeros([3, 4])}, {activation: 'leakyrelu', leakyreluAlpha: 'x'}))
        .toThrow(/_FusedMatMul: attribute 'leakyreluAlpha'/);
    // tfjs-cpu's kernel rejects the same inner mismatch
    await tf.setBackend('cpu');
    expect(run('BatchMatMul', {a: a(), b: tf.zeros([4, 5])}, {transposeA: false, transposeB: false}))
        .toThrow(/inner shapes \(3\) and \(4\)/);
    await tf.setBackend('int8');
  });
});
