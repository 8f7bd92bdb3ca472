/**
 * ClipByValue (tf.clipByValue; tfjs-layers' ReLU(maxValue) emits Relu then
 * ClipByValue) on float32 tensors: impl/float_unary.ts, bit-identical with
 * tfjs-backend-cpu. A quantized input is read through `data.get(..).values`
 * (dequantized, cached, counted) as the cpu kernel would; other dtypes run the
 * cpu backend's kernel.
 */
import {ClipByValue, KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import type {ClipByValueAttrs, ClipByValueInputs} from '@tensorflow/tfjs-core';

import {clipBoundsSupported, clipFloat} from './impl/float_unary';
import {Int8KernelArgs, runCpuKernelSingle} from './int8_kernel_utils';

export function clipByValue(args: Int8KernelArgs<ClipByValueInputs, ClipByValueAttrs>): TensorInfo {
  const {inputs: {x}, backend, attrs} = args;
  const lo = attrs?.clipValueMin;
  const hi = attrs?.clipValueMax;
  if (x != null && x.dtype === 'float32' && typeof lo === 'number' && typeof hi === 'number' &&
      clipBoundsSupported(lo, hi)) {
    const values = backend.data.get(x.dataId).values;
    if (values instanceof Float32Array) return backend.makeTensorInfo(x.shape.slice(), 'float32', clipFloat(values, lo, hi));
  }
  return runCpuKernelSingle(ClipByValue, args);
}

export const clipByValueConfig: KernelConfig = {
  kernelName: ClipByValue,
  backendName: 'int8',
  kernelFunc: clipByValue as unknown as KernelFunc,
};
