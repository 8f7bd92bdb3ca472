import {describe, expect, it} from 'vitest';

import {
  BIAS_CODE_LIMIT, fitsInt16, minimumScalesForBias, outputCodeRange, outputMultipliers, quantizeBias, quantizeFilter,
  quantizeFilterAndBias,
} from '../../src/graph/weight_quant';
import type {WeightTensor} from '../../src/graph/model_graph';
import {toFloat16} from '../../src/graph/float16';
import {multiplyByQuantizedMultiplier, roundHalfAwayFromZero} from '../../src/quant';

const weight = (shape: number[], values: number[]): WeightTensor => ({dtype: 'float32', shape, values: Float32Array.from(values)});

/** The scale a filter gets for max |w| = m: the nearest float16 to m/127 (stored in 2 bytes, exactly). */
const f16Scale = (m: number): number => toFloat16(m / 127, 'nearest') as number;

describe('weights, biases and multipliers of a quantized conv', () => {
  it('quantizes filters symmetrically per output channel, narrow range, in each op\'s layout, with float16 scales', () => {
    // conv [1,1,2,2]: channel 0 = {1, -0.5}, channel 1 = {0.2, 0.4}
    const conv = quantizeFilter('_FusedConv2D', weight([1, 1, 2, 2], [1, 0.2, -0.5, 0.4]), true, false, 'w');
    expect(conv.axis).toBe(3);
    expect(conv.scales).toEqual([f16Scale(1), f16Scale(Math.fround(0.4))]);
    expect(conv.storage).toEqual({dtype: 'float16', exponent: 0});
    const [s0, s1] = conv.scales;
    expect(Array.from(conv.codes)).toEqual([127, roundHalfAwayFromZero(Math.fround(0.2) / s1), roundHalfAwayFromZero(-0.5 / s0), 127]);
    // depthwise [1,2,2,1]: channels are the input channels (axis 2)
    const dw = quantizeFilter('FusedDepthwiseConv2dNative', weight([1, 2, 2, 1], [2, 1, -1, 0.5]), true, false, 'dw');
    expect(dw.axis).toBe(2);
    expect(dw.scales).toEqual([f16Scale(2), f16Scale(1)]);
    // matmul [K=2, N=3] and its transpose [N=3, K=2]
    const mm = quantizeFilter('_FusedMatMul', weight([2, 3], [1, 2, 3, -1, -4, 1.5]), true, false, 'mm');
    expect(mm.scales).toEqual([f16Scale(1), f16Scale(4), f16Scale(3)]);
    const mmT = quantizeFilter('_FusedMatMul', weight([3, 2], [1, -1, 2, -4, 3, 1.5]), true, true, 'mmT');
    expect(mmT.axis).toBe(0);
    expect(mmT.scales).toEqual([f16Scale(1), f16Scale(4), f16Scale(3)]);
    // per tensor: one scale, axis −1
    const perTensor = quantizeFilter('_FusedConv2D', weight([1, 1, 2, 2], [1, 0.2, -0.5, 0.4]), false, false, 'w');
    expect(perTensor.axis).toBe(-1);
    expect(perTensor.scales).toEqual([f16Scale(1), f16Scale(1)]);
  });

  it('rounds the bias to int32 at S_in·S_w[c], zero point 0', () => {
    const bias = quantizeBias([0.5, -0.25, 1e-9], 0.1, [0.01, 0.02, 0.5]);
    expect(bias.scales[0]).toBeCloseTo(0.001, 15);
    expect(bias.scales[1]).toBeCloseTo(0.002, 15);
    expect(Array.from(bias.codes)).toEqual([500, -125, 0]);
    expect(bias.saturated).toBe(0);
  });

  it('raises one channel\'s scale (≤ 2×, ≤ 1 in 50 channels) so the whole layer\'s bias fits int16, never more', () => {
    // conv [1,1,1,64], S_in = 0.01, max|w| of channel c = 0.5 + c/128: channel 1's bias code is
    // 40000 at its own scale (1.22× int16), the others' 100.
    const channels = 64;
    const filter = weight([1, 1, 1, channels], Array.from({length: channels}, (_, c) => 0.5 + c / 128));
    const inputScale = 0.01;
    const own = Array.from({length: channels}, (_, c) => f16Scale(Math.fround(0.5 + c / 128)));
    const biasWith = (codeOf1: number, codeOf2 = 100) => own.map((s, c) => (c === 1 ? codeOf1 : c === 2 ? codeOf2 : 100) * inputScale * s);
    const {filter: q, bias} = quantizeFilterAndBias('_FusedConv2D', filter, biasWith(40000), inputScale, true, false, 'w');
    expect(fitsInt16(bias.codes)).toBe(true);
    expect(q.scales.filter((s, c) => s !== own[c]).length).toBe(1);
    // Channel 1: raised just enough (float16 of 40000/32767 × its scale, with the 2^-10 margin), its code shrinks.
    expect(q.scales[1] / own[1]).toBeGreaterThan(40000 / 32767);
    expect(q.scales[1] / own[1]).toBeLessThan((40000 / 32767) * (1 + 2 ** -9));
    expect(Math.abs(bias.codes[1])).toBeLessThanOrEqual(32767);
    expect(q.codes[1]).toBe(roundHalfAwayFromZero(Math.fround(0.5 + 1 / 128) / q.scales[1]));
    expect(q.codes[1]).toBeLessThan(127);
    // 3× over int16 (more than a bit), or two channels of 64 over (more than 1 in 50): scales kept, int32 bias.
    for (const [c1, c2] of [[3 * 32767, 100], [40000, 40000]]) {
      const kept = quantizeFilterAndBias('_FusedConv2D', filter, biasWith(c1, c2), inputScale, true, false, 'w');
      expect(kept.filter.scales).toEqual(own);
      expect(fitsInt16(kept.bias.codes)).toBe(false);
    }
  });

  it('raises the weight scale of a near-dead channel so its bias fits in int32 (≤ 2^30)', () => {
    const filter = weight([1, 1, 1, 2], [1e-13, 0.5]);
    const bias = [3, 0.1];
    const inputScale = 0.02;
    const q = quantizeFilter('_FusedConv2D', filter, true, false, 'w', minimumScalesForBias(bias, inputScale));
    // Both scales are float16s times 2^-k: the raised one is below float16's normal range.
    const raised = 3 / (inputScale * BIAS_CODE_LIMIT);
    expect(q.storage).toEqual({dtype: 'float16', exponent: 9});
    expect(Math.abs(q.scales[0] - raised)).toBeLessThanOrEqual(raised * 2 ** -11);
    expect(q.scales[1]).toBe(f16Scale(0.5));
    const b = quantizeBias(bias, inputScale, q.scales);
    expect(b.saturated).toBe(0);
    expect(Math.abs(b.codes[0])).toBeLessThanOrEqual(BIAS_CODE_LIMIT);
    expect(b.codes[0] * inputScale * q.scales[0]).toBeCloseTo(3, 6);
    expect(q.codes[0]).toBe(0);
  });

  it('gives (M0, shift) per channel that multiply like S_in·S_w[c]/S_out', () => {
    const {multipliers, shifts} = outputMultipliers(0.05, [0.001, 0.02], 0.1);
    [0.0005, 0.01].forEach((m, c) => {
      expect(multipliers[c]).toBeGreaterThanOrEqual(2 ** 30);
      expect(multiplyByQuantizedMultiplier(100000, multipliers[c], shifts[c])).toBe(Math.round(100000 * m));
    });
  });

  it('clamps outputs to the fused activation: relu at Z, relu6 at Z + round(6/S)', () => {
    expect(outputCodeRange('none', 0.1, 5)).toEqual({lo: -128, hi: 127});
    expect(outputCodeRange('relu', 0.1, 5)).toEqual({lo: 5, hi: 127});
    expect(outputCodeRange('relu6', 0.05, -128)).toEqual({lo: -128, hi: -8});
  });

});
