/**
 * Add (tf.add; the converter also maps TensorFlow's AddV2 here), with
 * broadcasting.
 *
 * - No per-tensor int8 input: the cpu backend's float kernel.
 * - Otherwise TFLite's int8 Add (src/quant/add.ts: each input centred,
 *   shifted left 20 bits and scaled by its own multiplier, the sum
 *   requantized to the output). A float input next to a quantized one is
 *   first quantized per tensor with its own range.
 * - Output parameters: attrs `outputScale`/`outputZeroPoint` when given
 *   (the graph pass's calibrated range); otherwise chosen at prepare time
 *   from the sum of the inputs' representable ranges,
 *   [lo_a + lo_b, hi_a + hi_b] with [lo, hi] = [S·(−128 − Z), S·(127 − Z)],
 *   by chooseQuantizationParams — no sum can fall outside it, so nothing
 *   saturates, at the price of about one bit of resolution.
 */
import {Add, backend_util, BinaryInputs, KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';

import {activationRange, chooseQuantizationParams, prepareQuantizedAdd} from '../src/quant';
import type {QuantizationParams} from '../src/quant';
import {plainFloatBinary} from './FloatBinary';
import {addInt8} from './impl/elementwise_int8';
import {activeInt8Wasm, unlessOutOfMemory} from './impl/wasm_dispatch';
import {wasmAdd} from './impl/wasm_elementwise';
import {Int8KernelArgs, outputParamsFromAttrs, perTensorInt8, PerTensorInt8, perTensorParams, prepareOrThrow,
        quantizeWithOwnRange, representableRange, runCpuKernelSingle} from './int8_kernel_utils';

/** Attrs the int8 backend reads beyond tfjs's (none for Add). */
export interface AddInt8Attrs {
  outputScale?: number;
  outputZeroPoint?: number;
}

export function add(args: Int8KernelArgs<BinaryInputs, AddInt8Attrs>): TensorInfo {
  const {inputs: {a, b}, backend, attrs} = args;
  if (a == null || b == null) throw new Error(`${Add}: input ${a == null ? 'a' : 'b'} is missing.`);
  const qa = perTensorInt8(backend, a);
  const qb = perTensorInt8(backend, b);
  if (qa == null && qb == null) return plainFloatBinary('add', backend, a, b) ?? runCpuKernelSingle(Add, args);

  const outShape = prepareOrThrow(Add, `inputs a [${a.shape.join(', ')}] and b [${b.shape.join(', ')}]`,
                                  () => backend_util.assertAndGetBroadcastShape(a.shape, b.shape));
  const x = qa ?? quantizeWithOwnRange(backend, a, Add, 'a');
  const y = qb ?? quantizeWithOwnRange(backend, b, Add, 'b');
  const outParams = outputParamsFromAttrs(Add, attrs) ?? sumOfRanges(x, y);
  const prepared = prepareOrThrow(Add, 'attr outputScale', () => prepareQuantizedAdd(
      x, y, {scale: outParams.scale[0], zeroPoint: outParams.zeroPoint[0]}));
  const range = activationRange('linear', outParams.scale[0], outParams.zeroPoint[0], 'int8');
  // Both inputs int8 codes of the same size: the wasm kernel (bit-identical), output in wasm memory.
  const wasm = qa != null && qb != null ? activeInt8Wasm() : null;
  if (wasm !== null) {
    const result = unlessOutOfMemory(() => wasmAdd(wasm, backend, a, b, outShape, prepared, range, outParams,
                                                   `${Add} output`));
    if (result !== null) return result;
  }
  const codes = addInt8(x.codes(), a.shape, y.codes(), b.shape, outShape, prepared, range);
  return backend.makeQuantizedOutput(codes, outShape, outParams, `${Add} output`);
}

/** Parameters for the range every sum of the two inputs lies in. */
function sumOfRanges(x: PerTensorInt8, y: PerTensorInt8): QuantizationParams {
  const [xLo, xHi] = representableRange(x.scale, x.zeroPoint);
  const [yLo, yHi] = representableRange(y.scale, y.zeroPoint);
  const chosen = chooseQuantizationParams(xLo + yLo, xHi + yHi, {dtype: 'int8'});
  return perTensorParams(chosen.scale, chosen.zeroPoint);
}

export const addConfig: KernelConfig = {
  kernelName: Add,
  backendName: 'int8',
  kernelFunc: add as unknown as KernelFunc,
};
