/**
 * BatchMatMul on the int8 backend: an integer batched matmul (kernels/impl/
 * matmul_int8.ts matMulInt8) of per-tensor int8 codes of a and int8 codes of
 * b, accumulated in int32, with transposeA/transposeB and tfjs-cpu's batch
 * broadcast. b is quantized symmetric per output column (cached with b) when
 * it is weight-like — int8 codes with per-column scales, or a float b
 * without batch — and per tensor otherwise (two activations). See
 * kernels/impl/matmul_kernel.ts for the steps and kernels/impl/output.ts for
 * the epilogues: float a (dynamic mode) → float output; int8 a (static mode)
 * → int8 codes with outputScale/outputZeroPoint, else the int32 accumulator
 * tensor (scale S_a·S_b[j] along the last axis, zero point 0).
 */
import {BatchMatMul, KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';

import {runMatMul} from './impl/matmul_kernel';
import type {MatMulKernelArgs} from './impl/matmul_kernel';

export function batchMatMul(args: MatMulKernelArgs): TensorInfo {
  return runMatMul({kernelName: BatchMatMul, fused: false}, args);
}

export const batchMatMulConfig: KernelConfig = {
  kernelName: BatchMatMul,
  backendName: 'int8',
  kernelFunc: batchMatMul as unknown as KernelFunc,
};
