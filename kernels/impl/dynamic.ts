// Dynamic-mode quantization of float operands (DESIGN "Two ways to run"):
// activations per tensor, asymmetric int8, from their actual range; weights per
// output channel, symmetric narrow-range int8. Pure functions; the rounding
// rules are src/quant's.

import {quantizeWeightsPerChannel} from '../../src/quant';
import type {WeightClipMethod} from '../../src/quant';
import type {ConvGeometry} from './conv_int8';
import {weightChannelSums} from './zero_point_fold';

// The dynamic mode's per-tensor activation rule lives with the other quantization rules.
export {quantizeActivation} from '../../src/quant';
export type {PerTensorCodes} from '../../src/quant';

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
 * weight SQNR +0.0..0.1 dB per layer, outputs −0.5..+0.5 dB end to end, for
 * 5.5× the quantization time (0.56 s instead of 0.1 s for its 1.25 M
 * weights); see test/models/posenet_int8.test.ts.
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
// E[y_q − y] = Σ (W_q − W)[t, i, c]·E[x_i] over the taps t and input channels
// i that feed output channel c. Subtracting it before the activation removes
// the systematic part of the weight error. In dynamic mode E[x_i] is the mean
// of input channel i of the actual input (one pass over it); the weight error
// ΔW = W_q − W is computed once per weight and cached. A tap that reads
// padding multiplies a real 0, so at the borders of a convolution only the
// taps inside the input are corrected. Float arithmetic: it belongs to the
// float epilogue of the dynamic mode only.

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
 * ΔW = S[c]·q − w of every weight element, in the weights' own layout
 * (float32): the weight quantization error. `codes` and `channelScale` are
 * quantizeWeightsByChannel's for `values` and `layout`.
 */
