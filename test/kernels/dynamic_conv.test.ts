// Dynamic mode of the four conv kernels: float inputs on the int8 backend
// against tfjs-cpu's float kernels, over a randomized sweep of shapes,
// strides, dilations, paddings (same, valid, numeric with dimRoundingMode,
// explicit), batch, channel multiplier, bias and fused activations. Each case
// must reach SQNR ≥ 30 dB and differ from the float result somewhere (proof
// that the integer path ran). The per-kernel SQNR table is printed at the end.
import * as tf from '@tensorflow/tfjs-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import '../../src/index';
import {int8Backend} from '../../src/index';
import {isScaleFreeActivation, randomData, rngFor, sizeOf, sqnrDb, Tally, valuesOn} from './conv_matmul_helpers';
import type {Rng} from './conv_matmul_helpers';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
type Activation = 'linear' | 'relu' | 'relu6' | 'leakyrelu' | 'prelu' | 'sigmoid' | 'elu';
type Family = 'Conv2D' | 'DepthwiseConv2dNative' | 'FusedConv2D' | 'FusedDepthwiseConv2D';

interface ConvCase {
  family: Family;
  xShape: [number, number, number, number];
  filterShape: [number, number, number, number];
  strides: [number, number];
  dilations: [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  activation: Activation;
  leakyreluAlpha: number;
  biasShape: number[] | null;
  alphaShape: number[] | null;
  dataKind: number;
}

const ACTIVATIONS: Activation[] = ['linear', 'relu', 'relu6', 'leakyrelu', 'prelu', 'sigmoid', 'elu'];

function randomPad(rng: Rng): {pad: Pad; dimRoundingMode?: 'floor' | 'round' | 'ceil'} {
  switch (rng.intIn(0, 3)) {
    case 0: return {pad: 'same'};
    case 1: return {pad: 'valid'};
    case 2: return {pad: rng.intIn(0, 4), dimRoundingMode: rng.pick(['floor', 'round', 'ceil'] as const)};
    default:
      return {pad: [[0, 0], [rng.intIn(0, 4), rng.intIn(0, 4)], [rng.intIn(0, 4), rng.intIn(0, 4)], [0, 0]]};
  }
}

function outShapeOf(c: ConvCase): number[] {
  const depthwise = c.family.includes('Depthwise');
  return tf.backend_util.computeConv2DInfo(c.xShape, c.filterShape, c.strides, c.dilations, c.pad,
                                           c.dimRoundingMode, depthwise).outShape;
}

function randomCase(rng: Rng, family: Family): ConvCase {
  for (;;) {
    const depthwise = family.includes('Depthwise');
    const fused = family.startsWith('Fused');
    const inC = rng.intIn(1, 6);
    const last = depthwise ? rng.intIn(1, 3) : rng.intIn(1, 8);
    const wide = rng.bool();  // strides > 1, or dilations > 1 (tfjs ops allow only one of them)
    const c: ConvCase = {
      family,
      xShape: [rng.intIn(1, 3), rng.intIn(1, 11), rng.intIn(1, 11), inC],
      filterShape: [rng.intIn(1, 4), rng.intIn(1, 4), inC, last],
      strides: wide ? [rng.intIn(1, 3), rng.intIn(1, 3)] : [1, 1],
      dilations: wide ? [1, 1] : [rng.intIn(1, 3), rng.intIn(1, 3)],
      ...randomPad(rng),
      activation: fused ? rng.pick(ACTIVATIONS) : 'linear',
      leakyreluAlpha: rng.floatIn(0.01, 0.5),
      biasShape: null,
      alphaShape: null,
      dataKind: rng.intIn(0, 3),
    };
    const outShape = outShapeOf(c);
    if (!outShape.every(d => d > 0)) continue;
    const outC = outShape[3];
    if (fused && rng.intIn(0, 4) > 0) c.biasShape = rng.pick([[outC], [outC], [1], outShape.slice(1)]);
    if (c.activation === 'prelu') c.alphaShape = rng.pick([[outC], [1], outShape.slice(1)]);
    return c;
  }
}

interface CaseData {
  x: Float32Array;
  filter: Float32Array;
  bias: Float32Array | null;
  alpha: Float32Array | null;
}

/**
 * Random data. Magnitudes span 10^-2..10^2 (the scale-equivariant linear,
 * relu, leakyrelu, prelu do not care); for relu6, sigmoid and elu, whose shape
 * depends on scale, the pre-activations are kept O(1) as in trained models —
 * at |pre-activation| ~ 10^3 a sigmoid turns an int8-sized error into a flipped
 * 0/1, a property of the activation rather than of the kernel.
 */
function caseData(rng: Rng, c: ConvCase): CaseData {
  const scaleFree = isScaleFreeActivation(c.activation);
  const depth = c.filterShape[0] * c.filterShape[1] * (c.family.includes('Depthwise') ? 1 : c.filterShape[2]);
  return {
    x: randomData(rng, sizeOf(c.xShape), c.dataKind, scaleFree ? rng.logUniform(0.01, 100) : rng.floatIn(0.5, 2)),
    filter: randomData(rng, sizeOf(c.filterShape), 3,
                       scaleFree ? rng.logUniform(0.01, 10) : rng.floatIn(0.5, 3) / Math.sqrt(depth)),
    bias: c.biasShape === null ? null : randomData(rng, sizeOf(c.biasShape), 0),
    alpha: c.alphaShape === null ? null : randomData(rng, sizeOf(c.alphaShape), 1, 0.5),
  };
}

/** The case through tfjs's public ops, on the current backend. */
function runCase(c: ConvCase, d: CaseData): tf.Tensor {
  const x = tf.tensor4d(d.x, c.xShape);
  const filter = tf.tensor4d(d.filter, c.filterShape);
  const bias = d.bias === null ? undefined : tf.tensor(d.bias, c.biasShape as number[]);
  const alpha = d.alpha === null ? undefined : tf.tensor(d.alpha, c.alphaShape as number[]);
  // tfjs's fused ops accept explicit padding at run time; their typings omit it
  const common = {x, filter, strides: c.strides, pad: c.pad as 'same', dataFormat: 'NHWC' as const, dilations: c.dilations,
                  dimRoundingMode: c.dimRoundingMode};
  const fusedArgs = {...common, bias, activation: c.activation, preluActivationWeights: alpha,
                     leakyreluAlpha: c.leakyreluAlpha};
  switch (c.family) {
    case 'Conv2D':
      return tf.conv2d(x, filter, c.strides, c.pad, 'NHWC', c.dilations, c.dimRoundingMode);
    case 'DepthwiseConv2dNative':
      return tf.depthwiseConv2d(x, filter, c.strides, c.pad, 'NHWC', c.dilations, c.dimRoundingMode);
    case 'FusedConv2D':
      return tf.fused.conv2d(fusedArgs);
    case 'FusedDepthwiseConv2D':
      return tf.fused.depthwiseConv2d(fusedArgs);
  }
}

const tally = new Tally();

describe('dynamic conv kernels vs tfjs-cpu (randomized sweep)', () => {
  beforeAll(async () => {
    await tf.setBackend('int8');
  });
  afterAll(() => {
    tally.print('SQNR dB, dynamic');
  });

  const families: Family[] = ['Conv2D', 'DepthwiseConv2dNative', 'FusedConv2D', 'FusedDepthwiseConv2D'];
  families.forEach((family, f) => {
    it(`${family}: 80 random cases reach SQNR ≥ 30 dB through the integer path`, async () => {
      const rng = rngFor(100 + f);
      const before = tf.memory().numTensors;
      let identical = 0;
      for (let t = 0; t < 80; t++) {
        const c = randomCase(rng, family);
        const d = caseData(rng, c);
        const reference = await valuesOn('cpu', () => runCase(c, d));
        const dequantizations = int8Backend().stats.dequantizations;
        const ours = await valuesOn('int8', () => runCase(c, d));
        const label = JSON.stringify(c);
        expect(ours.shape, label).toEqual(reference.shape);
        expect(int8Backend().stats.dequantizations, 'nothing dequantized').toBe(dequantizations);
        // Every output reads padding only (e.g. a dilated filter wider than a
        // 1-pixel input): no signal, nothing to measure.
        if (reference.values.every(v => v === 0)) {
          expect(ours.values.every(v => v === 0), label).toBe(true);
          continue;
        }
        const sqnr = sqnrDb(reference.values, ours.values);
        tally.add(family, sqnr);
        expect(sqnr, label).toBeGreaterThanOrEqual(30);
        // Proof that the integer path ran: the result is not the float one. A
        // saturating activation (relu, relu6, sigmoid) may clamp every element
        // to the same value in both, so only linear cases must always differ.
        const same = ours.values.every((v, i) => v === reference.values[i]);
        if (c.activation === 'linear') expect(same, `${label}: identical to float`).toBe(false);
        if (same) identical++;
      }
      expect(identical, 'cases identical to float').toBeLessThanOrEqual(8);
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  it('Conv2D run directly with strides and dilations both > 1 (the kernel allows it, as tfjs-cpu does)', async () => {
    const rng = rngFor(7);
    const x = randomData(rng, 2 * 13 * 13 * 3, 0);
    const w = randomData(rng, 3 * 3 * 3 * 4, 3);
    const run = (): tf.Tensor => tf.engine().runKernel('Conv2D', {x: tf.tensor4d(x, [2, 13, 13, 3]),
                                                                   filter: tf.tensor4d(w, [3, 3, 3, 4])},
                                                       {strides: [2, 3], pad: 'same', dataFormat: 'NHWC',
                                                        dilations: [2, 2]} as unknown as tf.NamedAttrMap) as tf.Tensor;
    const reference = await valuesOn('cpu', run);
    const ours = await valuesOn('int8', run);
    expect(ours.shape).toEqual(reference.shape);
    expect(sqnrDb(reference.values, ours.values)).toBeGreaterThanOrEqual(30);
  });

  it('NCHW is a transparent float fallback: exactly tfjs-cpu', async () => {
    const rng = rngFor(8);
    const x = randomData(rng, 2 * 3 * 7 * 6, 0);
    const w = randomData(rng, 3 * 3 * 3 * 4, 3);
    const b = randomData(rng, 4, 0);
    for (const activation of ['linear', 'relu', 'sigmoid'] as const) {
      const run = (): tf.Tensor => tf.fused.conv2d({
        x: tf.tensor4d(x, [2, 3, 7, 6]), filter: tf.tensor4d(w, [3, 3, 3, 4]), strides: 1, pad: 'same',
        dataFormat: 'NCHW', bias: tf.tensor1d(b), activation});
      const reference = await valuesOn('cpu', run);
      const ours = await valuesOn('int8', run);
      expect(ours.shape).toEqual(reference.shape);
      expect(Array.from(ours.values)).toEqual(Array.from(reference.values));
    }
    const plain = (): tf.Tensor => tf.conv2d(tf.tensor4d(x, [2, 3, 7, 6]), tf.tensor4d(w, [3, 3, 3, 4]), 1, 'valid',
                                             'NCHW');
    expect(Array.from((await valuesOn('int8', plain)).values)).toEqual(Array.from((await valuesOn('cpu', plain)).values));
  });
});
