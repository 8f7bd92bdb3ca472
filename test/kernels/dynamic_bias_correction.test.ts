// The dynamic mode's bias correction (kernels/impl/dynamic.ts, Nagel et al.
// 2019 §4.2): the weight error ΔW = W_q − W, the input channel means, and the
// corrections — which cancel the weight-quantization error exactly when every
// input channel is constant: for a matmul, and for a convolution at every
// output position, borders included (taps reading padding are not
// corrected). Also the operands.ts glue on the backend: ΔW cached once per
// weight, nothing to correct in static mode or for weights that hold codes.
import {backend_util} from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {convGeometry} from '../../kernels/impl/conv_kernel';
import type {ConvGeometry} from '../../kernels/impl/conv_int8';
import {
  addConvBiasCorrection, biasCorrection, convTapCorrections, inputChannelMeans, quantizeWeightsByChannel,
  weightQuantizationError,
} from '../../kernels/impl/dynamic';
import type {ChannelLayout} from '../../kernels/impl/dynamic';
import {
  activationOperand, dynamicConvBiasCorrection, dynamicMatMulBiasCorrection, weightOperand,
} from '../../kernels/impl/operands';
import {int8Backend, quantizedTensor} from '../../src/index';
import {randomData, rngFor} from './conv_matmul_helpers';
import type {Rng} from './conv_matmul_helpers';

/** W_q = S[c]·q and ΔW = W_q − W of float weights in `layout`. */
function quantized(values: Float32Array, layout: ChannelLayout): {dequantized: Float64Array; error: Float32Array} {
  const w = quantizeWeightsByChannel(values, layout, 'w')!;
  const c = (e: number) => Math.floor(e / layout.channelInner) % layout.channelCount;
  return {
    dequantized: Float64Array.from(w.codes, (q, e) => w.channelScale[c(e)] * q),
    error: weightQuantizationError(values, w.codes, w.channelScale, layout),
  };
}

/** NHWC conv by the definition (taps outside the input read 0), float64. */
function convReference(x: ArrayLike<number>, filter: ArrayLike<number>, g: ConvGeometry, depthwise: boolean): Float64Array {
  const out = new Float64Array(g.batch * g.outHeight * g.outWidth * g.outChannels);
  const multiplier = g.outChannels / g.inChannels;
  for (let b = 0, o = 0; b < g.batch; b++) {
    for (let oy = 0; oy < g.outHeight; oy++) {
      for (let ox = 0; ox < g.outWidth; ox++) {
        for (let c = 0; c < g.outChannels; c++, o++) {
          let sum = 0;
          for (let fy = 0; fy < g.filterHeight; fy++) {
            const iy = oy * g.strideHeight - g.padTop + fy * g.dilationHeight;
            if (iy < 0 || iy >= g.inHeight) continue;
            for (let fx = 0; fx < g.filterWidth; fx++) {
              const ix = ox * g.strideWidth - g.padLeft + fx * g.dilationWidth;
              if (ix < 0 || ix >= g.inWidth) continue;
              const pixel = ((b * g.inHeight + iy) * g.inWidth + ix) * g.inChannels;
              const tap = fy * g.filterWidth + fx;
              if (depthwise) {
                const i = Math.floor(c / multiplier);
                sum += x[pixel + i] * filter[tap * g.outChannels + c];
              } else {
                for (let i = 0; i < g.inChannels; i++) {
                  sum += x[pixel + i] * filter[(tap * g.inChannels + i) * g.outChannels + c];
                }
              }
            }
          }
          out[o] = sum;
        }
      }
    }
  }
  return out;
}

function geometry(xShape: number[], filterShape: number[], strides: number, dilations: number,
                  pad: 'same' | 'valid' | number, depthwise: boolean): ConvGeometry {
  return convGeometry(backend_util.computeConv2DInfo(
      xShape as [number, number, number, number], filterShape as [number, number, number, number], strides, dilations,
      pad, 'floor', depthwise, 'channelsLast'));
}

/** An NHWC input whose channel i is the constant means[i] everywhere. */
function constantChannels(rng: Rng, xShape: number[]): {x: Float64Array; means: Float64Array} {
  const channels = xShape[3];
  const means = Float64Array.from({length: channels}, () => rng.floatIn(-2, 3));
  const size = xShape.reduce((a, b) => a * b, 1);
  return {x: Float64Array.from({length: size}, (_, e) => means[e % channels]), means};
}

