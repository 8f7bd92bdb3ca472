// Dynamic-mode quantization of float operands (DESIGN "Two ways to run"):
// activations per tensor, asymmetric int8, from their actual range; weights per
// output channel, symmetric narrow-range int8. Pure functions; the rounding
// rules are src/quant's.

import {chooseQuantizationParams, quantizeValues, quantizeWeightsPerChannel} from '../../src/quant';
import type {WeightClipMethod} from '../../src/quant';
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

/**
 * The clipping threshold of dynamic-mode weights: max-abs. The MSE-optimal
 * threshold (src/quant mseOptimalClip) was measured on posenet and left out:
 * ≈ 0 dB end to end (−0.3..+0.5 dB per output), for ≈ 40× the quantization
 * time; see test/models/posenet_int8.test.ts.
 */
export const DYNAMIC_WEIGHT_CLIP: WeightClipMethod = 'maxAbs';

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
    values: ArrayLike<number>, layout: ChannelLayout, name: string,
    clip: WeightClipMethod = DYNAMIC_WEIGHT_CLIP): ChannelWeightCodes | null {
  if (!allFinite(values)) return null;
  const {channelInner, channelCount} = layout;
  const outer = channelInner * channelCount === 0 ? 0 : values.length / (channelInner * channelCount);
  const {codes, scale} = quantizeWeightsPerChannel(values, [outer, channelCount, channelInner], 1, name, {clip});
  return {
    codes,
    channelScale: Float64Array.from(scale),
    channelSums: weightChannelSums(codes, layout.batches, channelInner, channelCount),
  };
}

// Bias correction of the dynamic mode (Nagel et al. 2019, "Data-Free
// Quantization", §4.2). Quantizing the weights shifts every output's mean:
// E[y_q − y] = Σ_i (W_q − W)[i, c]·E[x_i] for output channel c, with the sum
// over the filter taps folded into (W_q − W)[i, c]. Subtracting it from the
// bias removes the systematic part of the weight error. In dynamic mode E[x_i]
// is the mean of input channel i of the actual input (one pass over it); the
// weight error is computed once per weight and cached. Float arithmetic: it
// belongs to the float epilogue of the dynamic mode only.

/**
 * Which input channel a weight element multiplies: element `e` of the weights
 * belongs to input channel `floor(e / inputInner) % inputCount`.
 * Conv2D HWIO [fh, fw, inC, outC] → (outC, inC); depthwise [fh, fw, inC, mult]
 * → (mult, inC); matmul b [K, N] → (N, K); b [N, K] (transposeB) → (1, K).
 */
export interface InputChannelLayout {
  inputInner: number;
  inputCount: number;
}

/**
 * The weight quantization error summed over the taps, per (input channel i,
 * output channel c): Σ (S[c]·q − w) over the elements of the weights that
 * multiply input channel i into output channel c. `codes` and `channelScale`
 * are quantizeWeightsByChannel's for `values` and `layout` (one batch slice).
 * Returns `[inputCount, channelCount]`, float64.
 */
export function weightErrorByInput(
    values: ArrayLike<number>, codes: ArrayLike<number>, channelScale: ArrayLike<number>, layout: ChannelLayout,
    input: InputChannelLayout): Float64Array {
  const {channelInner, channelCount} = layout;
  const {inputInner, inputCount} = input;
  if (layout.batches !== 1) {
    throw new Error(`weightErrorByInput: weights with ${layout.batches} batch slices have no single input mean`);
  }
  if (values.length !== codes.length) {
    throw new Error(`weightErrorByInput: ${values.length} weights but ${codes.length} codes`);
  }
  const error = new Float64Array(inputCount * channelCount);
  for (let e = 0; e < values.length; e++) {
    const c = Math.floor(e / channelInner) % channelCount;
    const i = Math.floor(e / inputInner) % inputCount;
    error[i * channelCount + c] += channelScale[c] * codes[e] - values[e];
  }
  return error;
}

/**
 * The mean of each input channel of an activation whose element `e` belongs
 * to channel `floor(e / inner) % channels` (NHWC and [rows, K]: inner 1;
 * a transposed matmul input [K, M]: inner M). Float64 sums.
 */
export function inputChannelMeans(values: ArrayLike<number>, channels: number, inner = 1): Float64Array {
  const means = new Float64Array(channels);
  if (channels === 0 || values.length === 0) return means;
  for (let e = 0; e < values.length; e++) {
    means[Math.floor(e / inner) % channels] += values[e];
  }
  const count = values.length / channels;
  for (let i = 0; i < channels; i++) means[i] /= count;
  return means;
}

/**
 * The bias correction of each output channel, to be added to the float bias
 * before the activation: −Σ_i error[i, c]·mean[i] (`error` from
 * weightErrorByInput, `mean` from inputChannelMeans).
 */
export function biasCorrection(error: Float64Array, inputMeans: ArrayLike<number>, channelCount: number): Float64Array {
  const inputCount = inputMeans.length;
  if (error.length !== inputCount * channelCount) {
    throw new Error(`biasCorrection: error has ${error.length} entries, expected ${inputCount}·${channelCount}`);
  }
  const correction = new Float64Array(channelCount);
  for (let i = 0; i < inputCount; i++) {
    const mean = inputMeans[i];
    if (mean === 0) continue;
    const row = i * channelCount;
    for (let c = 0; c < channelCount; c++) correction[c] -= error[row + c] * mean;
  }
  return correction;
}
