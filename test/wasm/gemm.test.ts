// Bit-exactness of the wasm GEMM (int8 and int32 outputs) against plain loops.
import {beforeAll, describe, expect, it} from 'vitest';

import {Int8Wasm, loadInt8WasmSync} from '../../kernels/wasm/loader';
import {
  clampRange, firstMismatch, makeRng, randomBias, randomCodes, randomInt8, randomRequant, refGemmInt32, refRequant,
} from './wasm_test_utils';

let wasm: Int8Wasm;
beforeAll(() => {
  const w = loadInt8WasmSync();
  if (w == null) throw new Error('WebAssembly SIMD is required for these tests');
  wasm = w;
});

interface Case {
  m: number; k: number; n: number; lda: number; ldc: number; zA: number; transposed: boolean;
  withBias: boolean; seed: number;
}

function randomCase(seed: number): Case {
  const rng = makeRng(seed);
  const small = () => rng.pick([1, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33]);
  const m = rng.next() < 0.5 ? small() : rng.int(1, 70);
  const k = rng.next() < 0.4 ? small() : rng.int(1, 300);
  const n = rng.next() < 0.5 ? small() : rng.int(1, 80);
  const lda = rng.next() < 0.2 ? k + rng.int(1, 9) : k;
  const ldc = rng.next() < 0.2 ? n + rng.int(1, 9) : n;
  const zA = rng.pick([-128, 127, 0, rng.int(-128, 127), rng.int(-128, 127)]);
  return {m, k, n, lda, ldc, zA, transposed: rng.next() < 0.25, withBias: rng.next() < 0.8, seed};
}

function runCase(c: Case): void {
  const rng = makeRng(c.seed * 7 + 1);
  const a = randomCodes(rng, c.m * c.lda);
  const b = randomInt8(rng, c.k * c.n, -127, 127);
  const bias = c.withBias ? randomBias(rng, c.n) : null;
  // B as given to the packer: [k, n], or [n, k] when transposed.
  let given = b;
  if (c.transposed) {
    given = new Int8Array(c.k * c.n);
    for (let p = 0; p < c.k; p++) for (let j = 0; j < c.n; j++) given[j * c.k + p] = b[p * c.n + j];
  }
  const want32 = refGemmInt32(a, c.lda, c.m, c.k, c.zA, b, c.n, bias);
  const perTensor = rng.next() < 0.2;
  const {multiplier, shift} = randomRequant(rng, perTensor ? 1 : c.n);
  const zOut = rng.pick([-128, 127, 0, rng.int(-128, 127)]);
  const {lo, hi} = clampRange(rng, zOut);
  const want8 = refRequant(want32, c.n, multiplier, shift, zOut, lo, hi);

  const weights = wasm.packGemmWeights(given, c.k, c.n, {transposed: c.transposed, bias: bias ?? undefined});
  const table = wasm.createRequantTable(multiplier, shift, c.n);
  const aPtr = wasm.allocInt8(a);
  const out32 = wasm.allocInt32(c.m * c.ldc);
  const out8 = wasm.allocInt8(c.m * c.ldc);
  try {
    wasm.gemmInt32({a: aPtr, lda: c.lda, m: c.m, zeroPointA: c.zA, weights, out: out32, ldc: c.ldc});
    wasm.gemmInt8({a: aPtr, lda: c.lda, m: c.m, zeroPointA: c.zA, weights, out: out8, ldc: c.ldc,
      requant: table, zeroPointOut: zOut, lo, hi});
    const got32 = wasm.readInt32(out32, c.m * c.ldc);
    const got8 = wasm.readInt8(out8, c.m * c.ldc);
    const g32 = new Int32Array(c.m * c.n), g8 = new Int8Array(c.m * c.n);
    for (let i = 0; i < c.m; i++) for (let j = 0; j < c.n; j++) {
      g32[i * c.n + j] = got32[i * c.ldc + j];
      g8[i * c.n + j] = got8[i * c.ldc + j];
    }
    // Row padding between ldc columns must be untouched (zero-filled at allocation).
    for (let i = 0; i < c.m; i++) for (let j = c.n; j < c.ldc; j++) {
      expect(got32[i * c.ldc + j]).toBe(0);
      expect(got8[i * c.ldc + j]).toBe(0);
    }
    const ctx = JSON.stringify({...c, multiplier: Array.from(multiplier.slice(0, 4)), shift: Array.from(shift.slice(0, 4)), zOut, lo, hi});
    expect(firstMismatch(g32, want32), `int32 ${ctx}`).toBeNull();
    expect(firstMismatch(g8, want8), `int8 ${ctx}`).toBeNull();
  } finally {
    wasm.free(aPtr); wasm.free(out32); wasm.free(out8);
    weights.free(); table.free();
  }
}

