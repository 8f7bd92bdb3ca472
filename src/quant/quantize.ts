// Quantize reals to codes and back, per tensor or per channel
// (r = S·(q − Z), Jacob et al. 2018 eq. 1).

import {clamp, roundHalfAwayFromZero} from './rounding';
import {chooseQuantizationParams, validateQuantizationParams} from './params';
import {WEIGHT_CODE_MAX, weightClip} from './weight_clip';
import type {WeightClipMethod} from './weight_clip';
import {CODE_RANGE} from './types';
import type {CodeDtype, QuantizationParams} from './types';

/** A flat tensor seen as [outer, channels, inner] around the quantized axis. */
interface ChannelLayout {
  outer: number;
  channels: number;
  inner: number;
}

/** The [outer, channels, inner] split of `shape` at `axis` (one channel when per tensor). */
function channelLayout(shape: readonly number[], axis: number | undefined): ChannelLayout {
  const size = elementCount(shape);
  if (axis === undefined) {
    return {outer: 1, channels: 1, inner: size};
  }
  const channels = shape[axis];
  const inner = elementCount(shape.slice(axis + 1));
  return {outer: channels * inner === 0 ? 0 : size / (channels * inner), channels, inner};
}

function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) {
    count *= dim;
  }
  return count;
}

function checkElementCount(length: number, shape: readonly number[], tensorName: string): void {
  for (const dim of shape) {
    if (!Number.isInteger(dim) || dim < 0) {
      throw new Error(`Tensor '${tensorName}': shape [${shape.join(', ')}] has an invalid dimension ${dim}`);
    }
  }
  const expected = elementCount(shape);
  if (length !== expected) {
    throw new Error(
      `Tensor '${tensorName}': ${length} values given for shape [${shape.join(', ')}] (${expected} expected)`,
    );
  }
}

/**
 * Quantizes reals to codes: q = clamp(roundHalfAwayFromZero(r/S) + Z, qmin, qmax)
 * with the dtype's full range, per channel along `params.axis` when it is set
 * (TFLite's AffineQuantize; r/S here is a float64 division, TFLite's a float32
 * one). ±Infinity saturates; NaN throws, naming the tensor and the index.
 */
export function quantizeValues(
  values: ArrayLike<number>,
  shape: number[],
  params: QuantizationParams,
  dtype: CodeDtype,
  tensorName = 'values',
): Int8Array | Int32Array {
  checkElementCount(values.length, shape, tensorName);
  validateQuantizationParams(params, shape, dtype, tensorName);
  const codes = dtype === 'int8' ? new Int8Array(values.length) : new Int32Array(values.length);
  const {min, max} = CODE_RANGE[dtype];
  const {outer, channels, inner} = channelLayout(shape, params.axis);
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const scale = params.scale[c];
      const zeroPoint = params.zeroPoint[c];
      for (let end = i + inner; i < end; i++) {
        const code = roundHalfAwayFromZero(values[i] / scale) + zeroPoint;
        if (code !== code) {
          throw new Error(`Tensor '${tensorName}': value ${values[i]} at index ${i} cannot be quantized`);
        }
        codes[i] = clamp(code, min, max);
      }
    }
  }
  return codes;
}

/**
 * Dequantizes codes: r = S·(q − Z), per channel along `params.axis` when it is
 * set; computed in float64, stored as float32 (TFLite's Dequantize).
 */
export function dequantizeValues(
  codes: ArrayLike<number>,
  shape: number[],
  params: QuantizationParams,
  tensorName = 'codes',
): Float32Array {
  checkElementCount(codes.length, shape, tensorName);
  // Zero points are checked against int32, the widest code dtype.
  validateQuantizationParams(params, shape, 'int32', tensorName);
  const values = new Float32Array(codes.length);
  const {outer, channels, inner} = channelLayout(shape, params.axis);
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const scale = params.scale[c];
      const zeroPoint = params.zeroPoint[c];
      for (let end = i + inner; i < end; i++) {
        values[i] = scale * (codes[i] - zeroPoint);
      }
    }
  }
  return values;
}

/** Int8 weight codes with one symmetric scale per output channel. */
export interface PerChannelWeights {
  codes: Int8Array;
  scale: number[];
}

