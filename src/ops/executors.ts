// Executors for the nodes the graph pass writes. On a float backend they
// simulate quantization in float; on `int8` they call its kernels
// (docs/CONTRACTS.md), so the same artifact runs on both.

import * as tf from '@tensorflow/tfjs-core';
import type {GraphNode} from '@tensorflow/tfjs-converter';

import {fakeQuantize, quantizeToCodes, requantizeAccumulators} from './fake_quant_math';
import {cachedCodesTensor, CodesSpec, ensureQuantized, isInt8Active, runInt8Kernel} from './int8_runtime';
import {
  activationAttr, boolAttr, numberAttr, numberListAttr, optionalNumberAttr, padAttr, perChannelQuantOf, perTensorQuantOf, spatialPair,
} from './node_attrs';
import {decodeScales} from './scale_codec';
import {quantizeMultiplier} from '../quant/fixed_point';
import {
  ATTR, FAKE_QUANT_OP, FAKE_QUANT_PER_CHANNEL_OP, INT8_ADD_OP, INT8_CONCAT_OP, INT8_CONV2D_OP, INT8_DEPTHWISE_CONV2D_OP,
  INT8_DEQUANTIZE_OP, INT8_MATMUL_OP, INT8_MEAN_OP, QuantizedActivation,
} from './op_names';

function inputAt(node: GraphNode, index: number, op: string): tf.Tensor {
  const tensor = node.inputs[index];
  if (tensor == null) throw new Error(`${op}: input #${index} is missing.`);
  return tensor;
}

function scalarOf(t: tf.Tensor): number {
  return t.dataSync()[0];
}

// ---------------------------------------------------------------------------
// FakeQuantWithMinMaxVars: inputs [x, min, max]

export function executeFakeQuant(node: GraphNode): tf.Tensor {
  const op = FAKE_QUANT_OP;
  const x = inputAt(node, 0, op);
  if (boolAttr(node.attrs, ATTR.calibrating, false)) {
    // Calibration mode: observe (the caller reads this output), do not clamp.
    return tf.clone(x);
  }
  const q = perTensorQuantOf(node.attrs, () => [scalarOf(inputAt(node, 1, op)), scalarOf(inputAt(node, 2, op))], op);
  if (isInt8Active()) {
    return runInt8Kernel('Int8Quantize', {x}, {scale: q.scale, zeroPoint: q.zeroPoint}, op);
  }
  return fakeQuantize(x, [q.scale], [q.zeroPoint], q.qmin, q.qmax);
}

// ---------------------------------------------------------------------------
// FakeQuantWithMinMaxVarsPerChannel: inputs [w, min[C], max[C]], channels on the last axis

export function executeFakeQuantPerChannel(node: GraphNode): tf.Tensor {
  const op = FAKE_QUANT_PER_CHANNEL_OP;
  const w = inputAt(node, 0, op);
  const q = perChannelQuantOf(node.attrs,
      () => [Array.from(inputAt(node, 1, op).dataSync()), Array.from(inputAt(node, 2, op).dataSync())], op);
  const axisAttr = node.attrs[ATTR.axis];
  const axis = typeof axisAttr === 'number' ? axisAttr : w.rank - 1;
  if (axis >= w.rank || (axis >= 0 && q.scales.length !== w.shape[axis])) {
    throw new Error(`${op}: ${q.scales.length} channel scales along axis ${axis} of a tensor of shape [${w.shape.join(', ')}].`);
  }
  // axis < 0: one scale for the whole tensor.
  const scales = axis < 0 ? [q.scales[0]] : q.scales;
  const zeroPoints = axis < 0 ? [q.zeroPoints[0]] : q.zeroPoints;
  if (isInt8Active()) {
    return tf.tidy(() => {
      const codes = tf.tensor(quantizeToCodes(w, scales, zeroPoints, q.qmin, q.qmax, axis), w.shape, 'float32');
      return runInt8Kernel('Int8FromCodes', {x: codes}, {dtype: 'int8', scale: scales, zeroPoint: zeroPoints, axis}, op);
    });
  }
  return fakeQuantize(w, scales, zeroPoints, q.qmin, q.qmax, axis);
}

