/**
 * Elementwise integer kernels on int8 codes: the readable reference that wasm
 * kernels must match bit for bit. Every rounding step is a call into
 * src/quant; these functions only walk the arrays.
 */
import {quantizedAdd, requantizeValue} from '../../src/quant';
import type {ActivationRange, QuantizedAddParams, RequantizeParams} from '../../src/quant';
import {broadcastSourceIndex, sizeOfShape} from './broadcast';

/**
 * TFLite's int8 Add with broadcasting: out[i] = quantizedAdd(a[ia], b[ib])
 * (src/quant/add.ts: both inputs centred, shifted left 20 bits, scaled by
 * their own multipliers, summed and requantized), clamped to `range`.
 */
export function addInt8(
    a: Int8Array, aShape: readonly number[], b: Int8Array, bShape: readonly number[], outShape: readonly number[],
    params: QuantizedAddParams, range: ActivationRange): Int8Array {
  const size = sizeOfShape(outShape);
  const out = new Int8Array(size);
  const {lo, hi} = range;
  if (a.length === size && b.length === size) {
    for (let i = 0; i < size; i++) out[i] = quantizedAdd(a[i], b[i], params, lo, hi);
    return out;
  }
  const aIndex = broadcastSourceIndex(aShape, outShape);
  const bIndex = broadcastSourceIndex(bShape, outShape);
  for (let i = 0; i < size; i++) out[i] = quantizedAdd(a[aIndex[i]], b[bIndex[i]], params, lo, hi);
  return out;
}

/**
 * Clamps codes to `range` — Relu and Relu6 in the quantized domain
 * (activationRange of src/quant gives [Z, 127] and [Z, Z + round(6/S)]);
 * the parameters do not change.
 */
export function clampCodes(x: Int8Array, range: ActivationRange): Int8Array {
  const out = new Int8Array(x.length);
  const {lo, hi} = range;
  for (let i = 0; i < x.length; i++) {
    const q = x[i];
    out[i] = q < lo ? lo : q > hi ? hi : q;
  }
  return out;
}

/** Moves every code to another per-tensor quantization (requantizeValue of src/quant). */
export function requantizeCodes(x: Int8Array | Int32Array, params: RequantizeParams): Int8Array {
  const out = new Int8Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = requantizeValue(x[i], params);
  return out;
}

/**
 * Moves codes quantized per channel (`paramsOfChannel[c]` for index c of the
 * quantized axis of `shape`) to one per-tensor quantization.
 */
export function requantizePerChannelCodes(
    x: Int8Array | Int32Array, shape: readonly number[], axis: number,
    paramsOfChannel: readonly RequantizeParams[]): Int8Array {
  const out = new Int8Array(x.length);
  const channels = shape[axis];
  const inner = sizeOfShape(shape.slice(axis + 1));
  const outer = channels * inner === 0 ? 0 : x.length / (channels * inner);
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const params = paramsOfChannel[c];
      for (const end = i + inner; i < end; i++) out[i] = requantizeValue(x[i], params);
    }
  }
  return out;
}
