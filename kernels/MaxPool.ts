/**
 * MaxPool on NHWC int8 codes (per tensor): the largest code of each window
 * (S > 0, so the order of codes is the order of reals); input parameters are
 * kept, nothing is rounded. Windows as in AvgPool (tfjs geometry; padding
 * cells are skipped). A window with no cell inside the input (explicit
 * padding ≥ filter only) gives −128, the lowest code, where float gives
 * −Infinity. No per-tensor int8 input: the cpu backend's float kernel.
 */
import {KernelConfig, KernelFunc, MaxPool, MaxPoolAttrs, MaxPoolInputs, TensorInfo} from '@tensorflow/tfjs-core';

import {isIdentityPool, pool2dInfo, poolGeometry} from './AvgPool';
import {maxPoolInt8} from './impl/pool_int8';
import {Int8KernelArgs, perTensorInt8, runCpuKernelSingle, shareData} from './int8_kernel_utils';

export function maxPool(args: Int8KernelArgs<MaxPoolInputs, MaxPoolAttrs>): TensorInfo {
  const {inputs: {x}, backend, attrs} = args;
  if (x == null) throw new Error(`${MaxPool}: input x is missing.`);
  const q = perTensorInt8(backend, x);
  if (q == null) return runCpuKernelSingle(MaxPool, args);
  const info = pool2dInfo(MaxPool, x, attrs);
  if (isIdentityPool(info)) return shareData(backend, x, x.shape.slice());
  const codes = maxPoolInt8(q.codes(), poolGeometry(info), {emptyWindowCode: -128});
  return backend.makeQuantizedOutput(codes, info.outShape.slice(), q.params, `${MaxPool} output`);
}

export const maxPoolConfig: KernelConfig = {
  kernelName: MaxPool,
  backendName: 'int8',
  kernelFunc: maxPool as unknown as KernelFunc,
};
