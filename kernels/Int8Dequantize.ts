/**
 * Int8Dequantize (custom kernel, docs/CONTRACTS.md): input x → a plain
 * float32 tensor r = S·(q − Z) (dequantizeValues of src/quant; per tensor or
 * per channel, int8 or int32 codes) — the exit of the static path. It is an
 * explicit conversion, not a float kernel reading codes, so it does not count
 * in `stats.dequantizations`. A float x is passed through (shared).
 */
import {KernelConfig, KernelFunc, NamedTensorInfoMap, TensorInfo} from '@tensorflow/tfjs-core';

import {dequantizeValues} from '../src/quant';
import {Int8KernelArgs, runCpuKernelSingle} from './int8_kernel_utils';

export const Int8Dequantize = 'Int8Dequantize';

export function int8Dequantize(args: Int8KernelArgs<Pick<NamedTensorInfoMap, 'x'>>): TensorInfo {
  const {inputs: {x}, backend} = args;
  if (x == null) throw new Error(`${Int8Dequantize}: input x is missing.`);
  const q = backend.getQuantized(x.dataId);
  if (q == null) return runCpuKernelSingle('Identity', {inputs: {x}, backend});
  // The codes are laid out in the shape they were stored with (a reshape shares them).
  const values = dequantizeValues(q.store.codes(), q.shape, q.params, `${Int8Dequantize} input x`);
  return backend.makeTensorInfo(x.shape.slice(), 'float32', values);
}

export const int8DequantizeConfig: KernelConfig = {
  kernelName: Int8Dequantize,
  backendName: 'int8',
  kernelFunc: int8Dequantize as unknown as KernelFunc,
};
