// Static (integer-only) prelu in the epilogue of FusedConv2D, FusedDepthwiseConv2D and
// _FusedMatMul: int8 input codes, per-channel int8 filter codes, int32 bias, alpha per
// channel (mixed signs, all negative, zeros, tiny, large), a scalar or [1,…,1,C] alpha,
// with outputScale/outputZeroPoint. The result must be computed in integers only (no
// dequantization but the final read), equal the float simulation on tfjs-cpu (dequantized
// operands → tfjs's fused op with prelu → fake-quantized output) within 1 LSB on every
// element, and be bit-identical between the WebAssembly path and the TypeScript reference.
import * as tf from '@tensorflow/tfjs-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {channelMultipliers, negativeSlopeMultipliers, requantizePreluToInt8} from '../../kernels/impl/epilogue';
import {activeInt8Wasm} from '../../kernels/impl/wasm_dispatch';
import {getQuantization, int8Backend, quantizedTensor} from '../../src/index';
import {
  multiplyByQuantizedMultiplier, negativeSlopeMultiplier, quantizeMultiplier, requantize, requantizePrelu,
} from '../../src/quant';
import {fakeQuantize, LsbTally, outputParamsFor, randomCodes, rngFor, scoped, sizeOf, valuesOn} from './conv_matmul_helpers';
import type {Rng} from './conv_matmul_helpers';
import {expectBitExact, runBothWays, withWasm} from './wasm_helpers';

type Family = 'FusedConv2D' | 'FusedDepthwiseConv2D' | '_FusedMatMul';
// tiny: |α| = 1e-12 (the multiplier flushes to 0); large: α up to 8; hugeBias: mixed α with
// bias codes of ±2^28..2^30, so that S_acc/S_out and |S_acc·α|/S_out fall below 2^-22 (the
// wasm epilogue's 64-bit-lane form) while the results stay in the code range.
const ALPHA_KINDS = ['mixed', 'negative', 'withZeros', 'tiny', 'hugeBias', 'large', 'scalar', 'broadcastShape'] as const;
/** 'full': one slope per output element (not per channel): the float epilogue. */
type AlphaKind = (typeof ALPHA_KINDS)[number] | 'full';

/** One kernel call: the int8 operands, their float values for the simulation, and alpha. */
interface PreluCase {
  family: Family;
  label: string;
  inputs: () => tf.NamedTensorMap;
  attrs: Record<string, unknown>;
  /** The same op in float on tfjs-cpu (prelu included). */
  simulate: () => tf.Tensor;
}

/** Slopes of `kind` for an output of `outShape` (channels last), and the shape they are given in. */
function alphaOf(rng: Rng, kind: AlphaKind, outShape: readonly number[]): {values: Float32Array; shape: number[]} {
  const channels = outShape[outShape.length - 1];
  const rank = outShape.length;
  const perChannel = (f: () => number): Float32Array => Float32Array.from({length: channels}, f);
  switch (kind) {
    case 'full': return {values: Float32Array.from({length: sizeOf(outShape.slice(1))}, () => rng.floatIn(-1.5, 1.5)), shape: outShape.slice(1)};
    case 'mixed':
    case 'hugeBias': return {values: perChannel(() => rng.floatIn(-1.5, 1.5)), shape: [channels]};
    case 'negative': return {values: perChannel(() => -rng.logUniform(0.01, 2)), shape: [channels]};
    case 'withZeros': return {values: perChannel(() => rng.pick([0, 0, rng.floatIn(-1, 1)])), shape: [channels]};
    case 'tiny': return {values: perChannel(() => rng.pick([1e-12, -1e-12, 0.3])), shape: [channels]};
    case 'large': return {values: perChannel(() => rng.pick([-1, 1]) * rng.floatIn(2, 8)), shape: [channels]};
    case 'scalar': return {values: Float32Array.of(rng.floatIn(-1, 1)), shape: [1]};
    case 'broadcastShape':
      // [1, 1, C] for a conv, [1, C] for a matmul (tfjs's fused ops take alpha up to rank 3).
      return {values: perChannel(() => rng.floatIn(-1.5, 1.5)), shape: [...new Array<number>(rank - 2).fill(1), channels]};
  }
}

