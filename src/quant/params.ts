// Choosing and checking affine quantization parameters r = S·(q − Z)
// (Jacob et al. 2018, eq. 1).

import {roundHalfAwayFromZero} from './rounding';
import {quantRange} from './ranges';
import type {QuantDtype} from './ranges';
import type {QuantizationParams} from './types';

/** One scale and one zero point (a per-tensor quantization). */
export interface PerTensorParams {
  scale: number;
  zeroPoint: number;
}

export interface ChooseQuantizationParamsOptions {
  dtype: 'int8' | 'uint8';
  /** Zero point 0 (int8) or 128 (uint8), scale max(|min|, |max|)/127. */
  symmetric?: boolean;
  /** Leave out the lowest code: int8 −127..127, uint8 1..255. */
  narrowRange?: boolean;
}

/**
 * Scale and zero point for the real range [min, max], as TFLite's
 * ChooseQuantizationParams (quantization_util.h) computes them:
 * - the range is first widened to contain 0, so real 0 is exactly a code;
 * - scale = (max − min)/(qmax − qmin); the zero point is qmin − min/scale or
 *   qmax − max/scale, whichever has the smaller absolute terms (less float
 *   error), rounded half away from zero and clamped to [qmin, qmax];
 * - symmetric: zero point 0 for int8 (128 for uint8) and
 *   scale = max(|min|, |max|)/127;
 * - narrowRange drops the lowest code (qmin + 1), as TFLite's narrow_range.
 * A range that is the single point 0 gets scale 1 and the zero point above
 * (TFLite returns scale 0 there, which no kernel can divide by); min = max ≠ 0
 * is an ordinary range once widened to 0. Scales are float64, not rounded to
 * float32. Throws for NaN/±Infinity or min > max.
 */
export function chooseQuantizationParams(
  min: number,
  max: number,
  options: ChooseQuantizationParamsOptions,
): PerTensorParams {
  checkRealRange(min, max);
  const {dtype, symmetric = false, narrowRange = false} = options;
  const range = quantRange(dtype);
  const qmin = range.min + (narrowRange ? 1 : 0);
  const qmax = range.max;
  const rmin = Math.min(min, 0);
  const rmax = Math.max(max, 0);
  if (symmetric) {
    return symmetricParams(Math.max(-rmin, rmax), dtype);
  }
  if (rmin === rmax) {
    return {scale: 1, zeroPoint: clampZeroPoint(0, qmin, qmax)};
  }
  const scale = (rmax - rmin) / (qmax - qmin);
  return {scale, zeroPoint: nudgedZeroPoint(rmin, rmax, scale, qmin, qmax)};
}

function checkRealRange(min: number, max: number): void {
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    throw new Error(`chooseQuantizationParams: min (${min}) and max (${max}) must be finite numbers`);
  }
  if (min > max) {
    throw new Error(`chooseQuantizationParams: min (${min}) is greater than max (${max})`);
  }
}

/** Symmetric: r = S·(q − Z) with Z the middle code and S = maxAbs/127 (1 when maxAbs = 0). */
function symmetricParams(maxAbs: number, dtype: 'int8' | 'uint8'): PerTensorParams {
  const zeroPoint = dtype === 'uint8' ? 128 : 0;
  return {scale: maxAbs === 0 ? 1 : maxAbs / 127, zeroPoint};
}

/** TFLite's zero-point nudge: from the (real, code) pair with the smaller error terms. */
function nudgedZeroPoint(rmin: number, rmax: number, scale: number, qmin: number, qmax: number): number {
  const zeroPointFromMin = qmin - rmin / scale;
  const zeroPointFromMax = qmax - rmax / scale;
  const errorFromMin = Math.abs(qmin) + Math.abs(rmin / scale);
  const errorFromMax = Math.abs(qmax) + Math.abs(rmax / scale);
  const zeroPoint = errorFromMin < errorFromMax ? zeroPointFromMin : zeroPointFromMax;
  if (zeroPoint < qmin) {
    return qmin;
  }
  if (zeroPoint > qmax) {
    return qmax;
  }
  return roundHalfAwayFromZero(zeroPoint);
}

function clampZeroPoint(zeroPoint: number, qmin: number, qmax: number): number {
  return Math.min(Math.max(zeroPoint, qmin), qmax);
}

/**
 * Checks `params` against a tensor of `shape` stored as `dtype` and throws an
 * error naming `tensorName` and the bad value: scale/zeroPoint length mismatch;
 * per tensor (axis undefined) with other than one entry; per-channel axis not
 * an integer in [0, rank) or its length ≠ shape[axis]; a scale that is not a
 * positive finite number; a zero point that is not an integer in dtype's range.
 */
export function validateQuantizationParams(
  params: QuantizationParams,
  shape: readonly number[],
  dtype: QuantDtype,
  tensorName: string,
): void {
  const fail: FailFunction = (problem) => {
    throw new Error(`Invalid quantization parameters of tensor '${tensorName}': ${problem}`);
  };
  const {scale, zeroPoint, axis} = params;
  if (!Array.isArray(scale) || !Array.isArray(zeroPoint)) {
    fail('scale and zeroPoint must be arrays');
  }
  if (scale.length !== zeroPoint.length) {
    fail(`scale has ${scale.length} entries but zeroPoint has ${zeroPoint.length}`);
  }
  const expectedLength = channelCount(axis, shape, fail);
  if (scale.length !== expectedLength) {
    const where = axis === undefined ? 'per tensor' : `along axis ${axis} of shape [${shape.join(', ')}]`;
    fail(`${scale.length} scales/zero points given, ${expectedLength} expected ${where}`);
  }
  checkScales(scale, fail);
  checkZeroPoints(zeroPoint, dtype, fail);
}

/** How many scales the params must hold: 1 per tensor, shape[axis] per channel. */
type FailFunction = (problem: string) => never;

function channelCount(axis: number | undefined, shape: readonly number[], fail: FailFunction): number {
  if (axis === undefined) {
    return 1;
  }
  if (!Number.isInteger(axis) || axis < 0 || axis >= shape.length) {
    fail(`per-channel axis ${axis} is out of range for shape [${shape.join(', ')}] (rank ${shape.length})`);
  }
  return shape[axis];
}

function checkScales(scale: readonly number[], fail: FailFunction): void {
  for (let i = 0; i < scale.length; i++) {
    const s = scale[i];
    if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0) {
      fail(`scale[${i}] = ${s} is not a positive finite number`);
    }
  }
}

function checkZeroPoints(zeroPoint: readonly number[], dtype: QuantDtype, fail: FailFunction): void {
  const {min, max} = quantRange(dtype);
  for (let i = 0; i < zeroPoint.length; i++) {
    const z = zeroPoint[i];
    if (!Number.isInteger(z)) {
      fail(`zeroPoint[${i}] = ${z} is not an integer`);
    }
    if (z < min || z > max) {
      fail(`zeroPoint[${i}] = ${z} is outside the ${dtype} range [${min}, ${max}]`);
    }
  }
}

/**
 * Throws, naming the operation and the tensor's role, unless `params` has a
 * positive finite scale and an int32 integer zero point.
 */
export function checkPerTensorParams(operation: string, tensorRole: string, params: PerTensorParams): void {
  const {scale, zeroPoint} = params;
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) {
    throw new Error(`${operation}: the ${tensorRole} scale ${scale} is not a positive finite number`);
  }
  if (!Number.isInteger(zeroPoint) || Math.abs(zeroPoint) > 2147483647) {
    throw new Error(`${operation}: the ${tensorRole} zero point ${zeroPoint} is not an int32 integer`);
  }
}
