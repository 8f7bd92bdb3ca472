// Dynamic-mode quantization of float operands (DESIGN "Two ways to run"):
// activations per tensor, asymmetric int8, from their actual range; weights per
// output channel, symmetric narrow-range int8. Pure functions; the rounding
// rules are src/quant's.

import {chooseQuantizationParams, quantizeValues, quantizeWeightsPerChannel} from '../../src/quant';
import {weightChannelSums} from './zero_point_fold';

/** Per-tensor int8 codes of an activation: r = scale·(q − zeroPoint). */
export interface PerTensorCodes {
  codes: Int8Array;
  scale: number;
  zeroPoint: number;
}

/**
 * Quantizes a float activation per tensor with TFLite's
 * ChooseQuantizationParams over its [min, max] (widened to contain 0; a
 * constant-zero tensor gets scale 1). Returns null when a value is not finite
 * (NaN, ±Infinity): such inputs have no int8 range and are left to the float
 * kernel.
 */
export function quantizeActivation(values: ArrayLike<number>): PerTensorCodes | null {
  let min = 0;
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v - v === 0)) return null;  // NaN or ±Infinity
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const {scale, zeroPoint} = chooseQuantizationParams(min, max, {dtype: 'int8'});
  const codes = quantizeValues(values, [values.length], {scale: [scale], zeroPoint: [zeroPoint]}, 'int8');
  return {codes: codes as Int8Array, scale, zeroPoint};
}

/**
 * Weights grouped by output channel: element `e` of each of `batches` slices
 * belongs to channel `floor(e / channelInner) % channelCount` (see
 * weightChannelSums for the layouts of Conv2D, depthwise and matmul).
 */
export interface ChannelLayout {
  batches: number;
  channelInner: number;
  channelCount: number;
}

/** int8 weights, one symmetric scale per output channel, with their code sums. */
export interface ChannelWeightCodes {
  codes: Int8Array;
  /** Per output channel (length channelCount). */
  channelScale: Float64Array;
  /** Σ codes per (batch slice, output channel), for foldZeroPoints. */
  channelSums: Int32Array;
}

function allFinite(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v - v === 0)) return false;
  }
  return true;
}

/**
 * quantizeWeightsPerChannel over the output channels of `layout`: the weights
 * are viewed as `[outer, channelCount, channelInner]` and quantized along axis 1
 * (S[c] = max|w| of channel c / 127, codes in −127..127, zero point 0).
 * Null when a weight is NaN or ±Infinity (the kernel then runs in float).
 */
export function quantizeWeightsByChannel(
    values: ArrayLike<number>, layout: ChannelLayout, name: string): ChannelWeightCodes | null {
  if (!allFinite(values)) return null;
  const {channelInner, channelCount} = layout;
  const outer = channelInner * channelCount === 0 ? 0 : values.length / (channelInner * channelCount);
  const {codes, scale} = quantizeWeightsPerChannel(values, [outer, channelCount, channelInner], 1, name);
  return {
    codes,
    channelScale: Float64Array.from(scale),
    channelSums: weightChannelSums(codes, layout.batches, channelInner, channelCount),
  };
}
