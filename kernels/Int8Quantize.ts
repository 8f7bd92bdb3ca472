/**
 * Int8Quantize (custom kernel, docs/CONTRACTS.md): input x, attrs
 * {scale, zeroPoint} → int8 codes quantized per tensor.
 *
 * - Float x: q = clamp(roundHalfAwayFromZero(r/S) + Z, −128, 127)
 *   (quantizeValues of src/quant, TFLite's AffineQuantize) — the entry of
 *   the static path, where float is allowed.
 * - x already int8 per tensor with these parameters: shared (no copy).
 * - x quantized with other parameters — int8 or int32, per tensor or per
 *   channel: requantized in integers, per channel c
 *   Z + MBQM(q − Z_c, quantizeMultiplier(S_c/S)) (requantizeValue of
 *   src/quant, TFLite's Requantize), so an int32 accumulator tensor becomes
 *   int8 codes without a float step.
 */
import {KernelConfig, KernelFunc, NamedTensorInfoMap, TensorInfo} from '@tensorflow/tfjs-core';

import {prepareRequantize, quantizeValues} from '../src/quant';
import type {QuantizationParams} from '../src/quant';
import {requantizeCodes, requantizePerChannelCodes} from './impl/elementwise_int8';
import {activeInt8Wasm, unlessOutOfMemory} from './impl/wasm_dispatch';
import {wasmQuantize} from './impl/wasm_elementwise';
import {checkedPerTensorParams, Int8KernelArgs, prepareOrThrow, sameParams, shareData} from './int8_kernel_utils';

export const Int8Quantize = 'Int8Quantize';

export interface Int8QuantizeAttrs {
  scale: number;
  zeroPoint: number;
}

export function int8Quantize(args: Int8KernelArgs<Pick<NamedTensorInfoMap, 'x'>, Int8QuantizeAttrs>): TensorInfo {
  const {inputs: {x}, backend, attrs} = args;
  if (x == null) throw new Error(`${Int8Quantize}: input x is missing.`);
  const params = attrParams(attrs);
  const to = {scale: params.scale[0], zeroPoint: params.zeroPoint[0]};
  const name = `${Int8Quantize} output`;
  const q = backend.getQuantized(x.dataId);
  if (q == null) {
    // float32 values: the wasm quantizer (bit-identical), codes left in wasm memory for the next kernel.
    const wasm = activeInt8Wasm();
    if (wasm !== null) {
      const result = unlessOutOfMemory(() => wasmQuantize(wasm, backend, x, to.scale, to.zeroPoint, params, name));
      if (result !== null) return result;
    }
    const values = backend.data.get(x.dataId).values as ArrayLike<number>;
    const codes = prepareOrThrow(Int8Quantize, 'input x', () => quantizeValues(values, x.shape.slice(), params, 'int8', name));
    return backend.makeQuantizedOutput(codes, x.shape.slice(), params, name);
  }
  if (q.dtype === 'int8' && q.params.axis === undefined && sameParams(params, q.params)) {
    return shareData(backend, x, x.shape.slice());
  }
  // Already quantized: move the codes to the new parameters in integers, channel by channel
  // (the per-channel axis refers to the shape the codes were stored with).
  const {params: from, shape: storedShape} = q;
  const prepare = (scale: number, zeroPoint: number) =>
      prepareOrThrow(Int8Quantize, `attr scale ${to.scale}`, () => prepareRequantize({scale, zeroPoint}, to));
  let codes: Int8Array;
  if (from.axis === undefined) {
    const prepared = prepare(from.scale[0], from.zeroPoint[0]);
    codes = requantizeCodes(q.store.codes(), prepared);
  } else {
    const preparedOfChannel = from.scale.map((scale, c) => prepare(scale, from.zeroPoint[c]));
    codes = requantizePerChannelCodes(q.store.codes(), storedShape, from.axis, preparedOfChannel);
  }
  return backend.makeQuantizedOutput(codes, x.shape.slice(), params, name);
}

/** attrs {scale, zeroPoint} as per-tensor int8 parameters, with errors naming the attr. */
function attrParams(attrs: Partial<Int8QuantizeAttrs> | undefined): QuantizationParams {
  const {scale, zeroPoint} = attrs ?? {};
  if (scale == null) throw new Error(`${Int8Quantize}: attr scale is missing.`);
  if (zeroPoint == null) throw new Error(`${Int8Quantize}: attr zeroPoint is missing.`);
  return checkedPerTensorParams(Int8Quantize, ['scale', scale], ['zeroPoint', zeroPoint]);
}

export const int8QuantizeConfig: KernelConfig = {
  kernelName: Int8Quantize,
  backendName: 'int8',
  kernelFunc: int8Quantize as unknown as KernelFunc,
};
