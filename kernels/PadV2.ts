/**
 * PadV2 (tf.pad) with a constant, on int8 codes quantized per tensor. The
 * output keeps the input's parameters. The padding value is quantized with
 * them (quantizeValues of src/quant: round half away from zero, plus Z,
 * clamped): a value of 0 becomes exactly the zero point; any other value is
 * stored as its nearest representable code (saturating at −128/127 when it
 * lies outside the input's range — float keeps it exactly). No per-tensor
 * int8 input: the cpu backend's float kernel.
 */
import {KernelConfig, KernelFunc, PadV2, PadV2Attrs, PadV2Inputs, TensorInfo} from '@tensorflow/tfjs-core';

import {quantizeValues} from '../src/quant';
import {plainFloatPad} from './FloatUnary';
import {padCodes} from './impl/pad_int8';
import {activeInt8Wasm, unlessOutOfMemory} from './impl/wasm_dispatch';
import {wasmPad} from './impl/wasm_elementwise';
import {Int8KernelArgs, perTensorInt8, prepareOrThrow, runCpuKernelSingle} from './int8_kernel_utils';

export function padV2(args: Int8KernelArgs<PadV2Inputs, PadV2Attrs>): TensorInfo {
  const {inputs: {x}, backend, attrs} = args;
  if (x == null) throw new Error(`${PadV2}: input x is missing.`);
  const q = perTensorInt8(backend, x);
  if (q == null) return plainFloatPad(backend, x, attrs?.paddings, attrs?.constantValue) ?? runCpuKernelSingle(PadV2, args);
  const paddings = checkPaddings(attrs?.paddings, x.shape.length);
  const constantValue = attrs?.constantValue ?? 0;
  if (typeof constantValue !== 'number' || Number.isNaN(constantValue)) {
    throw new Error(`${PadV2}: attr constantValue must be a number, got ${String(constantValue)}.`);
  }
  const fillCode = prepareOrThrow(PadV2, `attr constantValue ${constantValue}`,
                                  () => quantizeValues([constantValue], [1], q.params, 'int8', `${PadV2} constantValue`)[0]);
  // wasm: fill plus a copy per contiguous run, output in wasm memory (bit-identical).
  const wasm = activeInt8Wasm();
  if (wasm !== null) {
    const result = unlessOutOfMemory(() => wasmPad(wasm, backend, x, paddings, fillCode, q.params, `${PadV2} output`));
    if (result !== null) return result;
  }
  const codes = padCodes(q.codes(), x.shape, paddings, fillCode);
  const outShape = x.shape.map((dim, axis) => paddings[axis][0] + dim + paddings[axis][1]);
  return backend.makeQuantizedOutput(codes, outShape, q.params, `${PadV2} output`);
}

function checkPaddings(paddings: unknown, rank: number): Array<[number, number]> {
  const isPair = (p: unknown): p is [number, number] => Array.isArray(p) && p.length === 2 &&
      p.every(v => Number.isInteger(v) && v >= 0);
  if (!Array.isArray(paddings) || paddings.length !== rank || !paddings.every(isPair)) {
    throw new Error(`${PadV2}: attr paddings must be ${rank} pairs [before, after] of non-negative integers ` +
                    `(one per axis of input x), got ${JSON.stringify(paddings)}.`);
  }
  return paddings;
}

export const padV2Config: KernelConfig = {
  kernelName: PadV2,
  backendName: 'int8',
  kernelFunc: padV2 as unknown as KernelFunc,
};
