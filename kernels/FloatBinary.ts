/**
 * Sub, Multiply, SquaredDifference on the int8 backend: float32 tensors run
 * impl/float_binary.ts (bit-identical with tfjs-backend-cpu, faster
 * broadcasting) on the values the cpu kernel would read — a tensor holding
 * codes (e.g. a graph constant compacted to codes) is dequantized by the same
 * `data.get(..).values` read, cached and counted by the backend; other dtypes
 * run the cpu backend's kernel, as before. Add's float case is in Add.ts.
 */
import {KernelConfig, KernelFunc, Multiply, SquaredDifference, Sub, TensorInfo} from '@tensorflow/tfjs-core';
import type {BinaryInputs} from '@tensorflow/tfjs-core';

import type {BackendInt8} from '../src/backend';
import {floatBinary} from './impl/float_binary';
import type {FloatBinaryOp} from './impl/float_binary';
import {Int8KernelArgs, runCpuKernelSingle} from './int8_kernel_utils';

/** The result of the fast path, or null when the cpu kernel must run. */
export function plainFloatBinary(op: FloatBinaryOp, backend: BackendInt8, a: TensorInfo, b: TensorInfo): TensorInfo | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const av = backend.data.get(a.dataId).values;
  const bv = backend.data.get(b.dataId).values;
  if (!(av instanceof Float32Array) || !(bv instanceof Float32Array)) return null;
  const {values, shape} = floatBinary(op, av, a.shape, bv, b.shape);
  return backend.makeTensorInfo(shape, 'float32', values);
}

function binaryKernel(kernelName: string, op: FloatBinaryOp): KernelConfig {
  const kernelFunc = (args: Int8KernelArgs<BinaryInputs, object>): TensorInfo => {
    const {inputs: {a, b}, backend} = args;
    if (a == null || b == null) throw new Error(`${kernelName}: input ${a == null ? 'a' : 'b'} is missing.`);
    return plainFloatBinary(op, backend, a, b) ?? runCpuKernelSingle(kernelName, args);
  };
  return {kernelName, backendName: 'int8', kernelFunc: kernelFunc as unknown as KernelFunc};
}

export const subConfig = binaryKernel(Sub, 'sub');
export const multiplyConfig = binaryKernel(Multiply, 'mul');
export const squaredDifferenceConfig = binaryKernel(SquaredDifference, 'sqdiff');
