// The weight cache: a weight is quantized once however often it is used, its
// codes are freed when it is disposed, and no tensor leaks — in dynamic mode
// (float weights, backend.derive on the weight's dataId) and in static mode
// (channel sums, int32 bias and requantization multipliers derived once).
import * as tf from '@tensorflow/tfjs-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {weightCacheCounters} from '../../kernels/impl/operands';
import {int8Backend, quantizedTensor} from '../../src/index';
import {randomCodes, randomData, rngFor} from './conv_matmul_helpers';

describe('weight cache', () => {
  // The reference kernels' cache; the wasm kernels add packed weights and
  // requantization tables to it (test/kernels/wasm_memory.test.ts).
  let wasmBefore = false;
  beforeAll(async () => {
    await tf.setBackend('int8');
    wasmBefore = tf.env().getBool('INT8_WASM');
    tf.env().set('INT8_WASM', false);
  });
  afterAll(() => {
    tf.env().set('INT8_WASM', wasmBefore);
  });

  it('dynamic FusedConv2D: a filter used 100 times is quantized once and freed with the filter', () => {
    const rng = rngFor(1);
    const backend = int8Backend();
    const tensorsBefore = tf.memory().numTensors;
    const filter = tf.tensor4d(randomData(rng, 3 * 3 * 4 * 8), [3, 3, 4, 8]);
    const bias = tf.tensor1d(randomData(rng, 8));
    const quantized = weightCacheCounters.quantized;
    const freed = weightCacheCounters.freed;
    const derivations = backend.stats.derivations;
    for (let i = 0; i < 100; i++) {
      tf.tidy(() => {
        const x = tf.tensor4d(randomData(rng, 2 * 6 * 6 * 4), [2, 6, 6, 4]);
        tf.fused.conv2d({x, filter, strides: 1, pad: 'same', bias, activation: 'relu'}).dataSync();
      });
    }
    expect(weightCacheCounters.quantized - quantized).toBe(1);
    expect(backend.stats.derivations - derivations).toBe(1);
    expect(backend.data.peek(filter.dataId)?.derived?.size).toBe(1);
    filter.dispose();
    expect(weightCacheCounters.freed - freed).toBe(1);
    expect(backend.data.peek(filter.dataId)).toBeUndefined();
    bias.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('dynamic depthwise and matmul weights: one quantization per weight (and per transposeB layout)', () => {
    const rng = rngFor(2);
    const tensorsBefore = tf.memory().numTensors;
    const depthwiseFilter = tf.tensor4d(randomData(rng, 3 * 3 * 4 * 2), [3, 3, 4, 2]);
    const dense = tf.tensor2d(randomData(rng, 16 * 16), [16, 16]);
    const quantized = weightCacheCounters.quantized;
    for (let i = 0; i < 100; i++) {
      tf.tidy(() => {
        const x = tf.tensor4d(randomData(rng, 5 * 5 * 4), [1, 5, 5, 4]);
        tf.depthwiseConv2d(x, depthwiseFilter, 1, 'same').dataSync();
        const a = tf.tensor2d(randomData(rng, 3 * 16), [3, 16]);
        tf.matMul(a, dense).dataSync();
        tf.matMul(a, dense, false, true).dataSync();  // dense as [n, k]: another layout, quantized once too
      });
    }
    expect(weightCacheCounters.quantized - quantized).toBe(3);
    const freed = weightCacheCounters.freed;
    tf.dispose([depthwiseFilter, dense]);
    expect(weightCacheCounters.freed - freed).toBe(3);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('static FusedConv2D: sums, int32 bias and multipliers derived once; nothing dequantized', () => {
    const rng = rngFor(3);
    const backend = int8Backend();
    const tensorsBefore = tf.memory().numTensors;
    const scale = Array.from({length: 8}, () => rng.floatIn(0.001, 0.01));
    const filter = quantizedTensor(randomCodes(rng, 3 * 3 * 4 * 8, -127, 127), [3, 3, 4, 8],
                                   {scale, zeroPoint: scale.map(() => 0), axis: 3});
    const bias = tf.tensor1d(randomData(rng, 8));  // float bias: quantized with S_in·S_w[c] once
    const derivations = backend.stats.derivations;
    const dequantizations = backend.stats.dequantizations;
    for (let i = 0; i < 100; i++) {
      tf.tidy(() => {
        const x = quantizedTensor(randomCodes(rng, 6 * 6 * 4), [1, 6, 6, 4], {scale: [0.05], zeroPoint: [-7]});
        tf.engine().runKernel('FusedConv2D', {x, filter, bias}, {
          strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1, activation: 'relu6', outputScale: 0.1,
          outputZeroPoint: -128,
        } as unknown as tf.NamedAttrMap);
      });
    }
    expect(backend.stats.derivations - derivations).toBe(3);  // channel sums, int32 bias, multipliers
    expect(backend.stats.dequantizations - dequantizations).toBe(0);  // the float bias is read, not dequantized
    tf.dispose([filter, bias]);
    expect(backend.data.peek(filter.dataId)).toBeUndefined();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});
