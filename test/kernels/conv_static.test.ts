// Static mode of the four conv kernels: int8 input codes, int8 per-channel
// filter codes (every way the per-channel axis can be expressed), int32 or
// float bias, every fused activation, with and without outputScale /
// outputZeroPoint. The int8 outputs must equal the float simulation on
// tfjs-cpu — dequantized input and filter → the float op → fake-quantized
// with the same output parameters — within 1 LSB on every element; int32
// accumulator outputs must equal the simulation within float32 rounding.
// The per-kernel LSB table is printed at the end.
import * as tf from '@tensorflow/tfjs-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {getQuantization, int8Backend, quantizedTensor} from '../../src/index';
import {
  dequantizeSymmetric, fakeQuantize, LsbTally, outputParamsFor, quantizeSymmetric, randomCodes, randomData, rngFor,
  scoped, sizeOf, valuesOn,
} from './conv_matmul_helpers';
import type {Rng} from './conv_matmul_helpers';

type Activation = 'linear' | 'relu' | 'relu6' | 'leakyrelu' | 'prelu' | 'sigmoid' | 'elu';
type Family = 'Conv2D' | 'DepthwiseConv2dNative' | 'FusedConv2D' | 'FusedDepthwiseConv2D';
type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
/** How the filter reaches the kernel: int8 codes along an axis, per tensor, flattened + reshaped, or float. */
type FilterKind = 'lastAxis' | 'inputChannelAxis' | 'flatOutputChannels' | 'perTensor' | 'float';

interface StaticCase {
  family: Family;
  xShape: [number, number, number, number];
  filterShape: [number, number, number, number];
  strides: [number, number];
  dilations: [number, number];
  pad: Pad;
  dimRoundingMode?: 'round';
  activation: Activation;
  leakyreluAlpha: number;
  inputScale: number;
  inputZeroPoint: number;
  filterKind: FilterKind;
  biasKind: 'none' | 'int32' | 'float' | 'scalar';
  withOutput: boolean;
}

const ACTIVATIONS: Activation[] = ['linear', 'relu', 'relu6', 'leakyrelu', 'prelu', 'sigmoid', 'elu'];

function randomCase(rng: Rng, family: Family): StaticCase {
  for (;;) {
    const depthwise = family.includes('Depthwise');
    const fused = family.startsWith('Fused');
    const inC = rng.intIn(1, 6);
    const wide = rng.bool();
    const padChoice = rng.intIn(0, 3);
    const c: StaticCase = {
      family,
      xShape: [rng.intIn(1, 2), rng.intIn(1, 10), rng.intIn(1, 10), inC],
      filterShape: [rng.intIn(1, 3), rng.intIn(1, 3), inC, depthwise ? rng.intIn(1, 3) : rng.intIn(1, 8)],
      strides: wide ? [rng.intIn(1, 3), rng.intIn(1, 3)] : [1, 1],
      dilations: wide ? [1, 1] : [rng.intIn(1, 2), rng.intIn(1, 2)],
      pad: padChoice === 0 ? 'same' : padChoice === 1 ? 'valid' : padChoice === 2 ? rng.intIn(0, 3) :
          [[0, 0], [rng.intIn(0, 3), rng.intIn(0, 3)], [rng.intIn(0, 3), rng.intIn(0, 3)], [0, 0]],
      activation: fused ? rng.pick(ACTIVATIONS) : 'linear',
      leakyreluAlpha: rng.floatIn(0.05, 0.5),
      inputScale: rng.logUniform(1e-3, 1),
      inputZeroPoint: rng.pick([-128, -100, 0, 127, rng.intIn(-128, 127)]),
      filterKind: depthwise ? rng.pick(['lastAxis', 'inputChannelAxis', 'flatOutputChannels', 'perTensor', 'float'] as const)
                            : rng.pick(['lastAxis', 'lastAxis', 'perTensor', 'float'] as const),
      biasKind: fused ? rng.pick(['none', 'int32', 'int32', 'float', 'scalar'] as const) : 'none',
      withOutput: rng.intIn(0, 4) > 0,
    };
    if (padChoice === 2) c.dimRoundingMode = 'round';
    const info = tf.backend_util.computeConv2DInfo(c.xShape, c.filterShape, c.strides, c.dilations, c.pad,
                                                   c.dimRoundingMode, depthwise);
    if (info.outShape.every(d => d > 0)) return c;
  }
}

/** The filter as the kernel gets it (a tensor on int8) and as the simulation sees it (float values). */
interface FilterData {
  make: () => tf.Tensor;
  simulated: Float32Array;
  /** Per output channel: S_w[c]. */
  channelScale: number[];
}

