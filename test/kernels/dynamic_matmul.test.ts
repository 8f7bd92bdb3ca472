// Dynamic mode of BatchMatMul and _FusedMatMul: float inputs on the int8
// backend against tfjs-cpu, over random shapes (rank 2–4), transposeA/B,
// batch broadcast, weight-like b (per-column, cached) and two activations
// (both per tensor), bias and every fused activation. SQNR ≥ 30 dB and a
// result that differs from float. The per-kernel SQNR table is printed.
import * as tf from '@tensorflow/tfjs-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import '../../src/index';
import {int8Backend} from '../../src/index';
import {isScaleFreeActivation, randomData, rngFor, sizeOf, sqnrDb, Tally, valuesOn} from './conv_matmul_helpers';
import type {Rng} from './conv_matmul_helpers';

type Activation = 'linear' | 'relu' | 'relu6' | 'leakyrelu' | 'prelu' | 'sigmoid' | 'elu';
const ACTIVATIONS: Activation[] = ['linear', 'relu', 'relu6', 'leakyrelu', 'prelu', 'sigmoid', 'elu'];

interface MatMulCase {
  fused: boolean;
  aShape: number[];
  bShape: number[];
  transposeA: boolean;
  transposeB: boolean;
  activation: Activation;
  leakyreluAlpha: number;
  biasShape: number[] | null;
  alphaShape: number[] | null;
  dataKind: number;
}

function randomCase(rng: Rng, fused: boolean): MatMulCase {
  const m = rng.intIn(1, 9);
  const k = rng.intIn(1, 48);
  const n = rng.intIn(1, 9);
  const transposeA = rng.bool();
  const transposeB = rng.bool();
  const batchShape = rng.pick([[], [], [rng.intIn(2, 3)], [2, rng.intIn(1, 2)]]);
  // b: the same batch (two activations), or none (a weight, broadcast over a's batch)
  const bBatch = batchShape.length === 0 || rng.bool() ? [] : batchShape;
  const aBatch = bBatch.length > 0 && rng.intIn(0, 3) === 0 ? batchShape.map(() => 1) : batchShape;
  const c: MatMulCase = {
    fused,
    aShape: [...aBatch, ...(transposeA ? [k, m] : [m, k])],
    bShape: [...bBatch, ...(transposeB ? [n, k] : [k, n])],
    transposeA, transposeB,
    activation: fused ? rng.pick(ACTIVATIONS) : 'linear',
    leakyreluAlpha: rng.floatIn(0.01, 0.5),
    biasShape: null,
    alphaShape: null,
    dataKind: rng.intIn(0, 3),
  };
  if (fused && rng.intIn(0, 4) > 0) c.biasShape = rng.pick([[n], [n], [1], [m, n]]);
  if (c.activation === 'prelu') c.alphaShape = rng.pick([[n], [1]]);
  return c;
}

interface CaseData {
  a: Float32Array;
  b: Float32Array;
  bias: Float32Array | null;
  alpha: Float32Array | null;
}

/** Magnitudes 10^-2..10^2, except O(1) pre-activations for the scale-dependent relu6, sigmoid, elu. */
function caseData(rng: Rng, c: MatMulCase): CaseData {
  const scaleFree = isScaleFreeActivation(c.activation);
  const k = c.transposeA ? c.aShape[c.aShape.length - 2] : c.aShape[c.aShape.length - 1];
  return {
    a: randomData(rng, sizeOf(c.aShape), c.dataKind, scaleFree ? rng.logUniform(0.01, 100) : rng.floatIn(0.5, 2)),
    b: randomData(rng, sizeOf(c.bShape), rng.intIn(0, 3),
                  scaleFree ? rng.logUniform(0.01, 10) : rng.floatIn(0.5, 3) / Math.sqrt(k)),
    bias: c.biasShape === null ? null : randomData(rng, sizeOf(c.biasShape), 0),
    alpha: c.alphaShape === null ? null : randomData(rng, sizeOf(c.alphaShape), 1, 0.5),
  };
}

function runCase(c: MatMulCase, d: CaseData): tf.Tensor {
  const a = tf.tensor(d.a, c.aShape);
  const b = tf.tensor(d.b, c.bShape);
  if (!c.fused) return tf.matMul(a, b, c.transposeA, c.transposeB);
  return tf.fused.matMul({
    a, b, transposeA: c.transposeA, transposeB: c.transposeB,
    bias: d.bias === null ? undefined : tf.tensor(d.bias, c.biasShape as number[]),
    activation: c.activation,
    preluActivationWeights: d.alpha === null ? undefined : tf.tensor(d.alpha, c.alphaShape as number[]),
    leakyreluAlpha: c.leakyreluAlpha,
  });
}

const tally = new Tally();

describe('dynamic matmul kernels vs tfjs-cpu (randomized sweep)', () => {
  beforeAll(async () => {
    await tf.setBackend('int8');
  });
  afterAll(() => {
    tally.print('SQNR dB, dynamic');
  });

  for (const fused of [false, true]) {
    const family = fused ? '_FusedMatMul' : 'BatchMatMul';
    it(`${family}: 120 random cases reach SQNR ≥ 30 dB through the integer path`, async () => {
      const rng = rngFor(fused ? 201 : 200);
      const before = tf.memory().numTensors;
      let identical = 0;
      for (let t = 0; t < 120; t++) {
        const c = randomCase(rng, fused);
        const d = caseData(rng, c);
        const reference = await valuesOn('cpu', () => runCase(c, d));
        const dequantizations = int8Backend().stats.dequantizations;
        const ours = await valuesOn('int8', () => runCase(c, d));
        const label = JSON.stringify(c);
        expect(ours.shape, label).toEqual(reference.shape);
        expect(int8Backend().stats.dequantizations, 'nothing dequantized').toBe(dequantizations);
        const sqnr = sqnrDb(reference.values, ours.values);
        const batched = c.bShape.length > 2 ? ' (two activations)' : ' (weight b)';
        tally.add(family, sqnr);
        tally.add(family + batched, sqnr);
        expect(sqnr, label).toBeGreaterThanOrEqual(30);
        const same = ours.values.every((v, i) => v === reference.values[i]);
        if (c.activation === 'linear') expect(same, `${label}: identical to float`).toBe(false);
        if (same) identical++;
      }
      expect(identical, 'cases identical to float').toBeLessThanOrEqual(12);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('int32 tensors run tfjs-cpu\'s kernel (exact integer matmul)', async () => {
    const run = (): tf.Tensor => tf.matMul(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32'),
                                           tf.tensor2d([7, 8, 9, 10, 11, 12], [3, 2], 'int32'));
    expect(Array.from((await valuesOn('int8', run)).values)).toEqual([58, 64, 139, 154]);
  });

  it('NaN and Infinity in a run in float, as tfjs-cpu', async () => {
    const run = (): tf.Tensor => tf.matMul(tf.tensor2d([1, NaN, Infinity, 4], [2, 2]), tf.tensor2d([1, 2, 3, 4], [2, 2]));
    const reference = await valuesOn('cpu', run);
    const ours = await valuesOn('int8', run);
    expect(Array.from(ours.values)).toEqual(Array.from(reference.values));
  });
});
