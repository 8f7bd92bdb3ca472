// From int32 accumulators to the kernel's output tensor: the epilogue glue
// shared by the conv and matmul kernels. Which epilogue runs:
//
// static mode (the input held int8 codes), activation linear/relu/relu6 — or
// prelu with output parameters and an alpha that is a scalar or one value per
// output channel — and a bias that is absent, a scalar or one value per output
// channel — integers only:
//   the bias is int32 with scale S_in·S_w[c] and zero point 0, added to the
//   accumulator (foldZeroPoints); with attrs outputScale/outputZeroPoint the
//   accumulator is requantized to int8 in the epilogue (multipliers cached
//   with the weights) and relu/relu6 are the clamp of activationRange, prelu
//   the sign-dependent multiplier of src/quant requantizePrelu (acc ≥ 0:
//   S_acc[c]/S_out, acc < 0: S_acc[c]·α[c]/S_out); without them the output is
//   the int32 accumulator tensor (scale S_in·S_w[c] along the last axis, zero
//   point 0), relu/relu6 clamped at the codes of 0 and 6.
//
// every other case — float epilogue: the accumulator (without bias) is
//   dequantized with S_in·S_w[c] to float, the bias is added in float (more
//   accurate than an int32 bias, whose rounding step S_in·S_w[c] changes with
//   every dynamic input), the activation is applied in float with tfjs-cpu's
//   formulas; with outputScale/outputZeroPoint the result is quantized to int8
//   (static mode's leakyrelu, sigmoid, elu, prelu with a full-shape alpha:
//   "dequantize, activate, requantize"), otherwise it is a float tensor
//   (dynamic mode).

import type {TensorInfo} from '@tensorflow/tfjs-core';

import type {BackendInt8} from '../../src/backend';
import {activationRange, dequantizeValues, quantizeValues} from '../../src/quant';
import type {PerTensorParams, QuantizationParams} from '../../src/quant';
import {
  addBias, applyActivation, broadcastKind, broadcastOverOutput, channelMultipliers, clampAccumulators,
  negativeSlopeMultipliers, requantizePreluToInt8, requantizeToInt8, sixInAccumulatorScale,
} from './epilogue';
import type {FusedActivationName, NegativeSlopeMultipliers} from './epilogue';
import {channelScalesOf, ensureOnBackend, floatValues, identityOf} from './operands';
import type {WeightOperand} from './operands';

/** Everything after the sum that a fused kernel asks for. */
export interface EpilogueSpec {
  kernelName: string;
  outShape: number[];
  bias?: TensorInfo;
  activation: FusedActivationName;
  preluActivationWeights?: TensorInfo;
  leakyreluAlpha: number;
  /** int8 output parameters (attrs outputScale/outputZeroPoint), or null. */
  output: PerTensorParams | null;
}

/** Whether this call's epilogue is integer-only (and the int32 bias goes into the accumulator). */
export function isIntegerEpilogue(staticMode: boolean, spec: EpilogueSpec): boolean {
  const clampActivation = spec.activation === 'linear' || spec.activation === 'relu' || spec.activation === 'relu6';
  const channelBias = spec.bias === undefined ||
      broadcastKind(spec.bias.shape, spec.outShape, `${spec.kernelName}: input 'bias'`) !== 'full';
  return staticMode && (clampActivation || isIntegerPrelu(spec)) && channelBias;
}

/** prelu with output parameters and a float32 alpha that is a scalar or one value per output channel. */
function isIntegerPrelu(spec: EpilogueSpec): boolean {
  const alpha = spec.preluActivationWeights;
  if (spec.activation !== 'prelu' || spec.output === null || alpha === undefined || alpha.dtype !== 'float32') return false;
  return broadcastKind(alpha.shape, spec.outShape, `${spec.kernelName}: input 'preluActivationWeights'`) !== 'full';
}

/** S_acc[c] = S_in·S_w[c]: the scale of the accumulator of output channel c. */
export function accumulatorScale(inputScale: number, weights: WeightOperand): Float64Array {
  return weights.channelScale.map(s => inputScale * s);
}

