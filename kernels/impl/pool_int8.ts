/**
 * Integer 2-D pooling on NHWC int8 codes (per-tensor parameters; the output
 * keeps the input's scale and zero point, so no requantization happens).
 *
 * Window geometry is tfjs's (backend_util.computePool2DInfo: padding 'valid',
 * 'same', a number or explicit, and dimRoundingMode); cells of a window that
 * fall into the padding are skipped, and an average divides by the number of
 * cells inside the input, as TensorFlow and tfjs-backend-cpu do.
 */
import {roundingDivide} from '../../src/quant';

/** Where each pooling window lies in the input (NHWC). */
export interface Pool2DGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  /** Padding rows above the input (the first window starts at row −padTop). */
  padTop: number;
  /** Padding columns left of the input. */
  padLeft: number;
}

/** The code a window with no cell inside the input gets (explicit padding ≥ filter only). */
export interface EmptyWindowCode {
  emptyWindowCode: number;
}

type WindowReducer = (x: Int8Array, base: number, rows: [number, number], cols: [number, number],
                      g: Pool2DGeometry) => number;

function pool2d(x: Int8Array, g: Pool2DGeometry, reduce: WindowReducer, emptyWindowCode: number): Int8Array {
  const out = new Int8Array(g.batch * g.outHeight * g.outWidth * g.channels);
  let o = 0;
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < g.outHeight; oy++) {
      const top = oy * g.strideHeight - g.padTop;
      const rows: [number, number] = [Math.max(0, top), Math.min(g.inHeight, top + g.filterHeight)];
      for (let ox = 0; ox < g.outWidth; ox++) {
        const left = ox * g.strideWidth - g.padLeft;
        const cols: [number, number] = [Math.max(0, left), Math.min(g.inWidth, left + g.filterWidth)];
        const empty = rows[0] >= rows[1] || cols[0] >= cols[1];
        for (let c = 0; c < g.channels; c++) {
          const base = b * g.inHeight * g.inWidth * g.channels + c;
          out[o++] = empty ? emptyWindowCode : reduce(x, base, rows, cols, g);
        }
      }
    }
  }
  return out;
}

/** The largest code of each window (order-preserving, so equal to max of the reals). */
export function maxPoolInt8(x: Int8Array, g: Pool2DGeometry, {emptyWindowCode}: EmptyWindowCode): Int8Array {
  return pool2d(x, g, (codes, base, rows, cols, geometry) => {
    let max = -128;
    for (let y = rows[0]; y < rows[1]; y++) {
      for (let xCol = cols[0]; xCol < cols[1]; xCol++) {
        const code = codes[base + (y * geometry.inWidth + xCol) * geometry.channels];
        if (code > max) max = code;
      }
    }
    return max;
  }, emptyWindowCode);
}

/**
 * The mean code of each window: the int32 sum of codes divided by the count
 * with roundingDivide (src/quant). With equal input and output parameters the
 * zero point passes through: mean(S·(q − Z)) / S + Z = mean(q).
 */
export function avgPoolInt8(x: Int8Array, g: Pool2DGeometry, {emptyWindowCode}: EmptyWindowCode): Int8Array {
  return pool2d(x, g, (codes, base, rows, cols, geometry) => {
    let sum = 0;
    for (let y = rows[0]; y < rows[1]; y++) {
      for (let xCol = cols[0]; xCol < cols[1]; xCol++) {
        sum += codes[base + (y * geometry.inWidth + xCol) * geometry.channels];
      }
    }
    const count = (rows[1] - rows[0]) * (cols[1] - cols[0]);
    return roundingDivide(sum, count);
  }, emptyWindowCode);
}
