import {engine, Tensor} from '@tensorflow/tfjs-core';

import {BackendInt8} from './backend';
import type {Codes} from './code_store';
import {BACKEND_NAME} from './register';
import type {CodeDtype, QuantizationParams} from './quant/types';

/** A quantized tensor's codes (a copy) and parameters, as `getQuantization` returns them. */
export interface QuantizationInfo {
  dtype: CodeDtype;
  params: QuantizationParams;
  codes: Codes;
}

/** The int8 backend instance (initialized on first use). */
export function int8Backend(): BackendInt8 {
  const backend = engine().findBackend(BACKEND_NAME);
  if (!(backend instanceof BackendInt8)) {
    throw new Error(`The '${BACKEND_NAME}' backend is not registered; import 'tfjs-backend-int8' first.`);
  }
  return backend;
}

/**
 * Makes a tensor whose data are integer codes — int8 (activations, weights) or
 * int32 (accumulators, biases) — with `r = scale·(q − zeroPoint)` per tensor or
 * per channel along `params.axis`. To tfjs it is a float32 tensor: reading it
 * returns the dequantized values.
 */
export function quantizedTensor(
    codes: Codes, shape: number[], params: QuantizationParams, name = 'quantizedTensor'): Tensor {
  const backend = int8Backend();
  const info = backend.makeQuantizedOutput(codes.slice(), shape, params, name);
  return engine().makeTensorFromTensorInfo(info, backend);
}

/** The codes and parameters of a quantized tensor; null for a float tensor. */
export function getQuantization(tensor: Tensor): QuantizationInfo | null {
  if (tensor.isDisposed) {
    throw new Error(`Tensor ${tensor.id} (shape [${tensor.shape.join(', ')}]) was read after it was disposed.`);
  }
  const backend = engine().findBackend(BACKEND_NAME);
  if (!(backend instanceof BackendInt8)) return null;
  const q = backend.getQuantized(tensor.dataId);
  if (q == null) return null;
  return {dtype: q.dtype, params: structuredClone(q.params), codes: q.store.codes().slice()};
}
