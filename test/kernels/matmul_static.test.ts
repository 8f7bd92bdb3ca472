// Static mode of BatchMatMul and _FusedMatMul: a as int8 per-tensor codes; b
// as int8 codes per output column (axis of N, respecting transposeB), per
// tensor symmetric, a float weight, or a second int8 activation per tensor
// with a zero point (batched); int32 or float bias; every fused activation;
// with and without outputScale/outputZeroPoint. int8 outputs must equal the
// float simulation on tfjs-cpu within 1 LSB on every element.
import * as tf from '@tensorflow/tfjs-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {getQuantization, int8Backend, quantizedTensor} from '../../src/index';
import {
  dequantizeSymmetric, fakeQuantize, LsbTally, outputParamsFor, quantizeSymmetric, randomCodes, randomData, rngFor,
  scoped, sizeOf, valuesOn,
} from './conv_matmul_helpers';
import type {Rng} from './conv_matmul_helpers';

type Activation = 'linear' | 'relu' | 'relu6' | 'leakyrelu' | 'prelu' | 'sigmoid' | 'elu';
const ACTIVATIONS: Activation[] = ['linear', 'relu', 'relu6', 'leakyrelu', 'prelu', 'sigmoid', 'elu'];
type BKind = 'perColumn' | 'perTensorSymmetric' | 'float' | 'activation';

interface StaticMatMulCase {
  fused: boolean;
  m: number;
  k: number;
  n: number;
  batch: number[];
  transposeA: boolean;
  transposeB: boolean;
  activation: Activation;
  leakyreluAlpha: number;
  aScale: number;
  aZeroPoint: number;
  bKind: BKind;
  biasKind: 'none' | 'int32' | 'float';
  withOutput: boolean;
}

function randomCase(rng: Rng, fused: boolean): StaticMatMulCase {
  const bKind = rng.pick(['perColumn', 'perColumn', 'perTensorSymmetric', 'float', 'activation'] as const);
  return {
    fused,
    m: rng.intIn(1, 8), k: rng.intIn(1, 40), n: rng.intIn(1, 9),
    batch: rng.pick([[], [rng.intIn(2, 3)]]),
    transposeA: rng.bool(), transposeB: rng.bool(),
    activation: fused ? rng.pick(ACTIVATIONS) : 'linear',
    leakyreluAlpha: rng.floatIn(0.05, 0.5),
    aScale: rng.logUniform(1e-3, 1),
    aZeroPoint: rng.pick([-128, -90, 0, 127, rng.intIn(-128, 127)]),
    bKind,
    biasKind: fused && bKind !== 'activation' ? rng.pick(['none', 'int32', 'float'] as const) :
        fused ? rng.pick(['none', 'float'] as const) : 'none',
    withOutput: rng.intIn(0, 4) > 0,
  };
}

interface Operands {
  a: () => tf.Tensor;
  aFloat: Float32Array;
  aShape: number[];
  b: () => tf.Tensor;
  bFloat: Float32Array;
  bShape: number[];
  columnScale: number[];
  bias: {make: () => tf.Tensor; simulated: Float32Array} | null;
  alpha: Float32Array | null;
}

function operands(rng: Rng, c: StaticMatMulCase): Operands {
  const aShape = [...c.batch, ...(c.transposeA ? [c.k, c.m] : [c.m, c.k])];
  const aCodes = randomCodes(rng, sizeOf(aShape));
  const aParams = {scale: [c.aScale], zeroPoint: [c.aZeroPoint]};
  const bBatch = c.bKind === 'activation' ? c.batch : [];
  const bShape = [...bBatch, ...(c.transposeB ? [c.n, c.k] : [c.k, c.n])];
  const columnAxis = bShape.length - (c.transposeB ? 2 : 1);
  const unit = rng.logUniform(1e-3, 1) / Math.sqrt(c.k);
  let b: () => tf.Tensor;
  let bFloat: Float32Array;
  let columnScale: number[];
  if (c.bKind === 'float') {
    const values = randomData(rng, sizeOf(bShape), 3, unit * 127);
    const q = quantizeSymmetric(values, bShape, columnAxis);
    b = () => tf.tensor(values, bShape);
    bFloat = dequantizeSymmetric(q.codes, bShape, q.scale, columnAxis);
    columnScale = q.scale;
  } else if (c.bKind === 'activation') {
    const codes = randomCodes(rng, sizeOf(bShape));
    const scale = unit;
    const zeroPoint = rng.intIn(-128, 127);
    b = () => quantizedTensor(codes, bShape, {scale: [scale], zeroPoint: [zeroPoint]});
    bFloat = Float32Array.from(codes, q => scale * (q - zeroPoint));
    columnScale = new Array<number>(c.n).fill(scale);
  } else {
    const codes = randomCodes(rng, sizeOf(bShape), -127, 127);
    const perColumn = c.bKind === 'perColumn';
    const scale = Array.from({length: perColumn ? c.n : 1}, () => unit * rng.floatIn(0.3, 3));
    const params = {scale, zeroPoint: scale.map(() => 0), ...(perColumn ? {axis: columnAxis} : {})};
    b = () => quantizedTensor(codes, bShape, params);
    bFloat = dequantizeSymmetric(codes, bShape, scale, perColumn ? columnAxis : undefined);
    columnScale = perColumn ? scale : new Array<number>(c.n).fill(scale[0]);
  }
  const accScale = columnScale.map(s => c.aScale * s);
  let bias: Operands['bias'] = null;
  if (c.biasKind === 'int32') {
    const codes = Int32Array.from({length: c.n}, () => rng.intIn(-c.k * 4000, c.k * 4000));
    bias = {make: () => quantizedTensor(codes, [c.n], {scale: accScale, zeroPoint: accScale.map(() => 0), axis: 0}),
            simulated: Float32Array.from(codes, (q, j) => accScale[j] * q)};
  } else if (c.biasKind === 'float') {
    const values = randomData(rng, c.n, 0, accScale[0] * c.k * 4000);
    bias = {make: () => tf.tensor1d(values), simulated: values};
  }
  return {
    a: () => quantizedTensor(aCodes, aShape, aParams),
    aFloat: Float32Array.from(aCodes, q => c.aScale * (q - c.aZeroPoint)),
    aShape, b, bFloat, bShape, columnScale, bias,
    alpha: c.activation === 'prelu' ? randomData(rng, c.n, 1, 0.5) : null,
  };
}

