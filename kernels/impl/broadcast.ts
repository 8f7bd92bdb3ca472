/**
 * Broadcasting of elementwise binary kernels (numpy / tfjs rules: shapes are
 * aligned at their last axis, an axis of size 1 repeats). Pure index
 * arithmetic on shapes; no values.
 */

/** Row-major strides of `shape` (the last axis has stride 1). */
export function rowMajorStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    strides[axis] = stride;
    stride *= shape[axis];
  }
  return strides;
}

/** The number of elements of `shape`. */
export function sizeOfShape(shape: readonly number[]): number {
  let size = 1;
  for (const dim of shape) size *= dim;
  return size;
}

/**
 * For every element of `outShape` (row-major), the flat index of the element
 * of an input of `inShape` that broadcasts to it. `inShape` must be
 * broadcast-compatible with `outShape` (checked by the caller).
 */
export function broadcastSourceIndex(inShape: readonly number[], outShape: readonly number[]): Int32Array {
  const outSize = sizeOfShape(outShape);
  const index = new Int32Array(outSize);
  const rank = outShape.length;
  const offset = rank - inShape.length;
  const inStrides = rowMajorStrides(inShape);
  // Stride of each output axis in the input: 0 where the input repeats.
  const stepOfAxis = new Array<number>(rank).fill(0);
  for (let axis = offset; axis < rank; axis++) {
    const inAxis = axis - offset;
    stepOfAxis[axis] = inShape[inAxis] === 1 ? 0 : inStrides[inAxis];
  }
  const coordinate = new Array<number>(rank).fill(0);
  let source = 0;
  for (let i = 0; i < outSize; i++) {
    index[i] = source;
    // Advance the output coordinate like an odometer, keeping `source` in step.
    for (let axis = rank - 1; axis >= 0; axis--) {
      coordinate[axis]++;
      source += stepOfAxis[axis];
      if (coordinate[axis] < outShape[axis]) break;
      source -= stepOfAxis[axis] * outShape[axis];
      coordinate[axis] = 0;
    }
  }
  return index;
}
