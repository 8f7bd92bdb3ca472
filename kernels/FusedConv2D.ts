/**
 * FusedConv2D on the int8 backend, NHWC: Conv2D (kernels/Conv2D.ts) with a
 * fused bias and activation (linear, relu, relu6, leakyrelu, prelu, sigmoid,
 * elu). tfjs-backend-cpu's fused kernel calls its own conv directly, so this
 * is a full int8 kernel of its own. Epilogues (kernels/impl/output.ts):
 * - static mode, linear/relu/relu6, bias scalar or per channel: integers only —
 *   int32 bias (its own codes when their scale is S_in·S_w[c], else its float
 *   values quantized with that scale, cached) folded into the accumulator;
 *   requantized to int8 with relu/relu6 as the clamp of activationRange, or
 *   the int32 accumulator tensor without outputScale/outputZeroPoint;
 * - static mode, prelu with outputScale/outputZeroPoint and a scalar or
 *   per-channel alpha: integers only as well — negative accumulators are
 *   requantized with S_acc[c]·α[c]/S_out (src/quant requantizePrelu);
 * - static mode, leakyrelu/sigmoid/elu, other prelus (or a bias that is not per
 *   channel): accumulator dequantized, bias and activation in float,
 *   requantized to int8 (float between Quantize and Dequantize, on purpose);
 * - dynamic mode (float input): accumulator dequantized, bias added in float
 *   (not as int32: more accurate, and its scale would change every call),
 *   activation in float, float output.
 * NCHW runs tfjs-backend-cpu's float kernel (transparent float fallback).
 */
import {FusedConv2D, KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';

import {runConv} from './impl/conv_kernel';
import type {ConvKernelArgs} from './impl/conv_kernel';

export function fusedConv2D(args: ConvKernelArgs): TensorInfo {
  return runConv({kernelName: FusedConv2D, depthwise: false, fused: true}, args);
}

export const fusedConv2DConfig: KernelConfig = {
  kernelName: FusedConv2D,
  backendName: 'int8',
  kernelFunc: fusedConv2D as unknown as KernelFunc,
};
