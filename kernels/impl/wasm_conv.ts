// The WebAssembly SIMD path of the four conv kernels (conv_kernel.ts runConv):
// the same operands as the reference (operands.ts), the int32 accumulator of
// kernels/wasm conv2d / depthwiseConv2d (bit-identical with conv_int8.ts:
// `bias32 + Σ (qIn − zIn)·qW` wraps modulo 2^32 in both, padding reads zIn),
// and the epilogues of wasm_dispatch.ts.

import type {TensorInfo} from '@tensorflow/tfjs-core';

import type {BackendInt8} from '../../src/backend';
import type {Int8Wasm} from '../wasm/loader';
import type {ConvGeometry} from './conv_int8';
import {weightOperand} from './operands';
import type {EpilogueSpec} from './output';
import {finishWasmProduct, packedDepthwise, packedGemm, wasmActivation, wasmDispatchCounters} from './wasm_dispatch';

/**
 * Conv2D / DepthwiseConv2dNative (fused or not), NHWC, on the wasm kernels.
 * Null when the reference path must decide (a NaN or infinite input or
 * filter: it falls back to float).
 */
export function wasmConv(wasm: Int8Wasm, kind: {kernelName: string; depthwise: boolean}, backend: BackendInt8,
                         x: TensorInfo, filter: TensorInfo, g: ConvGeometry, spec: EpilogueSpec): TensorInfo | null {
  const input = wasmActivation(wasm, backend, x);
  if (input === null) return null;
  let repeated = 0;
  try {
    const layout = {batches: 1, channelInner: 1, channelCount: g.outChannels};
    const weights = weightOperand(backend, filter, layout, `${kind.kernelName} filter`);
    if (weights === null) return null;
    const geometry = {
      batch: g.batch, inHeight: g.inHeight, inWidth: g.inWidth, strideHeight: g.strideHeight,
      strideWidth: g.strideWidth, dilationHeight: g.dilationHeight, dilationWidth: g.dilationWidth,
      padTop: g.padTop, padLeft: g.padLeft, outHeight: g.outHeight, outWidth: g.outWidth,
      input: input.ptr, zeroPointIn: input.zeroPoint,
    };
    if (kind.depthwise) {
      // Channel multiplier m > 1 runs as multiplier 1 over inC·m channels, each
      // input channel repeated m times (the filter [fh, fw, inC, m] already is
      // [fh, fw, inC·m]): the vector kernel instead of the scalar one.
      const multiplier = g.outChannels / g.inChannels;
      const packed = packedDepthwise(wasm, backend, weights, g.filterHeight, g.filterWidth, g.outChannels, 1);
      if (multiplier > 1) {
        const pixels = g.batch * g.inHeight * g.inWidth;
        repeated = wasm.alloc(pixels * g.outChannels);
        wasm.repeatChannelsInt8(input.ptr, pixels, g.inChannels, multiplier, repeated);
        geometry.input = repeated;
      }
      wasmDispatchCounters.depthwise++;
      return finishWasmProduct(wasm, backend, spec, input, weights, packed, {
        int8: (out, requant, zeroPointOut, lo, hi) => wasm.depthwiseConv2dInt8(
            {...geometry, weights: packed.weights, out, requant, zeroPointOut, lo, hi}),
        int32: out => wasm.depthwiseConv2dInt32({...geometry, weights: packed.weights, out}),
        float32: (out, params) => wasm.depthwiseConv2dFloat32({...geometry, weights: packed.weights, out, ...params}),
      });
    }
    const depth = g.filterHeight * g.filterWidth * g.inChannels;
    const packed = packedGemm(wasm, backend, weights, depth, g.outChannels, false);
    const conv = {...geometry, inChannels: g.inChannels, filterHeight: g.filterHeight, filterWidth: g.filterWidth};
    wasmDispatchCounters.conv2d++;
    return finishWasmProduct(wasm, backend, spec, input, weights, packed, {
      int8: (out, requant, zeroPointOut, lo, hi) => wasm.conv2dInt8(
          {...conv, weights: packed.weights, out, requant, zeroPointOut, lo, hi}),
      int32: out => wasm.conv2dInt32({...conv, weights: packed.weights, out}),
      float32: (out, params) => wasm.conv2dFloat32({...conv, weights: packed.weights, out, ...params}),
    });
  } finally {
    if (repeated !== 0) wasm.free(repeated);
    input.release();
  }
}
