/**
 * Int8FromCodes (custom kernel, docs/CONTRACTS.md): input x, a float32 tensor
 * holding exact integer codes, and attrs {dtype: 'int8' | 'int32', scale[],
 * zeroPoint[], axis} (axis −1 = per tensor) → a quantized tensor with those
 * codes and parameters. A value that is not an integer in the dtype's range is
 * an error naming the value and its index; nothing is rounded or clamped.
 */
import {KernelConfig, KernelFunc, NamedTensorInfoMap, TensorInfo} from '@tensorflow/tfjs-core';

import {CODE_RANGE} from '../src/quant';
import type {CodeDtype, QuantizationParams} from '../src/quant';
import {Int8KernelArgs, prepareOrThrow} from './int8_kernel_utils';

export const Int8FromCodes = 'Int8FromCodes';

export interface Int8FromCodesAttrs {
  dtype: CodeDtype;
  scale: number[];
  zeroPoint: number[];
  axis: number;
}

export function int8FromCodes(args: Int8KernelArgs<Pick<NamedTensorInfoMap, 'x'>, Int8FromCodesAttrs>): TensorInfo {
  const {inputs: {x}, backend, attrs} = args;
  if (x == null) throw new Error(`${Int8FromCodes}: input x is missing.`);
  const {dtype, scale, zeroPoint, axis} = (attrs ?? {}) as Partial<Int8FromCodesAttrs>;
  if (dtype !== 'int8' && dtype !== 'int32') {
    throw new Error(`${Int8FromCodes}: attr dtype must be 'int8' or 'int32', got ${JSON.stringify(dtype)}.`);
  }
  if (!Array.isArray(scale)) throw new Error(`${Int8FromCodes}: attr scale must be an array of numbers.`);
  if (!Array.isArray(zeroPoint)) throw new Error(`${Int8FromCodes}: attr zeroPoint must be an array of integers.`);
  const rank = x.shape.length;
  if (typeof axis !== 'number' || !Number.isInteger(axis) || axis < -1 || axis >= rank) {
    throw new Error(`${Int8FromCodes}: attr axis must be −1 (per tensor) or an integer in [0, ${rank}) for input x ` +
                    `of shape [${x.shape.join(', ')}], got ${String(axis)}.`);
  }
  const params: QuantizationParams = axis === -1 ? {scale: scale.slice(), zeroPoint: zeroPoint.slice()} :
                                                   {scale: scale.slice(), zeroPoint: zeroPoint.slice(), axis};
  const values = backend.data.get(x.dataId).values as ArrayLike<number>;
  const codes = dtype === 'int8' ? new Int8Array(values.length) : new Int32Array(values.length);
  const {min, max} = CODE_RANGE[dtype];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new Error(`${Int8FromCodes}: input x holds ${v} at index ${i}, which is not an integer ${dtype} code ` +
                      `in [${min}, ${max}].`);
    }
    codes[i] = v;
  }
  return prepareOrThrow(Int8FromCodes, 'attrs scale/zeroPoint/axis', () => backend.makeQuantizedOutput(
      codes, x.shape.slice(), params, `${Int8FromCodes} output`));
}

export const int8FromCodesConfig: KernelConfig = {
  kernelName: Int8FromCodes,
  backendName: 'int8',
  kernelFunc: int8FromCodes as unknown as KernelFunc,
};