/** Data derived from the weights, cached with them when they are cached. */
export function cachedWithWeights<T>(backend: BackendInt8, weights: WeightOperand, key: string, create: () => T): T {
  if (weights.cache === null) return create();
  return backend.derive(weights.cache.dataId, `${weights.cache.key}:${key}`, create);
}

/**
 * The int32 bias of the integer epilogue, one per output channel, with scale
 * S_acc[c] and zero point 0: the bias's own int32 codes when their scales are
 * S_acc[c], otherwise its float values quantized with S_acc[c] (once per bias,
 * input scale and weights). Null when there is no bias.
 */
export function int32Bias(
    backend: BackendInt8, spec: EpilogueSpec, weights: WeightOperand, inputScale: number,
    accScale: Float64Array): Int32Array | null {
  const {bias} = spec;
  if (bias === undefined) return null;
  const channels = accScale.length;
  ensureOnBackend(backend, bias);
  const create = (): Int32Array => {
    const own = ownInt32Bias(backend, bias, accScale);
    if (own !== null) return own;
    const values = perChannel(floatValues(backend, bias), channels);
    const params = {scale: Array.from(accScale), zeroPoint: new Array<number>(channels).fill(0), axis: 0};
    return quantizeValues(values, [channels], params, 'int32', `${spec.kernelName} bias`) as Int32Array;
  };
  if (weights.cache === null) return create();
  const key = `int8.bias32:${inputScale}:${identityOf(weights.cache.dataId)}:${weights.cache.key}`;
  return backend.derive(bias.dataId, key, create);
}

/** A scalar or per-channel bias as one value per channel. */
function perChannel<T extends Float32Array | Int32Array>(values: T, channels: number): T {
  if (values.length === channels) return values.slice() as T;
  const out = new (values.constructor as {new (n: number): T})(channels);
  out.fill(values[0]);
  return out;
}

/** The bias's own int32 codes, when its scales are the accumulator's (relative 1e-6). */
function ownInt32Bias(backend: BackendInt8, bias: TensorInfo, accScale: Float64Array): Int32Array | null {
  const q = backend.getQuantized(bias.dataId);
  if (q === undefined || q.dtype !== 'int32' || q.params.zeroPoint.some(z => z !== 0)) return null;
  const channels = accScale.length;
  const size = q.store.length;
  const layout = {batches: 1, channelInner: 1, channelCount: size};
  const scales = channelScalesOf(q.params, q.shape, layout);
  if (scales === null) return null;
  for (let c = 0; c < channels; c++) {
    const s = scales[size === 1 ? 0 : c];
    if (Math.abs(s - accScale[c]) > 1e-6 * accScale[c]) return null;
  }
  return perChannel(q.store.codes() as Int32Array, channels);
}

/**
 * The negative-side multipliers of an integer prelu (α scalar or per channel), made once per
 * alpha, input scale, output scale and weights (derived data of the alpha tensor, as int32Bias).
 * The positive side is the linear epilogue's (M0, shift) of S_acc[c]/S_out.
 */
export function preluSlopeMultipliers(backend: BackendInt8, spec: EpilogueSpec, weights: WeightOperand, inputScale: number,
                     outputScale: number, accScale: Float64Array): NegativeSlopeMultipliers {
  const alpha = spec.preluActivationWeights;
  if (alpha === undefined) throw new Error(`${spec.kernelName}: prelu without input 'preluActivationWeights'`);
  ensureOnBackend(backend, alpha);
  const create = (): NegativeSlopeMultipliers => {
    const values = perChannel(floatValues(backend, alpha), accScale.length);
    const bad = values.findIndex(v => !Number.isFinite(v));
    if (bad >= 0) {
      throw new Error(`${spec.kernelName}: input 'preluActivationWeights' holds ${values[bad]} (channel ${bad}); ` +
                      `an int8 prelu needs finite slopes.`);
    }
    return negativeSlopeMultipliers(accScale, values, outputScale);
  };
  if (weights.cache === null) return create();
  const key = `int8.prelu:${inputScale}:${outputScale}:${identityOf(weights.cache.dataId)}:${weights.cache.key}`;
  return backend.derive(alpha.dataId, key, create);
}

