// The four conv kernels on the WebAssembly SIMD kernels vs their TypeScript
// reference (flag INT8_WASM off), bit for bit, on randomized sweeps of shapes,
// strides, dilations, paddings (same, valid, numeric with dimRoundingMode,
// explicit), batch, channel counts across 16-channel blocks, channel
// multipliers, fused activations and biases — in static mode (int8 codes in,
// int8 codes or int32 accumulators out, negative zero points, per-channel
// filter scales along every axis the kernels accept, int32 / float / scalar /
// full-shape biases) and dynamic mode (float in, float out, or int8 out with
// outputScale/outputZeroPoint).
import * as tf from '@tensorflow/tfjs-core';
import {beforeAll, describe, expect, it} from 'vitest';

import {activeInt8Wasm} from '../../kernels/impl/wasm_dispatch';
import {WasmCodeStore} from '../../kernels/wasm/loader';
import {int8Backend, quantizedTensor} from '../../src/index';
import {randomCodes, randomData, rngFor, sizeOf} from './conv_matmul_helpers';
import type {Rng} from './conv_matmul_helpers';
import {expectBitExact, runBothWays, withWasm} from './wasm_helpers';

type Family = 'Conv2D' | 'DepthwiseConv2dNative' | 'FusedConv2D' | 'FusedDepthwiseConv2D';
type Activation = 'linear' | 'relu' | 'relu6' | 'leakyrelu' | 'prelu' | 'sigmoid' | 'elu';
type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
const FAMILIES: Family[] = ['Conv2D', 'DepthwiseConv2dNative', 'FusedConv2D', 'FusedDepthwiseConv2D'];
const ACTIVATIONS: Activation[] = ['linear', 'relu', 'relu6', 'leakyrelu', 'prelu', 'sigmoid', 'elu'];

