// Weights, biases and multipliers of a quantized conv/matmul (pure functions on arrays).
//   filter: int8 symmetric, per output channel, narrow range (CONTRACTS "Weights")
//   bias:   int32, scale S_in·S_w[c], zero point 0
//   requantize multiplier M[c] = S_in·S_w[c]/S_out → (M0, shift) with quantizeMultiplier

import {activationRange, INT32_MAX, INT32_MIN, quantizeMultiplier, quantizeValues, quantizeWeightsPerChannel, roundHalfAwayFromZero} from '../quant';
import type {QuantizedActivation} from '../ops/op_names';
import {elementCount, WeightTensor} from './model_graph';
import {FloatStorage, storableFloats} from './float16';
import type {FusedComputeOp} from './op_catalog';

export interface QuantizedFilter {
  /** Codes in the filter's own layout. */
  codes: Int8Array;
  /** One scale per output channel (all equal when per tensor): the values stored, exactly. */
  scales: number[];
  /** The channel axis of the codes, or −1 for one scale for the whole tensor. */
  axis: number;
  /** How the scales are stored (float16 with a power-of-two offset, or float32). */
  storage: FloatStorage;
}

/**
 * The filter as the layout the per-channel axis applies to:
 * conv [h,w,in,out] axis 3; depthwise [h,w,in,mult] as [h,w,in·mult] axis 2;
 * matmul [K,N] axis 1, or [N,K] (transpose_b) axis 0.
 */
function channelView(op: FusedComputeOp, shape: readonly number[], transposeB: boolean): {shape: number[]; axis: number} {
  if (op === '_FusedConv2D') return {shape: shape.slice(), axis: 3};
  if (op === 'FusedDepthwiseConv2dNative') return {shape: [shape[0], shape[1], shape[2] * shape[3]], axis: 2};
  return {shape: shape.slice(), axis: transposeB ? 0 : 1};
}

/**
 * Largest |bias code| allowed: 2^30 leaves the int32 accumulator room for the
 * Σ(q_in − z_in)·q_w terms (|term| ≤ 255·127, a few thousand of them).
 */
export const BIAS_CODE_LIMIT = 2 ** 30;

/**
 * Per-channel lower bounds on the weight scale so that the bias fits:
 * |bias[c]| / (S_in·S_w[c]) ≤ BIAS_CODE_LIMIT. Matters for (near-)dead channels,
 * whose tiny weights would otherwise give a tiny scale and an int32-saturated bias
 * (TFLite's converter raises those weight scales the same way).
 */
export function minimumScalesForBias(bias: ArrayLike<number>, inputScale: number, limit = BIAS_CODE_LIMIT): number[] {
  return Array.from(bias, b => Math.abs(b) / (inputScale * limit));
}

/** Largest |bias code| of the artifact's 2-byte bias table. */
export const INT16_BIAS_LIMIT = 32767;

/**
 * When a layer's filter scales may be raised so that all its bias codes fit int16 (half the
 * bias bytes of the layer): by at most 2× (one bit of those channels' weights) on at most 1 in
 * 50 of its channels. A raised channel is re-rounded on the coarser grid and loses its
 * data-aware rounding (weight_rounding.ts, which ran before the input scale was known): raising
 * every channel that fits within 2× cost nsfwjs MobileNetV2 1.8 dB (its linear bottlenecks had
 * up to 11 of 32 channels raised); with these bounds it raises one channel of 192 there (38.75 →
 * 38.37 dB, top-1 unchanged) and emotion 2 of 256 (25.02 → 25.03 dB) (src/graph/README.md).
 */
export const INT16_BIAS_MAX_RAISE = 2;
export const INT16_BIAS_MAX_RAISED_FRACTION = 1 / 50;

/**
 * Lower bounds on the filter scales that make every bias code of the layer fit int16, or
 * undefined when that needs more than the bounds above (`scales` are the layer's own).
 * A 2^-10 margin covers the float16 rounding of the raised scale.
 */
export function int16BiasMinimumScales(bias: ArrayLike<number>, inputScale: number, scales: readonly number[]): number[] | undefined {
  const minimums = minimumScalesForBias(bias, inputScale, INT16_BIAS_LIMIT).map(m => m * (1 + 2 ** -10));
  const raisedChannels = minimums.filter((m, c) => m > scales[c]).length;
  if (raisedChannels > scales.length * INT16_BIAS_MAX_RAISED_FRACTION) return undefined;
  return minimums.every((m, c) => m <= scales[c] * INT16_BIAS_MAX_RAISE) ? minimums : undefined;
}

/**
 * Symmetric int8 weight codes. Per channel unless `perChannel` is false or the
 * filter is a depthwise one with channel multiplier > 1 (no single axis holds
 * its output channels, so one scale covers it). `minimumScales` (per output
 * channel) raises scales where needed (see minimumScalesForBias). Each scale is
 * then moved to the value it is stored as: the nearest float16 (src/graph/float16.ts),
 * at most 2^-11 of itself away, so max|w|/S ≤ 127.07 and the codes still fit −127..127;
 * what runs is exactly what is stored.
 */
/**
 * Filter scales go to the nearest float16, not the next one up: both keep the codes in
 * −127..127, nearest moves them half as far on average and without bias; measured on
 * 126 photos (SQNR vs float, int8): posenet 17.86 dB with exact scales, 17.77 rounded up,
 * 17.97 nearest (src/graph/README.md).
 */
