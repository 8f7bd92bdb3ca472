// The wasm pieces the dispatch added to kernels/wasm, against the TypeScript
// they replace, bit for bit: quantize on data whose quotients are all near
// half-integers (an image mapped to [-1, 1], the exact vector path) and with
// NaN / ±Infinity anywhere; the float epilogue (dequantize, bias, relu/relu6)
// both standalone and fused into gemm / conv / depthwise, with the range it
// reports; the int8 transpose and channel repeat.
import {beforeAll, describe, expect, it} from 'vitest';

import {addBias, applyActivation} from '../../kernels/impl/epilogue';
import {Int8Wasm, loadInt8WasmSync} from '../../kernels/wasm/loader';
import {dequantizeValues, quantizeValues} from '../../src/quant';
import {rngFor} from './conv_matmul_helpers';

let wasm: Int8Wasm;
beforeAll(() => {
  const loaded = loadInt8WasmSync();
  if (loaded === null) throw new Error('this runtime does not validate WebAssembly SIMD');
  wasm = loaded;
});

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.slice().buffer));

function quantizeInWasm(values: Float32Array, scale: number, zeroPoint: number): {codes: Int8Array; error?: string} {
  const src = wasm.allocFloat32(values);
  const dst = wasm.alloc(values.length);
  try {
    wasm.quantize(src, values.length, scale, zeroPoint, dst);
    return {codes: wasm.readInt8(dst, values.length)};
  } catch (e) {
    return {codes: new Int8Array(0), error: (e as Error).message};
  } finally {
    wasm.free(src);
    wasm.free(dst);
  }
}

/** The TypeScript epilogue of output.ts finishFloat for a per-channel (or no) bias. */
function tsEpilogue(acc: Int32Array, scales: Float64Array, bias: Float32Array | null,
                    act: 'linear' | 'relu' | 'relu6'): Float32Array {
  const channels = scales.length;
  const shape = [acc.length / channels, channels];
  const values = dequantizeValues(acc, shape, {scale: Array.from(scales), zeroPoint: new Array<number>(channels).fill(0),
                                              axis: 1});
  if (bias !== null) addBias(values, channels, {kind: 'channel', values: bias});
  applyActivation(values, channels, act, null, 0);
  return values;
}