/** Symmetric per-channel codes (channels on the last axis of `shape`) and their real values. */
function filterOf(rng: Rng, shape: number[], channelsOnLast: number, depth: number): {codes: Int8Array; scale: number[]; real: Float32Array} {
  const codes = randomCodes(rng, sizeOf(shape), -127, 127);
  const scale = Array.from({length: channelsOnLast}, () => rng.logUniform(1e-3, 1) / Math.sqrt(depth));
  return {codes, scale, real: Float32Array.from(codes, (q, e) => scale[e % channelsOnLast] * q)};
}

/** An int32 bias with scale S_in·S_w[c] (or none), and its real values. */
function biasOf(rng: Rng, accScale: number[], depth: number, huge: boolean): {make: () => tf.Tensor; real: Float32Array} | null {
  if (!huge && rng.intIn(0, 3) === 0) return null;
  const code = (): number => huge ? rng.pick([-1, 1]) * rng.intIn(2 ** 28, 2 ** 30) : rng.intIn(-depth * 3000, depth * 3000);
  const codes = Int32Array.from(accScale, code);
  const params = {scale: accScale, zeroPoint: accScale.map(() => 0), axis: 0};
  return {make: () => quantizedTensor(codes, [accScale.length], params), real: Float32Array.from(codes, (q, c) => accScale[c] * q)};
}

function convCase(rng: Rng, family: 'FusedConv2D' | 'FusedDepthwiseConv2D', alphaKind: AlphaKind): PreluCase {
  const depthwise = family === 'FusedDepthwiseConv2D';
  const inC = rng.intIn(1, 20);
  const fh = rng.pick([1, 3]);
  const fw = rng.pick([1, 3]);
  const filterShape: [number, number, number, number] = [fh, fw, inC, depthwise ? 1 : rng.intIn(1, 24)];
  const outC = depthwise ? inC : filterShape[3];
  const xShape: [number, number, number, number] = [rng.intIn(1, 2), rng.intIn(3, 9), rng.intIn(3, 9), inC];
  const strides = rng.pick([1, 2]);
  const pad = rng.pick(['same', 'valid'] as const);
  const inputScale = rng.logUniform(1e-3, 1);
  const inputZeroPoint = rng.pick([-128, -20, 0, 60, rng.intIn(-128, 127)]);
  const xCodes = randomCodes(rng, sizeOf(xShape));
  const depth = fh * fw * (depthwise ? 1 : inC);
  const filter = filterOf(rng, filterShape, outC, depth);
  const filterParams = {scale: filter.scale, zeroPoint: filter.scale.map(() => 0), axis: depthwise ? 2 : 3};
  const bias = biasOf(rng, filter.scale.map(s => inputScale * s), depth, alphaKind === 'hugeBias');
  const outShape = tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, 1, pad, undefined, depthwise).outShape;
  const alpha = alphaOf(rng, alphaKind, outShape);
  const xReal = Float32Array.from(xCodes, q => inputScale * (q - inputZeroPoint));
  const common = {strides, pad, dataFormat: 'NHWC' as const, dilations: 1, activation: 'prelu' as const};
  return {
    family,
    label: JSON.stringify({family, xShape, filterShape, strides, pad, inputZeroPoint, alphaKind, bias: bias !== null}),
    inputs: () => ({
      x: quantizedTensor(xCodes, xShape, {scale: [inputScale], zeroPoint: [inputZeroPoint]}),
      filter: quantizedTensor(filter.codes, filterShape, filterParams),
      ...(bias === null ? {} : {bias: bias.make()}),
      preluActivationWeights: tf.tensor(alpha.values, alpha.shape),
    }),
    attrs: common,
    simulate: () => {
      const config = {
        ...common, x: tf.tensor4d(xReal, xShape), filter: tf.tensor4d(filter.real, filterShape),
        bias: bias === null ? undefined : tf.tensor1d(bias.real), preluActivationWeights: tf.tensor(alpha.values, alpha.shape),
      };
      return depthwise ? tf.fused.depthwiseConv2d(config) : tf.fused.conv2d(config);
    },
  };
}