// ---------------------------------------------------------------------------
// Int8Dequantize: the end of the quantized region

export function executeDequantize(node: GraphNode): tf.Tensor {
  const x = inputAt(node, 0, INT8_DEQUANTIZE_OP);
  if (isInt8Active()) return runInt8Kernel('Int8Dequantize', {x}, {}, INT8_DEQUANTIZE_OP);
  return tf.clone(x);
}

// ---------------------------------------------------------------------------
// Int8FusedConv2D / Int8FusedDepthwiseConv2dNative / Int8FusedMatMul: inputs [x, filterCodes, biasCodes, filterScales]

type ComputeKind = 'conv2d' | 'depthwise' | 'matmul';

const OP_OF_KIND: Record<ComputeKind, string> = {
  conv2d: INT8_CONV2D_OP, depthwise: INT8_DEPTHWISE_CONV2D_OP, matmul: INT8_MATMUL_OP,
};

/** Everything a quantized compute node says, parsed once per execution. */
interface ComputeNodeAttrs {
  op: string;
  activation: QuantizedActivation;
  inputScale: number;
  inputZeroPoint: number;
  filterScales: number[];
  filterAxis: number;
  biasScales: number[];
  outputQuantized: boolean;
  outputScale: number;
  outputZeroPoint: number;
  outputMultipliers: number[];
  outputShifts: number[];
  /** Output code clamp (fused activation included). */
  outputMin: number;
  outputMax: number;
}

/** Derived per-channel values of a node, made once per filter-scales Const (and the attrs they depend on). */
interface DerivedChannels {
  key: string;
  filterScales: number[];
  biasScales: number[];
  outputMultipliers: number[];
  outputShifts: number[];
}

const derivedChannels = new WeakMap<tf.Tensor, DerivedChannels>();

/**
 * Per-channel values from the filter-scales input (#3): the scales decoded exactly,
 * bias scales S_in·S_w[c] and (M0, shift) = quantizeMultiplier(S_in·S_w[c]/S_out), the
 * same arithmetic the pass used (src/graph/weight_quant.ts), computed on the node's
 * first run and cached with the Const, not per inference.
 */
function channelsFromInput(node: GraphNode, op: string, inputScale: number, outputQuantized: boolean, outputScale: number): DerivedChannels {
  const stored = inputAt(node, 3, op);
  const channels = inputAt(node, 2, op).size;
  const divisor = optionalNumberAttr(node.attrs, ATTR.filterScaleDivisor);
  const key = `${inputScale}|${outputQuantized ? outputScale : 'float'}|${divisor}|${channels}`;
  const cached = derivedChannels.get(stored);
  if (cached !== undefined && cached.key === key) return cached;
  const filterScales = decodeScales(stored.dataSync(), stored.dtype, divisor, channels, op);
  const derived: DerivedChannels = {
    key, filterScales, biasScales: filterScales.map(s => inputScale * s), outputMultipliers: [], outputShifts: [],
  };
  if (outputQuantized) {
    for (const s of filterScales) {
      const {multiplier, shift} = quantizeMultiplier((inputScale * s) / outputScale);
      derived.outputMultipliers.push(multiplier);
      derived.outputShifts.push(shift);
    }
  }
  derivedChannels.set(stored, derived);
  return derived;
}

/** The per-channel attrs of artifacts written before the scales moved to the weights. */
function channelsFromAttrs(node: GraphNode, op: string, outputQuantized: boolean): Omit<DerivedChannels, 'key'> {
  const a = node.attrs;
  return {
    filterScales: numberListAttr(a, ATTR.filterScales, op),
    biasScales: numberListAttr(a, ATTR.biasScales, op),
    outputMultipliers: outputQuantized ? numberListAttr(a, ATTR.outputMultipliers, op) : [],
    outputShifts: outputQuantized ? numberListAttr(a, ATTR.outputShifts, op) : [],
  };
}

