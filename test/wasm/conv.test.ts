// Bit-exactness of the wasm convolutions (1x1 / kxk via im2col, depthwise)
// against plain loops, on random shapes, strides, dilations and paddings.
import {beforeAll, describe, expect, it} from 'vitest';

import {Int8Wasm, loadInt8WasmSync} from '../../kernels/wasm/loader';
import {
  clampRange, convOutput, firstMismatch, makeRng, randomBias, randomCodes, randomInt8, randomRequant,
  refConvInt32, refDepthwiseInt32, refRequant,
} from './wasm_test_utils';

let wasm: Int8Wasm;
beforeAll(() => {
  wasm = loadInt8WasmSync()!;
});

interface ConvCase {
  batch: number; h: number; w: number; cin: number; cout: number; kh: number; kw: number;
  sh: number; sw: number; dh: number; dw: number; same: boolean; zIn: number; seed: number;
}

function geometry(c: ConvCase) {
  const y = convOutput(c.h, c.kh, c.sh, c.dh, c.same);
  const x = convOutput(c.w, c.kw, c.sw, c.dw, c.same);
  return {oh: y.out, ow: x.out, pt: y.padBefore, pl: x.padBefore};
}

function runConv(c: ConvCase): void {
  const rng = makeRng(c.seed * 13 + 5);
  const {oh, ow, pt, pl} = geometry(c);
  const input = randomCodes(rng, c.batch * c.h * c.w * c.cin);
  const filter = randomInt8(rng, c.kh * c.kw * c.cin * c.cout, -127, 127);
  const bias = rng.next() < 0.8 ? randomBias(rng, c.cout) : null;
  const want32 = refConvInt32(input, c.batch, c.h, c.w, c.cin, filter, c.kh, c.kw, c.cout, c.sh, c.sw,
    c.dh, c.dw, pt, pl, oh, ow, c.zIn, bias);
  const {multiplier, shift} = randomRequant(rng, c.cout);
  const zOut = rng.int(-128, 127);
  const {lo, hi} = clampRange(rng, zOut);
  const want8 = refRequant(want32, c.cout, multiplier, shift, zOut, lo, hi);

  const weights = wasm.packGemmWeights(filter, c.kh * c.kw * c.cin, c.cout, {bias: bias ?? undefined});
  const table = wasm.createRequantTable(multiplier, shift, c.cout);
  const inPtr = wasm.allocInt8(input);
  const size = c.batch * oh * ow * c.cout;
  const o8 = wasm.allocInt8(size), o32 = wasm.allocInt32(size);
  const g = {batch: c.batch, inHeight: c.h, inWidth: c.w, inChannels: c.cin, filterHeight: c.kh, filterWidth: c.kw,
    strideHeight: c.sh, strideWidth: c.sw, dilationHeight: c.dh, dilationWidth: c.dw, padTop: pt, padLeft: pl,
    outHeight: oh, outWidth: ow};
  try {
    wasm.conv2dInt32({...g, input: inPtr, zeroPointIn: c.zIn, weights, out: o32});
    wasm.conv2dInt8({...g, input: inPtr, zeroPointIn: c.zIn, weights, out: o8, requant: table, zeroPointOut: zOut, lo, hi});
    const ctx = JSON.stringify({...c, oh, ow, pt, pl, zOut, lo, hi});
    expect(firstMismatch(wasm.readInt32(o32, size), want32), `int32 ${ctx}`).toBeNull();
    expect(firstMismatch(wasm.readInt8(o8, size), want8), `int8 ${ctx}`).toBeNull();
  } finally {
    [inPtr, o8, o32].forEach((p) => wasm.free(p));
    weights.free(); table.free();
  }
}

function runDepthwise(c: ConvCase & {mult: number}): void {
  const rng = makeRng(c.seed * 17 + 3);
  const {oh, ow, pt, pl} = geometry(c);
  const n = c.cin * c.mult;
  const input = randomCodes(rng, c.batch * c.h * c.w * c.cin);
  // Mostly narrow-range weights; some cases include -128 (the packer then avoids int16 pair sums).
  const filter = randomInt8(rng, c.kh * c.kw * n, rng.next() < 0.15 ? -128 : -127, 127);
  if (rng.next() < 0.2) filter.fill(-128, 0, Math.min(filter.length, 5));
  const bias = rng.next() < 0.8 ? randomBias(rng, n) : null;
  const want32 = refDepthwiseInt32(input, c.batch, c.h, c.w, c.cin, filter, c.kh, c.kw, c.mult, c.sh, c.sw,
    c.dh, c.dw, pt, pl, oh, ow, c.zIn, bias);
  const {multiplier, shift} = randomRequant(rng, n);
  const zOut = rng.int(-128, 127);
  const {lo, hi} = clampRange(rng, zOut);
  const want8 = refRequant(want32, n, multiplier, shift, zOut, lo, hi);

  const weights = wasm.packDepthwiseWeights(filter, c.kh, c.kw, c.cin, c.mult, {bias: bias ?? undefined});
  const table = wasm.createRequantTable(multiplier, shift, n);
  const inPtr = wasm.allocInt8(input);
  const size = c.batch * oh * ow * n;
  const o8 = wasm.allocInt8(size), o32 = wasm.allocInt32(size);
  const g = {batch: c.batch, inHeight: c.h, inWidth: c.w, strideHeight: c.sh, strideWidth: c.sw,
    dilationHeight: c.dh, dilationWidth: c.dw, padTop: pt, padLeft: pl, outHeight: oh, outWidth: ow};
  try {
    wasm.depthwiseConv2dInt32({...g, input: inPtr, zeroPointIn: c.zIn, weights, out: o32});
    wasm.depthwiseConv2dInt8({...g, input: inPtr, zeroPointIn: c.zIn, weights, out: o8, requant: table,
      zeroPointOut: zOut, lo, hi});
    const ctx = JSON.stringify({...c, oh, ow, pt, pl, zOut, lo, hi});
    expect(firstMismatch(wasm.readInt32(o32, size), want32), `int32 ${ctx}`).toBeNull();
    expect(firstMismatch(wasm.readInt8(o8, size), want8), `int8 ${ctx}`).toBeNull();
  } finally {
    [inPtr, o8, o32].forEach((p) => wasm.free(p));
    weights.free(); table.free();
  }
}