/** The output tensor of the integer epilogue (see the top of this file). */
export function finishInteger(
    backend: BackendInt8, spec: EpilogueSpec, acc: Int32Array, weights: WeightOperand, inputScale: number,
    accScale: Float64Array): TensorInfo {
  const channels = accScale.length;
  const {output, activation} = spec;
  if (output !== null) {
    const multipliers = cachedWithWeights(
        backend, weights, `int8.requant:${inputScale}:${output.scale}`,
        () => channelMultipliers(accScale, output.scale));
    const codes = new Int8Array(acc.length);
    if (activation === 'prelu') {
      const slopes = preluSlopeMultipliers(backend, spec, weights, inputScale, output.scale, accScale);
      const {lo, hi} = activationRange('linear', output.scale, output.zeroPoint, 'int8');
      requantizePreluToInt8(acc, channels, multipliers, slopes, output.zeroPoint, lo, hi, codes);
    } else {
      const act = activation as 'linear' | 'relu' | 'relu6';
      const {lo, hi} = activationRange(act, output.scale, output.zeroPoint, 'int8');
      requantizeToInt8(acc, channels, multipliers, output.zeroPoint, lo, hi, codes);
    }
    return backend.makeQuantizedOutput(codes, spec.outShape, perTensor(output), spec.kernelName);
  }
  if (activation !== 'linear') {
    const six = activation === 'relu6' ?
        cachedWithWeights(backend, weights, `int8.six:${inputScale}`, () => sixInAccumulatorScale(accScale)) :
        null;
    clampAccumulators(acc, channels, six);
  }
  return backend.makeQuantizedOutput(acc, spec.outShape, accumulatorParams(accScale, spec.outShape), spec.kernelName);
}

/** The output tensor of the float epilogue (see the top of this file). */
export function finishFloat(backend: BackendInt8, spec: EpilogueSpec, acc: Int32Array, accScale: Float64Array): TensorInfo {
  const {outShape, kernelName} = spec;
  const channels = accScale.length;
  const values = dequantizeValues(acc, outShape, accumulatorParams(accScale, outShape), `${kernelName} accumulator`);
  if (spec.bias !== undefined) {
    const what = `${kernelName}: input 'bias'`;
    addBias(values, channels, broadcastOverOutput(floatValues(backend, spec.bias), spec.bias.shape, outShape, what));
  }
  const alpha = spec.preluActivationWeights;
  const alphaBroadcast = alpha === undefined ? null :
      broadcastOverOutput(floatValues(backend, alpha), alpha.shape, outShape,
                          `${kernelName}: input 'preluActivationWeights'`);
  applyActivation(values, channels, spec.activation, alphaBroadcast, spec.leakyreluAlpha);
  return floatOrInt8Output(backend, spec, values);
}

/** A float result, quantized to int8 when the kernel was given output parameters. */
export function floatOrInt8Output(backend: BackendInt8, spec: EpilogueSpec, values: Float32Array): TensorInfo {
  if (spec.output === null) return backend.makeTensorInfo(spec.outShape, 'float32', values);
  const params = perTensor(spec.output);
  const codes = quantizeValues(values, spec.outShape, params, 'int8', `${spec.kernelName} output`);
  return backend.makeQuantizedOutput(codes, spec.outShape, params, spec.kernelName);
}

/** Returns `result`, or its int8 quantization (disposing `result`) when output parameters were given. */
export function quantizeIfAsked(backend: BackendInt8, spec: EpilogueSpec, result: TensorInfo): TensorInfo {
  if (spec.output === null) return result;
  const values = floatValues(backend, result).slice();
  backend.disposeIntermediateTensorInfo(result);
  return floatOrInt8Output(backend, {...spec, outShape: result.shape.slice()}, values);
}

export function perTensor(p: PerTensorParams): QuantizationParams {
  return {scale: [p.scale], zeroPoint: [p.zeroPoint]};
}

/** Accumulator parameters: scale S_acc[c] along the last axis, zero point 0. */
export function accumulatorParams(accScale: Float64Array, outShape: number[]): QuantizationParams {
  return {scale: Array.from(accScale), zeroPoint: new Array<number>(accScale.length).fill(0), axis: outShape.length - 1};
}
