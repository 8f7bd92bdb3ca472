/**
 * AvgPool on NHWC int8 codes (per tensor): each output is the int32 sum of
 * its window's codes divided by the number of cells inside the input, rounded
 * half away from zero (roundingDivide of src/quant, TFLite's int8 reference
 * AveragePool). Input parameters are kept, so the zero point passes through
 * unchanged. Windows follow tfjs (filterSize, strides, pad 'valid' | 'same' |
 * number | explicit, dimRoundingMode); padding cells are not counted. A window
 * with no cell inside the input (explicit padding ≥ filter only) gives the
 * zero point, i.e. 0.0, where float gives NaN. No per-tensor int8 input: the
 * cpu backend's float kernel.
 */
import {AvgPool, AvgPoolAttrs, AvgPoolInputs, backend_util, KernelConfig, KernelFunc, TensorInfo, util} from '@tensorflow/tfjs-core';

import {avgPoolInt8, Pool2DGeometry} from './impl/pool_int8';
import {Int8KernelArgs, perTensorInt8, prepareOrThrow, runCpuKernelSingle, shareData} from './int8_kernel_utils';

export function avgPool(args: Int8KernelArgs<AvgPoolInputs, AvgPoolAttrs>): TensorInfo {
  const {inputs: {x}, backend, attrs} = args;
  if (x == null) throw new Error(`${AvgPool}: input x is missing.`);
  const q = perTensorInt8(backend, x);
  if (q == null) return runCpuKernelSingle(AvgPool, args);
  const info = pool2dInfo(AvgPool, x, attrs);
  if (isIdentityPool(info)) return shareData(backend, x, x.shape.slice());
  const codes = avgPoolInt8(q.codes(), poolGeometry(info), {emptyWindowCode: q.zeroPoint});
  return backend.makeQuantizedOutput(codes, info.outShape.slice(), q.params, `${AvgPool} output`);
}

/** tfjs's window geometry for AvgPool/MaxPool attrs, with errors naming the kernel and attr. */
export function pool2dInfo(kernelName: string, x: TensorInfo, attrs: AvgPoolAttrs | undefined):
    backend_util.Conv2DInfo {
  if (x.shape.length !== 4) {
    throw new Error(`${kernelName}: input x must be rank 4 (NHWC), got shape [${x.shape.join(', ')}].`);
  }
  if (attrs == null) throw new Error(`${kernelName}: attrs filterSize, strides and pad are missing.`);
  const {filterSize, strides, pad, dimRoundingMode} = attrs;
  for (const [name, value] of [['filterSize', filterSize], ['strides', strides]] as const) {
    const values = typeof value === 'number' ? [value] : value;
    if (!Array.isArray(values) || values.length < 1 || values.length > 2 ||
        !values.every(v => Number.isInteger(v) && v > 0)) {
      throw new Error(`${kernelName}: attr ${name} must be a positive integer or a pair of them, got ` +
                      `${JSON.stringify(value)}.`);
    }
  }
  return prepareOrThrow(kernelName, `attr pad ${JSON.stringify(pad)}` +
                            (dimRoundingMode == null ? '' : ` / dimRoundingMode '${dimRoundingMode}'`),
                        () => backend_util.computePool2DInfo(
                            x.shape as [number, number, number, number], filterSize, strides, 1, pad,
                            dimRoundingMode));
}

/** A 1×1 window with unit strides and no padding: tfjs returns the input itself. */
export function isIdentityPool(info: backend_util.Conv2DInfo): boolean {
  return info.filterHeight === 1 && info.filterWidth === 1 && util.arraysEqual(info.inShape, info.outShape);
}

/** The fields of tfjs's Conv2DInfo that the pooling reference reads. */
export function poolGeometry(info: backend_util.Conv2DInfo): Pool2DGeometry {
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    channels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    filterHeight: info.effectiveFilterHeight,
    filterWidth: info.effectiveFilterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

export const avgPoolConfig: KernelConfig = {
  kernelName: AvgPool,
  backendName: 'int8',
  kernelFunc: avgPool as unknown as KernelFunc,
};
