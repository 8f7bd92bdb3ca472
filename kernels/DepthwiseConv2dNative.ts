/**
 * DepthwiseConv2dNative on the int8 backend, NHWC: an integer depthwise
 * convolution (kernels/impl/conv_int8.ts depthwiseConv2dInt8). Filter
 * [h, w, inC, multiplier]; output channel c = ci·multiplier + m reads input
 * channel ci. The filter's per-channel scales are per output channel c: a
 * float filter is quantized that way (and cached); an int8 filter may carry
 * its scales along axis 3 (per multiplier), axis 2 (per input channel), per
 * tensor, or along axis 2 of codes stored as [h, w, inC·multiplier] and
 * reshaped (one scale per output channel) — see operands.ts channelScalesOf.
 * Modes and epilogues as Conv2D (kernels/Conv2D.ts). NCHW runs
 * tfjs-backend-cpu's float kernel (transparent float fallback).
 */
import {DepthwiseConv2dNative, KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';

import {runConv} from './impl/conv_kernel';
import type {ConvKernelArgs} from './impl/conv_kernel';

export function depthwiseConv2dNative(args: ConvKernelArgs): TensorInfo {
  return runConv({kernelName: DepthwiseConv2dNative, depthwise: true, fused: false}, args);
}

export const depthwiseConv2dNativeConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNative,
  backendName: 'int8',
  kernelFunc: depthwiseConv2dNative as unknown as KernelFunc,
};