function matMulCase(rng: Rng, alphaKind: AlphaKind): PreluCase {
  const [m, k, n] = [rng.intIn(1, 8), rng.intIn(1, 64), rng.intIn(1, 40)];
  const inputScale = rng.logUniform(1e-3, 1);
  const inputZeroPoint = rng.pick([-128, 0, rng.intIn(-128, 127)]);
  const aCodes = randomCodes(rng, m * k);
  const b = filterOf(rng, [k, n], n, k);
  const bias = biasOf(rng, b.scale.map(s => inputScale * s), k, alphaKind === 'hugeBias');
  const alpha = alphaOf(rng, alphaKind, [1, m, n]);
  const aReal = Float32Array.from(aCodes, q => inputScale * (q - inputZeroPoint));
  const attrs = {transposeA: false, transposeB: false, activation: 'prelu' as const};
  return {
    family: '_FusedMatMul',
    label: JSON.stringify({family: '_FusedMatMul', m, k, n, inputZeroPoint, alphaKind, bias: bias !== null}),
    inputs: () => ({
      a: quantizedTensor(aCodes, [1, m, k], {scale: [inputScale], zeroPoint: [inputZeroPoint]}),
      b: quantizedTensor(b.codes, [1, k, n], {scale: b.scale, zeroPoint: b.scale.map(() => 0), axis: 2}),
      ...(bias === null ? {} : {bias: bias.make()}),
      preluActivationWeights: tf.tensor(alpha.values, alpha.shape),
    }),
    attrs,
    simulate: () => tf.fused.matMul({
      a: tf.tensor3d(aReal, [1, m, k]), b: tf.tensor3d(b.real, [1, k, n]), bias: bias === null ? undefined : tf.tensor1d(bias.real),
      activation: 'prelu', preluActivationWeights: tf.tensor(alpha.values, alpha.shape),
    }),
  };
}

function caseFor(rng: Rng, family: Family, alphaKind: AlphaKind): PreluCase {
  return family === '_FusedMatMul' ? matMulCase(rng, alphaKind) : convCase(rng, family, alphaKind);
}

const lsb = new LsbTally();