export function weightQuantizationError(
    values: ArrayLike<number>, codes: ArrayLike<number>, channelScale: ArrayLike<number>,
    layout: ChannelLayout): Float32Array {
  if (values.length !== codes.length) {
    throw new Error(`weightQuantizationError: ${values.length} weights but ${codes.length} codes`);
  }
  const {channelInner, channelCount} = layout;
  const error = new Float32Array(values.length);
  for (let e = 0; e < values.length; e++) {
    const c = Math.floor(e / channelInner) % channelCount;
    error[e] = channelScale[c] * codes[e] - values[e];
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
  if (inner === 1) {
    for (let e = 0, channel = 0; e < values.length; e++) {
      means[channel] += values[e];
      if (++channel === channels) channel = 0;
    }
  } else {
    // Runs of `inner` elements share a channel; the channel advances cyclically.
    for (let e = 0, channel = 0; e < values.length; channel = channel + 1 === channels ? 0 : channel + 1) {
      let sum = 0;
      for (const end = e + inner; e < end; e++) sum += values[e];
      means[channel] += sum;
    }
  }
  const count = values.length / channels;
  for (let i = 0; i < channels; i++) means[i] /= count;
  return means;
}

/**
 * The bias correction of each output channel of a product without padding
 * (matmul, or a convolution whose taps all fall inside the input), to add to
 * the float bias before the activation: −Σ_e ΔW[e]·mean[input(e)] over the
 * elements e of output channel c (`weightError` from weightQuantizationError,
 * `inputMeans` from inputChannelMeans, one batch slice).
 */
export function biasCorrection(
    weightError: ArrayLike<number>, inputMeans: ArrayLike<number>, layout: ChannelLayout,
    input: InputChannelLayout): Float64Array {
  const {channelInner, channelCount} = layout;
  const {inputInner, inputCount} = input;
  if (layout.batches !== 1) {
    throw new Error(`biasCorrection: weights with ${layout.batches} batch slices have no single input mean`);
  }
  if (inputMeans.length !== inputCount) {
    throw new Error(`biasCorrection: ${inputMeans.length} input means, expected ${inputCount}`);
  }
  const correction = new Float64Array(channelCount);
  for (let e = 0; e < weightError.length; e++) {
    const c = Math.floor(e / channelInner) % channelCount;
    correction[c] -= weightError[e] * inputMeans[Math.floor(e / inputInner) % inputCount];
  }
  return correction;
}

/**
 * The bias correction of a convolution per filter tap:
 * `[fh·fw, outC]` with entry (t, c) = −Σ_i ΔW[t, i, c]·mean[i] (Conv2D HWIO
 * filter) or −ΔW[t, c]·mean[floor(c / multiplier)] (depthwise
 * [fh, fw, inC, multiplier]). `filterShape` is the filter's 4-D shape.
 */
export function convTapCorrections(
    weightError: ArrayLike<number>, inputMeans: ArrayLike<number>, filterShape: readonly number[],
    depthwise: boolean): Float64Array {
  const [fh, fw, inC, last] = filterShape;
  const outC = depthwise ? inC * last : last;
  if (weightError.length !== fh * fw * inC * last) {
    throw new Error(`convTapCorrections: ${weightError.length} weight errors for filter [${filterShape.join(', ')}]`);
  }
  if (inputMeans.length !== inC) {
    throw new Error(`convTapCorrections: ${inputMeans.length} input means, expected ${inC}`);
  }
  const taps = fh * fw;
  const corrections = new Float64Array(taps * outC);
  for (let t = 0, e = 0; t < taps; t++) {
    const row = t * outC;
    if (depthwise) {
      for (let c = 0; c < outC; c++, e++) corrections[row + c] = -weightError[e] * inputMeans[Math.floor(c / last)];
    } else {
      for (let i = 0; i < inC; i++) {
        const mean = inputMeans[i];
        for (let c = 0; c < outC; c++, e++) corrections[row + c] -= weightError[e] * mean;
      }
    }
  }
  return corrections;
}

/** For each output row (or column): the list of filter offsets whose input index falls inside. */
function insideTaps(outSize: number, inSize: number, stride: number, pad: number, dilation: number,
                    filterSize: number): {patternOf: Int32Array; patterns: number[][]} {
  const patternOf = new Int32Array(outSize);
  const patterns: number[][] = [];
  const known = new Map<string, number>();
  for (let o = 0; o < outSize; o++) {
    const inside: number[] = [];
    for (let f = 0; f < filterSize; f++) {
      const at = o * stride - pad + f * dilation;
      if (at >= 0 && at < inSize) inside.push(f);
    }
    const key = inside.join(',');
    let index = known.get(key);
    if (index === undefined) {
      index = patterns.length;
      known.set(key, index);
      patterns.push(inside);
    }
    patternOf[o] = index;
  }
  return {patternOf, patterns};
}

/**
 * Adds the bias correction of a convolution to its NHWC float output
 * `values` ([batch, outHeight, outWidth, outChannels], before bias and
 * activation): at each output position, the tap corrections
 * (convTapCorrections) of the taps that fall inside the input, with
 * conv_int8's geometry (padding taps read a real 0 and are not corrected).
 * One sum per distinct pattern of inside taps, so the cost is that of adding
 * a bias.
 */
export function addConvBiasCorrection(values: Float32Array, tapCorrections: Float64Array, g: ConvGeometry): void {
  const channels = g.outChannels;
  const rows = insideTaps(g.outHeight, g.inHeight, g.strideHeight, g.padTop, g.dilationHeight, g.filterHeight);
  const cols = insideTaps(g.outWidth, g.inWidth, g.strideWidth, g.padLeft, g.dilationWidth, g.filterWidth);
  const sums = new Map<number, Float64Array>();
  const sumOf = (rowPattern: number, colPattern: number): Float64Array => {
    const key = rowPattern * cols.patterns.length + colPattern;
    let sum = sums.get(key);
    if (sum === undefined) {
      sum = new Float64Array(channels);
      for (const fy of rows.patterns[rowPattern]) {
        for (const fx of cols.patterns[colPattern]) {
          const row = (fy * g.filterWidth + fx) * channels;
          for (let c = 0; c < channels; c++) sum[c] += tapCorrections[row + c];
        }
      }
      sums.set(key, sum);
    }
    return sum;
  };
  let i = 0;
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < g.outHeight; oy++) {
      for (let ox = 0; ox < g.outWidth; ox++) {
        const sum = sumOf(rows.patternOf[oy], cols.patternOf[ox]);
        for (let c = 0; c < channels; c++, i++) values[i] += sum[c];
      }
    }
  }
}
