/**
 * Constant padding of codes. The output keeps the input's quantization
 * parameters; padding cells get `fillCode` (the zero point for a padding value
 * of 0, which then is exactly 0.0).
 */
import {rowMajorStrides, sizeOfShape} from './broadcast';

/**
 * Pads `x` of `shape` by `paddings[axis] = [before, after]` cells on each axis
 * and fills the new cells with `fillCode`.
 */
export function padCodes(x: Int8Array, shape: readonly number[], paddings: ReadonlyArray<readonly [number, number]>,
                         fillCode: number): Int8Array {
  const rank = shape.length;
  const outShape = shape.map((dim, axis) => paddings[axis][0] + dim + paddings[axis][1]);
  const out = new Int8Array(sizeOfShape(outShape)).fill(fillCode);
  if (x.length === 0) return out;
  const outStrides = rowMajorStrides(outShape);
  // Offset of the input's first element in the output.
  let origin = 0;
  for (let axis = 0; axis < rank; axis++) origin += paddings[axis][0] * outStrides[axis];
  if (rank === 0) {
    out[0] = x[0];
    return out;
  }
  // Copy the input one innermost row at a time.
  const rowLength = shape[rank - 1];
  const rows = x.length / rowLength;
  const coordinate = new Array<number>(rank - 1).fill(0);
  for (let row = 0; row < rows; row++) {
    let target = origin;
    for (let axis = 0; axis < rank - 1; axis++) target += coordinate[axis] * outStrides[axis];
    out.set(x.subarray(row * rowLength, (row + 1) * rowLength), target);
    for (let axis = rank - 2; axis >= 0; axis--) {
      if (++coordinate[axis] < shape[axis]) break;
      coordinate[axis] = 0;
    }
  }
  return out;
}
