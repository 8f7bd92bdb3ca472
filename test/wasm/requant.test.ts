// The wasm requantization epilogue (vector form with uniform shifts, and the
// scalar fallback) against src/quant's requantize, over the whole int32 range.
// A GEMM with K = 1, A = 1 and B = 0 turns each bias into the accumulator.
import {beforeAll, describe, expect, it} from 'vitest';

import {Int8Wasm, loadInt8WasmSync} from '../../kernels/wasm/loader';
import {multiplyByQuantizedMultiplier, quantizeMultiplier} from '../../src/quant';
import {firstMismatch, makeRng, refRequant} from './wasm_test_utils';

let wasm: Int8Wasm;
beforeAll(() => {
  wasm = loadInt8WasmSync()!;
});

function epilogue(acc: Int32Array, multiplier: Int32Array, shift: Int32Array, zOut: number, lo: number, hi: number): Int8Array {
  const n = acc.length;
  const w = wasm.packGemmWeights(new Int8Array(n), 1, n, {bias: acc});
  const t = wasm.createRequantTable(multiplier, shift, n);
  const a = wasm.allocInt8([1]);
  const o = wasm.allocInt8(n);
  wasm.gemmInt8({a, m: 1, zeroPointA: 0, weights: w, out: o, requant: t, zeroPointOut: zOut, lo, hi});
  const got = wasm.readInt8(o, n);
  wasm.free(a); wasm.free(o); w.free(); t.free();
  return got;
}

function accumulators(rng: ReturnType<typeof makeRng>, n: number): Int32Array {
  const acc = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    switch (rng.int(0, 4)) {
      case 0: acc[i] = rng.int(-(2 ** 31), 2 ** 31 - 1); break;
      case 1: acc[i] = rng.int(-5000, 5000); break;
      case 2: acc[i] = rng.pick([-(2 ** 31), 2 ** 31 - 1, 0, -1, 1, 2 ** 30, -(2 ** 30)]); break;
      case 3: acc[i] = rng.pick([1, -1]) * 2 ** rng.int(0, 30) + rng.int(-2, 2); break;
      default: acc[i] = rng.int(-(2 ** 20), 2 ** 20); break;
    }
  }
  return acc;
}

describe('wasm requantization epilogue', () => {
  it('matches multiplyByQuantizedMultiplier for every shift in [-31, 30] (vector and scalar paths)', () => {
    const rng = makeRng(42);
    for (let round = 0; round < 40; round++) {
      const n = 512;
      const acc = accumulators(rng, n);
      const multiplier = new Int32Array(n);
      const shift = new Int32Array(n);
      // Rounds alternate between vector-only tables (shift >= -21) and full-range ones.
      const minShift = round % 2 === 0 ? -21 : -31;
      for (let c = 0; c < n; c++) {
        shift[c] = rng.int(minShift, 30);
        multiplier[c] = rng.next() < 0.1 ? rng.pick([0, 2 ** 30, 2 ** 31 - 1]) : rng.int(2 ** 30, 2 ** 31 - 1);
      }
      const zOut = rng.int(-128, 127);
      const lo = rng.next() < 0.3 ? Math.max(zOut, -128) : -128;
      const hi = rng.next() < 0.3 ? Math.min(127, zOut + rng.int(0, 100)) : 127;
      const want = refRequant(acc, n, multiplier, shift, zOut, lo, hi);
      expect(firstMismatch(epilogue(acc, multiplier, shift, zOut, lo, hi), want), `round ${round} zOut ${zOut}`).toBeNull();
    }
  });

  it('wide tables (some channels with right shift > 21, the 64-bit-lane form) on every panel width, 2 rows', () => {
    // A layer with a few near-dead channels (multiplier < 2^-22) among ordinary ones: the
    // whole layer once took the scalar path; now both vector forms run and select per lane.
    const rng = makeRng(2024);
    for (const n of [1, 3, 4, 5, 8, 12, 16, 17, 20, 24, 36, 48, 100]) {
      for (let round = 0; round < 12; round++) {
        const acc = accumulators(rng, n);
        const multiplier = new Int32Array(n);
        const shift = new Int32Array(n);
        for (let c = 0; c < n; c++) {
          const r = rng.next();
          shift[c] = r < 0.3 ? rng.int(-31, -22) : r < 0.4 ? rng.int(1, 8) : r < 0.5 ? 0 : rng.int(-21, -1);
          multiplier[c] = rng.next() < 0.1 ? rng.pick([0, 2 ** 30, 2 ** 31 - 1]) : rng.int(2 ** 30, 2 ** 31 - 1);
        }
        if (!shift.some(s => s < -21)) shift[rng.int(0, n - 1)] = -rng.int(22, 31);
        const zOut = rng.int(-128, 127);
        const lo = rng.next() < 0.3 ? Math.max(zOut, -128) : -128;
        const hi = rng.next() < 0.3 ? Math.min(127, zOut + rng.int(0, 100)) : 127;
        const want = refRequant(acc, n, multiplier, shift, zOut, lo, hi);
        const w = wasm.packGemmWeights(new Int8Array(n), 1, n, {bias: acc});
        const t = wasm.createRequantTable(multiplier, shift, n);
        const a = wasm.allocInt8([1, 1]);
        const o = wasm.allocInt8(2 * n);
        wasm.gemmInt8({a, m: 2, zeroPointA: 0, weights: w, out: o, requant: t, zeroPointOut: zOut, lo, hi});
        const got = wasm.readInt8(o, 2 * n);
        wasm.free(a); wasm.free(o); w.free(); t.free();
        expect(firstMismatch(got.subarray(0, n), want), `n ${n} round ${round} row 0`).toBeNull();
        expect(firstMismatch(got.subarray(n), want), `n ${n} round ${round} row 1`).toBeNull();
      }
    }
  });

  it('handles rounding ties of both stages', () => {
    const rng = makeRng(7);
    const n = 1024;
    const acc = new Int32Array(n), multiplier = new Int32Array(n), shift = new Int32Array(n);
    for (let c = 0; c < n; c++) {
      // M0 = 2^30 (0.5 in Q31): SRDHM(x, 2^30) = round(x / 2), ties on odd x.
      multiplier[c] = 2 ** 30;
      shift[c] = -rng.int(0, 12);
      const e = -shift[c];
      // x*0.5 lands on a tie of the divide by 2^e: x = (2k+1) * 2^e.
      acc[c] = (rng.int(-300, 300) * 2 + 1) * 2 ** e + rng.int(-1, 1);
    }
    for (const zOut of [-128, 0, 127]) {
      const want = refRequant(acc, n, multiplier, shift, zOut, -128, 127);
      expect(firstMismatch(epilogue(acc, multiplier, shift, zOut, -128, 127), want)).toBeNull();
    }
  });

  it('the exported scalar form equals src/quant', () => {
    const rng = makeRng(99);
    for (let i = 0; i < 20000; i++) {
      const x = rng.int(-(2 ** 31), 2 ** 31 - 1);
      const {multiplier, shift} = quantizeMultiplier(2 ** (8 - 38 * rng.next()));
      const got = wasm.exports.requantScalar(x, multiplier, shift);
      const want = multiplyByQuantizedMultiplier(x, multiplier, shift);
      if (got !== want) expect({x, multiplier, shift, got}).toEqual({x, multiplier, shift, got: want});
    }
  });
});
