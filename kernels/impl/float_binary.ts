/**
 * Broadcasting float32 binary ops (Add, Sub, Multiply, SquaredDifference) for
 * float tensors that hold no codes: the same expressions, in the same double
 * arithmetic stored to float32, as tfjs-backend-cpu's kernels (so the results
 * are bit-identical), but walking the output with merged axes and an inner loop
 * of stride 0 or 1 per input instead of an index → coordinate conversion per
 * element. (A model's image normalization, x − mean[c] and x · k[c] over
 * [1, 192, 192, 3], took 20 ms in the cpu kernel's broadcast loop.)
 */
import {backend_util} from '@tensorflow/tfjs-core';

export type FloatBinaryOp = 'add' | 'sub' | 'mul' | 'sqdiff';

interface Plan {
  dims: number[];
  aStrides: number[];
  bStrides: number[];
}

/** Axes of the output with their strides into a and b (0 = broadcast), adjacent alike axes merged. */
function plan(aShape: readonly number[], bShape: readonly number[], outShape: readonly number[]): Plan {
  const rank = outShape.length;
  const aDims = new Array<number>(rank - aShape.length).fill(1).concat(aShape);
  const bDims = new Array<number>(rank - bShape.length).fill(1).concat(bShape);
  const dims: number[] = [];
  const aB: boolean[] = [];
  const bB: boolean[] = [];
  for (let i = 0; i < rank; i++) {
    const d = outShape[i];
    if (d === 1) continue;
    const ab = aDims[i] === 1, bb = bDims[i] === 1;
    const k = dims.length - 1;
    if (k >= 0 && aB[k] === ab && bB[k] === bb) {
      dims[k] *= d;
    } else {
      dims.push(d);
      aB.push(ab);
      bB.push(bb);
    }
  }
  if (dims.length === 0) return {dims: [1], aStrides: [0], bStrides: [0]};
  const strides = (broadcast: boolean[]): number[] => {
    const s = new Array<number>(dims.length);
    let stride = 1;
    for (let k = dims.length - 1; k >= 0; k--) {
      s[k] = broadcast[k] ? 0 : stride;
      if (!broadcast[k]) stride *= dims[k];
    }
    return s;
  };
  return {dims, aStrides: strides(aB), bStrides: strides(bB)};
}

/** One innermost run: out[o + j] = op(a[ai + j·sa], b[bi + j·sb]), j < n. */
function run(op: FloatBinaryOp, a: Float32Array, ai: number, sa: number, b: Float32Array, bi: number, sb: number,
             out: Float32Array, o: number, n: number): void {
  switch (op) {
    case 'add':
      for (let j = 0; j < n; j++, ai += sa, bi += sb) out[o + j] = a[ai] + b[bi];
      break;
    case 'sub':
      for (let j = 0; j < n; j++, ai += sa, bi += sb) out[o + j] = a[ai] - b[bi];
      break;
    case 'mul':
      for (let j = 0; j < n; j++, ai += sa, bi += sb) out[o + j] = a[ai] * b[bi];
      break;
    default:
      for (let j = 0; j < n; j++, ai += sa, bi += sb) {
        const diff = a[ai] - b[bi];
        out[o + j] = diff * diff;
      }
  }
}

/** op(a, b) broadcast to their common shape (tfjs-core's assertAndGetBroadcastShape). */
export function floatBinary(op: FloatBinaryOp, a: Float32Array, aShape: readonly number[], b: Float32Array,
                            bShape: readonly number[]): {values: Float32Array; shape: number[]} {
  const shape = backend_util.assertAndGetBroadcastShape(aShape as number[], bShape as number[]);
  const size = shape.reduce((x, y) => x * y, 1);
  const out = new Float32Array(size);
  if (size === 0) return {values: out, shape};
  const {dims, aStrides, bStrides} = plan(aShape, bShape, shape);
  const last = dims.length - 1;
  const n = dims[last], sa = aStrides[last], sb = bStrides[last];
  const outer = size / n;
  const coordinate = new Array<number>(last).fill(0);
  let ai = 0, bi = 0;
  for (let r = 0, o = 0; r < outer; r++, o += n) {
    run(op, a, ai, sa, b, bi, sb, out, o, n);
    for (let k = last - 1; k >= 0; k--) {
      ai += aStrides[k];
      bi += bStrides[k];
      if (++coordinate[k] < dims[k]) break;
      ai -= aStrides[k] * dims[k];
      bi -= bStrides[k] * dims[k];
      coordinate[k] = 0;
    }
  }
  return {values: out, shape};
}
