/**
 * Identity (tf.clone): the output shares the input's data. A quantized input
 * keeps codes and parameters untouched; a float input runs the cpu kernel
 * (which does the same for float data).
 */
import {Identity, IdentityInputs, KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';

import {Int8KernelArgs, runCpuKernelSingle, shareData} from './int8_kernel_utils';

export function identity(args: Int8KernelArgs<IdentityInputs>): TensorInfo {
  const {inputs: {x}, backend} = args;
  if (x == null) throw new Error(`${Identity}: input x is missing.`);
  if (!backend.isQuantized(x.dataId)) return runCpuKernelSingle(Identity, args);
  return shareData(backend, x, x.shape.slice());
}

export const identityConfig: KernelConfig = {
  kernelName: Identity,
  backendName: 'int8',
  kernelFunc: identity as unknown as KernelFunc,
};