describe('static prelu: integer epilogue vs the float simulation, and wasm vs reference', () => {
  beforeAll(async () => {
    await tf.setBackend('int8');
    expect(activeInt8Wasm(), 'this runtime validates WebAssembly SIMD').not.toBeNull();
  });
  afterAll(() => {
    lsb.print('LSB, static prelu');
  });

  const families: Family[] = ['FusedConv2D', 'FusedDepthwiseConv2D', '_FusedMatMul'];
  families.forEach((family, f) => {
    it(`${family}: 72 random cases, integers only, within 1 LSB, wasm bit-identical`, async () => {
      const rng = rngFor(9100 + f);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 72; i++) {
        const c = caseFor(rng, family, ALPHA_KINDS[i % ALPHA_KINDS.length]);
        const sim = await valuesOn('cpu', c.simulate);
        const output = outputParamsFor(sim.values, rng.pick([0, 0, 0.3]), rng.pick([0, 0, 0.3]));
        // One case in 9: an output scale far too small (most codes clamp), so that S_acc/S_out ≥ 1
        // (left shifts: the saturating scalar form of the wasm epilogue).
        if (i % 9 === 8) output.scale /= rng.logUniform(1e3, 1e6);
        const attrs = {...c.attrs, outputScale: output.scale, outputZeroPoint: output.zeroPoint} as unknown as tf.NamedAttrMap;
        const inputs = c.inputs();
        // The TypeScript reference: integer only (the one dequantization is the final read).
        const dequantizations = int8Backend().stats.dequantizations;
        const reference = withWasm(false, () => scoped(() => {
          const y = tf.engine().runKernel(family, inputs, attrs) as tf.Tensor;
          return {q: getQuantization(y), values: y.dataSync().slice()};
        }));
        expect(int8Backend().stats.dequantizations - dequantizations, `${c.label}: float arithmetic`).toBe(1);
        expect(reference.q?.dtype, c.label).toBe('int8');
        expect(reference.q?.params, c.label).toEqual({scale: [output.scale], zeroPoint: [output.zeroPoint]});
        const expected = fakeQuantize(sim.values, output.scale, output.zeroPoint);
        expect(lsb.add(family, reference.q?.codes as Int8Array, expected), c.label).toBeLessThanOrEqual(1);
        // The WebAssembly path: the same codes, bit for bit (weights cached on the second call).
        expectBitExact(runBothWays(() => tf.engine().runKernel(family, inputs, attrs) as tf.Tensor), c.label);
        tf.dispose(Object.values(inputs));
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  it('a full-shape alpha keeps the float epilogue ("dequantize, activate, requantize"), within 1 LSB', async () => {
    const rng = rngFor(9200);
    for (const family of ['FusedConv2D', 'FusedDepthwiseConv2D'] as const) {
      const c = convCase(rng, family, 'full');
      const sim = await valuesOn('cpu', c.simulate);
      const output = outputParamsFor(sim.values);
      const attrs = {...c.attrs, outputScale: output.scale, outputZeroPoint: output.zeroPoint} as unknown as tf.NamedAttrMap;
      const inputs = c.inputs();
      const result = withWasm(false, () => scoped(() => getQuantization(tf.engine().runKernel(family, inputs, attrs) as tf.Tensor)));
      expect(result?.dtype, c.label).toBe('int8');
      const expected = fakeQuantize(sim.values, output.scale, output.zeroPoint);
      expect(lsb.add(`${family} (full-shape alpha)`, result?.codes as Int8Array, expected), c.label).toBeLessThanOrEqual(1);
      expectBitExact(runBothWays(() => tf.engine().runKernel(family, inputs, attrs) as tf.Tensor), c.label);
      tf.dispose(Object.values(inputs));
    }
  });
});

describe('requantizePrelu (src/quant)', () => {
  const rng = rngFor(9300);

  it('acc ≥ 0 is the linear requantization; acc < 0 scales by α (sign kept apart), α = 0 gives Z', () => {
    for (let i = 0; i < 2000; i++) {
      const accScale = rng.logUniform(1e-7, 1e-3);
      const outputScale = rng.logUniform(1e-3, 1);
      const alpha = rng.pick([0, rng.floatIn(-3, 3), -rng.logUniform(1e-3, 2)]);
      const zeroPoint = rng.intIn(-128, 127);
      const acc = rng.intIn(-(2 ** 24), 2 ** 24);
      const pos = quantizeMultiplier(accScale / outputScale);
      const neg = negativeSlopeMultiplier(accScale, alpha, outputScale);
      const q = requantizePrelu(acc, pos.multiplier, pos.shift, neg.multiplier, neg.shift, neg.sign, zeroPoint, -128, 127);
      if (acc >= 0) {
        expect(q).toBe(requantize(acc, pos.multiplier, pos.shift, zeroPoint, -128, 127));
      } else if (alpha === 0) {
        expect(q).toBe(zeroPoint);
      } else {
        const magnitude = multiplyByQuantizedMultiplier(acc, neg.multiplier, neg.shift);
        expect(q).toBe(Math.min(127, Math.max(-128, zeroPoint + Math.sign(alpha) * magnitude)));
        // Within one code of the real value (double rounding).
        const real = zeroPoint + (acc * accScale * alpha) / outputScale;
        expect(Math.abs(q - Math.min(127, Math.max(-128, real)))).toBeLessThanOrEqual(1);
      }
    }
  });

  it('saturates instead of wrapping: INT32_MIN with a negative α, and shifts > 0 (α large)', () => {
    const neg = negativeSlopeMultiplier(1e-4, -0.5, 0.02);
    expect(neg.sign).toBe(-1);
    expect(requantizePrelu(-2147483648, 1 << 30, -7, neg.multiplier, neg.shift, neg.sign, 0, -128, 127)).toBe(127);
    // M_neg = 12 (shift 4): acc·2^4 would wrap for |acc| ≥ 2^27.
    const big = negativeSlopeMultiplier(1, 12, 1);
    expect(big.shift).toBeGreaterThan(0);
    for (const acc of [-(2 ** 27), -(2 ** 30), -2147483648, -1000]) {
      expect(requantizePrelu(acc, 1 << 30, 1, big.multiplier, big.shift, big.sign, 5, -128, 127)).toBe(-128);
    }
    const flip = negativeSlopeMultiplier(1, -12, 1);
    expect(requantizePrelu(-(2 ** 29), 1 << 30, 1, flip.multiplier, flip.shift, flip.sign, 5, -128, 127)).toBe(127);
    expect(requantizePrelu(-1, 1 << 30, 1, flip.multiplier, flip.shift, flip.sign, 5, -128, 127)).toBe(17);
  });

  it('a non-finite α is an error that says so', () => {
    expect(() => negativeSlopeMultiplier(1e-4, NaN, 0.1)).toThrow(/PReLU slope NaN is not a finite number/);
  });
});

describe('the wasm prelu epilogue (preluI32ToI8) vs requantizePreluToInt8, bit for bit', () => {
  it('300 random blocks: multipliers from 2^-35 to 2^10 (wide, narrow, left shifts), extreme accumulators, any channel count', () => {
    const wasm = activeInt8Wasm();
    if (wasm === null) throw new Error('no wasm');
    const rng = rngFor(9400);
    for (let t = 0; t < 300; t++) {
      const channels = rng.intIn(1, 37);
      const rows = rng.intIn(1, 5);
      // S_acc[c]/S_out from 2^-35 to 2^10, α[c] of any sign (zeros included).
      const accScale = Float64Array.from({length: channels}, () => 2 ** rng.floatIn(-35, 10));
      const alpha = Float32Array.from({length: channels}, () => rng.pick([0, rng.floatIn(-3, 3), -(2 ** rng.floatIn(-12, 4))]));
      const positive = channelMultipliers(accScale, 1);
      const negative = negativeSlopeMultipliers(accScale, alpha, 1);
      const acc = Int32Array.from({length: rows * channels}, () =>
          rng.pick([-2147483648, 2147483647, 0, -1, 1, rng.intIn(-(2 ** 31), 2 ** 31 - 1), rng.intIn(-5000, 5000)]));
      const zOut = rng.intIn(-128, 127);
      const expected = new Int8Array(acc.length);
      requantizePreluToInt8(acc, channels, positive, negative, zOut, -128, 127, expected);
      const pos = wasm.createRequantTable(positive.multiplier, positive.shift, channels);
      const neg = wasm.createRequantTable(negative.multiplier, negative.shift, channels);
      const src = wasm.allocInt32(acc);
      const dst = wasm.alloc(acc.length);
      try {
        wasm.preluInt32ToInt8(src, rows, channels, pos, neg, negative.sign, zOut, -128, 127, dst);
        const actual = wasm.readInt8(dst, acc.length);
        const i = actual.findIndex((v, j) => v !== expected[j]);
        expect(i, i < 0 ? '' : `case ${t}: element ${i} (acc ${acc[i]}, channel ${i % channels}) is ${actual[i]}, ` +
            `reference ${expected[i]}`).toBe(-1);
      } finally {
        wasm.free(src);
        wasm.free(dst);
        pos.free();
        neg.free();
      }
    }
  });
});
