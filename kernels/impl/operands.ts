// From tensors to integer operands: the glue between the int8 backend's tensor
// store (src/backend.ts) and the pure integer routines of kernels/impl.
// - An activation is used as int8 codes: its own codes when it is a
//   per-tensor int8 quantized tensor (static mode), otherwise its float
//   values quantized per tensor for this call (dynamic mode).
// - A weight is used as int8 codes with one symmetric scale per output
//   channel: its own codes when it is an int8 tensor with zero points 0 whose
//   scales are constant over each output channel, otherwise its float values
//   (dequantized if need be) quantized once and cached with backend.derive on
//   its dataId, freed when the weight is disposed.

import type {TensorInfo} from '@tensorflow/tfjs-core';

import type {BackendInt8, DataId, QuantizedData} from '../../src/backend';
import type {QuantizationParams} from '../../src/quant';
import type {ConvGeometry} from './conv_int8';
import {
  addConvBiasCorrection, biasCorrection, convTapCorrections, inputChannelMeans, quantizeActivation,
  quantizeWeightsByChannel, weightQuantizationError,
} from './dynamic';
import type {ChannelLayout, ChannelWeightCodes, InputChannelLayout} from './dynamic';
import {weightChannelSums} from './zero_point_fold';

/** An int8 per-tensor operand: r = scale·(q − zeroPoint). */
export interface ActivationOperand {
  /** The codes; call right before use (codes may live in WebAssembly memory). */
  codes(): Int8Array;
  scale: number;
  zeroPoint: number;
  /** The tensor held these codes already (static mode) rather than float values. */
  fromCodes: boolean;
}

/** int8 codes with one scale per output channel and a common zero point. */
export interface WeightOperand {
  codes(): Int8Array;
  /** 0 for per-channel symmetric weights; Z of a per-tensor activation operand. */
  zeroPoint: number;
  channelScale: Float64Array;
  /** Σ codes per (batch slice, output channel). */
  channelSums: Int32Array;
  /**
   * Where data derived from these weights (requantization multipliers, int32
   * biases) may be cached, or null for an operand quantized for this call only.
   */
  cache: {dataId: DataId; key: string} | null;
}

/** The cache key prefix of float weights quantized by weightOperand. */
const FLOAT_WEIGHTS_KEY = 'int8.weights.float:';

/** Counters of the dynamic weight cache, read by tests. */
export const weightCacheCounters = {quantized: 0, freed: 0};

/** The tensor's float values (dequantized once by the backend if it holds codes). */
export function floatValues(backend: BackendInt8, t: TensorInfo): Float32Array {
  return backend.data.get(t.dataId).values as Float32Array;
}

/**
 * Brings a tensor that still lives on another backend (tfjs moves data lazily,
 * on the first `data.get`) into this backend's store, so that getQuantized and
 * derive see it. A tensor holding codes is on this backend already, so the
 * move never dequantizes.
 */
export function ensureOnBackend(backend: BackendInt8, t: TensorInfo): void {
  if (!backend.data.has(t.dataId)) backend.data.get(t.dataId);
}

function isPerTensorInt8(q: QuantizedData | undefined): q is QuantizedData {
  return q !== undefined && q.dtype === 'int8' && q.params.scale.length === 1;
}

/**
 * The activation `x` as per-tensor int8 codes, or null when it has no int8
 * range (a NaN or infinite value: the kernel then runs in float).
 */
export function activationOperand(backend: BackendInt8, x: TensorInfo): ActivationOperand | null {
  ensureOnBackend(backend, x);
  const q = backend.getQuantized(x.dataId);
  if (isPerTensorInt8(q)) {
    const {store, params} = q;
    return {
      codes: () => store.codes() as Int8Array,
      scale: params.scale[0],
      zeroPoint: params.zeroPoint[0],
      fromCodes: true,
    };
  }
  const quantized = quantizeActivation(floatValues(backend, x));
  if (quantized === null) return null;
  return {codes: () => quantized.codes, scale: quantized.scale, zeroPoint: quantized.zeroPoint, fromCodes: false};
}

