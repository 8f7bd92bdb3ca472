// The wasm quantize / dequantize against src/quant's quantizeValues / dequantizeValues.
import {beforeAll, describe, expect, it} from 'vitest';

import {Int8Wasm, loadInt8WasmSync} from '../../kernels/wasm/loader';
import {dequantizeValues, quantizeValues} from '../../src/quant';
import {firstMismatch, makeRng} from './wasm_test_utils';

let wasm: Int8Wasm;
beforeAll(() => {
  wasm = loadInt8WasmSync()!;
});

function quantizeWasm(values: Float32Array, scale: number, zeroPoint: number): Int8Array {
  const src = wasm.allocFloat32(values);
  const dst = wasm.allocInt8(values.length);
  try {
    wasm.quantize(src, values.length, scale, zeroPoint, dst);
    return wasm.readInt8(dst, values.length);
  } finally {
    wasm.free(src); wasm.free(dst);
  }
}

describe('wasm quantize (float32 -> int8)', () => {
  it('matches quantizeValues on random values, scales and lengths', () => {
    const rng = makeRng(3);
    for (let round = 0; round < 200; round++) {
      const n = rng.pick([0, 1, 3, 7, 8, 9, 15, 16, 17, rng.int(1, 600)]);
      const scale = rng.pick([1, 0.1, 1 / 255, 2 ** -7, 0.0235294117647, 3.7]) * (rng.next() < 0.5 ? 1 : rng.next() + 0.01);
      const zeroPoint = rng.pick([-128, 127, 0, rng.int(-128, 127)]);
      const values = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        switch (rng.int(0, 4)) {
          case 0: values[i] = (rng.int(-400, 400) + 0.5) * scale; break; // near ties
          case 1: values[i] = rng.int(-200, 200) * scale; break;
          case 2: values[i] = rng.pick([Infinity, -Infinity, 0, -0, 1e30, -1e30, 1e-30, 0.5, -0.5, 1.5, -2.5]); break;
          default: values[i] = (rng.next() - 0.5) * 300 * scale; break;
        }
      }
      const want = quantizeValues(values, [n], {scale: [scale], zeroPoint: [zeroPoint]}, 'int8');
      expect(firstMismatch(quantizeWasm(values, scale, zeroPoint), want), `round ${round} scale ${scale}`).toBeNull();
    }
  });

  it('matches at and next to every rounding boundary (float32 neighbours of (k + 0.5) * S)', () => {
    const rng = makeRng(8);
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    const neighbour = (x: number, steps: number): number => {
      f32[0] = x;
      if (f32[0] === 0) return x;
      u32[0] += steps; // same sign: moves away from / towards zero
      return f32[0];
    };
    for (let round = 0; round < 60; round++) {
      const scale = round < 5 ? [1, 0.5, 0.25, 1 / 128, 2 ** -20][round] : rng.next() * 0.1 + 1e-4;
      const zeroPoint = rng.int(-128, 127);
      const values: number[] = [];
      for (let k = -140; k <= 140; k++) {
        const tie = (k + 0.5) * scale;
        for (const steps of [-2, -1, 0, 1, 2]) values.push(neighbour(tie, steps));
      }
      const v = new Float32Array(values);
      const want = quantizeValues(v, [v.length], {scale: [scale], zeroPoint: [zeroPoint]}, 'int8');
      expect(firstMismatch(quantizeWasm(v, scale, zeroPoint), want), `scale ${scale}`).toBeNull();
    }
  });

  it('handles scales whose inverse overflows and huge magnitudes', () => {
    const values = new Float32Array([0, 1e-38, -1e-38, 1.5e-45, 3e38, -3e38, 1, -1, 0.5, 2, 7, 9]);
    for (const scale of [1e-310, 5e-324, 1e-300, 1e300, 3.4e38]) {
      const want = quantizeValues(values, [values.length], {scale: [scale], zeroPoint: [3]}, 'int8');
      expect(firstMismatch(quantizeWasm(values, scale, 3), want), `scale ${scale}`).toBeNull();
    }
  });

  it('rounds exact ties half away from zero', () => {
    const values = new Float32Array([0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 126.5, -127.5, 0.49999997, -0.49999997, 3.5, -3.5]);
    expect(Array.from(quantizeWasm(values, 1, 0))).toEqual([1, -1, 2, -2, 3, -3, 127, -128, 0, 0, 4, -4]);
  });

  it('reports NaN inputs', () => {
    const values = new Float32Array(20).fill(1);
    values[13] = NaN;
    expect(() => quantizeWasm(values, 0.5, 0)).toThrow(/1 NaN/);
    values[13] = 1;
    values[19] = NaN;
    expect(() => quantizeWasm(values, 0.5, 0)).toThrow(/1 NaN/);
  });
});