/** Options of quantizeWeightsPerChannel. */
export interface WeightQuantizationOptions {
  /**
   * How each channel's clipping threshold c (S = c/127) is chosen: 'maxAbs'
   * (default, c = max|r|, nothing clipped) or 'mse' (weight_clip.ts
   * mseOptimalClip: the c minimising Σ (r − Q_c(r))² over 100 candidates).
   */
  clip?: WeightClipMethod;
}

/**
 * Symmetric per-channel weight quantization along `axis`, narrow range:
 * S[c] = c_c / 127 with c_c = max|r| over channel c (options.clip 'maxAbs',
 * the default) or its MSE-optimal clip ('mse'),
 * q = clamp(round(r/S[c]), −127, 127), Z = 0.
 * An all-zero channel gets S = 1 (any positive scale represents it exactly;
 * 1 keeps later multipliers finite). Throws, naming the tensor, for a bad axis,
 * a shape/length mismatch or a non-finite weight.
 */
export function quantizeWeightsPerChannel(
  values: ArrayLike<number>,
  shape: number[],
  axis: number,
  tensorName = 'weights',
  options: WeightQuantizationOptions = {},
): PerChannelWeights {
  checkElementCount(values.length, shape, tensorName);
  if (!Number.isInteger(axis) || axis < 0 || axis >= shape.length) {
    throw new Error(
      `Tensor '${tensorName}': per-channel axis ${axis} is out of range for shape [${shape.join(', ')}]`,
    );
  }
  const layout = channelLayout(shape, axis);
  const clip = options.clip ?? 'maxAbs';
  const thresholds = clip === 'maxAbs' ? channelMaxAbs(values, layout, tensorName) :
    channelValues(values, layout, tensorName).map((channel) => weightClip(channel, clip));
  const scale = thresholds.map((c) => (c === 0 ? 1 : c / WEIGHT_CODE_MAX));
  const codes = new Int8Array(values.length);
  let i = 0;
  for (let o = 0; o < layout.outer; o++) {
    for (let c = 0; c < layout.channels; c++) {
      const s = scale[c];
      for (let end = i + layout.inner; i < end; i++) {
        codes[i] = clamp(roundHalfAwayFromZero(values[i] / s), -WEIGHT_CODE_MAX, WEIGHT_CODE_MAX);
      }
    }
  }
  return {codes, scale};
}

/** The values of each channel, gathered; throws on a non-finite value. */
function channelValues(values: ArrayLike<number>, layout: ChannelLayout, tensorName: string): Float64Array[] {
  const perChannel = layout.outer * layout.inner;
  const gathered = Array.from({length: layout.channels}, () => new Float64Array(perChannel));
  let i = 0;
  for (let o = 0; o < layout.outer; o++) {
    for (let c = 0; c < layout.channels; c++) {
      const channel = gathered[c];
      for (let j = o * layout.inner, end = i + layout.inner; i < end; i++, j++) {
        if (!Number.isFinite(values[i])) {
          throw new Error(`Tensor '${tensorName}': weight ${values[i]} at index ${i} is not finite`);
        }
        channel[j] = values[i];
      }
    }
  }
  return gathered;
}

/** max |r| of each channel; throws on a non-finite value. */
function channelMaxAbs(values: ArrayLike<number>, layout: ChannelLayout, tensorName: string): number[] {
  const maxAbs = new Array<number>(layout.channels).fill(0);
  let i = 0;
  for (let o = 0; o < layout.outer; o++) {
    for (let c = 0; c < layout.channels; c++) {
      for (let end = i + layout.inner; i < end; i++) {
        const magnitude = Math.abs(values[i]);
        if (!Number.isFinite(magnitude)) {
          throw new Error(`Tensor '${tensorName}': weight ${values[i]} at index ${i} is not finite`);
        }
        if (magnitude > maxAbs[c]) {
          maxAbs[c] = magnitude;
        }
      }
    }
  }
  return maxAbs;
}

/** Per-tensor int8 codes of an activation: r = scale·(q − zeroPoint). */
export interface PerTensorCodes {
  codes: Int8Array;
  scale: number;
  zeroPoint: number;
}

/**
 * Quantizes a float activation per tensor with TFLite's
 * ChooseQuantizationParams over its [min, max] (widened to contain 0; a
 * constant-zero tensor gets scale 1): the dynamic mode's rule. Returns null when
 * a value is not finite (NaN, ±Infinity): such inputs have no int8 range.
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
