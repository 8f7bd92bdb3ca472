/**
 * _FusedMatMul on the int8 backend: BatchMatMul (kernels/BatchMatMul.ts) with
 * a fused bias and activation, and the epilogues of FusedConv2D
 * (kernels/FusedConv2D.ts): integer-only requantization with an int32 bias for
 * linear/relu/relu6 (and prelu with output parameters and a per-channel alpha)
 * in static mode; dequantize → float bias and activation → (requantize) otherwise. A full int8 kernel of its own: tfjs-backend-cpu's
 * fused kernel calls its own matmul directly.
 */
import {_FusedMatMul, KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';

import {runMatMul} from './impl/matmul_kernel';
import type {MatMulKernelArgs} from './impl/matmul_kernel';

export function fusedMatMul(args: MatMulKernelArgs): TensorInfo {
  return runMatMul({kernelName: _FusedMatMul, fused: true}, args);
}

export const fusedMatMulConfig: KernelConfig = {
  kernelName: _FusedMatMul,
  backendName: 'int8',
  kernelFunc: fusedMatMul as unknown as KernelFunc,
};