function filterData(rng: Rng, c: StaticCase): FilterData {
  const [fh, fw, inC, last] = c.filterShape;
  const depthwise = c.family.includes('Depthwise');
  const outC = depthwise ? inC * last : last;
  const size = sizeOf(c.filterShape);
  const flat = [fh * fw * (depthwise ? 1 : inC), outC];  // output channel = e mod outC
  const depthScale = rng.logUniform(1e-3, 1) / Math.sqrt(fh * fw * (depthwise ? 1 : inC));
  if (c.filterKind === 'float') {
    const values = randomData(rng, size, 3, depthScale * 127);
    const {codes, scale} = quantizeSymmetric(values, flat, 1);
    return {make: () => tf.tensor4d(values, c.filterShape), simulated: dequantizeSymmetric(codes, flat, scale, 1),
            channelScale: scale};
  }
  const codes = randomCodes(rng, size, -127, 127);
  const scalesOf = (n: number): number[] => Array.from({length: n}, () => depthScale * rng.floatIn(0.3, 3));
  let qShape: number[] = c.filterShape;
  let axis: number | undefined;
  let scale: number[];
  switch (c.filterKind) {
    case 'lastAxis': axis = 3; scale = scalesOf(last); break;
    case 'inputChannelAxis': axis = 2; scale = scalesOf(inC); break;
    case 'flatOutputChannels': qShape = [fh, fw, outC]; axis = 2; scale = scalesOf(outC); break;
    default: scale = scalesOf(1);
  }
  const simulated = dequantizeSymmetric(codes, qShape, scale, axis);
  const params = {scale, zeroPoint: scale.map(() => 0), ...(axis === undefined ? {} : {axis})};
  // output channel ch = e mod outC; its scale is the one of the codes' channel along `axis`
  const channelScale = Array.from({length: outC}, (_, ch) =>
      axis === undefined ? scale[0] : scale[Math.floor(ch / sizeOf(qShape.slice(axis + 1))) % qShape[axis]]);
  const make = (): tf.Tensor => {
    const t = quantizedTensor(codes, qShape, params);
    return qShape.length === 4 ? t : tf.reshape(t, c.filterShape);
  };
  return {make, simulated, channelScale};
}

interface CaseTensors {
  x: () => tf.Tensor;
  xFloat: Float32Array;
  filter: FilterData;
  bias: {make: () => tf.Tensor; simulated: Float32Array; shape: number[]} | null;
  alpha: Float32Array | null;
}

function caseTensors(rng: Rng, c: StaticCase): CaseTensors {
  const depthwise = c.family.includes('Depthwise');
  const outC = depthwise ? c.filterShape[2] * c.filterShape[3] : c.filterShape[3];
  const xCodes = randomCodes(rng, sizeOf(c.xShape));
  const xParams = {scale: [c.inputScale], zeroPoint: [c.inputZeroPoint]};
  const xFloat = Float32Array.from(xCodes, q => c.inputScale * (q - c.inputZeroPoint));
  const filter = filterData(rng, c);
  const accScale = filter.channelScale.map(s => c.inputScale * s);
  const depth = c.filterShape[0] * c.filterShape[1] * (depthwise ? 1 : c.filterShape[2]);
  let bias: CaseTensors['bias'] = null;
  if (c.biasKind === 'int32') {
    const codes = Int32Array.from({length: outC}, () => rng.intIn(-depth * 4000, depth * 4000));
    const params = {scale: accScale, zeroPoint: accScale.map(() => 0), axis: 0};
    bias = {make: () => quantizedTensor(codes, [outC], params), shape: [outC],
            simulated: Float32Array.from(codes, (q, ch) => accScale[ch] * q)};
  } else if (c.biasKind === 'float' || c.biasKind === 'scalar') {
    const shape = c.biasKind === 'float' ? [outC] : [1];
    const values = randomData(rng, shape[0], 0, accScale[0] * depth * 4000);
    bias = {make: () => tf.tensor(values, shape), simulated: values, shape};
  }
  return {
    x: () => quantizedTensor(xCodes, c.xShape, xParams),
    xFloat,
    filter,
    bias,
    alpha: c.activation === 'prelu' ? randomData(rng, outC, 1, 0.5) : null,
  };
}

function attrsOf(c: StaticCase, output: {scale: number; zeroPoint: number} | null): tf.NamedAttrMap {
  return {
    strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dilations: c.dilations, dimRoundingMode: c.dimRoundingMode,
    activation: c.activation, leakyreluAlpha: c.leakyreluAlpha,
    ...(output === null ? {} : {outputScale: output.scale, outputZeroPoint: output.zeroPoint}),
  } as unknown as tf.NamedAttrMap;
}