describe('weightQuantizationError', () => {
  it('is S[c]·q − w in the weights\' layout (Conv2D HWIO and transposed matmul)', () => {
    const rng = rngFor(70);
    for (const layout of [{batches: 1, channelInner: 1, channelCount: 4}, {batches: 1, channelInner: 6, channelCount: 5}]) {
      const values = randomData(rng, 30 * (layout.channelCount === 4 ? 4 : 1), 0);
      const w = quantizeWeightsByChannel(values, layout, 'w')!;
      const error = weightQuantizationError(values, w.codes, w.channelScale, layout);
      for (let e = 0; e < values.length; e++) {
        const c = Math.floor(e / layout.channelInner) % layout.channelCount;
        expect(error[e]).toBe(Math.fround(w.channelScale[c] * w.codes[e] - values[e]));
      }
      expect(error.some(v => v !== 0)).toBe(true);
    }
    expect(() => weightQuantizationError([1, 2], [1], [1], {batches: 1, channelInner: 1, channelCount: 1}))
        .toThrow(/2 weights but 1 codes/);
  });
});

describe('inputChannelMeans', () => {
  it('means per innermost channel, or per channel of a [K, M] layout with inner M', () => {
    expect(Array.from(inputChannelMeans([1, 10, 3, 20, 5, 30], 2))).toEqual([3, 20]);
    expect(Array.from(inputChannelMeans([1, 3, 5, 10, 20, 30], 2, 3))).toEqual([3, 20]);
    expect(Array.from(inputChannelMeans([], 3))).toEqual([0, 0, 0]);
  });
});

describe('biasCorrection (matmul)', () => {
  it('cancels the mean weight-quantization error of every output column, b [K, N] and [N, K]', () => {
    const rng = rngFor(72);
    const [rows, k, n] = [50, 12, 7];
    // Inputs with large, channel-dependent means: the case bias correction is for.
    const a = Float64Array.from({length: rows * k}, (_, e) => 3 * ((e % k) / k) + rng.floatIn(-0.5, 0.5));
    const means = inputChannelMeans(a, k);
    for (const transposed of [false, true]) {
      const layout = {batches: 1, channelInner: transposed ? k : 1, channelCount: n};
      const inputLayout = transposed ? {inputInner: 1, inputCount: k} : {inputInner: n, inputCount: k};
      const index = (i: number, c: number) => transposed ? c * k + i : i * n + c;
      const values = randomData(rng, k * n, 0);
      const {dequantized, error} = quantized(values, layout);
      const correction = biasCorrection(error, means, layout, inputLayout);
      for (let c = 0; c < n; c++) {
        let meanError = 0;
        for (let r = 0; r < rows; r++) {
          for (let i = 0; i < k; i++) meanError += a[r * k + i] * (dequantized[index(i, c)] - values[index(i, c)]);
        }
        meanError /= rows;
        expect(Math.abs(meanError)).toBeGreaterThan(1e-6);
        expect(Math.abs(meanError + correction[c])).toBeLessThan(1e-6 * (1 + Math.abs(meanError)));
      }
    }
  });

  it('rejects batched weights and a wrong number of means', () => {
    const layout = {batches: 1, channelInner: 1, channelCount: 2};
    expect(() => biasCorrection(new Float32Array(8), new Float64Array(4), {...layout, batches: 2},
                                {inputInner: 2, inputCount: 4})).toThrow(/2 batch slices/);
    expect(() => biasCorrection(new Float32Array(8), new Float64Array(3), layout, {inputInner: 2, inputCount: 4}))
        .toThrow(/3 input means, expected 4/);
  });
});

