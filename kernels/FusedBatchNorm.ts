/**
 * FusedBatchNorm (tf.batchNorm; tfjs-layers' BatchNormalization at inference)
 * on float32 tensors: impl/float_batchnorm.ts, bit-identical with
 * tfjs-backend-cpu. Quantized inputs are read through `data.get(..).values`
 * (dequantized, cached, counted) as the cpu kernel would; other dtypes, rank
 * mismatches the cpu kernel rejects and unusual parameter lengths run the cpu
 * backend's kernel.
 */
import {FusedBatchNorm, KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import type {FusedBatchNormAttrs, FusedBatchNormInputs} from '@tensorflow/tfjs-core';

import type {BackendInt8} from '../src/backend';
import {batchNormChannels, batchNormFloat} from './impl/float_batchnorm';
import type {BatchNormParams} from './impl/float_batchnorm';
import {Int8KernelArgs, runCpuKernelSingle} from './int8_kernel_utils';

function float32Values(backend: BackendInt8, t: TensorInfo | undefined | null): Float32Array | null {
  if (t == null || t.dtype !== 'float32') return null;
  const values = backend.data.get(t.dataId).values;
  return values instanceof Float32Array ? values : null;
}

/** The fast path's result, or null when the cpu kernel must run. */
function fastBatchNorm(backend: BackendInt8, inputs: FusedBatchNormInputs, attrs: FusedBatchNormAttrs | undefined):
    TensorInfo | null {
  const {x, mean, variance, scale, offset} = inputs;
  if (x == null || mean == null || variance == null) return null;
  // The cpu kernel's rank assertions: leave their errors to it.
  const rank = mean.shape.length;
  if (variance.shape.length !== rank || (offset != null && offset.shape.length !== rank) ||
      (scale != null && scale.shape.length !== rank)) {
    return null;
  }
  const epsilon = attrs?.varianceEpsilon ?? 0.001;
  if (typeof epsilon !== 'number') return null;
  const xv = float32Values(backend, x);
  const mv = float32Values(backend, mean);
  const vv = float32Values(backend, variance);
  if (xv === null || mv === null || vv === null) return null;
  let sv: Float32Array | undefined;
  if (scale != null) {
    const v = float32Values(backend, scale);
    if (v === null) return null;
    sv = v;
  }
  let ov: Float32Array | undefined;
  if (offset != null) {
    const v = float32Values(backend, offset);
    if (v === null) return null;
    ov = v;
  }
  const params: BatchNormParams = {mean: mv, variance: vv, scale: sv, offset: ov, varianceEpsilon: epsilon};
  const channels = batchNormChannels(xv.length, params);
  if (channels === null || xv.length === 0) return null;
  return backend.makeTensorInfo(x.shape.slice(), 'float32', batchNormFloat(xv, params, channels));
}

export function fusedBatchNorm(args: Int8KernelArgs<FusedBatchNormInputs, FusedBatchNormAttrs>): TensorInfo {
  const {inputs, backend, attrs} = args;
  return fastBatchNorm(backend, inputs, attrs) ?? runCpuKernelSingle(FusedBatchNorm, args);
}

export const fusedBatchNormConfig: KernelConfig = {
  kernelName: FusedBatchNorm,
  backendName: 'int8',
  kernelFunc: fusedBatchNorm as unknown as KernelFunc,
};
