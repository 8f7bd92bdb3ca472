/**
 * Relu6 on int8 codes: a clamp to [max(−128, Z), min(127, Z + round(6/S))]
 * (activationRange of src/quant, TFLite's CalculateActivationRangeQuantized);
 * scale and zero point are kept. No per-tensor int8 input: the cpu backend's
 * float kernel.
 */
import {KernelConfig, KernelFunc, Relu6, TensorInfo, UnaryInputs} from '@tensorflow/tfjs-core';

import {clampedActivation} from './Relu';
import {Int8KernelArgs} from './int8_kernel_utils';

export function relu6(args: Int8KernelArgs<UnaryInputs>): TensorInfo {
  return clampedActivation(Relu6, 'relu6', args);
}

export const relu6Config: KernelConfig = {
  kernelName: Relu6,
  backendName: 'int8',
  kernelFunc: relu6 as unknown as KernelFunc,
};
