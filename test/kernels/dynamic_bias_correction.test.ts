// The dynamic mode's bias correction (kernels/impl/dynamic.ts, Nagel et al.
// 2019 §4.2): the weight error per (input, output) channel in every weight
// layout, the input channel means, and the correction itself — which, for a
// 1×1 convolution or a matmul, cancels the mean of the weight-quantization
// error of every output channel exactly. Also operands.ts
// dynamicBiasCorrection on the backend: cached once per weight, null in
// static mode.
import * as tf from '@tensorflow/tfjs-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {
  biasCorrection, inputChannelMeans, quantizeWeightsByChannel, weightErrorByInput,
} from '../../kernels/impl/dynamic';
import type {ChannelLayout, InputChannelLayout} from '../../kernels/impl/dynamic';
import {activationOperand, dynamicBiasCorrection, weightOperand} from '../../kernels/impl/operands';
import {int8Backend, quantizedTensor} from '../../src/index';
import {randomData, rngFor} from './conv_matmul_helpers';

/** Weight error from the definition: the element's input and output channel by explicit indices. */
function errorModel(values: Float32Array, layout: ChannelLayout, input: InputChannelLayout,
                    inputOf: (e: number) => number, outputOf: (e: number) => number): Float64Array {
  const w = quantizeWeightsByChannel(values, layout, 'w')!;
  const error = new Float64Array(input.inputCount * layout.channelCount);
  for (let e = 0; e < values.length; e++) {
    const c = outputOf(e);
    error[inputOf(e) * layout.channelCount + c] += w.channelScale[c] * w.codes[e] - values[e];
  }
  return error;
}

function errorOf(values: Float32Array, layout: ChannelLayout, input: InputChannelLayout): Float64Array {
  const w = quantizeWeightsByChannel(values, layout, 'w')!;
  return weightErrorByInput(values, w.codes, w.channelScale, layout, input);
}

describe('weightErrorByInput', () => {
  const rng = rngFor(71);

  it('Conv2D HWIO [fh, fw, inC, outC]: input channel floor(e/outC) % inC, output e % outC', () => {
    const [fh, fw, inC, outC] = [3, 2, 5, 4];
    const values = randomData(rng, fh * fw * inC * outC, 0);
    const layout = {batches: 1, channelInner: 1, channelCount: outC};
    const input = {inputInner: outC, inputCount: inC};
    const expected = errorModel(values, layout, input, e => Math.floor(e / outC) % inC, e => e % outC);
    const actual = errorOf(values, layout, input);
    expect(Array.from(actual)).toEqual(Array.from(expected));
    expect(actual.some(v => v !== 0)).toBe(true);
  });

  it('depthwise [fh, fw, inC, mult]: output channel i·mult + j only sees input channel i', () => {
    const [fh, fw, inC, mult] = [3, 3, 4, 2];
    const outC = inC * mult;
    const values = randomData(rng, fh * fw * outC, 0);
    const layout = {batches: 1, channelInner: 1, channelCount: outC};
    const input = {inputInner: mult, inputCount: inC};
    const expected = errorModel(values, layout, input, e => Math.floor(e / mult) % inC, e => e % outC);
    const actual = errorOf(values, layout, input);
    expect(Array.from(actual)).toEqual(Array.from(expected));
    for (let i = 0; i < inC; i++) {
      for (let c = 0; c < outC; c++) {
        if (Math.floor(c / mult) !== i) expect(actual[i * outC + c]).toBe(0);
      }
    }
  });

  it('matmul b [K, N] and transposed b [N, K]', () => {
    const [k, n] = [6, 5];
    const values = randomData(rng, k * n, 0);
    const plain = {batches: 1, channelInner: 1, channelCount: n};
    expect(Array.from(errorOf(values, plain, {inputInner: n, inputCount: k})))
        .toEqual(Array.from(errorModel(values, plain, {inputInner: n, inputCount: k}, e => Math.floor(e / n), e => e % n)));
    const transposed = {batches: 1, channelInner: k, channelCount: n};
    expect(Array.from(errorOf(values, transposed, {inputInner: 1, inputCount: k})))
        .toEqual(Array.from(errorModel(values, transposed, {inputInner: 1, inputCount: k}, e => e % k,
                                       e => Math.floor(e / k))));
  });

  it('rejects batched weights and a codes/values mismatch', () => {
    const values = randomData(rng, 8, 0);
    const w = quantizeWeightsByChannel(values, {batches: 2, channelInner: 1, channelCount: 2}, 'w')!;
    expect(() => weightErrorByInput(values, w.codes, w.channelScale, {batches: 2, channelInner: 1, channelCount: 2},
                                    {inputInner: 2, inputCount: 2})).toThrow(/2 batch slices/);
    expect(() => weightErrorByInput(values, w.codes.subarray(1), w.channelScale,
                                    {batches: 1, channelInner: 1, channelCount: 2}, {inputInner: 2, inputCount: 4}))
        .toThrow(/8 weights but 7 codes/);
  });
});