function simulate(c: StaticMatMulCase, o: Operands): tf.Tensor {
  const a = tf.tensor(o.aFloat, o.aShape);
  const b = tf.tensor(o.bFloat, o.bShape);
  if (!c.fused) return tf.matMul(a, b, c.transposeA, c.transposeB);
  return tf.fused.matMul({
    a, b, transposeA: c.transposeA, transposeB: c.transposeB, activation: c.activation,
    leakyreluAlpha: c.leakyreluAlpha,
    bias: o.bias === null ? undefined : tf.tensor1d(o.bias.simulated),
    preluActivationWeights: o.alpha === null ? undefined : tf.tensor1d(o.alpha),
  });
}

function runInt8(c: StaticMatMulCase, o: Operands, output: {scale: number; zeroPoint: number} | null): tf.Tensor {
  const inputs: tf.NamedTensorMap = {a: o.a(), b: o.b()};
  if (o.bias !== null) inputs.bias = o.bias.make();
  if (o.alpha !== null) inputs.preluActivationWeights = tf.tensor1d(o.alpha);
  const attrs = {
    transposeA: c.transposeA, transposeB: c.transposeB, activation: c.activation, leakyreluAlpha: c.leakyreluAlpha,
    ...(output === null ? {} : {outputScale: output.scale, outputZeroPoint: output.zeroPoint}),
  };
  return tf.engine().runKernel(c.fused ? '_FusedMatMul' : 'BatchMatMul', inputs,
                               attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

const lsb = new LsbTally();

describe('static matmul kernels vs the float simulation on tfjs-cpu', () => {
  beforeAll(async () => {
    await tf.setBackend('int8');
  });
  afterAll(() => {
    lsb.print('LSB, static');
  });

  for (const fused of [false, true]) {
    const family = fused ? '_FusedMatMul' : 'BatchMatMul';
    it(`${family}: 150 random cases within 1 LSB (int8) / float32 rounding (int32 accumulators)`, async () => {
      const rng = rngFor(fused ? 401 : 400);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 150; i++) {
        const c = randomCase(rng, fused);
        const o = operands(rng, c);
        const label = JSON.stringify(c);
        const sim = await valuesOn('cpu', () => simulate(c, o));
        const widen = rng.bool();
        const output = c.withOutput ?
            outputParamsFor(sim.values, widen ? rng.floatIn(0, 1) : 0, widen ? rng.floatIn(0, 1) : 0) : null;
        const dequantizations = int8Backend().stats.dequantizations;
        const result = scoped(() => {
          const y = runInt8(c, o, output);
          return {q: getQuantization(y), values: y.dataSync().slice(), shape: y.shape};
        });
        const integerOnly = ['linear', 'relu', 'relu6'].includes(c.activation);
        if (integerOnly && c.bKind !== 'float' && c.biasKind !== 'float') {
          expect(int8Backend().stats.dequantizations - dequantizations, `${label}: float arithmetic`).toBe(1);
        }
        expect(result.shape, label).toEqual(sim.shape);
        if (output !== null) {
          expect(result.q?.dtype, label).toBe('int8');
          const worst = lsb.add(family + (c.bKind === 'activation' ? ' (two activations)' : ''),
                                result.q?.codes as Int8Array, fakeQuantize(sim.values, output.scale, output.zeroPoint));
          expect(worst, label).toBeLessThanOrEqual(1);
        } else {
          expect(result.q?.dtype ?? 'float', label).toBe(integerOnly ? 'int32' : 'float');
          const maxA = Math.max(...Array.from(o.aFloat, Math.abs));
          const maxB = Math.max(...Array.from(o.bFloat, Math.abs));
          const tolerance = 1e-6 * c.k * maxA * maxB + c.aScale * Math.max(...o.columnScale);
          for (let e = 0; e < sim.values.length; e++) {
            expect(Math.abs(result.values[e] - sim.values[e]), `${label} @${e}`).toBeLessThanOrEqual(tolerance);
          }
        }
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