describe('wasm gemm', () => {
  it('matches the reference on 400 random shapes and parameters (int8 and int32 outputs)', () => {
    for (let s = 1; s <= 400; s++) runCase(randomCase(s));
  });

  it('handles M, N, K = 1 and K not a multiple of 8', () => {
    for (const [m, k, n] of [[1, 1, 1], [1, 7, 1], [2, 9, 3], [3, 1, 17], [1, 300, 1], [5, 13, 4], [1, 16, 16]]) {
      for (let s = 0; s < 3; s++) {
        runCase({m, k, n, lda: k, ldc: n, zA: s === 0 ? -128 : 127, transposed: s === 2, withBias: true, seed: 1000 + m * 31 + k * 7 + n + s});
      }
    }
  });

  it('crosses row blocks (the kernels widen A a block of rows at a time)', () => {
    for (const [m, k, n, seed] of [[600, 8, 20, 1], [301, 40, 33, 2], [65, 300, 17, 3], [9, 2050, 5, 4], [257, 1, 16, 5]]) {
      runCase({m, k, n, lda: k, ldc: n, zA: seed % 2 === 0 ? -128 : 11, transposed: false, withBias: true, seed: 2000 + seed});
    }
  });

  it('saturates: extreme inputs, weights and accumulators', () => {
    const k = 64, n = 20, m = 6;
    const a = new Int8Array(m * k).fill(-128);
    const b = new Int8Array(k * n).fill(127);
    for (let i = 0; i < k * n; i += 2) b[i] = -127;
    const bias = new Int32Array(n).map((_, i) => (i % 2 === 0 ? 2 ** 31 - 1 - 5000 : -(2 ** 31) + 7));
    const want32 = refGemmInt32(a, k, m, k, 127, b, n, bias);
    const multiplier = new Int32Array(n).fill(2 ** 31 - 1);
    const shift = new Int32Array(n).map((_, i) => (i % 3) - 1);
    const want8 = refRequant(want32, n, multiplier, shift, 5, -128, 127);
    const w = wasm.packGemmWeights(b, k, n, {bias});
    const t = wasm.createRequantTable(multiplier, shift);
    const ap = wasm.allocInt8(a), o8 = wasm.allocInt8(m * n), o32 = wasm.allocInt32(m * n);
    wasm.gemmInt32({a: ap, m, zeroPointA: 127, weights: w, out: o32});
    wasm.gemmInt8({a: ap, m, zeroPointA: 127, weights: w, out: o8, requant: t, zeroPointOut: 5});
    expect(firstMismatch(wasm.readInt32(o32, m * n), want32)).toBeNull();
    expect(firstMismatch(wasm.readInt8(o8, m * n), want8)).toBeNull();
    [ap, o8, o32].forEach((p) => wasm.free(p));
    w.free(); t.free();
  });

  it('rejects bad arguments with clear errors', () => {
    const w = wasm.packGemmWeights(new Int8Array(12), 3, 4);
    const t = wasm.createRequantTable([1 << 30], [-3], 2);
    const a = wasm.allocInt8(6), o = wasm.allocInt8(8);
    expect(() => wasm.gemmInt8({a, m: 2, zeroPointA: 0, weights: w, out: o, requant: t, zeroPointOut: 0}))
      .toThrow(/requantization table has 2 channels, 4 needed/);
    expect(() => wasm.gemmInt32({a, m: 2, zeroPointA: 200, weights: w, out: o})).toThrow(/zeroPointA = 200/);
    expect(() => wasm.createRequantTable([-5], [0])).toThrow(/multiplier\[0\] = -5/);
    expect(() => wasm.packGemmWeights(new Int8Array(5), 3, 4)).toThrow(/5 weights given for 3 x 4/);
    w.free();
    expect(() => wasm.gemmInt32({a, m: 2, zeroPointA: 0, weights: w, out: o})).toThrow(/freed/);
    t.free(); wasm.free(a); wasm.free(o);
  });
});
