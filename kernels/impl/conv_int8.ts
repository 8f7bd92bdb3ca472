// Integer NHWC convolutions: the reference the WebAssembly kernels must match
// bit for bit. Pure functions on typed arrays; no tfjs, no allocation.
//
// The accumulator is CONTRACTS' `acc[c] = bias32[c] + Σ (qIn − zIn)·qW[c]`
// (Jacob et al. 2018, eq. 7 with symmetric weights, Z2 = 0), the sum running
// over the filter taps that fall inside the input. It is computed in the
// folded form of eq. 8: padding taps read the input zero point zIn (the code
// of real 0, as TFLite's reference kernels pad with the input offset), so
//   Σ_inside (qIn − zIn)·qW = Σ_all taps qIn'·qW − zIn·Σ_all taps qW
// with qIn' = zIn outside the input. `−zIn·ΣqW[c]` is a per-output-channel
// constant folded into the bias once per call (foldZeroPoints). Every sum is
// int32 arithmetic that wraps modulo 2^32 (stores into Int32Array), so any
// summation order — the wasm kernels' included — gives the same bits, and
// the folded and unfolded forms agree even where the accumulator overflows.

/** The geometry of an NHWC 2-D convolution (tfjs-core's Conv2DInfo, flattened). */
export interface ConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  /** Conv2D: the filter's last dim; depthwise: inChannels · channelMultiplier. */
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  padTop: number;
  padLeft: number;
}

/** A row of the filter that lies inside the input, or -1 when the tap reads padding. */
function inputRow(g: ConvGeometry, outRow: number, filterRow: number): number {
  const row = outRow * g.strideHeight - g.padTop + filterRow * g.dilationHeight;
  return row >= 0 && row < g.inHeight ? row : -1;
}

function inputCol(g: ConvGeometry, outCol: number, filterCol: number): number {
  const col = outCol * g.strideWidth - g.padLeft + filterCol * g.dilationWidth;
  return col >= 0 && col < g.inWidth ? col : -1;
}

/**
 * Conv2D, NHWC input `[batch, inH, inW, inC]` int8, HWIO filter
 * `[fh, fw, inC, outC]` int8 (zero point 0), into `out` `[batch, outH, outW, outC]`:
 * `out[p][c] = channelBias[c] + Σ_taps Σ_ci qIn'[tap][ci] · qW[tap][ci][c]` with
 * `qIn' = inputZeroPoint` on padding and `channelBias` from foldZeroPoints.
 */
export function conv2dInt8(
    input: Int8Array, inputZeroPoint: number, filter: Int8Array, channelBias: Int32Array,
    g: ConvGeometry, out: Int32Array): void {
  const {inChannels, outChannels} = g;
  const rowStride = g.inWidth * inChannels;
  const tapStride = inChannels * outChannels;
  let o = 0;
  for (let b = 0; b < g.batch; b++) {
    const batchOffset = b * g.inHeight * rowStride;
    for (let oy = 0; oy < g.outHeight; oy++) {
      for (let ox = 0; ox < g.outWidth; ox++, o += outChannels) {
        out.set(channelBias, o);
        for (let ky = 0; ky < g.filterHeight; ky++) {
          const iy = inputRow(g, oy, ky);
          for (let kx = 0; kx < g.filterWidth; kx++) {
            const ix = iy < 0 ? -1 : inputCol(g, ox, kx);
            let w = (ky * g.filterWidth + kx) * tapStride;
            const i = ix < 0 ? -1 : batchOffset + iy * rowStride + ix * inChannels;
            for (let ci = 0; ci < inChannels; ci++, w += outChannels) {
              const q = i < 0 ? inputZeroPoint : input[i + ci];
              for (let c = 0; c < outChannels; c++) {
                out[o + c] += q * filter[w + c];
              }
            }
          }
        }
      }
    }
  }
}

/**
 * DepthwiseConv2dNative, NHWC input `[batch, inH, inW, inC]` int8, filter
 * `[fh, fw, inC, multiplier]` int8 (zero point 0), into `out`
 * `[batch, outH, outW, inC·multiplier]`; output channel `c = ci·multiplier + m`
 * reads input channel `ci` only (TensorFlow's depthwise_conv2d):
 * `out[p][c] = channelBias[c] + Σ_taps qIn'[tap][ci] · qW[tap][ci][m]`.
 */
export function depthwiseConv2dInt8(
    input: Int8Array, inputZeroPoint: number, filter: Int8Array, channelBias: Int32Array,
    g: ConvGeometry, out: Int32Array): void {
  const {inChannels, outChannels} = g;
  const multiplier = outChannels / inChannels;
  const rowStride = g.inWidth * inChannels;
  let o = 0;
  for (let b = 0; b < g.batch; b++) {
    const batchOffset = b * g.inHeight * rowStride;
    for (let oy = 0; oy < g.outHeight; oy++) {
      for (let ox = 0; ox < g.outWidth; ox++, o += outChannels) {
        out.set(channelBias, o);
        for (let ky = 0; ky < g.filterHeight; ky++) {
          const iy = inputRow(g, oy, ky);
          for (let kx = 0; kx < g.filterWidth; kx++) {
            const ix = iy < 0 ? -1 : inputCol(g, ox, kx);
            const w = (ky * g.filterWidth + kx) * outChannels;
            const i = ix < 0 ? -1 : batchOffset + iy * rowStride + ix * inChannels;
            for (let ci = 0, c = 0; ci < inChannels; ci++) {
              const q = i < 0 ? inputZeroPoint : input[i + ci];
              for (let m = 0; m < multiplier; m++, c++) {
                out[o + c] += q * filter[w + c];
              }
            }
          }
        }
      }
    }
  }
}
