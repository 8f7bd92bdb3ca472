/**
 * Relu on int8 codes: a clamp at the code of 0.0, lo = max(−128, Z)
 * (activationRange of src/quant); scale and zero point are kept. No per-tensor
 * int8 input: the cpu backend's float kernel.
 */
import {KernelConfig, KernelFunc, Relu, TensorInfo, UnaryInputs} from '@tensorflow/tfjs-core';

import {activationRange} from '../src/quant';
import {plainFloatClamp} from './FloatUnary';
import {clampCodes} from './impl/elementwise_int8';
import {Int8KernelArgs, perTensorInt8, runCpuKernelSingle} from './int8_kernel_utils';

export function relu(args: Int8KernelArgs<UnaryInputs>): TensorInfo {
  return clampedActivation(Relu, 'relu', args);
}

/** Relu and Relu6: clamp the codes to the activation's code range, keep the parameters. */
export function clampedActivation(kernelName: string, activation: 'relu' | 'relu6',
                                  args: Int8KernelArgs<UnaryInputs>): TensorInfo {
  const {inputs: {x}, backend} = args;
  if (x == null) throw new Error(`${kernelName}: input x is missing.`);
  const q = perTensorInt8(backend, x);
  if (q == null) return plainFloatClamp(activation, backend, x) ?? runCpuKernelSingle(kernelName, args);
  const range = activationRange(activation, q.scale, q.zeroPoint, 'int8');
  return backend.makeQuantizedOutput(clampCodes(q.codes(), range), x.shape.slice(), q.params, `${kernelName} output`);
}

export const reluConfig: KernelConfig = {
  kernelName: Relu,
  backendName: 'int8',
  kernelFunc: relu as unknown as KernelFunc,
};