describe('wasm elementwise pieces of the dispatch', () => {
  it('quantize: image-like data (every quotient a near-tie), random lengths and zero points', () => {
    const rng = rngFor(9000);
    for (let round = 0; round < 40; round++) {
      const n = rng.pick([15, 16, 17, 31, 33, 100, 1000, rng.intIn(1, 5000)]);
      // pixels p in 0..255 mapped to p / 127.5 − 1: v / (1/127.5) = p − 127.5 ± float32 rounding.
      const values = Float32Array.from({length: n}, () => rng.intIn(0, 255) / 127.5 - 1);
      const scale = rng.pick([2 / 255, 1 / 127.5, 1 / 128, 2 / 255 * (1 + 1e-12)]);
      const zeroPoint = rng.pick([-1, 0, -128, rng.intIn(-128, 127)]);
      const want = quantizeValues(values, [n], {scale: [scale], zeroPoint: [zeroPoint]}, 'int8');
      expect(Array.from(quantizeInWasm(values, scale, zeroPoint).codes), `round ${round}`).toEqual(Array.from(want));
    }
  });

  it('quantize: NaN anywhere is counted; ±Infinity saturates like quantizeValues', () => {
    const rng = rngFor(9001);
    for (let round = 0; round < 30; round++) {
      const n = rng.intIn(1, 300);
      const values = Float32Array.from({length: n}, () => rng.floatIn(-3, 3));
      const specials = rng.intIn(0, 4);
      let nans = 0;
      for (let s = 0; s < specials; s++) {
        const i = rng.intIn(0, n - 1);
        const v = rng.pick([NaN, Infinity, -Infinity]);
        if (Number.isNaN(v) && !Number.isNaN(values[i])) nans++;
        if (!Number.isNaN(v) && Number.isNaN(values[i])) nans--;
        values[i] = v;
      }
      const result = quantizeInWasm(values, 6 / 255, -3);
      if (nans > 0) {
        expect(result.error, `round ${round}`).toContain(`${nans} NaN`);
      } else {
        expect(Array.from(result.codes), `round ${round}`)
            .toEqual(Array.from(quantizeValues(values, [n], {scale: [6 / 255], zeroPoint: [-3]}, 'int8')));
      }
    }
  });

  it('dequantizeInt32Epilogue equals the TypeScript float epilogue (bits, −0 included)', () => {
    const rng = rngFor(9002);
    for (let round = 0; round < 60; round++) {
      const channels = rng.pick([1, 3, 4, 5, 16, 17, rng.intIn(1, 70)]);
      const rows = rng.intIn(1, 20);
      const acc = Int32Array.from({length: rows * channels}, () =>
          rng.pick([0, 1, -1, rng.intIn(-100000, 100000), rng.intIn(-(2 ** 31), 2 ** 31 - 1)]));
      const scales = Float64Array.from({length: channels}, () => rng.logUniform(1e-9, 1e-2));
      const bias = rng.bool() ? null : Float32Array.from({length: channels}, () => rng.pick([0, -0, rng.floatIn(-5, 5)]));
      const act = rng.pick(['linear', 'relu', 'relu6'] as const);
      const src = wasm.allocInt32(acc);
      const block = wasm.alloc(channels * 12);
      wasm.heapF64().set(scales, block >> 3);
      if (bias !== null) wasm.heapF32().set(bias, (block >> 2) + channels * 2);
      wasm.dequantizeInt32Epilogue(src, rows, channels, block, bias === null ? 0 : block + channels * 8, act, src);
      const got = wasm.readFloat32(src, rows * channels);
      wasm.free(src);
      wasm.free(block);
      expect(bits(got), `round ${round}`).toEqual(bits(tsEpilogue(acc, scales, bias, act)));
    }
  });

  it('the fused float epilogue of gemm, conv2d and depthwise equals int32 output + the TypeScript epilogue', () => {
    const rng = rngFor(9003);
    for (let round = 0; round < 60; round++) {
      const kind = rng.pick(['gemm', 'conv', 'depthwise'] as const);
      const n = rng.pick([1, 4, 7, 16, 17, 33, rng.intIn(1, 50)]);
      const act = rng.pick(['linear', 'relu', 'relu6'] as const);
      const scales = Float64Array.from({length: n}, () => rng.logUniform(1e-6, 1e-3));
      const bias = rng.bool() ? null : Float32Array.from({length: n}, () => rng.floatIn(-3, 3));
      const block = wasm.alloc(n * 12);
      wasm.heapF64().set(scales, block >> 3);
      if (bias !== null) wasm.heapF32().set(bias, (block >> 2) + n * 2);
      const rangeOut = wasm.alloc(8);
      const epilogue = {scales: block, bias: bias === null ? 0 : block + n * 8, activation: act, rangeOut};
      const zIn = rng.intIn(-128, 127);
      let size: number;
      let run: (out: number, float: boolean) => {min: number; max: number} | void;
      const frees: Array<() => void> = [];
      if (kind === 'gemm') {
        const m = rng.intIn(1, 40);
        const k = rng.intIn(1, 60);
        const a = wasm.allocInt8(Int8Array.from({length: m * k}, () => rng.intIn(-128, 127)));
        const w = wasm.packGemmWeights(Int8Array.from({length: k * n}, () => rng.intIn(-127, 127)), k, n);
        frees.push(() => wasm.free(a), () => w.free());
        size = m * n;
        run = (out, float) => float ? wasm.gemmFloat32({a, m, zeroPointA: zIn, weights: w, out, ...epilogue}) :
                                      wasm.gemmInt32({a, m, zeroPointA: zIn, weights: w, out});
      } else {
        const [b, h, wd, c] = [rng.intIn(1, 2), rng.intIn(1, 9), rng.intIn(1, 9), kind === 'conv' ? rng.intIn(1, 9) : n];
        const [kh, kw] = [rng.intIn(1, 3), rng.intIn(1, 3)];
        const geometry = {batch: b, inHeight: h, inWidth: wd, strideHeight: 1, strideWidth: 1, padTop: kh >> 1,
                          padLeft: kw >> 1, outHeight: h, outWidth: wd};
        const input = wasm.allocInt8(Int8Array.from({length: b * h * wd * c}, () => rng.intIn(-128, 127)));
        frees.push(() => wasm.free(input));
        size = b * h * wd * n;
        if (kind === 'conv') {
          const w = wasm.packGemmWeights(Int8Array.from({length: kh * kw * c * n}, () => rng.intIn(-127, 127)),
                                         kh * kw * c, n);
          frees.push(() => w.free());
          const conv = {...geometry, inChannels: c, filterHeight: kh, filterWidth: kw, input, zeroPointIn: zIn,
                        weights: w};
          run = (out, float) => float ? wasm.conv2dFloat32({...conv, out, ...epilogue}) : wasm.conv2dInt32({...conv, out});
        } else {
          const w = wasm.packDepthwiseWeights(Int8Array.from({length: kh * kw * n}, () => rng.intIn(-127, 127)), kh, kw,
                                              n);
          frees.push(() => w.free());
          const dw = {...geometry, input, zeroPointIn: zIn, weights: w};
          run = (out, float) => float ? wasm.depthwiseConv2dFloat32({...dw, out, ...epilogue}) :
                                        wasm.depthwiseConv2dInt32({...dw, out});
        }
      }
      const out32 = wasm.alloc(size * 4);
      const outF = wasm.alloc(size * 4);
      run(out32, false);
      const range = run(outF, true) as {min: number; max: number};
      const want = tsEpilogue(wasm.readInt32(out32, size), scales, bias, act);
      const got = wasm.readFloat32(outF, size);
      expect(bits(got), `${kind} round ${round}`).toEqual(bits(want));
      // Compared with ===: the range may hold +0 where the values hold −0 (the kernels widen it to contain 0).
      const min = want.reduce((x, y) => Math.min(x, y), Infinity);
      const max = want.reduce((x, y) => Math.max(x, y), -Infinity);
      expect(range.min === min, `${kind} round ${round}: min ${range.min}, want ${min}`).toBe(true);
      expect(range.max === max, `${kind} round ${round}: max ${range.max}, want ${max}`).toBe(true);
      [out32, outF, block, rangeOut].forEach(p => wasm.free(p));
      frees.forEach(f => f());
    }
  });

  it('transposeInt8 and repeatChannelsInt8', () => {
    const rng = rngFor(9004);
    for (let round = 0; round < 20; round++) {
      const rows = rng.intIn(1, 40);
      const cols = rng.intIn(1, 40);
      const a = Int8Array.from({length: rows * cols}, () => rng.intIn(-128, 127));
      const src = wasm.allocInt8(a);
      const dst = wasm.alloc(rows * cols);
      wasm.transposeInt8(src, rows, cols, dst);
      const t = wasm.readInt8(dst, rows * cols);
      expect(Array.from(t)).toEqual(Array.from({length: rows * cols}, (_, i) => a[(i % rows) * cols + Math.floor(i / rows)]));
      const m = rng.intIn(1, 4);
      const rep = wasm.alloc(rows * cols * m);
      wasm.repeatChannelsInt8(src, rows, cols, m, rep);
      expect(Array.from(wasm.readInt8(rep, rows * cols * m)))
          .toEqual(Array.from({length: rows * cols * m}, (_, i) => a[Math.floor(i / m)]));
      [src, dst, rep].forEach(p => wasm.free(p));
    }
  });
});