const SCALE_ROUNDING = 'nearest';

export function quantizeFilter(op: FusedComputeOp, filter: WeightTensor, perChannel: boolean, transposeB: boolean, name: string,
    minimumScales?: readonly number[]): QuantizedFilter {
  const view = channelView(op, filter.shape, transposeB);
  const channels = view.shape[view.axis];
  const multiplierAboveOne = op === 'FusedDepthwiseConv2dNative' && filter.shape[3] !== 1;
  if (!perChannel || multiplierAboveOne) {
    const size = elementCount(filter.shape);
    const {scale} = quantizeWeightsPerChannel(filter.values, [1, size], 0, name);
    const {values: [stored], storage} = storableFloats([Math.max(scale[0], ...(minimumScales ?? []))], SCALE_ROUNDING);
    const codes = quantizeValues(filter.values, [size], {scale: [stored], zeroPoint: [0]}, 'int8', name) as Int8Array;
    return {codes, scales: new Array<number>(channels).fill(stored), axis: -1, storage};
  }
  const {scale} = quantizeWeightsPerChannel(filter.values, view.shape, view.axis, name);
  const raised = minimumScales === undefined ? scale : scale.map((s, c) => Math.max(s, minimumScales[c]));
  const {values: scales, storage} = storableFloats(raised, SCALE_ROUNDING);
  // Depthwise codes keep their [h,w,in,1] layout; with multiplier 1 the channel axis is 2.
  const params = {scale: scales, zeroPoint: new Array<number>(channels).fill(0), axis: view.axis};
  return {codes: quantizeValues(filter.values, view.shape, params, 'int8', name) as Int8Array, scales, axis: view.axis, storage};
}

export interface QuantizedBias {
  codes: Int32Array;
  /** S_in·S_w[c]. */
  scales: number[];
  /** How many entries hit the int32 range (reported; 0 in any sane model). */
  saturated: number;
}

/** bias[c] → round(bias[c] / (S_in·S_w[c])) in int32, zero point 0. */
export function quantizeBias(bias: ArrayLike<number>, inputScale: number, filterScales: readonly number[]): QuantizedBias {
  const codes = new Int32Array(bias.length);
  const scales = filterScales.map(s => inputScale * s);
  let saturated = 0;
  for (let c = 0; c < bias.length; c++) {
    const code = roundHalfAwayFromZero(bias[c] / scales[c]);
    if (code > INT32_MAX || code < INT32_MIN) saturated++;
    codes[c] = Math.min(INT32_MAX, Math.max(INT32_MIN, code));
  }
  return {codes, scales, saturated};
}

export interface OutputMultipliers {
  multipliers: number[];
  shifts: number[];
}

/** (M0[c], shift[c]) = quantizeMultiplier(S_in·S_w[c] / S_out). */
export function outputMultipliers(inputScale: number, filterScales: readonly number[], outputScale: number): OutputMultipliers {
  const multipliers: number[] = [];
  const shifts: number[] = [];
  for (const filterScale of filterScales) {
    const {multiplier, shift} = quantizeMultiplier((inputScale * filterScale) / outputScale);
    multipliers.push(multiplier);
    shifts.push(shift);
  }
  return {multipliers, shifts};
}

/** The output code clamp of a fused activation ([-128, 127] tightened by relu/relu6). */
export function outputCodeRange(activation: QuantizedActivation, outputScale: number, outputZeroPoint: number): {lo: number; hi: number} {
  return activationRange(activation === 'none' ? 'linear' : activation, outputScale, outputZeroPoint, 'int8');
}

/** Whether integer codes all fit int16 (the artifact's 2-byte bias table). */
export function fitsInt16(codes: ArrayLike<number>): boolean {
  for (let i = 0; i < codes.length; i++) {
    if (codes[i] < -32768 || codes[i] > 32767) return false;
  }
  return true;
}

/**
 * The filter's int8 codes and the bias's int32 codes. When at most INT16_BIAS_MAX_RAISED_FRACTION of
 * the channels' bias codes overflow int16, by at most INT16_BIAS_MAX_RAISE, their filter scales are raised so the whole
 * layer's bias fits the 2-byte table (src/graph/channel_tables.ts): 2 bytes per channel saved for
 * at most one bit of those channels' weights.
 */
export function quantizeFilterAndBias(op: FusedComputeOp, filterWeight: WeightTensor, floatBias: ArrayLike<number>, inputScale: number,
    perChannel: boolean, transposeB: boolean, filterName: string): {filter: QuantizedFilter; bias: QuantizedBias} {
  const filter = quantizeFilter(op, filterWeight, perChannel, transposeB, filterName, minimumScalesForBias(floatBias, inputScale));
  const bias = quantizeBias(floatBias, inputScale, filter.scales);
  if (fitsInt16(bias.codes) || filter.axis < 0) return {filter, bias};
  const minimums = int16BiasMinimumScales(floatBias, inputScale, filter.scales);
  if (minimums === undefined) return {filter, bias};
  const raised = quantizeFilter(op, filterWeight, perChannel, transposeB, filterName, minimums);
  const raisedBias = quantizeBias(floatBias, inputScale, raised.scales);
  return fitsInt16(raisedBias.codes) ? {filter: raised, bias: raisedBias} : {filter, bias};
}
