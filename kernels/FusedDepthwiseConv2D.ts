/**
 * FusedDepthwiseConv2D on the int8 backend, NHWC: DepthwiseConv2dNative
 * (kernels/DepthwiseConv2dNative.ts) with a fused bias and activation, with
 * the epilogues of FusedConv2D (kernels/FusedConv2D.ts). A full int8 kernel of
 * its own: tfjs-backend-cpu's fused kernel calls its own depthwise conv.
 * NCHW runs tfjs-backend-cpu's float kernel (transparent float fallback).
 */
import {FusedDepthwiseConv2D, KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';

import {runConv} from './impl/conv_kernel';
import type {ConvKernelArgs} from './impl/conv_kernel';

export function fusedDepthwiseConv2D(args: ConvKernelArgs): TensorInfo {
  return runConv({kernelName: FusedDepthwiseConv2D, depthwise: true, fused: true}, args);
}

export const fusedDepthwiseConv2DConfig: KernelConfig = {
  kernelName: FusedDepthwiseConv2D,
  backendName: 'int8',
  kernelFunc: fusedDepthwiseConv2D as unknown as KernelFunc,
};