interface Geometry {
  xShape: [number, number, number, number];
  filterShape: [number, number, number, number];
  strides: [number, number];
  dilations: [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  outShape: number[];
}

function randomGeometry(rng: Rng, depthwise: boolean): Geometry {
  for (;;) {
    const inC = rng.pick([1, 2, 3, 5, 8, 16, 17, 24, 33, rng.intIn(1, 40)]);
    const last = depthwise ? rng.pick([1, 1, 1, 2, 3]) : rng.pick([1, 3, 4, 8, 16, 17, 20, 32, 33, rng.intIn(1, 40)]);
    const wide = rng.bool();
    const padChoice = rng.intIn(0, 3);
    const g: Geometry = {
      xShape: [rng.intIn(1, 3), rng.intIn(1, 14), rng.intIn(1, 14), inC],
      filterShape: [rng.pick([1, 1, 2, 3, 3, 5]), rng.pick([1, 1, 2, 3, 3, 4]), inC, last],
      strides: wide ? [rng.intIn(1, 3), rng.intIn(1, 3)] : [1, 1],
      dilations: wide ? [1, 1] : [rng.pick([1, 1, 2, 3]), rng.pick([1, 1, 2])],
      pad: padChoice === 0 ? 'same' : padChoice === 1 ? 'valid' : padChoice === 2 ? rng.intIn(0, 3) :
          [[0, 0], [rng.intIn(0, 3), rng.intIn(0, 3)], [rng.intIn(0, 3), rng.intIn(0, 3)], [0, 0]],
      outShape: [],
    };
    if (padChoice === 2) g.dimRoundingMode = rng.pick(['floor', 'round', 'ceil'] as const);
    const info = tf.backend_util.computeConv2DInfo(g.xShape, g.filterShape, g.strides, g.dilations, g.pad,
                                                   g.dimRoundingMode, depthwise);
    g.outShape = info.outShape;
    if (g.outShape.every(d => d > 0)) return g;
  }
}

function attrsOf(g: Geometry, extra: Record<string, unknown>): tf.NamedAttrMap {
  return {strides: g.strides, pad: g.pad, dataFormat: 'NHWC', dilations: g.dilations,
          dimRoundingMode: g.dimRoundingMode, ...extra} as unknown as tf.NamedAttrMap;
}

/** The tensors of one case, made once (so weights are cached across the three runs). */
interface CaseTensors {
  inputs: Record<string, tf.Tensor>;
  attrs: tf.NamedAttrMap;
  label: string;
}

function staticCase(rng: Rng, family: Family): CaseTensors {
  const depthwise = family.includes('Depthwise');
  const fused = family.startsWith('Fused');
  const g = randomGeometry(rng, depthwise);
  const outC = g.outShape[3];
  const inputScale = rng.logUniform(1e-3, 1);
  const inputZeroPoint = rng.pick([-128, -100, -3, 0, 127, rng.intIn(-128, 127)]);
  const x = quantizedTensor(randomCodes(rng, sizeOf(g.xShape)), g.xShape, {scale: [inputScale],
                                                                          zeroPoint: [inputZeroPoint]});
  const [fh, fw, inC, last] = g.filterShape;
  const filterKind = rng.pick(depthwise ? ['axis3', 'axis2', 'perTensor', 'float'] as const :
                                          ['axis3', 'axis3', 'perTensor', 'float'] as const);
  const channelScale = Array.from({length: outC}, () => rng.logUniform(1e-3, 0.05));
  let filter: tf.Tensor;
  let weightScale: number[];
  if (filterKind === 'float') {
    filter = tf.tensor4d(randomData(rng, sizeOf(g.filterShape), 3, 0.3), g.filterShape);
    weightScale = channelScale;  // only for the output scale below
  } else {
    const codes = randomCodes(rng, sizeOf(g.filterShape), -127, 127);
    const axis = filterKind === 'axis3' ? 3 : filterKind === 'axis2' ? 2 : undefined;
    const n = axis === undefined ? 1 : g.filterShape[axis];
    const scale = channelScale.slice(0, n);
    filter = quantizedTensor(codes, g.filterShape, axis === undefined ? {scale, zeroPoint: [0]} :
        {scale, zeroPoint: scale.map(() => 0), axis});
    weightScale = Array.from({length: outC}, (_, c) =>
        axis === 3 ? scale[c % last] : axis === 2 ? scale[Math.floor(c / last)] : scale[0]);
  }
  const inputs: Record<string, tf.Tensor> = {x, filter};
  const activation: Activation = fused ? rng.pick(ACTIVATIONS) : 'linear';
  const biasKind = fused ? rng.pick(['none', 'int32', 'int32', 'float', 'scalar', 'full'] as const) : 'none';
  if (biasKind === 'int32') {
    const accScale = weightScale.map(s => inputScale * s);
    inputs.bias = quantizedTensor(Int32Array.from({length: outC}, () => rng.intIn(-50000, 50000)), [outC],
                                  {scale: accScale, zeroPoint: accScale.map(() => 0), axis: 0});
  } else if (biasKind === 'float') {
    inputs.bias = tf.tensor1d(randomData(rng, outC, 0, 0.5));
  } else if (biasKind === 'scalar') {
    inputs.bias = tf.tensor1d(randomData(rng, 1, 0, 0.5));
  } else if (biasKind === 'full') {
    inputs.bias = tf.tensor(randomData(rng, sizeOf(g.outShape.slice(1)), 0, 0.5), g.outShape.slice(1));
  }
  if (activation === 'prelu') {
    const alphaShape = rng.pick([[outC], [1], g.outShape.slice(1)]);
    inputs.preluActivationWeights = tf.tensor(randomData(rng, sizeOf(alphaShape), 1, 0.5), alphaShape);
  }
  const depth = fh * fw * (depthwise ? 1 : inC);
  const typical = inputScale * 64 * Math.max(...weightScale) * 64 * Math.sqrt(depth);
  const withOutput = rng.intIn(0, 4) > 0;
  const extra: Record<string, unknown> = fused ? {activation, leakyreluAlpha: rng.floatIn(0.05, 0.5)} : {};
  if (withOutput) {
    extra.outputScale = typical * rng.logUniform(0.02, 2) / 128;
    extra.outputZeroPoint = rng.pick([-128, -128, 0, 50, rng.intIn(-128, 127)]);
  }
  const label = JSON.stringify({family, g, inputZeroPoint, filterKind, biasKind, activation, withOutput});
  return {inputs, attrs: attrsOf(g, extra), label};
}

function dynamicCase(rng: Rng, family: Family): CaseTensors {
  const depthwise = family.includes('Depthwise');
  const fused = family.startsWith('Fused');
  const g = randomGeometry(rng, depthwise);
  const outC = g.outShape[3];
  const x = tf.tensor4d(randomData(rng, sizeOf(g.xShape), rng.intIn(0, 3), rng.logUniform(0.01, 100)), g.xShape);
  const filter = tf.tensor4d(randomData(rng, sizeOf(g.filterShape), 3, rng.logUniform(0.01, 3)), g.filterShape);
  const inputs: Record<string, tf.Tensor> = {x, filter};
  const activation: Activation = fused ? rng.pick(ACTIVATIONS) : 'linear';
  const biasShape = fused && rng.intIn(0, 4) > 0 ? rng.pick([[outC], [outC], [1], g.outShape.slice(1)]) : null;
  if (biasShape !== null) inputs.bias = tf.tensor(randomData(rng, sizeOf(biasShape), 0, 2), biasShape);
  if (activation === 'prelu') {
    const alphaShape = rng.pick([[outC], [1], g.outShape.slice(1)]);
    inputs.preluActivationWeights = tf.tensor(randomData(rng, sizeOf(alphaShape), 1, 0.5), alphaShape);
  }
  const extra: Record<string, unknown> = fused ? {activation, leakyreluAlpha: rng.floatIn(0.05, 0.5)} : {};
  const withOutput = rng.intIn(0, 9) === 0;  // a float input with output parameters: int8 out
  if (withOutput) {
    extra.outputScale = rng.logUniform(0.01, 1);
    extra.outputZeroPoint = rng.intIn(-128, 127);
  }
  const label = JSON.stringify({family, g, biasShape, activation, withOutput});
  return {inputs, attrs: attrsOf(g, extra), label};
}

function runCase(family: Family, c: CaseTensors): void {
  const result = runBothWays(() => tf.engine().runKernel(family, c.inputs, c.attrs) as tf.Tensor);
  expectBitExact(result, c.label);
}

describe('conv kernels: wasm SIMD vs the TypeScript reference, bit for bit', () => {
  beforeAll(async () => {
    await tf.setBackend('int8');
    expect(activeInt8Wasm(), 'this runtime validates WebAssembly SIMD').not.toBeNull();
  });

  FAMILIES.forEach((family, f) => {
    it(`${family}, static mode: 120 random cases`, () => {
      const rng = rngFor(4000 + f);
      const before = tf.memory().numTensors;
      for (let t = 0; t < 120; t++) {
        const c = staticCase(rng, family);
        runCase(family, c);
        tf.dispose(Object.values(c.inputs));
      }
      expect(tf.memory().numTensors).toBe(before);
    });

    it(`${family}, dynamic mode: 120 random cases`, () => {
      const rng = rngFor(5000 + f);
      const before = tf.memory().numTensors;
      for (let t = 0; t < 120; t++) {
        const c = dynamicCase(rng, family);
        runCase(family, c);
        tf.dispose(Object.values(c.inputs));
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  it('MobileNet-like layers (3x3 depthwise stride 1 and 2, 1x1 conv, 3x3 stride 2 stem), both modes', () => {
    const rng = rngFor(6000);
    const layers: Array<{family: Family; x: [number, number, number, number]; f: [number, number, number, number];
                         strides: number}> = [
      {family: 'FusedConv2D', x: [1, 33, 33, 3], f: [3, 3, 3, 32], strides: 2},
      {family: 'FusedDepthwiseConv2D', x: [1, 17, 17, 32], f: [3, 3, 32, 1], strides: 1},
      {family: 'FusedConv2D', x: [1, 17, 17, 32], f: [1, 1, 32, 64], strides: 1},
      {family: 'FusedDepthwiseConv2D', x: [1, 17, 17, 64], f: [3, 3, 64, 1], strides: 2},
      {family: 'FusedConv2D', x: [1, 9, 9, 64], f: [1, 1, 64, 128], strides: 1},
    ];
    for (const layer of layers) {
      for (const mode of ['static', 'dynamic'] as const) {
        const outC = layer.f[3] * (layer.family.includes('Depthwise') ? layer.f[2] : 1);
        const scale = Array.from({length: layer.f[3]}, () => rng.logUniform(0.002, 0.02));
        const x = mode === 'static' ?
            quantizedTensor(randomCodes(rng, sizeOf(layer.x)), layer.x, {scale: [0.0235], zeroPoint: [-128]}) :
            tf.tensor4d(randomData(rng, sizeOf(layer.x), 1, 6), layer.x);
        const filter = mode === 'static' ?
            quantizedTensor(randomCodes(rng, sizeOf(layer.f), -127, 127), layer.f,
                            {scale, zeroPoint: scale.map(() => 0), axis: 3}) :
            tf.tensor4d(randomData(rng, sizeOf(layer.f), 3, 0.2), layer.f);
        const bias = tf.tensor1d(randomData(rng, outC, 0, 0.3));
        const attrs = {strides: layer.strides, pad: 'same', dataFormat: 'NHWC', dilations: 1, activation: 'relu6',
                       ...(mode === 'static' ? {outputScale: 0.0235, outputZeroPoint: -128} : {})};
        const result = runBothWays(() => tf.engine().runKernel(layer.family, {x, filter, bias},
                                                                attrs as unknown as tf.NamedAttrMap) as tf.Tensor);
        expectBitExact(result, `${layer.family} ${mode} ${JSON.stringify(layer)}`);
        tf.dispose([x, filter, bias]);
      }
    }
  });

  it('static chains: an int8 output stays in wasm memory and feeds the next kernel by pointer', () => {
    const rng = rngFor(6001);
    const backend = int8Backend();
    const x = quantizedTensor(randomCodes(rng, 2 * 9 * 9 * 8), [2, 9, 9, 8], {scale: [0.05], zeroPoint: [-20]});
    const scale = (n: number): number[] => Array.from({length: n}, () => rng.logUniform(0.002, 0.02));
    const s1 = scale(16);
    const s2 = scale(16);
    const s3 = scale(24);
    const f1 = quantizedTensor(randomCodes(rng, 3 * 3 * 8 * 16, -127, 127), [3, 3, 8, 16],
                               {scale: s1, zeroPoint: s1.map(() => 0), axis: 3});
    const f2 = quantizedTensor(randomCodes(rng, 3 * 3 * 16, -127, 127), [3, 3, 16, 1],
                               {scale: s2, zeroPoint: s2.map(() => 0), axis: 2});
    const f3 = quantizedTensor(randomCodes(rng, 16 * 24, -127, 127), [1, 1, 16, 24],
                               {scale: s3, zeroPoint: s3.map(() => 0), axis: 3});
    const chain = (): tf.Tensor => {
      const common = {pad: 'same', dataFormat: 'NHWC', dilations: 1, activation: 'relu'};
      const a = tf.engine().runKernel('FusedConv2D', {x, filter: f1}, {...common, strides: 1, outputScale: 0.4,
                                      outputZeroPoint: -128} as unknown as tf.NamedAttrMap) as tf.Tensor;
      const b = tf.engine().runKernel('FusedDepthwiseConv2D', {x: a, filter: f2}, {...common, strides: 2,
                                      outputScale: 0.3, outputZeroPoint: -128} as unknown as tf.NamedAttrMap) as tf.Tensor;
      return tf.engine().runKernel('Conv2D', {x: b, filter: f3}, {...common, strides: 1} as unknown as tf.NamedAttrMap) as
          tf.Tensor;
    };
    expectBitExact(runBothWays(chain), 'conv → depthwise → conv (int8, int8, int32)');
    withWasm(true, () => tf.tidy(() => {
      const out = chain();
      const store = backend.getQuantized(out.dataId)?.store;
      expect(store instanceof WasmCodeStore, 'the int32 output lives in wasm memory').toBe(true);
      // Other kernels read a wasm store through codes() (a fresh view).
      expect(Array.from(tf.relu(out).dataSync()).every(v => v >= 0)).toBe(true);
    }));
    tf.dispose([x, f1, f2, f3]);
  });

  it('dynamic chains: a float output keeps a wasm twin that the next kernel quantizes from', () => {
    const rng = rngFor(6003);
    const backend = int8Backend();
    const x = tf.tensor4d(randomData(rng, 2 * 11 * 11 * 3, 0, 1), [2, 11, 11, 3]);
    const f1 = tf.tensor4d(randomData(rng, 3 * 3 * 3 * 20, 3, 0.3), [3, 3, 3, 20]);
    const f2 = tf.tensor4d(randomData(rng, 3 * 3 * 20, 3, 0.3), [3, 3, 20, 1]);
    const f3 = tf.tensor4d(randomData(rng, 20 * 17, 3, 0.3), [1, 1, 20, 17]);
    const dense = tf.tensor2d(randomData(rng, 17 * 5, 3, 0.3), [17, 5]);
    const b1 = tf.tensor1d(randomData(rng, 20, 0));
    const nanBias = tf.tensor1d(Float32Array.from(randomData(rng, 17, 0), (v, i) => i === 3 ? NaN : v));
    const infiniteBias = tf.tensor1d(Float32Array.from(randomData(rng, 17, 0), (v, i) => i === 5 ? -Infinity : v));
    const chain = (last: tf.Tensor1D | undefined, activation: 'relu6' | 'linear'): tf.Tensor => {
      const a = tf.fused.conv2d({x, filter: f1, strides: 2, pad: 'same', bias: b1, activation: 'relu6'});
      const b = tf.fused.depthwiseConv2d({x: a, filter: f2, strides: 1, pad: 'same', activation: 'relu'});
      const c = tf.fused.conv2d({x: b, filter: f3, strides: 1, pad: 'valid', bias: last, activation});
      return tf.matMul(tf.reshape(c, [-1, 17]), dense);
    };
    expectBitExact(runBothWays(() => chain(undefined, 'relu6')), 'conv → depthwise → conv → matmul (float)');
    // NaN in the bias: no twin; the next kernel finds the NaN and falls back to float, as the reference does.
    expectBitExact(runBothWays(() => chain(nanBias, 'linear')), 'NaN bias');
    // −Infinity in the bias: the next kernel finds it and falls back to float too.
    expectBitExact(runBothWays(() => chain(infiniteBias, 'linear')), 'infinite bias');
    withWasm(true, () => tf.tidy(() => {
      const out = tf.fused.conv2d({x, filter: f1, strides: 2, pad: 'same', bias: b1, activation: 'relu6'});
      const twin = backend.data.peek(out.dataId)?.derived?.get('int8.wasm.floatTwin')?.value as
          {ptr: number; length: number; min: number; max: number};
      expect(twin.length).toBe(out.size);
      const values = out.dataSync();
      const wasm = activeInt8Wasm();
      expect(Array.from(wasm?.readFloat32(twin.ptr, twin.length) ?? [])).toEqual(Array.from(values));
      expect(twin.min === Math.min(...values) && twin.max === Math.max(...values), 'the twin holds the range').toBe(true);
    }));
    tf.dispose([x, f1, f2, f3, dense, b1, nanBias, infiniteBias]);
  });

  it('depthwise: an output narrower or shorter than the taps allow is written within bounds', () => {
    // tfjs's numeric padding sizes both output dims from the filter height, and an
    // explicit smaller right/bottom pad shortens the output: the interior-pixel pairs
    // of the wasm kernel must stop at the output's edge (they once wrote one pixel past it).
    const wasm = activeInt8Wasm();
    if (wasm === null) throw new Error('no wasm');
    const [b, h, w, c, kh, kw] = [2, 6, 11, 3, 3, 4];
    const input = wasm.allocInt8(Int8Array.from({length: b * h * w * c}, (_, i) => (i * 37) % 255 - 128));
    const weights = wasm.packDepthwiseWeights(Int8Array.from({length: kh * kw * c}, (_, i) => (i * 11) % 255 - 127),
                                              kh, kw, c);
    for (const [oh, ow] of [[2, 7], [4, 6], [1, 1], [4, 8]]) {
      const out = wasm.alloc(b * oh * ow * c * 4);
      const canary = wasm.allocInt32(16);
      wasm.heapI32().fill(0x5a5a5a5a, canary >> 2, (canary >> 2) + 16);
      wasm.depthwiseConv2dInt32({batch: b, inHeight: h, inWidth: w, strideHeight: 1, strideWidth: 1,
                                 dilationHeight: 1, dilationWidth: 1, padTop: 0, padLeft: 0, outHeight: oh,
                                 outWidth: ow, input, zeroPointIn: 5, weights, out});
      expect(wasm.readInt32(canary, 16).every(v => v === 0x5a5a5a5a), `[${oh}, ${ow}]`).toBe(true);
      wasm.free(canary);  // throws if the block header was overwritten
      wasm.free(out);
    }
    weights.free();
    wasm.free(input);
  });

  it('non-finite inputs and filters fall back to the float kernel as the reference does', () => {
    const rng = rngFor(6002);
    const xValues = randomData(rng, 1 * 5 * 5 * 3, 0);
    xValues[7] = NaN;
    const x = tf.tensor4d(xValues, [1, 5, 5, 3]);
    const fValues = randomData(rng, 3 * 3 * 3 * 4, 0);
    const filter = tf.tensor4d(fValues, [3, 3, 3, 4]);
    fValues[2] = Infinity;
    const badFilter = tf.tensor4d(fValues, [3, 3, 3, 4]);
    const good = tf.tensor4d(randomData(rng, 1 * 5 * 5 * 3, 0), [1, 5, 5, 3]);
    const attrs = {strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1} as unknown as tf.NamedAttrMap;
    for (const [input, w] of [[x, filter], [good, badFilter]]) {
      const result = runBothWays(() => tf.engine().runKernel('Conv2D', {x: input, filter: w}, attrs) as tf.Tensor);
      expectBitExact(result, 'non-finite', false);
    }
    const inf = tf.tensor4d(new Float32Array(75).fill(-Infinity), [1, 5, 5, 3]);
    expectBitExact(runBothWays(() => tf.engine().runKernel('Conv2D', {x: inf, filter}, attrs) as tf.Tensor), '-Infinity',
                   false);
    tf.dispose([x, filter, badFilter, good, inf]);
  });
});