function computeAttrsOf(node: GraphNode, kind: ComputeKind): ComputeNodeAttrs {
  const op = OP_OF_KIND[kind];
  const a = node.attrs;
  const outputQuantized = boolAttr(a, ATTR.outputQuantized, true);
  const inputScale = numberAttr(a, ATTR.inputScale, op);
  const outputScale = outputQuantized ? numberAttr(a, ATTR.outputScale, op) : 1;
  const channels = node.inputs.length > 3
    ? channelsFromInput(node, op, inputScale, outputQuantized, outputScale)
    : channelsFromAttrs(node, op, outputQuantized);
  return {
    op,
    activation: activationAttr(a, op),
    inputScale,
    inputZeroPoint: numberAttr(a, ATTR.inputZeroPoint, op),
    filterScales: channels.filterScales,
    filterAxis: numberAttr(a, ATTR.filterAxis, op),
    biasScales: channels.biasScales,
    outputQuantized,
    outputScale,
    outputZeroPoint: outputQuantized ? numberAttr(a, ATTR.outputZeroPoint, op) : 0,
    outputMultipliers: channels.outputMultipliers,
    outputShifts: channels.outputShifts,
    outputMin: outputQuantized ? numberAttr(a, ATTR.outputMin, op) : -128,
    outputMax: outputQuantized ? numberAttr(a, ATTR.outputMax, op) : 127,
  };
}

/** Per-output-channel vector broadcast over the filter's channel layout, in float. */
function dequantizedFilter(codes: tf.Tensor, q: ComputeNodeAttrs, kind: ComputeKind): tf.Tensor {
  return tf.tidy(() => {
    if (q.filterAxis < 0) return tf.mul(codes, q.filterScales[0]);
    const scales = tf.tensor1d(q.filterScales, 'float32');
    if (kind === 'depthwise') {
      // [h, w, in, mult]: output channel = in·mult + m, i.e. the last two axes flattened.
      const [h, w, inC, mult] = codes.shape;
      return tf.reshape(tf.mul(tf.reshape(codes, [h, w, inC * mult]), scales), codes.shape);
    }
    if (q.filterAxis === codes.rank - 1) return tf.mul(codes, scales);
    // matmul with transpose_b: [N, K], channels on axis 0.
    return tf.mul(codes, tf.reshape(scales, [q.filterScales.length, 1]));
  });
}

export function applyFloatActivation(y: tf.Tensor, activation: QuantizedActivation): tf.Tensor {
  if (activation === 'relu') return tf.relu(y);
  if (activation === 'relu6') return tf.relu6(y);
  return y;
}

function tfjsActivation(activation: QuantizedActivation): 'linear' | 'relu' | 'relu6' {
  return activation === 'none' ? 'linear' : activation;
}

/** The float simulation: x (already on the input grid) ⊛ dequantized weights + dequantized bias, then requantize. */
function simulateCompute(node: GraphNode, kind: ComputeKind, q: ComputeNodeAttrs): tf.Tensor {
  return tf.tidy(() => {
    const x = inputAt(node, 0, q.op);
    const filter = dequantizedFilter(inputAt(node, 1, q.op), q, kind);
    const bias = tf.mul(tf.cast(inputAt(node, 2, q.op), 'float32'), tf.tensor1d(q.biasScales, 'float32'));
    // A float output applies the activation in float; a quantized one applies it as the code clamp.
    const activation = q.outputQuantized ? 'linear' : tfjsActivation(q.activation);
    let y: tf.Tensor;
    if (kind === 'matmul') {
      y = tf.fused.matMul({a: x as tf.Tensor2D, b: filter as tf.Tensor2D, transposeB: boolAttr(node.attrs, 'transpose_b', false), bias, activation});
    } else {
      const config = {
        x: x as tf.Tensor4D, filter: filter as tf.Tensor4D, strides: spatialPair(node.attrs, 'strides', q.op),
        pad: padAttr(node.attrs, q.op), dilations: spatialPair(node.attrs, 'dilations', q.op), bias, activation,
      };
      y = kind === 'conv2d' ? tf.fused.conv2d(config)
        // tfjs's depthwise op accepts explicit paddings at run time; only its type omits them.
        : tf.fused.depthwiseConv2d(config as Parameters<typeof tf.fused.depthwiseConv2d>[0]);
    }
    if (!q.outputQuantized) return y;
    return requantizeAccumulators(y, {
      accumulatorScales: q.biasScales, multipliers: q.outputMultipliers, shifts: q.outputShifts,
      outputScale: q.outputScale, outputZeroPoint: q.outputZeroPoint, lo: q.outputMin, hi: q.outputMax,
    });
  });
}

