/**
 * Mean over attr `axis` (a number or a list, negative counts from the end,
 * null for all axes; attr `keepDims`) on int8 codes quantized per tensor: TFLite's integer mean
 * (src/quant/mean.ts: the int32 sum of each reduction set's codes, then one
 * fixed-point multiply by S_in/(S_out·count) with the zero points applied
 * exactly). Output parameters: attrs `outputScale`/`outputZeroPoint` when
 * given, else the input's (a mean never leaves the input's range). No
 * per-tensor int8 input, or an empty input: the cpu backend's float kernel.
 */
import {backend_util, KernelConfig, KernelFunc, Mean, MeanAttrs, MeanInputs, TensorInfo, util} from '@tensorflow/tfjs-core';

import {prepareQuantizedMean} from '../src/quant';
import {meanInt8} from './impl/reduce_int8';
import {Int8KernelArgs, outputParamsFromAttrs, perTensorInt8, prepareOrThrow, runCpuKernelSingle, sizeOf} from './int8_kernel_utils';

/** tfjs's attrs plus the optional output quantization. */
export interface MeanInt8Attrs extends MeanAttrs {
  outputScale?: number;
  outputZeroPoint?: number;
}

export function mean(args: Int8KernelArgs<MeanInputs, MeanInt8Attrs>): TensorInfo {
  const {inputs: {x}, backend, attrs} = args;
  if (x == null) throw new Error(`${Mean}: input x is missing.`);
  const q = perTensorInt8(backend, x);
  if (q == null || sizeOf(x.shape) === 0) return runCpuKernelSingle(Mean, args);
  const requested = attrs?.axis;
  const isAxisList = Array.isArray(requested) && requested.every(a => Number.isInteger(a));
  if (!(requested == null || Number.isInteger(requested) || isAxisList)) {
    throw new Error(`${Mean}: attr axis must be an integer or a list of integers, got ${JSON.stringify(requested)}.`);
  }
  const axes = prepareOrThrow(Mean, `attr axis ${JSON.stringify(requested)}`,
                              () => util.parseAxisParam((requested ?? null) as number | number[], x.shape));
  const [outShape, reduceShape] = backend_util.computeOutAndReduceShapes(x.shape, axes);
  const outParams = outputParamsFromAttrs(Mean, attrs) ?? q.params;
  const prepared = prepareOrThrow(Mean, 'attr outputScale', () => prepareQuantizedMean(
      q, {scale: outParams.scale[0], zeroPoint: outParams.zeroPoint[0]}, sizeOf(reduceShape), 'int8'));
  const codes = meanInt8(q.codes(), x.shape, axes, prepared);
  const shape = attrs?.keepDims === true ? backend_util.expandShapeToKeepDim(outShape, axes) : outShape;
  return backend.makeQuantizedOutput(codes, shape, outParams, `${Mean} output`);
}

export const meanConfig: KernelConfig = {
  kernelName: Mean,
  backendName: 'int8',
  kernelFunc: mean as unknown as KernelFunc,
};
