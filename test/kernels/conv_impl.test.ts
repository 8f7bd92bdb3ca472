// The pure integer conv routines (kernels/impl/conv_int8.ts) against the
// unfolded spec of CONTRACTS — acc[c] = bias32[c] + Σ_inside (qIn − zIn)·qW[c],
// int32 wrapping — computed here directly, in BigInt, over random geometries.
// This is the bit-exactness test a WebAssembly twin must also pass.
import {describe, expect, it} from 'vitest';

import {conv2dInt8, depthwiseConv2dInt8} from '../../kernels/impl/conv_int8';
import type {ConvGeometry} from '../../kernels/impl/conv_int8';
import {foldZeroPoints, weightChannelSums} from '../../kernels/impl/zero_point_fold';
import {randomCodes, rngFor} from './conv_matmul_helpers';
import type {Rng} from './conv_matmul_helpers';

/** The spec, literally: in-bounds taps only, (q − z)·w summed in BigInt, wrapped to int32 at the end. */
function convSpec(input: Int8Array, zIn: number, filter: Int8Array, bias: Int32Array | null, g: ConvGeometry,
                  depthwise: boolean): Int32Array {
  const out = new Int32Array(g.batch * g.outHeight * g.outWidth * g.outChannels);
  const mult = g.outChannels / g.inChannels;
  let o = 0;
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < g.outHeight; oy++) {
      for (let ox = 0; ox < g.outWidth; ox++) {
        for (let c = 0; c < g.outChannels; c++, o++) {
          let acc = BigInt(bias === null ? 0 : bias[c]);
          for (let ky = 0; ky < g.filterHeight; ky++) {
            const iy = oy * g.strideHeight - g.padTop + ky * g.dilationHeight;
            if (iy < 0 || iy >= g.inHeight) continue;
            for (let kx = 0; kx < g.filterWidth; kx++) {
              const ix = ox * g.strideWidth - g.padLeft + kx * g.dilationWidth;
              if (ix < 0 || ix >= g.inWidth) continue;
              const pixel = ((b * g.inHeight + iy) * g.inWidth + ix) * g.inChannels;
              const tap = (ky * g.filterWidth + kx);
              if (depthwise) {
                const ci = Math.floor(c / mult);
                acc += BigInt(input[pixel + ci] - zIn) * BigInt(filter[tap * g.outChannels + c]);
              } else {
                for (let ci = 0; ci < g.inChannels; ci++) {
                  const w = filter[(tap * g.inChannels + ci) * g.outChannels + c];
                  acc += BigInt(input[pixel + ci] - zIn) * BigInt(w);
                }
              }
            }
          }
          out[o] = Number(BigInt.asIntN(32, acc));
        }
      }
    }
  }
  return out;
}

function randomGeometry(rng: Rng, depthwise: boolean): ConvGeometry {
  const inChannels = rng.intIn(1, 5);
  const filterHeight = rng.intIn(1, 4);
  const filterWidth = rng.intIn(1, 4);
  const strideHeight = rng.intIn(1, 3);
  const strideWidth = rng.intIn(1, 3);
  const dilationHeight = rng.intIn(1, 3);
  const dilationWidth = rng.intIn(1, 3);
  const inHeight = rng.intIn(1, 9);
  const inWidth = rng.intIn(1, 9);
  const padTop = rng.intIn(0, 5);
  const padLeft = rng.intIn(0, 5);
  const padBottom = rng.intIn(0, 5);
  const padRight = rng.intIn(0, 5);
  const span = (k: number, d: number): number => (k - 1) * d + 1;
  const outHeight = Math.max(1, Math.floor((inHeight + padTop + padBottom - span(filterHeight, dilationHeight)) /
                                           strideHeight) + 1);
  const outWidth = Math.max(1, Math.floor((inWidth + padLeft + padRight - span(filterWidth, dilationWidth)) /
                                          strideWidth) + 1);
  return {
    batch: rng.intIn(1, 3), inHeight, inWidth, inChannels, outHeight, outWidth,
    outChannels: depthwise ? inChannels * rng.intIn(1, 3) : rng.intIn(1, 6),
    filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth, padTop, padLeft,
  };
}