/** Filter codes as a quantized tensor: conv [h,w,in,out] axis 3, depthwise axis 2 (mult 1), matmul as 3-D. */
function filterCodesSpec(filter: tf.Tensor, q: ComputeNodeAttrs, kind: ComputeKind, transposeB: boolean): CodesSpec {
  const perTensor = q.filterAxis < 0;
  const scale = perTensor ? [q.filterScales[0]] : q.filterScales;
  const zeroPoint = new Array<number>(scale.length).fill(0);
  if (kind === 'matmul') {
    return {dtype: 'int8', scale, zeroPoint, axis: perTensor ? -1 : (transposeB ? 1 : 2), shape: [1, ...filter.shape]};
  }
  return {dtype: 'int8', scale, zeroPoint, axis: perTensor ? -1 : q.filterAxis};
}

function int8Compute(node: GraphNode, kind: ComputeKind, q: ComputeNodeAttrs): tf.Tensor {
  const x = ensureQuantized(inputAt(node, 0, q.op), q.inputScale, q.inputZeroPoint, q.op);
  const filterSource = inputAt(node, 1, q.op);
  const biasSource = inputAt(node, 2, q.op);
  const transposeB = boolAttr(node.attrs, 'transpose_b', false);
  const filter = cachedCodesTensor(filterSource, filterCodesSpec(filterSource, q, kind, transposeB), q.op);
  const bias = cachedCodesTensor(biasSource,
      {dtype: 'int32', scale: q.biasScales, zeroPoint: new Array<number>(q.biasScales.length).fill(0), axis: 0}, q.op);
  // With the output params, requantization happens in the kernel's epilogue (int8 out);
  // without, the kernel returns the int32 accumulator, dequantized here (the last Dequantize).
  const requantize = q.outputQuantized
    ? {outputScale: q.outputScale, outputZeroPoint: q.outputZeroPoint, outputMultiplier: q.outputMultipliers, outputShift: q.outputShifts}
    : {};
  const activation = q.outputQuantized ? tfjsActivation(q.activation) : 'linear';
  let y: tf.Tensor;
  if (kind === 'matmul') {
    const a3 = tf.reshape(x, [1, ...x.shape]);
    const out = runInt8Kernel('_FusedMatMul', {a: a3, b: filter, bias},
        {transposeA: false, transposeB, activation, leakyreluAlpha: 0, ...requantize}, q.op);
    y = tf.reshape(out, [x.shape[0], out.shape[2] as number]);
    tf.dispose([a3, out]);
  } else {
    const kernel = kind === 'conv2d' ? 'FusedConv2D' : 'FusedDepthwiseConv2D';
    y = runInt8Kernel(kernel, {x, filter, bias}, {
      strides: spatialPair(node.attrs, 'strides', q.op), pad: padAttr(node.attrs, q.op), dataFormat: 'NHWC',
      dilations: spatialPair(node.attrs, 'dilations', q.op), dimRoundingMode: undefined, activation, leakyreluAlpha: 0,
      ...requantize,
    }, q.op);
  }
  if (x !== node.inputs[0]) x.dispose();
  if (q.outputQuantized) return y;
  const accumulator = y;
  const dequantized = runInt8Kernel('Int8Dequantize', {x: accumulator}, {}, q.op);
  accumulator.dispose();
  if (q.activation === 'none') return dequantized;
  const activated = applyFloatActivation(dequantized, q.activation);
  dequantized.dispose();
  return activated;
}