describe('wasm dequantize', () => {
  it('int8 -> float32 matches dequantizeValues', () => {
    const rng = makeRng(4);
    for (let round = 0; round < 100; round++) {
      const n = rng.pick([0, 1, 7, 8, 9, 16, 33, rng.int(1, 500)]);
      const codes = new Int8Array(n).map(() => rng.int(-128, 127));
      const scale = rng.pick([0.1, 1 / 3, 0.0235294117647, 1e-7, 12.345]) * (rng.next() + 0.5);
      const zeroPoint = rng.pick([-128, 127, 0, rng.int(-128, 127)]);
      const src = wasm.allocInt8(codes), dst = wasm.allocFloat32(n);
      wasm.dequantize(src, n, scale, zeroPoint, dst);
      const want = dequantizeValues(codes, [n], {scale: [scale], zeroPoint: [zeroPoint]});
      expect(firstMismatch(wasm.readFloat32(dst, n), want)).toBeNull();
      wasm.free(src); wasm.free(dst);
    }
  });

  it('int32 accumulators -> float32 with per-channel scales matches dequantizeValues', () => {
    const rng = makeRng(5);
    for (let round = 0; round < 60; round++) {
      const rows = rng.int(1, 9), channels = rng.pick([1, 3, 4, 5, 8, 13, rng.int(1, 70)]);
      const acc = new Int32Array(rows * channels).map(() => rng.next() < 0.2 ? rng.int(-(2 ** 31), 2 ** 31 - 1) : rng.int(-1e6, 1e6));
      const scales = Array.from({length: channels}, () => rng.next() * 1e-3 + 1e-9);
      const src = wasm.allocInt32(acc), dst = wasm.allocFloat32(acc.length);
      wasm.dequantizeInt32PerChannel(src, rows, channels, scales, dst);
      const want = dequantizeValues(acc, [rows, channels], {scale: scales, zeroPoint: scales.map(() => 0), axis: 1});
      expect(firstMismatch(wasm.readFloat32(dst, acc.length), want)).toBeNull();
      wasm.free(src); wasm.free(dst);
    }
  });
});

describe('wasm range', () => {
  it('finds min and max, skipping and counting NaN', () => {
    const rng = makeRng(6);
    for (let round = 0; round < 50; round++) {
      const n = rng.pick([0, 1, 3, 4, 5, 8, 31, rng.int(1, 300)]);
      const values = new Float32Array(n).map(() => (rng.next() - 0.5) * 10 ** rng.int(-3, 6));
      let nanCount = 0;
      if (n > 0 && rng.next() < 0.3) {
        values[rng.int(0, n - 1)] = NaN;
      }
      let min = Infinity, max = -Infinity;
      for (const v of values) {
        if (Number.isNaN(v)) { nanCount++; continue; }
        min = Math.min(min, v); max = Math.max(max, v);
      }
      const src = wasm.allocFloat32(values);
      const r = wasm.range(src, n);
      wasm.free(src);
      expect(r).toEqual({min, max, nanCount});
    }
  });
});
