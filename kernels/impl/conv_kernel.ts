// The body of the four conv kernels (Conv2D, DepthwiseConv2dNative,
// FusedConv2D, FusedDepthwiseConv2D) on the int8 backend. In order:
//   1. check inputs and attributes (errors name the kernel and attribute);
//   2. NCHW, non-float32 dtypes, empty tensors, non-finite inputs: the cpu
//      backend's float kernel (quantized inputs are dequantized for it);
//   3. geometry from tfjs-core's computeConv2DInfo;
//   4. the input as per-tensor int8 codes — its own (static mode) or its float
//      values quantized for this call (dynamic mode);
//   5. the filter as int8 codes with one symmetric scale per output channel
//      (cached with the filter);
//   6. the int32 accumulator conv2dInt8 / depthwiseConv2dInt8, with the input
//      zero point (and, in the integer epilogue, the int32 bias) folded into a
//      per-channel constant;
//   7. the epilogue of output.ts: int8 codes, int32 accumulators, or float.

import {backend_util, NamedTensorInfoMap, TensorInfo} from '@tensorflow/tfjs-core';

import {Int8KernelArgs, outputParamsFromAttrs, runCpuKernelSingle} from '../int8_kernel_utils';
import {conv2dInt8, depthwiseConv2dInt8} from './conv_int8';
import type {ConvGeometry} from './conv_int8';
import {activationOperand, weightOperand} from './operands';
import {accumulatorScale, finishFloat, finishInteger, int32Bias, isIntegerEpilogue, quantizeIfAsked} from './output';
import type {EpilogueSpec} from './output';
import {
  checkActivation, checkBroadcastsTo, checkDataFormat, checkDimRoundingMode, checkLeakyReluAlpha, checkPad,
  checkPair, checkRank, withKernelName,
} from './validate';
import {wasmConv} from './wasm_conv';
import {activeInt8Wasm, unlessOutOfMemory} from './wasm_dispatch';
import {foldZeroPoints} from './zero_point_fold';

/** Inputs of the conv kernels (bias and prelu weights only for the fused ones). */
export interface ConvInputs extends NamedTensorInfoMap {
  x: TensorInfo;
  filter: TensorInfo;
  bias?: TensorInfo;
  preluActivationWeights?: TensorInfo;
}

/** Attributes of the conv kernels, plus the int8 backend's optional output parameters. */
export interface ConvAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  activation?: backend_util.Activation;
  leakyreluAlpha?: number;
  /** int8 output scale (static mode); with outputZeroPoint. */
  outputScale?: number;
  outputZeroPoint?: number;
}

export type ConvKernelArgs = Int8KernelArgs<ConvInputs, ConvAttrs>;

/** Which conv: Conv2D-like (HWIO filter) or depthwise ([h, w, inC, multiplier] filter). */
export interface ConvKind {
  kernelName: string;
  depthwise: boolean;
  fused: boolean;
}

/** Runs one of the four conv kernels (see the top of this file). */
export function runConv(kind: ConvKind, args: ConvKernelArgs): TensorInfo {
  const {inputs, backend} = args;
  const attrs = args.attrs ?? ({} as ConvAttrs);
  const {kernelName} = kind;
  const {x, filter} = checkConvInputs(kind, inputs);
  const output = outputParamsFromAttrs(kernelName, attrs);
  const spec: EpilogueSpec = {
    kernelName,
    outShape: [],
    bias: kind.fused ? inputs.bias : undefined,
    activation: kind.fused ? checkActivation(kernelName, attrs.activation, inputs.preluActivationWeights) : 'linear',
    preluActivationWeights: kind.fused ? inputs.preluActivationWeights : undefined,
    leakyreluAlpha: checkLeakyReluAlpha(kernelName, attrs.leakyreluAlpha),
    output: output === undefined ? null : {scale: output.scale[0], zeroPoint: output.zeroPoint[0]},
  };
  // NCHW: transparent float fallback to tfjs-backend-cpu's kernel (quantized
  // inputs are dequantized for it); the int8 kernels are NHWC only.
  if (checkDataFormat(kernelName, attrs.dataFormat) === 'NCHW') return floatFallback(kind, args, spec);
  const info = convInfo(kind, x, filter, attrs);
  spec.outShape = info.outShape.slice();
  checkFusedOperands(kernelName, spec);
  if (!integerCapable(x, filter, info)) return floatFallback(kind, args, spec);

  const g = convGeometry(info);
  // WebAssembly SIMD kernels when available (wasm_dispatch.ts); the code below is the reference.
  const wasm = activeInt8Wasm();
  if (wasm !== null) {
    const result = unlessOutOfMemory(() => wasmConv(wasm, kind, backend, x, filter, g, spec));
    if (result !== null) return result;
  }
  const layout = {batches: 1, channelInner: 1, channelCount: g.outChannels};
  const input = activationOperand(backend, x);
  const weights = input === null ? null : weightOperand(backend, filter, layout, `${kernelName} filter`);
  if (input === null || weights === null) return floatFallback(kind, args, spec);  // NaN or ±Infinity
  const integerEpilogue = isIntegerEpilogue(input.fromCodes, spec);
  const accScale = accumulatorScale(input.scale, weights);
  const bias32 = integerEpilogue ? int32Bias(backend, spec, weights, input.scale, accScale) : null;
  const depth = g.filterHeight * g.filterWidth * (kind.depthwise ? 1 : g.inChannels);
  const channelBias = foldZeroPoints(bias32, weights.channelSums, input.zeroPoint, 0, depth, g.outChannels);

  const acc = new Int32Array(info.outShape.reduce((a, b) => a * b, 1));
  const convolve = kind.depthwise ? depthwiseConv2dInt8 : conv2dInt8;
  convolve(input.codes(), input.zeroPoint, weights.codes(), channelBias, g, acc);

  return integerEpilogue ? finishInteger(backend, spec, acc, weights, input.scale, accScale) :
                           finishFloat(backend, spec, acc, accScale);
}

