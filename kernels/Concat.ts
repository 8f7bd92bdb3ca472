/**
 * Concat (TensorFlow's ConcatV2) along attr `axis`.
 *
 * - No per-tensor int8 input: the cpu backend's float kernel.
 * - Otherwise codes are concatenated; float inputs are first quantized per
 *   tensor with their own range. Output parameters: attrs
 *   `outputScale`/`outputZeroPoint` when given; else, when every input has
 *   the same scale and zero point, those (the usual case after the graph
 *   pass, and TFLite's requirement for int8 concatenation); else parameters
 *   for the union of the inputs' representable ranges (chooseQuantizationParams
 *   at prepare time), so no input saturates.
 * - An input whose parameters equal the output's is copied code for code;
 *   any other is requantized in integers (requantizeValue of src/quant:
 *   Z_out + MBQM(q − Z_in, quantizeMultiplier(S_in/S_out))).
 * - Empty inputs are skipped as tfjs does; an empty output runs the cpu kernel.
 */
import {backend_util, Concat, ConcatAttrs, KernelConfig, KernelFunc, TensorInfo, util} from '@tensorflow/tfjs-core';

import {chooseQuantizationParams, prepareRequantize} from '../src/quant';
import type {QuantizationParams} from '../src/quant';
import {concatCodes, CodesWithShape} from './impl/concat_int8';
import {requantizeCodes} from './impl/elementwise_int8';
import {Int8KernelArgs, outputParamsFromAttrs, perTensorInt8, PerTensorInt8, perTensorParams, prepareOrThrow,
        quantizeWithOwnRange, representableRange, runCpuKernelSingle, sameParams, sizeOf} from './int8_kernel_utils';

/** tfjs's attr `axis` plus the optional output quantization. */
export interface ConcatInt8Attrs extends ConcatAttrs {
  outputScale?: number;
  outputZeroPoint?: number;
}

export function concat(args: Int8KernelArgs<TensorInfo[], ConcatInt8Attrs>): TensorInfo {
  const {inputs, backend, attrs} = args;
  if (!Array.isArray(inputs) || inputs.length === 0) throw new Error(`${Concat}: no inputs were given.`);
  const quantized = inputs.map(t => perTensorInt8(backend, t));
  if (quantized.every(q => q == null)) return runCpuKernelSingle(Concat, args);

  const shapes = inputs.map(t => t.shape);
  const requestedAxis = attrs?.axis;
  if (typeof requestedAxis !== 'number' || !Number.isInteger(requestedAxis)) {
    throw new Error(`${Concat}: attr axis must be an integer, got ${String(requestedAxis)}.`);
  }
  const axis = prepareOrThrow(Concat, `attr axis ${requestedAxis}`,
                              () => util.parseAxisParam(requestedAxis, shapes[0])[0]);
  prepareOrThrow(Concat, `input shapes ${shapes.map(s => `[${s.join(', ')}]`).join(', ')} along axis ${axis}`,
                 () => backend_util.assertParamsConsistent(shapes, axis));
  const outShape = backend_util.computeOutShape(shapes, axis);
  if (sizeOf(outShape) === 0) return runCpuKernelSingle(Concat, args);

  const parts: Array<{tensor: TensorInfo; q: PerTensorInt8}> = [];
  inputs.forEach((tensor, i) => {
    if (sizeOf(tensor.shape) === 0) return;
    parts.push({tensor, q: quantized[i] ?? quantizeWithOwnRange(backend, tensor, Concat, `${i}`)});
  });
  const outParams = outputParamsFromAttrs(Concat, attrs) ?? commonParams(parts.map(p => p.q));
  const out = {scale: outParams.scale[0], zeroPoint: outParams.zeroPoint[0]};
  const codes: CodesWithShape[] = parts.map(({tensor, q}) => {
    if (sameParams(q, outParams)) return {shape: tensor.shape, codes: q.codes()};
    const prepared = prepareOrThrow(Concat, 'requantizing an input', () => prepareRequantize(q, out));
    return {shape: tensor.shape, codes: requantizeCodes(q.codes(), prepared)};
  });
  return backend.makeQuantizedOutput(concatCodes(codes, axis, outShape), outShape, outParams, `${Concat} output`);
}

/** The inputs' parameters when all agree; else parameters for the union of their ranges. */
function commonParams(inputs: readonly PerTensorInt8[]): QuantizationParams {
  if (inputs.every(q => sameParams(q, inputs[0].params))) return perTensorParams(inputs[0].scale, inputs[0].zeroPoint);
  let lo = 0;
  let hi = 0;
  for (const q of inputs) {
    const [qLo, qHi] = representableRange(q.scale, q.zeroPoint);
    lo = Math.min(lo, qLo);
    hi = Math.max(hi, qHi);
  }
  const chosen = chooseQuantizationParams(lo, hi, {dtype: 'int8'});
  return perTensorParams(chosen.scale, chosen.zeroPoint);
}

export const concatConfig: KernelConfig = {
  kernelName: Concat,
  backendName: 'int8',
  kernelFunc: concat as unknown as KernelFunc,
};
