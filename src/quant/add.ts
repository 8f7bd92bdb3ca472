// Integer-only elementwise Add of two int8 tensors with different
// quantizations: TFLite's add.cc Prepare (8-bit general path) and
// reference_integer_ops/add.h.

import {multiplyByQuantizedMultiplier, quantizeMultiplier} from './fixed_point';
import {checkPerTensorParams} from './params';
import type {PerTensorParams} from './params';
import {clamp} from './rounding';

/** TFLite's left shift for 8-bit Add: (q − Z)·2^20 keeps 20 bits of headroom. */
export const ADD_LEFT_SHIFT = 20;

/** The constants of one quantized Add, computed once per kernel call. */
export interface QuantizedAddParams {
  input1ZeroPoint: number;
  input1Multiplier: number;
  input1Shift: number;
  input2ZeroPoint: number;
  input2Multiplier: number;
  input2Shift: number;
  outputZeroPoint: number;
  outputMultiplier: number;
  outputShift: number;
}

/**
 * TFLite's Add prepare: with twiceMax = 2·max(S1, S2), the input multipliers
 * are S_i/twiceMax (≤ 1/2) and the output multiplier twiceMax/(2^20·S_out),
 * each through quantizeMultiplier. TFLite requires every multiplier < 1
 * (QuantizeMultiplierSmallerThanOneExp); an output scale so small that the
 * output multiplier is not throws here too.
 */
export function prepareQuantizedAdd(
  a: PerTensorParams,
  b: PerTensorParams,
  out: PerTensorParams,
): QuantizedAddParams {
  checkPerTensorParams('prepareQuantizedAdd', 'first input', a);
  checkPerTensorParams('prepareQuantizedAdd', 'second input', b);
  checkPerTensorParams('prepareQuantizedAdd', 'output', out);
  const twiceMaxInputScale = 2 * Math.max(a.scale, b.scale);
  const input1 = quantizeMultiplier(a.scale / twiceMaxInputScale);
  const input2 = quantizeMultiplier(b.scale / twiceMaxInputScale);
  const realOutputMultiplier = twiceMaxInputScale / (2 ** ADD_LEFT_SHIFT * out.scale);
  const output = quantizeMultiplier(realOutputMultiplier);
  if (realOutputMultiplier >= 1 || output.shift > 0) {
    throw new Error(
      `prepareQuantizedAdd: output scale ${out.scale} is too small for input scales ${a.scale} and ` +
        `${b.scale}: the output multiplier 2·max(S1,S2)/(2^20·S_out) = ${realOutputMultiplier} must be < 1`,
    );
  }
  return {
    input1ZeroPoint: a.zeroPoint,
    input1Multiplier: input1.multiplier,
    input1Shift: input1.shift,
    input2ZeroPoint: b.zeroPoint,
    input2Multiplier: input2.multiplier,
    input2Shift: input2.shift,
    outputZeroPoint: out.zeroPoint,
    outputMultiplier: output.multiplier,
    outputShift: output.shift,
  };
}

/**
 * One output code of the Add:
 * clamp(Z_out + MBQM(MBQM((q1−Z1)·2^20, M1, n1) + MBQM((q2−Z2)·2^20, M2, n2), M_out, n_out), lo, hi),
 * all in int32 as TFLite computes it (every shift ≤ 0, so MBQM is
 * MultiplyByQuantizedMultiplierSmallerThanOneExp here).
 */
export function quantizedAdd(q1: number, q2: number, p: QuantizedAddParams, lo: number, hi: number): number {
  const shifted1 = Math.imul(q1 - p.input1ZeroPoint, 1 << ADD_LEFT_SHIFT);
  const shifted2 = Math.imul(q2 - p.input2ZeroPoint, 1 << ADD_LEFT_SHIFT);
  const scaled1 = multiplyByQuantizedMultiplier(shifted1, p.input1Multiplier, p.input1Shift);
  const scaled2 = multiplyByQuantizedMultiplier(shifted2, p.input2Multiplier, p.input2Shift);
  const rawSum = (scaled1 + scaled2) | 0;
  const rawOutput = multiplyByQuantizedMultiplier(rawSum, p.outputMultiplier, p.outputShift);
  return clamp(p.outputZeroPoint + rawOutput, lo, hi);
}