function runFolded(input: Int8Array, zIn: number, filter: Int8Array, bias: Int32Array | null, g: ConvGeometry,
                   depthwise: boolean): Int32Array {
  const depth = g.filterHeight * g.filterWidth * (depthwise ? 1 : g.inChannels);
  const sums = weightChannelSums(filter, 1, 1, g.outChannels);
  const channelBias = foldZeroPoints(bias, sums, zIn, 0, depth, g.outChannels);
  const out = new Int32Array(g.batch * g.outHeight * g.outWidth * g.outChannels);
  (depthwise ? depthwiseConv2dInt8 : conv2dInt8)(input, zIn, filter, channelBias, g, out);
  return out;
}

describe('conv2dInt8 / depthwiseConv2dInt8 equal the unfolded spec bit for bit', () => {
  for (const depthwise of [false, true]) {
    it(`${depthwise ? 'depthwise' : 'conv2d'}: 300 random geometries (padding, strides, dilations, zero points)`, () => {
      const rng = rngFor(depthwise ? 11 : 10);
      for (let t = 0; t < 300; t++) {
        const g = randomGeometry(rng, depthwise);
        const filterSize = g.filterHeight * g.filterWidth * (depthwise ? g.outChannels : g.inChannels * g.outChannels);
        const input = randomCodes(rng, g.batch * g.inHeight * g.inWidth * g.inChannels);
        const filter = randomCodes(rng, filterSize, -127, 127);
        const zIn = rng.pick([-128, 127, 0, rng.intIn(-128, 127)]);
        const bias = rng.bool() ? Int32Array.from({length: g.outChannels}, () => rng.intIn(-1e6, 1e6)) : null;
        const got = runFolded(input, zIn, filter, bias, g, depthwise);
        expect(Array.from(got), JSON.stringify(g)).toEqual(Array.from(convSpec(input, zIn, filter, bias, g, depthwise)));
      }
    });
  }

  it('wraps like int32 when the accumulator overflows (folded == unfolded modulo 2^32)', () => {
    const inChannels = 140_000;  // 140000·(127 − (−128))·127 > 2^31
    const g: ConvGeometry = {
      batch: 1, inHeight: 1, inWidth: 1, inChannels, outHeight: 1, outWidth: 1, outChannels: 2,
      filterHeight: 1, filterWidth: 1, strideHeight: 1, strideWidth: 1, dilationHeight: 1, dilationWidth: 1,
      padTop: 0, padLeft: 0,
    };
    const input = new Int8Array(inChannels).fill(127);
    const filter = new Int8Array(inChannels * 2).fill(127);
    const bias = Int32Array.of(2147483000, -5);
    const got = runFolded(input, -128, filter, bias, g, false);
    const spec = convSpec(input, -128, filter, bias, g, false);
    expect(Array.from(got)).toEqual(Array.from(spec));
    expect(spec[0]).not.toBe(2147483000 + inChannels * 255 * 127);  // it did wrap
  });

  it('channel sums and folded constants for depthwise and transposed layouts', () => {
    const codes = Int8Array.of(1, 2, 3, 4, 5, 6);  // [2 rows, 3 channels] or [3 channels, 2 inner]
    expect(Array.from(weightChannelSums(codes, 1, 1, 3))).toEqual([5, 7, 9]);
    expect(Array.from(weightChannelSums(codes, 1, 2, 3))).toEqual([3, 7, 11]);
    expect(Array.from(weightChannelSums(codes, 2, 1, 3))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(foldZeroPoints(Int32Array.of(10, 20, 30), Int32Array.of(5, 7, 9), -3, 2, 4, 3)))
        .toEqual([10 + 15 - 24, 20 + 21 - 24, 30 + 27 - 24]);
  });
});
