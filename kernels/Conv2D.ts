/**
 * Conv2D on the int8 backend, NHWC: an integer convolution (kernels/impl/
 * conv_int8.ts conv2dInt8) between per-tensor int8 input codes and int8
 * filter codes with one symmetric scale per output channel (HWIO, axis 3),
 * accumulated in int32. See kernels/impl/conv_kernel.ts for the steps and
 * kernels/impl/output.ts for the epilogues:
 * - float input (dynamic mode): input quantized per tensor from its range,
 *   filter quantized once and cached, result dequantized to float;
 * - int8 input (static mode): with attrs outputScale/outputZeroPoint, int8
 *   codes requantized in the epilogue; without them, the int32 accumulator
 *   tensor (scale S_in·S_w[c] along the last axis, zero point 0).
 * NCHW runs tfjs-backend-cpu's float kernel (transparent float fallback).
 */
import {Conv2D, KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';

import {runConv} from './impl/conv_kernel';
import type {ConvKernelArgs} from './impl/conv_kernel';

export function conv2D(args: ConvKernelArgs): TensorInfo {
  return runConv({kernelName: Conv2D, depthwise: false, fused: false}, args);
}

export const conv2DConfig: KernelConfig = {
  kernelName: Conv2D,
  backendName: 'int8',
  kernelFunc: conv2D as unknown as KernelFunc,
};