describe('convTapCorrections + addConvBiasCorrection', () => {
  const cases = [
    {xShape: [2, 7, 6, 5], filterShape: [3, 3, 5, 4], strides: 1, dilations: 1, pad: 'same', depthwise: false},
    {xShape: [1, 9, 8, 3], filterShape: [3, 2, 3, 6], strides: 2, dilations: 1, pad: 'same', depthwise: false},
    {xShape: [1, 6, 6, 4], filterShape: [2, 3, 4, 3], strides: 1, dilations: 2, pad: 2, depthwise: false},
    {xShape: [1, 5, 5, 2], filterShape: [1, 1, 2, 3], strides: 1, dilations: 1, pad: 1, depthwise: false},
    {xShape: [1, 6, 5, 4], filterShape: [3, 3, 4, 5], strides: 1, dilations: 1, pad: 'valid', depthwise: false},
    {xShape: [2, 8, 7, 4], filterShape: [3, 3, 4, 1], strides: 1, dilations: 1, pad: 'same', depthwise: true},
    {xShape: [1, 9, 9, 3], filterShape: [3, 3, 3, 2], strides: 2, dilations: 1, pad: 'same', depthwise: true},
    {xShape: [1, 3, 8, 2], filterShape: [5, 2, 2, 2], strides: 1, dilations: 3, pad: 'same', depthwise: true},
  ] as const;

  it.each(cases.map(c => [JSON.stringify(c), c] as const))(
      'constant input channels: W_q conv + correction = W conv at every position, %s', (_, c) => {
        const rng = rngFor(75);
        const g = geometry([...c.xShape], [...c.filterShape], c.strides, c.dilations, c.pad, c.depthwise);
        const outC = g.outChannels;
        const values = randomData(rng, c.filterShape.reduce((a: number, b: number) => a * b, 1), 0);
        const {dequantized, error} = quantized(values, {batches: 1, channelInner: 1, channelCount: outC});
        const {x, means} = constantChannels(rng, [...c.xShape]);
        const exact = convReference(x, values, g, c.depthwise);
        const withQuantizedWeights = convReference(x, dequantized, g, c.depthwise);
        const corrected = Float32Array.from(withQuantizedWeights);
        addConvBiasCorrection(corrected, convTapCorrections(error, means, c.filterShape, c.depthwise), g);
        let uncorrectedError = 0;
        for (let i = 0; i < exact.length; i++) {
          uncorrectedError = Math.max(uncorrectedError, Math.abs(withQuantizedWeights[i] - exact[i]));
          // Float32 storage of the output: ≤ 2^-23 relative, plus the float32 ΔW.
          expect(Math.abs(corrected[i] - exact[i])).toBeLessThan(2e-6 * (1 + Math.abs(exact[i])));
        }
        expect(uncorrectedError).toBeGreaterThan(1e-5);
      });

  it('positions whose taps all read padding get no correction', () => {
    // A 1-pixel-wide input with a dilated filter: most outputs see only padding.
    const rng = rngFor(76);
    const g = geometry([1, 4, 1, 2], [3, 3, 2, 3], 1, 2, 'same', false);
    const corrections = Float64Array.from({length: 9 * 3}, () => rng.floatIn(-1, 1));
    const out = new Float32Array(g.outHeight * g.outWidth * g.outChannels);
    addConvBiasCorrection(out, corrections, g);
    const onlyPadding = new Float32Array(g.outHeight * g.outWidth * g.outChannels);
    addConvBiasCorrection(onlyPadding, corrections, geometry([1, 1, 1, 2], [3, 3, 2, 3], 1, 1, 5, false));
    expect(Array.from(onlyPadding).every(v => v === 0)).toBe(true);
    // Only the middle column (fx = 1) is inside a 1-pixel-wide input.
    for (let oy = 0; oy < g.outHeight; oy++) {
      for (let c = 0; c < 3; c++) {
        let expected = 0;
        for (let fy = 0; fy < 3; fy++) {
          const iy = oy - 2 + 2 * fy;
          if (iy >= 0 && iy < 4) expected += corrections[(fy * 3 + 1) * 3 + c];
        }
        expect(out[oy * 3 + c]).toBeCloseTo(expected, 6);
      }
    }
  });

  it('rejects a wrong number of weight errors or means', () => {
    expect(() => convTapCorrections(new Float32Array(10), new Float64Array(2), [3, 3, 2, 1], true))
        .toThrow(/10 weight errors for filter \[3, 3, 2, 1\]/);
    expect(() => convTapCorrections(new Float32Array(18), new Float64Array(3), [3, 3, 2, 1], true))
        .toThrow(/3 input means, expected 2/);
  });
});

