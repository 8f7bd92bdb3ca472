/**
 * ExpandDims: inserts an axis of size 1 at attr `dim` (negative counts from
 * the end, −1 appends). A quantized input passes through like Reshape (shared
 * codes, no dequantization); a float input runs the cpu kernel.
 */
import {ExpandDims, ExpandDimsAttrs, ExpandDimsInputs, KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';

import {Int8KernelArgs, runCpuKernelSingle} from './int8_kernel_utils';
import {reshape} from './Reshape';

export function expandDims(args: Int8KernelArgs<ExpandDimsInputs, ExpandDimsAttrs>): TensorInfo {
  const {inputs: {input}, backend, attrs} = args;
  if (input == null) throw new Error(`${ExpandDims}: input 'input' is missing.`);
  if (!backend.isQuantized(input.dataId)) return runCpuKernelSingle(ExpandDims, args);
  const rank = input.shape.length;
  const dim = attrs?.dim;
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < -(rank + 1) || dim > rank) {
    throw new Error(`${ExpandDims}: attr dim must be an integer in [${-(rank + 1)}, ${rank}], got ${String(dim)}.`);
  }
  const position = dim < 0 ? rank + dim + 1 : dim;
  const shape = input.shape.slice();
  shape.splice(position, 0, 1);
  return reshape({inputs: {x: input}, backend, attrs: {shape}});
}

export const expandDimsConfig: KernelConfig = {
  kernelName: ExpandDims,
  backendName: 'int8',
  kernelFunc: expandDims as unknown as KernelFunc,
};
