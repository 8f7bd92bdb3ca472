/**
 * Float fast paths of kernels whose int8 case lives in their own files (Relu,
 * Relu6 in Relu.ts; PadV2 in PadV2.ts): for a float32 tensor they run
 * impl/float_unary.ts and impl/float_pad.ts (bit-identical with
 * tfjs-backend-cpu) on the values the cpu kernel would read; anything else
 * returns null and the caller runs the cpu backend's kernel.
 */
import {TensorInfo} from '@tensorflow/tfjs-core';

import type {BackendInt8} from '../src/backend';
import {padFloat} from './impl/float_pad';
import {relu6Float, reluFloat} from './impl/float_unary';

function float32Values(backend: BackendInt8, x: TensorInfo): Float32Array | null {
  if (x.dtype !== 'float32') return null;
  const values = backend.data.get(x.dataId).values;
  return values instanceof Float32Array ? values : null;
}

/** Relu or Relu6 of a float32 tensor; null when the cpu kernel must run. */
export function plainFloatClamp(activation: 'relu' | 'relu6', backend: BackendInt8, x: TensorInfo): TensorInfo | null {
  const values = float32Values(backend, x);
  if (values === null) return null;
  return backend.makeTensorInfo(x.shape.slice(), 'float32',
                                activation === 'relu' ? reluFloat(values) : relu6Float(values));
}

/** PadV2 of a float32 tensor with valid attrs; null when the cpu kernel must run (or report the error). */
export function plainFloatPad(backend: BackendInt8, x: TensorInfo, paddings: unknown, constantValue: unknown):
    TensorInfo | null {
  if (typeof constantValue !== 'number' || !Array.isArray(paddings) || paddings.length !== x.shape.length) return null;
  const pairs: Array<[number, number]> = [];
  for (const p of paddings as unknown[]) {
    if (!Array.isArray(p) || p.length !== 2 || !p.every(v => Number.isInteger(v) && v >= 0)) return null;
    pairs.push([p[0] as number, p[1] as number]);
  }
  const values = float32Values(backend, x);
  if (values === null) return null;
  const {values: out, shape} = padFloat(values, x.shape, pairs, constantValue);
  return backend.makeTensorInfo(shape, 'float32', out);
}
