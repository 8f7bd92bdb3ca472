/**
 * Concatenation of code arrays along one axis. The codes must already share
 * the output's quantization parameters (the kernel requantizes the others
 * first), so this is a pure copy.
 */
import {sizeOfShape} from './broadcast';

/** One input of a concatenation: its codes (row-major) and shape. */
export interface CodesWithShape<C extends Int8Array | Int32Array = Int8Array> {
  codes: C;
  shape: readonly number[];
}

/**
 * Concatenates `parts` along `axis` into a new array of `outShape`. Every part
 * has the rank of `outShape` and equal sizes on all other axes.
 */
export function concatCodes(parts: readonly CodesWithShape[], axis: number, outShape: readonly number[]): Int8Array {
  const out = new Int8Array(sizeOfShape(outShape));
  const outer = sizeOfShape(outShape.slice(0, axis));
  const inner = parts.map(p => sizeOfShape(p.shape.slice(axis)));
  let o = 0;
  for (let row = 0; row < outer; row++) {
    for (let p = 0; p < parts.length; p++) {
      const start = row * inner[p];
      out.set(parts[p].codes.subarray(start, start + inner[p]), o);
      o += inner[p];
    }
  }
  return out;
}
