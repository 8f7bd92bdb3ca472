/**
 * Integer Mean over axes of int8 codes (per tensor): TFLite's
 * QuantizedMeanOrSum as src/quant/mean.ts prepares it — the int32 sum of the
 * raw codes of each output's reduction set, then quantizedMean (zero points
 * and the count folded into one fixed-point multiplier).
 */
import {quantizedMean} from '../../src/quant';
import type {QuantizedMeanParams} from '../../src/quant';
import {broadcastSourceIndex, sizeOfShape} from './broadcast';

/**
 * Means of `x` (shape `shape`) over `axes`. The output is row-major over the
 * kept axes in their order (the shape with the reduced axes set to 1, which
 * `keepDims` keeps and otherwise drops). `params.count` must equal the number
 * of elements of each reduction set.
 */
export function meanInt8(x: Int8Array, shape: readonly number[], axes: readonly number[],
                         params: QuantizedMeanParams): Int8Array {
  const keptShape = shape.map((dim, axis) => axes.includes(axis) ? 1 : dim);
  const sums = new Int32Array(sizeOfShape(keptShape));
  // The output element each input element sums into.
  const target = broadcastSourceIndex(keptShape, shape);
  for (let i = 0; i < x.length; i++) sums[target[i]] += x[i];
  const out = new Int8Array(sums.length);
  for (let o = 0; o < sums.length; o++) out[o] = quantizedMean(sums[o], params);
  return out;
}