function layoutKey(layout: ChannelLayout): string {
  return `${layout.batches}x${layout.channelInner}x${layout.channelCount}`;
}

/**
 * The weight `w` as int8 codes with one symmetric scale per output channel of
 * `layout`, computed at most once per weight tensor and layout. Null when a
 * float weight is NaN or ±Infinity (remembered too): the kernel runs in float.
 */
export function weightOperand(
    backend: BackendInt8, w: TensorInfo, layout: ChannelLayout, name: string): WeightOperand | null {
  ensureOnBackend(backend, w);
  const q = backend.getQuantized(w.dataId);
  const scales = q === undefined || q.dtype !== 'int8' ? null : channelScalesOf(q.params, q.shape, layout);
  if (q !== undefined && scales !== null) {
    const key = `int8.weights.codes:${layoutKey(layout)}`;
    // The channel sums are computed on first read: the wasm kernels fold the zero point
    // themselves and never read them, so static weights run by wasm keep none resident.
    const lazy = backend.derive(w.dataId, key, (): {sums: Int32Array | null} => ({sums: null}));
    const {store} = q;
    return {
      codes: () => store.codes() as Int8Array,
      zeroPoint: 0,
      channelScale: scales,
      get channelSums(): Int32Array {
        lazy.sums ??= weightChannelSums(store.codes(), layout.batches, layout.channelInner, layout.channelCount);
        return lazy.sums;
      },
      cache: {dataId: w.dataId, key},
    };
  }
  const key = `${FLOAT_WEIGHTS_KEY}${layoutKey(layout)}`;
  const prepared = backend.derive(w.dataId, key, () => {
    weightCacheCounters.quantized++;
    return quantizeWeightsByChannel(floatValues(backend, w), layout, name);
  }, () => weightCacheCounters.freed++);
  return prepared === null ? null : weightsFromCodes(prepared, {dataId: w.dataId, key});
}

/**
 * The weight quantization error ΔW = W_q − W of a float weight (dynamic.ts
 * weightQuantizationError), computed once per weight and layout and cached
 * with it, for the dynamic mode's bias correction (Nagel et al. 2019 §4.2).
 * Null when there is nothing to correct: an input that held codes (static
 * mode), weights that held codes (no float original) or weights with several
 * batch slices.
 */
export function dynamicWeightError(
    backend: BackendInt8, input: ActivationOperand, w: TensorInfo, weights: WeightOperand,
    layout: ChannelLayout): Float32Array | null {
  const {cache} = weights;
  if (input.fromCodes || cache === null || !cache.key.startsWith(FLOAT_WEIGHTS_KEY) || layout.batches !== 1) {
    return null;
  }
  return backend.derive(cache.dataId, `${cache.key}:error`,
                        () => weightQuantizationError(floatValues(backend, w), weights.codes(), weights.channelScale,
                                                      layout));
}

/**
 * The dynamic-mode bias correction of a convolution (Conv2D HWIO or depthwise
 * filter) with float input `x` and float filter `filter`: a function that adds
 * it to the dequantized accumulators (NHWC, before bias and activation), or
 * null when there is nothing to correct (dynamicWeightError). E[x] is the
 * mean of each input channel of this input.
 */
export function dynamicConvBiasCorrection(
    backend: BackendInt8, x: TensorInfo, input: ActivationOperand, filter: TensorInfo, weights: WeightOperand,
    layout: ChannelLayout, g: ConvGeometry, depthwise: boolean): ((values: Float32Array) => void) | null {
  const error = dynamicWeightError(backend, input, filter, weights, layout);
  if (error === null) return null;
  const means = inputChannelMeans(floatValues(backend, x), g.inChannels);
  const taps = convTapCorrections(error, means, filter.shape, depthwise);
  return values => addConvBiasCorrection(values, taps, g);
}