describe('dynamic bias correction on the backend (operands.ts)', () => {
  let wasmBefore = false;
  beforeAll(async () => {
    await tf.setBackend('int8');
    wasmBefore = tf.env().getBool('INT8_WASM');
    tf.env().set('INT8_WASM', false);
  });
  afterAll(() => {
    tf.env().set('INT8_WASM', wasmBefore);
  });

  it('conv: the pure correction with this input\'s means; ΔW derived once for three calls', () => {
    const rng = rngFor(73);
    const backend = int8Backend();
    const [inC, outC] = [6, 5];
    const filter = tf.tensor4d(randomData(rng, 3 * 3 * inC * outC, 0), [3, 3, inC, outC]);
    const layout = {batches: 1, channelInner: 1, channelCount: outC};
    const derivations = backend.stats.derivations;
    for (let trial = 0; trial < 3; trial++) {
      const x = tf.tensor4d(randomData(rng, 2 * 4 * 4 * inC, 0), [2, 4, 4, inC]);
      const g = geometry(x.shape, filter.shape, 1, 1, 'same', false);
      const input = activationOperand(backend, x)!;
      const weights = weightOperand(backend, filter, layout, 'filter')!;
      const apply = dynamicConvBiasCorrection(backend, x, input, filter, weights, layout, g, false)!;
      const actual = new Float32Array(2 * 4 * 4 * outC);
      apply(actual);
      const expected = new Float32Array(actual.length);
      const error = weightQuantizationError(filter.dataSync(), weights.codes(), weights.channelScale, layout);
      addConvBiasCorrection(expected, convTapCorrections(error, inputChannelMeans(x.dataSync(), inC), filter.shape, false), g);
      expect(Array.from(actual)).toEqual(Array.from(expected));
      expect(actual.some(v => v !== 0)).toBe(true);
      x.dispose();
    }
    // The codes and ΔW: one derivation each.
    expect(backend.stats.derivations - derivations).toBe(2);
    filter.dispose();
  });

  it('matmul: the pure correction with the means of a (or of a transposed a)', () => {
    const rng = rngFor(77);
    const backend = int8Backend();
    const [m, k, n] = [4, 6, 3];
    const b = tf.tensor2d(randomData(rng, k * n, 0), [k, n]);
    const layout = {batches: 1, channelInner: 1, channelCount: n};
    const inputLayout = {inputInner: n, inputCount: k};
    const weights = weightOperand(backend, b, layout, 'b')!;
    const error = weightQuantizationError(b.dataSync(), weights.codes(), weights.channelScale, layout);
    const a = tf.tensor2d(randomData(rng, m * k, 0), [m, k]);
    const aT = tf.transpose(a);
    const expected = biasCorrection(error, inputChannelMeans(a.dataSync(), k), layout, inputLayout);
    const plain = dynamicMatMulBiasCorrection(backend, a, activationOperand(backend, a)!, b, weights, layout, inputLayout)!;
    const transposed = dynamicMatMulBiasCorrection(backend, aT, activationOperand(backend, aT)!, b, weights, layout,
                                                   inputLayout, m)!;
    expect(Array.from(plain)).toEqual(Array.from(expected));
    for (let c = 0; c < n; c++) expect(transposed[c]).toBeCloseTo(expected[c], 12);
    tf.dispose([a, aT, b]);
  });

  it('null in static mode (the input holds codes) and for weights that hold codes', () => {
    const rng = rngFor(74);
    const backend = int8Backend();
    const layout = {batches: 1, channelInner: 1, channelCount: 3};
    const floatFilter = tf.tensor4d(randomData(rng, 2 * 3, 0), [1, 1, 2, 3]);
    const codeFilter = quantizedTensor(Int8Array.from([1, -2, 3, 4, -5, 6]), [1, 1, 2, 3],
                                       {scale: [0.1, 0.2, 0.3], zeroPoint: [0, 0, 0], axis: 3});
    const floatX = tf.tensor4d(randomData(rng, 8, 0), [1, 2, 2, 2]);
    const codeX = quantizedTensor(Int8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), [1, 2, 2, 2], {scale: [0.5], zeroPoint: [1]});
    const g = geometry([1, 2, 2, 2], [1, 1, 2, 3], 1, 1, 'valid', false);
    const staticInput = activationOperand(backend, codeX)!;
    const dynamicInput = activationOperand(backend, floatX)!;
    const floatWeights = weightOperand(backend, floatFilter, layout, 'f')!;
    const codeWeights = weightOperand(backend, codeFilter, layout, 'f')!;
    expect(dynamicConvBiasCorrection(backend, codeX, staticInput, floatFilter, floatWeights, layout, g, false)).toBeNull();
    expect(dynamicConvBiasCorrection(backend, floatX, dynamicInput, codeFilter, codeWeights, layout, g, false)).toBeNull();
    expect(dynamicConvBiasCorrection(backend, floatX, dynamicInput, floatFilter, floatWeights, layout, g, false))
        .toBeInstanceOf(Function);
    tf.dispose([floatFilter, codeFilter, floatX, codeX]);
  });
});
