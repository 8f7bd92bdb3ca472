// GEMM weights packed as int8 (1 byte per weight, static mode) compute exactly what the int16
// packing computes, and unpack to the codes they were packed from.

import {describe, expect, it} from 'vitest';

import {sharedInt8Wasm} from '../../kernels/wasm/loader';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const wasm = sharedInt8Wasm();

describe.skipIf(wasm === null)('int8-packed GEMM weights', () => {
  it('equal the int16 packing bit for bit (int8 and int32 outputs), and unpack to the codes', () => {
    const w = wasm!;
    const random = rng(3);
    const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
    for (const [m, k, n, transposed] of [[5, 9, 5, false], [7, 24, 20, true], [3, 40, 33, false], [9, 17, 8, false],
                                          [4, 64, 16, true], [1, 3, 4, false]] as const) {
      const codes = Int8Array.from({length: k * n}, () => int(-127, 127));
      const a = Int8Array.from({length: m * k}, () => int(-128, 127));
      const bias = Int32Array.from({length: n}, () => int(-5000, 5000));
      const zA = int(-128, 127);
      const wide = w.packGemmWeights(codes, k, n, {transposed, bias});
      const narrow = w.packGemmWeights(codes, k, n, {transposed, bias, int8: true});
      expect(Array.from(w.unpackGemmWeights(narrow, transposed))).toEqual(Array.from(codes));
      expect(Array.from(w.unpackGemmWeights(wide, transposed))).toEqual(Array.from(codes));
      const table = w.createRequantTable(Array.from({length: n}, () => int(1 << 29, 0x7fffffff)),
                                         Array.from({length: n}, () => int(-12, -4)), n);
      const aPtr = w.allocInt8(a);
      const out = [w.allocInt32(m * n), w.allocInt32(m * n), w.allocInt8(m * n), w.allocInt8(m * n)];
      try {
        w.gemmInt32({a: aPtr, m, zeroPointA: zA, weights: wide, out: out[0]});
        w.gemmInt32({a: aPtr, m, zeroPointA: zA, weights: narrow, out: out[1]});
        w.gemmInt8({a: aPtr, m, zeroPointA: zA, weights: wide, out: out[2], requant: table, zeroPointOut: 3, lo: -128, hi: 127});
        w.gemmInt8({a: aPtr, m, zeroPointA: zA, weights: narrow, out: out[3], requant: table, zeroPointOut: 3, lo: -128, hi: 127});
        expect(Array.from(w.readInt32(out[1], m * n))).toEqual(Array.from(w.readInt32(out[0], m * n)));
        expect(Array.from(w.readInt8(out[3], m * n))).toEqual(Array.from(w.readInt8(out[2], m * n)));
      } finally {
        for (const p of [aPtr, ...out]) w.free(p);
        wide.free();
        narrow.free();
        table.free();
      }
    }
  });
});

describe.skipIf(wasm === null)('int8-packed depthwise weights', () => {
  it('equal the int16 packing bit for bit (int8, int32, float outputs), and unpack to the codes', () => {
    const w = wasm!;
    const random = rng(11);
    const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
    for (const [kh, kw, c, h, wd, stride, pad] of [[3, 3, 16, 7, 9, 1, 1], [3, 3, 37, 6, 5, 2, 1], [5, 5, 20, 9, 8, 1, 2],
                                                   [1, 1, 3, 4, 4, 1, 0], [2, 3, 33, 5, 7, 1, 0]] as const) {
      const codes = Int8Array.from({length: kh * kw * c}, () => int(-128, 127));
      const input = Int8Array.from({length: h * wd * c}, () => int(-128, 127));
      const bias = Int32Array.from({length: c}, () => int(-5000, 5000));
      const zIn = int(-128, 127);
      const oh = Math.floor((h + 2 * pad - kh) / stride) + 1, ow = Math.floor((wd + 2 * pad - kw) / stride) + 1;
      const size = oh * ow * c;
      const wide = w.packDepthwiseWeights(codes, kh, kw, c, 1, {bias});
      const narrow = w.packDepthwiseWeights(codes, kh, kw, c, 1, {bias, int8: true});
      expect(Array.from(w.unpackDepthwiseWeights(narrow))).toEqual(Array.from(codes));
      expect(Array.from(w.unpackDepthwiseWeights(wide))).toEqual(Array.from(codes));
      const m = Array.from({length: c}, () => int(1 << 29, 0x7fffffff));
      const s = Array.from({length: c}, () => int(-12, -4));
      const table = w.createRequantTable(m, s, c);
      const block = w.allocRequantParams(m, s);
      const table8 = w.createRequantTableFromBlock(block, c);
      const x = w.allocInt8(input);
      const scales = w.allocFloat32(c * 2);
      w.heapF64().set(Array.from({length: c}, () => random() * 1e-3), scales >> 3);
      const range = w.alloc(16);
      const out = [w.allocInt32(size), w.allocInt32(size), w.allocInt8(size), w.allocInt8(size), w.allocFloat32(size),
                   w.allocFloat32(size)];
      const geometry = {batch: 1, inHeight: h, inWidth: wd, strideHeight: stride, strideWidth: stride, padTop: pad,
                        padLeft: pad, outHeight: oh, outWidth: ow, input: x, zeroPointIn: zIn};
      try {
        w.depthwiseConv2dInt32({...geometry, weights: wide, out: out[0]});
        w.depthwiseConv2dInt32({...geometry, weights: narrow, out: out[1]});
        w.depthwiseConv2dInt8({...geometry, weights: wide, out: out[2], requant: table, zeroPointOut: -3});
        w.depthwiseConv2dInt8({...geometry, weights: narrow, out: out[3], requant: table8, zeroPointOut: -3});
        const params = {scales, bias: 0, activation: 'relu6' as const, rangeOut: range};
        w.depthwiseConv2dFloat32({...geometry, weights: wide, out: out[4], ...params});
        w.depthwiseConv2dFloat32({...geometry, weights: narrow, out: out[5], ...params});
        expect(Array.from(w.readInt32(out[1], size))).toEqual(Array.from(w.readInt32(out[0], size)));
        expect(Array.from(w.readInt8(out[3], size))).toEqual(Array.from(w.readInt8(out[2], size)));
        expect(Array.from(w.readInt32(out[5], size))).toEqual(Array.from(w.readInt32(out[4], size)));
      } finally {
        for (const p of [x, scales, range, block, ...out]) w.free(p);
        wide.free();
        narrow.free();
        table.free();
        table8.free();
      }
    }
  });
});