/**
 * The dynamic-mode bias correction of a matmul with float `a` and float
 * weights `b` (weights from weightOperand with `layout`): one value per
 * output column to add before bias and activation, or null
 * (dynamicWeightError). `inputLayout` places K in b (InputChannelLayout), and
 * `activationInner` places it in a: 1 for a [M, K], M for a transposed [K, M].
 */
export function dynamicMatMulBiasCorrection(
    backend: BackendInt8, a: TensorInfo, input: ActivationOperand, b: TensorInfo, weights: WeightOperand,
    layout: ChannelLayout, inputLayout: InputChannelLayout, activationInner = 1): Float64Array | null {
  const error = dynamicWeightError(backend, input, b, weights, layout);
  if (error === null) return null;
  const means = inputChannelMeans(floatValues(backend, a), inputLayout.inputCount, activationInner);
  return biasCorrection(error, means, layout, inputLayout);
}

function weightsFromCodes(w: ChannelWeightCodes, cache: WeightOperand['cache']): WeightOperand {
  return {codes: () => w.codes, zeroPoint: 0, channelScale: w.channelScale, channelSums: w.channelSums, cache};
}

/**
 * The per-output-channel scales of codes with zero points 0, or null when the
 * codes cannot serve as such: a nonzero zero point, or a per-channel axis whose scales vary inside an output channel. With the
 * codes' axis splitting the flat index as `floor(e / inner) % n` and output
 * channels as `floor(e / channelInner) % channelCount`, the scale is a
 * function of the output channel iff `inner = t·channelInner` and `t·n`
 * divides `channelCount`; then channel c has `scale[floor(c / t) % n]`. This is
 * how the per-channel axis is expressed: any axis inside the output-channel
 * part of the shape, e.g. 3 for Conv2D HWIO; 3 (per multiplier) or 2 (per input
 * channel) for a depthwise [h, w, inC, mult] filter, or axis 2 of its codes
 * stored as [h, w, inC·mult] (one scale per output channel) and reshaped.
 */
export function channelScalesOf(
    params: QuantizationParams, shape: readonly number[], layout: ChannelLayout): Float64Array | null {
  if (params.zeroPoint.some(z => z !== 0)) return null;
  const channelScale = new Float64Array(layout.channelCount);
  if (params.axis === undefined) return channelScale.fill(params.scale[0]);
  const n = shape[params.axis];
  const inner = shape.slice(params.axis + 1).reduce((a, b) => a * b, 1);
  if (inner % layout.channelInner !== 0) return null;
  const t = inner / layout.channelInner;
  if (layout.channelCount % (t * n) !== 0) return null;
  for (let c = 0; c < layout.channelCount; c++) {
    channelScale[c] = params.scale[Math.floor(c / t) % n];
  }
  return channelScale;
}

/**
 * A second matmul activation `b` as per-tensor int8 codes (asymmetric), seen
 * as weights with one scale for every column; null when it is not finite.
 */
export function perTensorWeightOperand(
    backend: BackendInt8, b: TensorInfo, layout: ChannelLayout): WeightOperand | null {
  const operand = activationOperand(backend, b);
  if (operand === null) return null;
  const codes = operand.codes();
  return {
    codes: operand.codes,
    zeroPoint: operand.zeroPoint,
    channelScale: new Float64Array(layout.channelCount).fill(operand.scale),
    channelSums: weightChannelSums(codes, layout.batches, layout.channelInner, layout.channelCount),
    cache: null,
  };
}

const identities = new WeakMap<DataId, number>();
let nextIdentity = 1;

/** A number naming a dataId for as long as it lives (for cache keys). */
export function identityOf(dataId: DataId): number {
  let id = identities.get(dataId);
  if (id === undefined) {
    id = nextIdentity++;
    identities.set(dataId, id);
  }
  return id;
}