function randomConvCase(seed: number, depthwise: boolean): ConvCase & {mult: number} {
  const rng = makeRng(seed);
  const k = rng.pick([1, 1, 2, 3, 3, 3, 5, 5, 7]);
  const kw = rng.next() < 0.8 ? k : rng.pick([1, 2, 3, 5]);
  const s = rng.pick([1, 1, 2, 2, 3]);
  const d = rng.next() < 0.8 ? 1 : rng.pick([2, 3]);
  const cin = depthwise ? rng.pick([1, 3, 8, 15, 16, 17, 24, 32, 33, 40]) : rng.pick([1, 2, 3, 4, 7, 8, 16, 19, 32]);
  return {
    batch: rng.pick([1, 1, 1, 2]),
    h: rng.int(1, 14), w: rng.int(1, 14),
    cin, cout: rng.pick([1, 3, 4, 8, 15, 16, 17, 24, 32, 40]),
    kh: k, kw, sh: s, sw: rng.next() < 0.8 ? s : rng.pick([1, 2]), dh: d, dw: rng.next() < 0.8 ? d : 1,
    same: rng.next() < 0.6,
    zIn: rng.pick([-128, 127, 0, rng.int(-128, 127)]),
    mult: depthwise && rng.next() < 0.2 ? rng.pick([2, 3]) : 1,
    seed,
  };
}

describe('wasm conv2d', () => {
  it('matches the reference on 300 random convolutions (1x1 and kxk, int8 and int32 outputs)', () => {
    let ran = 0;
    for (let s = 1; ran < 300; s++) {
      const c = randomConvCase(s, false);
      if (geometry(c).oh === 0 || geometry(c).ow === 0) continue;
      runConv(c);
      ran++;
    }
  });

  it('1x1 stride 1 (the direct GEMM path) and MobileNet-like shapes', () => {
    const base = {batch: 1, sh: 1, sw: 1, dh: 1, dw: 1, same: true};
    runConv({...base, h: 7, w: 9, cin: 32, cout: 64, kh: 1, kw: 1, zIn: -128, seed: 1});
    runConv({...base, h: 5, w: 5, cin: 17, cout: 33, kh: 1, kw: 1, zIn: 127, seed: 2});
    runConv({...base, batch: 2, h: 3, w: 4, cin: 8, cout: 5, kh: 1, kw: 1, zIn: 3, seed: 3});
    runConv({...base, h: 16, w: 16, cin: 3, cout: 32, kh: 3, kw: 3, sh: 2, sw: 2, zIn: -5, seed: 4});
    runConv({...base, h: 9, w: 9, cin: 3, cout: 8, kh: 7, kw: 7, sh: 2, sw: 2, zIn: 0, seed: 5});
  });
});

describe('wasm depthwiseConv2d', () => {
  it('matches the reference on 300 random depthwise convolutions (multipliers 1..3)', () => {
    let ran = 0;
    for (let s = 1; ran < 300; s++) {
      const c = randomConvCase(5000 + s, true);
      if (geometry(c).oh === 0 || geometry(c).ow === 0) continue;
      runDepthwise(c);
      ran++;
    }
  });

  it('3x3 and 5x5, stride 1 and 2, same and valid padding', () => {
    let seed = 1;
    for (const k of [3, 5]) for (const s of [1, 2]) for (const same of [true, false]) {
      for (const cin of [8, 16, 32, 35]) {
        runDepthwise({batch: 1, h: 11, w: 10, cin, cout: cin, kh: k, kw: k, sh: s, sw: s, dh: 1, dw: 1,
          same, zIn: seed % 3 === 0 ? -128 : seed % 3 === 1 ? 127 : 7, mult: 1, seed: seed++});
      }
    }
  });
});