/** The float simulation on tfjs-cpu: dequantized operands through tfjs's float ops. */
function simulate(c: StaticCase, t: CaseTensors): tf.Tensor {
  const x = tf.tensor4d(t.xFloat, c.xShape);
  const filter = tf.tensor4d(t.filter.simulated, c.filterShape);
  // tfjs's fused ops accept explicit padding at run time; their typings omit it
  const common = {x, filter, strides: c.strides, pad: c.pad as 'same', dataFormat: 'NHWC' as const, dilations: c.dilations,
                  dimRoundingMode: c.dimRoundingMode};
  const fused = {
    ...common, activation: c.activation, leakyreluAlpha: c.leakyreluAlpha,
    bias: t.bias === null ? undefined : tf.tensor(t.bias.simulated, t.bias.shape),
    preluActivationWeights: t.alpha === null ? undefined : tf.tensor1d(t.alpha),
  };
  switch (c.family) {
    case 'Conv2D': return tf.conv2d(x, filter, c.strides, c.pad, 'NHWC', c.dilations, c.dimRoundingMode);
    case 'DepthwiseConv2dNative':
      return tf.depthwiseConv2d(x, filter, c.strides, c.pad, 'NHWC', c.dilations, c.dimRoundingMode);
    case 'FusedConv2D': return tf.fused.conv2d(fused);
    case 'FusedDepthwiseConv2D': return tf.fused.depthwiseConv2d(fused);
  }
}

function runInt8(c: StaticCase, t: CaseTensors, output: {scale: number; zeroPoint: number} | null): tf.Tensor {
  const inputs: tf.NamedTensorMap = {x: t.x(), filter: t.filter.make()};
  if (t.bias !== null) inputs.bias = t.bias.make();
  if (t.alpha !== null) inputs.preluActivationWeights = tf.tensor1d(t.alpha);
  return tf.engine().runKernel(c.family, inputs, attrsOf(c, output)) as tf.Tensor;
}

const integerOnly = (c: StaticCase): boolean => ['linear', 'relu', 'relu6'].includes(c.activation);

const lsb = new LsbTally();

describe('static conv kernels vs the float simulation on tfjs-cpu', () => {
  beforeAll(async () => {
    await tf.setBackend('int8');
  });
  afterAll(() => {
    lsb.print('LSB, static');
  });

  const families: Family[] = ['Conv2D', 'DepthwiseConv2dNative', 'FusedConv2D', 'FusedDepthwiseConv2D'];
  families.forEach((family, f) => {
    it(`${family}: 100 random cases within 1 LSB (int8) / float32 rounding (int32 accumulators)`, async () => {
      const rng = rngFor(300 + f);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 100; i++) {
        const c = randomCase(rng, family);
        const t = caseTensors(rng, c);
        const label = JSON.stringify(c);
        const sim = await valuesOn('cpu', () => simulate(c, t));
        // half of the cases widen the output range so that relu / relu6 clamps bite
        const widen = rng.bool();
        const output = c.withOutput ?
            outputParamsFor(sim.values, widen ? rng.floatIn(0, 1) : 0, widen ? rng.floatIn(0, 1) : 0) : null;
        const dequantizations = int8Backend().stats.dequantizations;
        const result = scoped(() => {
          const y = runInt8(c, t, output);
          return {q: getQuantization(y), values: y.dataSync().slice(), shape: y.shape};
        });
        const pure = integerOnly(c) && c.filterKind !== 'float' && c.biasKind !== 'float' && c.biasKind !== 'scalar';
        if (pure) {
          // read back (dataSync) dequantizes the output once; nothing else may be dequantized
          expect(int8Backend().stats.dequantizations - dequantizations, `${label}: float arithmetic`).toBe(1);
        }
        expect(result.shape, label).toEqual(sim.shape);
        if (output !== null) {
          expect(result.q?.dtype, label).toBe('int8');
          expect(result.q?.params, label).toEqual({scale: [output.scale], zeroPoint: [output.zeroPoint]});
          const expected = fakeQuantize(sim.values, output.scale, output.zeroPoint);
          const worst = lsb.add(family, result.q?.codes as Int8Array, expected);
          expect(worst, label).toBeLessThanOrEqual(1);
        } else {
          expect(result.q?.dtype ?? 'float', label).toBe(integerOnly(c) ? 'int32' : 'float');
          const maxX = Math.max(...Array.from(t.xFloat, Math.abs));
          const maxW = Math.max(...Array.from(t.filter.simulated, Math.abs));
          const depth = c.filterShape[0] * c.filterShape[1] * c.filterShape[2];
          const tolerance = 1e-6 * depth * maxX * maxW + c.inputScale * Math.max(...t.filter.channelScale);
          for (let e = 0; e < sim.values.length; e++) {
            expect(Math.abs(result.values[e] - sim.values[e]), `${label} @${e}`).toBeLessThanOrEqual(tolerance);
          }
        }
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});