export function makeComputeExecutor(kind: ComputeKind): (node: GraphNode) => tf.Tensor {
  return (node: GraphNode) => {
    const q = computeAttrsOf(node, kind);
    return isInt8Active() ? int8Compute(node, kind, q) : simulateCompute(node, kind, q);
  };
}

// ---------------------------------------------------------------------------
// Int8AddV2 / Int8ConcatV2 / Int8Mean: TensorFlow's op, with its output quantization

type RequantizingKind = 'add' | 'concat' | 'mean';

const OP_OF_REQUANTIZING: Record<RequantizingKind, string> = {add: INT8_ADD_OP, concat: INT8_CONCAT_OP, mean: INT8_MEAN_OP};

/** The axis list of a Const input (ConcatV2's last input, Mean's second). */
function axesOf(tensor: tf.Tensor): number[] {
  return Array.from(tensor.dataSync());
}

function requantizingInt8(node: GraphNode, kind: RequantizingKind, op: string, output: {outputScale: number; outputZeroPoint: number}): tf.Tensor {
  // Operands as int8 codes with the params the pass recorded (as they are, when they already are).
  const scales = numberListAttr(node.attrs, ATTR.inputScales, op);
  const zeroPoints = numberListAttr(node.attrs, ATTR.inputZeroPoints, op);
  const operandCount = kind === 'concat' ? node.inputs.length - 1 : kind === 'mean' ? 1 : 2;
  if (scales.length !== operandCount || zeroPoints.length !== operandCount) {
    throw new Error(`${op}: ${scales.length} input scales for ${operandCount} operands.`);
  }
  const operands = node.inputs.slice(0, operandCount).map((x, i) => ensureQuantized(x, scales[i], zeroPoints[i], op));
  const made = operands.filter((t, i) => t !== node.inputs[i]);
  try {
    if (kind === 'add') return runInt8Kernel('Add', {a: operands[0], b: operands[1]}, output, op);
    if (kind === 'concat') {
      const [axis] = axesOf(inputAt(node, node.inputs.length - 1, op));
      return runInt8Kernel('Concat', operands as unknown as tf.NamedTensorMap, {axis, ...output}, op);
    }
    return runInt8Kernel('Mean', {x: operands[0]},
        {axis: axesOf(inputAt(node, 1, op)), keepDims: boolAttr(node.attrs, 'keep_dims', false), ...output}, op);
  } finally {
    tf.dispose(made);
  }
}

function requantizingFloat(node: GraphNode, kind: RequantizingKind, op: string): tf.Tensor {
  if (kind === 'add') return tf.add(inputAt(node, 0, op), inputAt(node, 1, op));
  if (kind === 'concat') {
    const [axis] = axesOf(inputAt(node, node.inputs.length - 1, op));
    return tf.concat(node.inputs.slice(0, -1), axis);
  }
  return tf.mean(inputAt(node, 0, op), axesOf(inputAt(node, 1, op)), boolAttr(node.attrs, 'keep_dims', false));
}

export function makeRequantizingExecutor(kind: RequantizingKind): (node: GraphNode) => tf.Tensor {
  const op = OP_OF_REQUANTIZING[kind];
  return (node: GraphNode) => {
    const output = {outputScale: numberAttr(node.attrs, ATTR.outputScale, op), outputZeroPoint: numberAttr(node.attrs, ATTR.outputZeroPoint, op)};
    if (isInt8Active()) return requantizingInt8(node, kind, op, output);
    const y = requantizingFloat(node, kind, op);
    const quantized = fakeQuantize(y, [output.outputScale], [output.outputZeroPoint], -128, 127);
    y.dispose();
    return quantized;
  };
}