describe('inputChannelMeans and biasCorrection', () => {
  it('means per innermost channel, or per channel of a [K, M] layout with inner M', () => {
    expect(Array.from(inputChannelMeans([1, 10, 3, 20, 5, 30], 2))).toEqual([3, 20]);
    expect(Array.from(inputChannelMeans([1, 3, 5, 10, 20, 30], 2, 3))).toEqual([3, 20]);
    expect(Array.from(inputChannelMeans([], 3))).toEqual([0, 0, 0]);
  });

  it('cancels the mean weight-quantization error of a 1×1 conv / matmul exactly', () => {
    const rng = rngFor(72);
    const [rows, k, n] = [50, 12, 7];
    // Inputs with large, channel-dependent means: the case bias correction is for.
    const x = Float64Array.from({length: rows * k}, (_, e) => 3 * ((e % k) / k) + rng.floatIn(-0.5, 0.5));
    const values = randomData(rng, k * n, 0);
    const layout = {batches: 1, channelInner: 1, channelCount: n};
    const w = quantizeWeightsByChannel(values, layout, 'w')!;
    const error = weightErrorByInput(values, w.codes, w.channelScale, layout, {inputInner: n, inputCount: k});
    const correction = biasCorrection(error, inputChannelMeans(x, k), n);
    for (let c = 0; c < n; c++) {
      let meanError = 0;
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < k; i++) {
          meanError += x[r * k + i] * (w.channelScale[c] * w.codes[i * n + c] - values[i * n + c]);
        }
      }
      meanError /= rows;
      expect(Math.abs(meanError)).toBeGreaterThan(0);
      expect(meanError + correction[c]).toBeCloseTo(0, 12);
    }
    expect(() => biasCorrection(error, new Float64Array(k - 1), n)).toThrow(/expected 11·7/);
  });
});

describe('dynamicBiasCorrection on the backend', () => {
  let wasmBefore = false;
  beforeAll(async () => {
    await tf.setBackend('int8');
    wasmBefore = tf.env().getBool('INT8_WASM');
    tf.env().set('INT8_WASM', false);
  });
  afterAll(() => {
    tf.env().set('INT8_WASM', wasmBefore);
  });

  it('float input and float filter: the pure correction, weight error derived once', () => {
    const rng = rngFor(73);
    const backend = int8Backend();
    const [inC, outC] = [6, 5];
    const filter = tf.tensor4d(randomData(rng, 3 * 3 * inC * outC, 0), [3, 3, inC, outC]);
    const layout = {batches: 1, channelInner: 1, channelCount: outC};
    const inputLayout = {inputInner: outC, inputCount: inC};
    const derivations = backend.stats.derivations;
    for (let trial = 0; trial < 3; trial++) {
      const x = tf.tensor4d(randomData(rng, 2 * 4 * 4 * inC, 0), [2, 4, 4, inC]);
      const input = activationOperand(backend, x)!;
      const weights = weightOperand(backend, filter, layout, 'filter')!;
      const correction = dynamicBiasCorrection(backend, x, input, filter, weights, layout, inputLayout)!;
      const error = weightErrorByInput(filter.dataSync(), weights.codes(), weights.channelScale, layout, inputLayout);
      expect(Array.from(correction)).toEqual(Array.from(biasCorrection(error, inputChannelMeans(x.dataSync(), inC), outC)));
      x.dispose();
    }
    // The codes and the weight error: one derivation each for three calls.
    expect(backend.stats.derivations - derivations).toBe(2);
    filter.dispose();
  });

  it('null in static mode (the input holds codes) and for weights that hold codes', () => {
    const rng = rngFor(74);
    const backend = int8Backend();
    const layout = {batches: 1, channelInner: 1, channelCount: 3};
    const inputLayout = {inputInner: 3, inputCount: 2};
    const floatFilter = tf.tensor4d(randomData(rng, 2 * 3, 0), [1, 1, 2, 3]);
    const codeFilter = quantizedTensor(Int8Array.from([1, -2, 3, 4, -5, 6]), [1, 1, 2, 3],
                                       {scale: [0.1, 0.2, 0.3], zeroPoint: [0, 0, 0], axis: 3});
    const floatX = tf.tensor4d(randomData(rng, 8, 0), [1, 2, 2, 2]);
    const codeX = quantizedTensor(Int8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), [1, 2, 2, 2], {scale: [0.5], zeroPoint: [1]});
    const staticInput = activationOperand(backend, codeX)!;
    const dynamicInput = activationOperand(backend, floatX)!;
    const floatWeights = weightOperand(backend, floatFilter, layout, 'f')!;
    const codeWeights = weightOperand(backend, codeFilter, layout, 'f')!;
    expect(dynamicBiasCorrection(backend, codeX, staticInput, floatFilter, floatWeights, layout, inputLayout)).toBeNull();
    expect(dynamicBiasCorrection(backend, floatX, dynamicInput, codeFilter, codeWeights, layout, inputLayout)).toBeNull();
    expect(dynamicBiasCorrection(backend, floatX, dynamicInput, floatFilter, floatWeights, layout, inputLayout))
        .toHaveLength(3);
    tf.dispose([floatFilter, codeFilter, floatX, codeX]);
  });
});