function checkConvInputs(kind: ConvKind, inputs: ConvInputs): {x: TensorInfo; filter: TensorInfo} {
  const {x, filter} = inputs;
  if (x == null) throw new Error(`${kind.kernelName}: input 'x' is missing.`);
  if (filter == null) throw new Error(`${kind.kernelName}: input 'filter' is missing.`);
  return {x, filter};
}

/** Checks the NHWC shapes and attributes and computes tfjs-core's Conv2DInfo. */
function convInfo(kind: ConvKind, x: TensorInfo, filter: TensorInfo, attrs: ConvAttrs): backend_util.Conv2DInfo {
  const {kernelName, depthwise} = kind;
  checkRank(kernelName, 'x', x, 4);
  checkRank(kernelName, 'filter', filter, 4);
  const strides = checkPair(kernelName, 'strides', attrs.strides);
  const dilations = checkPair(kernelName, 'dilations', attrs.dilations ?? 1);
  if (depthwise && !backend_util.eitherStridesOrDilationsAreOne(strides, dilations)) {
    throw new Error(`${kernelName}: either attribute 'strides' or attribute 'dilations' must be 1, got strides ` +
                    `[${strides.join(', ')}] and dilations [${dilations.join(', ')}].`);
  }
  checkPad(kernelName, attrs.pad);
  checkDimRoundingMode(kernelName, attrs.pad, attrs.dimRoundingMode);
  if (filter.shape[2] !== x.shape[3]) {
    throw new Error(`${kernelName}: depth of input 'x' (${x.shape[3]}) must match the input depth of 'filter' ` +
                    `(${filter.shape[2]}) (x shape [${x.shape.join(', ')}], filter shape ` +
                    `[${filter.shape.join(', ')}]).`);
  }
  return withKernelName(kernelName, () => backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number], filter.shape as [number, number, number, number], strides,
      dilations, attrs.pad, attrs.dimRoundingMode, depthwise, 'channelsLast'));
}

function checkFusedOperands(kernelName: string, spec: EpilogueSpec): void {
  if (spec.bias !== undefined) checkBroadcastsTo(kernelName, 'bias', spec.bias.shape, spec.outShape);
  const alpha = spec.preluActivationWeights;
  if (spec.activation === 'prelu' && alpha !== undefined) {
    checkBroadcastsTo(kernelName, 'preluActivationWeights', alpha.shape, spec.outShape);
  }
}

/** float32 operands and non-empty shapes; everything else runs in float. */
function integerCapable(x: TensorInfo, filter: TensorInfo, info: backend_util.Conv2DInfo): boolean {
  const nonEmpty = [...x.shape, ...filter.shape, ...info.outShape].every(d => d > 0);
  return x.dtype === 'float32' && filter.dtype === 'float32' && nonEmpty;
}

/** tfjs-core's Conv2DInfo as the plain geometry of conv_int8. */
export function convGeometry(info: backend_util.Conv2DInfo): ConvGeometry {
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight,
    dilationWidth: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/**
 * The cpu backend's float kernel of the same name (its fused kernels call its
 * own conv, never ours); a result the caller asked to be int8 (outputScale)
 * is quantized.
 */
function floatFallback(kind: ConvKind, args: ConvKernelArgs, spec: EpilogueSpec): TensorInfo {
  const result = runCpuKernelSingle(kind.kernelName, args);
  return quantizeIfAsked(args.backend, spec, result);
}
