/**
 * Reshape (also what tf.squeeze runs). A quantized input keeps its codes and
 * parameters: the output shares the input's data (one more reference), like
 * tfjs-backend-cpu's reshape, but without reading float values, so nothing is
 * dequantized. Per-channel parameters stay valid because their axis refers to
 * the shape stored with the codes (QuantizedData.shape), not the tensor's.
 * A float input runs the cpu kernel.
 */
import {KernelConfig, KernelFunc, Reshape, ReshapeAttrs, ReshapeInputs, TensorInfo, util} from '@tensorflow/tfjs-core';

import {Int8KernelArgs, runCpuKernelSingle, shareData, sizeOf} from './int8_kernel_utils';

export function reshape(args: Int8KernelArgs<ReshapeInputs, ReshapeAttrs>): TensorInfo {
  const {inputs: {x}, backend, attrs} = args;
  if (x == null) throw new Error(`${Reshape}: input x is missing.`);
  if (!backend.isQuantized(x.dataId)) return runCpuKernelSingle(Reshape, args);
  const requested = attrs?.shape;
  if (!Array.isArray(requested)) throw new Error(`${Reshape}: attr shape must be an array of integers.`);
  const size = sizeOf(x.shape);
  let shape: number[];
  try {
    shape = util.inferFromImplicitShape(requested.slice(), size);
  } catch (e) {
    throw new Error(`${Reshape}: attr shape [${requested.join(', ')}]: ${(e as Error).message}`);
  }
  if (sizeOf(shape) !== size) {
    throw new Error(
        `${Reshape}: attr shape [${requested.join(', ')}] has ${sizeOf(shape)} elements but input x of shape ` +
        `[${x.shape.join(', ')}] has ${size}.`);
  }
  return shareData(backend, x, shape);
}

export const reshapeConfig: KernelConfig = {
  kernelName: Reshape,
  backendName: 'int8',
  kernelFunc: reshape as unknown as KernelFunc,
};
