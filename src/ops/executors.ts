// Executors for the nodes the graph pass writes. On a float backend they
// simulate quantization in float; on `int8` they call its kernels
// (docs/CONTRACTS.md), so the same artifact runs on both.

import * as tf from '@tensorflow/tfjs-core';
import type {GraphNode} from '@tensorflow/tfjs-converter';

import {fakeQuantize, quantizeToCodes, requantizeAccumulators} from './fake_quant_math';
import {cachedCodesTensor, cachedTableSliceCodes, CodesSpec, ensureQuantized, isInt8Active, runInt8Kernel} from './int8_runtime';
import {
  boolAttr, numberListAttr, perChannelQuantOf, perTensorQuantOf, spatialPair, TfjsPad, tfjsPad,
} from './node_attrs';
import {biasFromTable, scalesFromTable} from './channel_tables';
import {ComputeQuant, decodeComputeQuant, decodeRequantizing, ScaleZeroPoint} from './quant_attrs';
import {quantizeMultiplier} from '../quant/fixed_point';
import {activationRange, negativeSlopeMultiplier} from '../quant/requantize';
import type {NegativeSlopeMultiplier} from '../quant/requantize';
import {
  ATTR, FAKE_QUANT_OP, FAKE_QUANT_PER_CHANNEL_OP, INT8_ADD_OP, INT8_CONCAT_OP, INT8_CONV2D_OP, INT8_DEPTHWISE_CONV2D_OP,
  INT8_DEQUANTIZE_OP, INT8_MATMUL_OP, INT8_MEAN_OP, Int8Activation,
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
// Int8FusedConv2D / Int8FusedDepthwiseConv2dNative / Int8FusedMatMul: inputs [x, filterCodes, biasTable, scaleTable],
// and alpha (float32 [C]) when the fused activation is 'prelu'; attr `q` (COMPUTE_Q)

type ComputeKind = 'conv2d' | 'depthwise' | 'matmul';

const OP_OF_KIND: Record<ComputeKind, string> = {
  conv2d: INT8_CONV2D_OP, depthwise: INT8_DEPTHWISE_CONV2D_OP, matmul: INT8_MATMUL_OP,
};

/** Everything a quantized compute node says, parsed once per execution. */
interface ComputeNodeAttrs {
  op: string;
  activation: Int8Activation;
  /** The prelu slopes (input #4, one per output channel), null for the other activations. */
  alpha: tf.Tensor | null;
  /** Prelu with a quantized output: per channel, the multiplier of negative accumulators. */
  negativeSlopes: NegativeSlopeMultiplier[];
  inputScale: number;
  inputZeroPoint: number;
  strides: [number, number];
  pad: TfjsPad;
  /** Where the node's bias codes start in the bias table (input #2). */
  biasOffset: number;
  filterScales: number[];
  filterAxis: number;
  biasScales: number[];
  /** The dequantized bias in float32, code·(S_in·S_w[c]) (the float simulation's). */
  floatBias: Float32Array;
  outputQuantized: boolean;
  outputScale: number;
  outputZeroPoint: number;
  outputMultipliers: number[];
  outputShifts: number[];
  /** Output code clamp (fused activation included). */
  outputMin: number;
  outputMax: number;
}

/** Derived per-channel values of a node, made once per node (its filter codes Const) and the attrs they depend on. */
interface DerivedChannels {
  key: string;
  filterScales: number[];
  biasScales: number[];
  floatBias: Float32Array;
  outputMultipliers: number[];
  outputShifts: number[];
  negativeSlopes: NegativeSlopeMultiplier[];
}

const derivedChannels = new WeakMap<tf.Tensor, DerivedChannels>();

/** Output channels of the filter codes: conv [h,w,in,out], depthwise [h,w,in,mult], matmul [K,N] (or [N,K] with transpose_b). */
function outputChannels(filter: tf.Tensor, kind: ComputeKind, transposeB: boolean): number {
  const shape: readonly number[] = filter.shape;
  if (kind === 'conv2d') return shape[3];
  if (kind === 'depthwise') return shape[2] * shape[3];
  return transposeB ? shape[0] : shape[1];
}

/** The per-channel axis of the filter codes (−1: one scale for the whole filter). */
function filterAxisOf(kind: ComputeKind, perTensor: boolean, transposeB: boolean): number {
  if (perTensor) return -1;
  if (kind === 'conv2d') return 3;
  if (kind === 'depthwise') return 2;
  return transposeB ? 0 : 1;
}

/**
 * Per-channel values from the node's slices of the bias and scale tables (inputs #2, #3):
 * the scales decoded exactly, bias scales S_in·S_w[c], the float bias, and (M0, shift) =
 * quantizeMultiplier(S_in·S_w[c]/S_out), the same arithmetic the pass used
 * (src/graph/weight_quant.ts), computed on the node's first run and cached with its
 * filter codes Const, not per inference.
 */
function channelsFromTables(node: GraphNode, op: string, q: ComputeQuant, channels: number, alpha: tf.Tensor | null): DerivedChannels {
  const codes = inputAt(node, 1, op);
  const biasTable = inputAt(node, 2, op);
  const scaleTable = inputAt(node, 3, op);
  const outputScale = q.output?.scale;
  const key = [biasTable.id, scaleTable.id, q.biasOffset, q.scaleOffset, q.scaleExponent, q.perTensor, channels, q.input.scale,
    outputScale ?? 'float', alpha === null ? '' : alpha.id].join('|');
  const cached = derivedChannels.get(codes);
  if (cached !== undefined && cached.key === key) return cached;
  const filterScales = scalesFromTable(scaleTable.dataSync(), q.scaleOffset, q.perTensor ? 1 : channels, channels, q.scaleExponent, op);
  const biasScales = filterScales.map(s => q.input.scale * s);
  const biasCodes = biasFromTable(biasTable.dataSync(), q.biasOffset, channels, op);
  const derived: DerivedChannels = {
    key, filterScales, biasScales,
    // float32 code times float32 bias scale, rounded to float32 (as a float32 multiply of the two tensors).
    floatBias: Float32Array.from(biasCodes, (b, c) => Math.fround(b) * Math.fround(biasScales[c])),
    outputMultipliers: [], outputShifts: [],
    negativeSlopes: outputScale !== undefined && alpha !== null ? negativeSlopesOf(alpha, biasScales, outputScale, op) : [],
  };
  if (outputScale !== undefined) {
    for (const s of filterScales) {
      const {multiplier, shift} = quantizeMultiplier((q.input.scale * s) / outputScale);
      derived.outputMultipliers.push(multiplier);
      derived.outputShifts.push(shift);
    }
  }
  derivedChannels.set(codes, derived);
  return derived;
}

/** (M0, shift, sign) of |S_in·S_w[c]·α[c]|/S_out per channel (src/quant negativeSlopeMultiplier). */
function negativeSlopesOf(alpha: tf.Tensor, biasScales: readonly number[], outputScale: number, op: string): NegativeSlopeMultiplier[] {
  const values = alpha.dataSync();
  return biasScales.map((s, c) => {
    const a = values[values.length === 1 ? 0 : c];
    if (!Number.isFinite(a)) throw new Error(`${op}: prelu alpha ${a} (channel ${c}) is not a finite number.`);
    return negativeSlopeMultiplier(s, a, outputScale);
  });
}

/** Input #4 of a node with a fused prelu: one slope per output channel (or one for all). */
function preluAlphaInput(node: GraphNode, op: string, activation: Int8Activation, channels: number): tf.Tensor | null {
  if (activation !== 'prelu') return null;
  const alpha = node.inputs[4];
  if (alpha == null) throw new Error(`${op}: fused activation 'prelu' needs its alpha as input #4.`);
  if (alpha.size !== channels && alpha.size !== 1) {
    throw new Error(`${op}: prelu alpha has ${alpha.size} values for ${channels} output channels.`);
  }
  return alpha;
}

/** The output code clamp: int8's range, tightened by a fused relu / relu6 (a prelu covers the whole range). */
function outputClamp(activation: Int8Activation, output: {scale: number; zeroPoint: number}): {lo: number; hi: number} {
  return activationRange(activation === 'relu' || activation === 'relu6' ? activation : 'linear', output.scale, output.zeroPoint, 'int8');
}

function computeAttrsOf(node: GraphNode, kind: ComputeKind): ComputeNodeAttrs {
  const op = OP_OF_KIND[kind];
  const q = decodeComputeQuant(numberListAttr(node.attrs, ATTR.quant, op), op);
  const transposeB = boolAttr(node.attrs, 'transpose_b', false);
  const channels = outputChannels(inputAt(node, 1, op), kind, transposeB);
  const alpha = preluAlphaInput(node, op, q.activation, channels);
  const derived = channelsFromTables(node, op, q, channels, alpha);
  const clamp = q.output === undefined ? {lo: -128, hi: 127} : outputClamp(q.activation, q.output);
  return {
    op,
    activation: q.activation,
    alpha,
    negativeSlopes: derived.negativeSlopes,
    inputScale: q.input.scale,
    inputZeroPoint: q.input.zeroPoint,
    strides: q.strides,
    pad: tfjsPad(q.padding, node.attrs, op),
    biasOffset: q.biasOffset,
    filterScales: derived.filterScales,
    filterAxis: filterAxisOf(kind, q.perTensor, transposeB),
    biasScales: derived.biasScales,
    floatBias: derived.floatBias,
    outputQuantized: q.output !== undefined,
    outputScale: q.output?.scale ?? 1,
    outputZeroPoint: q.output?.zeroPoint ?? 0,
    outputMultipliers: derived.outputMultipliers,
    outputShifts: derived.outputShifts,
    outputMin: clamp.lo,
    outputMax: clamp.hi,
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

export function applyFloatActivation(y: tf.Tensor, activation: Int8Activation, alpha: tf.Tensor | null = null): tf.Tensor {
  if (activation === 'relu') return tf.relu(y);
  if (activation === 'relu6') return tf.relu6(y);
  if (activation === 'prelu') {
    if (alpha === null) throw new Error(`applyFloatActivation: 'prelu' needs its alpha.`);
    return tf.prelu(y, alpha);
  }
  return y;
}

function tfjsActivation(activation: Int8Activation): 'linear' | 'relu' | 'relu6' | 'prelu' {
  return activation === 'none' ? 'linear' : activation;
}

/** tfjs's preluActivationWeights input of a fused op, when its activation is prelu. */
function preluWeights(activation: string, q: ComputeNodeAttrs): {preluActivationWeights?: tf.Tensor} {
  return activation === 'prelu' && q.alpha !== null ? {preluActivationWeights: q.alpha} : {};
}

/** The float simulation: x (already on the input grid) ⊛ dequantized weights + dequantized bias, then requantize. */
function simulateCompute(node: GraphNode, kind: ComputeKind, q: ComputeNodeAttrs): tf.Tensor {
  return tf.tidy(() => {
    const x = inputAt(node, 0, q.op);
    const filter = dequantizedFilter(inputAt(node, 1, q.op), q, kind);
    const bias = tf.tensor1d(q.floatBias, 'float32');
    // A float output applies the activation in float; a quantized one applies it as the code clamp.
    const activation = q.outputQuantized ? 'linear' : tfjsActivation(q.activation);
    const prelu = preluWeights(activation, q);
    let y: tf.Tensor;
    if (kind === 'matmul') {
      y = tf.fused.matMul({
        a: x as tf.Tensor2D, b: filter as tf.Tensor2D, transposeB: boolAttr(node.attrs, 'transpose_b', false), bias, activation, ...prelu,
      });
    } else {
      const config = {
        x: x as tf.Tensor4D, filter: filter as tf.Tensor4D, strides: q.strides,
        pad: q.pad, dilations: spatialPair(node.attrs, 'dilations', q.op), bias, activation, ...prelu,
      };
      y = kind === 'conv2d' ? tf.fused.conv2d(config)
        // tfjs's depthwise op accepts explicit paddings at run time; only its type omits them.
        : tf.fused.depthwiseConv2d(config as Parameters<typeof tf.fused.depthwiseConv2d>[0]);
    }
    if (!q.outputQuantized) return y;
    return requantizeAccumulators(y, {
      accumulatorScales: q.biasScales, multipliers: q.outputMultipliers, shifts: q.outputShifts,
      outputScale: q.outputScale, outputZeroPoint: q.outputZeroPoint, lo: q.outputMin, hi: q.outputMax,
      ...(q.activation === 'prelu' ? {negativeSlopes: q.negativeSlopes} : {}),
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
  const transposeB = boolAttr(node.attrs, 'transpose_b', false);
  const filter = cachedCodesTensor(filterSource, filterCodesSpec(filterSource, q, kind, transposeB), q.op);
  const bias = cachedTableSliceCodes(inputAt(node, 2, q.op), q.biasOffset,
      {dtype: 'int32', scale: q.biasScales, zeroPoint: new Array<number>(q.biasScales.length).fill(0), axis: 0}, q.op);
  // With the output params, requantization happens in the kernel's epilogue (int8 out);
  // without, the kernel returns the int32 accumulator, dequantized here (the last Dequantize).
  const requantize = q.outputQuantized
    ? {outputScale: q.outputScale, outputZeroPoint: q.outputZeroPoint, outputMultiplier: q.outputMultipliers, outputShift: q.outputShifts}
    : {};
  const activation = q.outputQuantized ? tfjsActivation(q.activation) : 'linear';
  const prelu = preluWeights(activation, q);
  let y: tf.Tensor;
  if (kind === 'matmul') {
    const a3 = tf.reshape(x, [1, ...x.shape]);
    const out = runInt8Kernel('_FusedMatMul', {a: a3, b: filter, bias, ...prelu},
        {transposeA: false, transposeB, activation, leakyreluAlpha: 0, ...requantize}, q.op);
    y = tf.reshape(out, [x.shape[0], out.shape[2] as number]);
    tf.dispose([a3, out]);
  } else {
    const kernel = kind === 'conv2d' ? 'FusedConv2D' : 'FusedDepthwiseConv2D';
    y = runInt8Kernel(kernel, {x, filter, bias, ...prelu}, {
      strides: q.strides, pad: q.pad, dataFormat: 'NHWC',
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
  const activated = applyFloatActivation(dequantized, q.activation, q.alpha);
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

function operandCountOf(node: GraphNode, kind: RequantizingKind): number {
  return kind === 'concat' ? node.inputs.length - 1 : kind === 'mean' ? 1 : 2;
}

function requantizingInt8(node: GraphNode, kind: RequantizingKind, op: string, params: ScaleZeroPoint[],
    output: {outputScale: number; outputZeroPoint: number}): tf.Tensor {
  // Operands as int8 codes with the params the pass recorded (as they are, when they already are).
  const operands = params.map((p, i) => ensureQuantized(node.inputs[i], p.scale, p.zeroPoint, op));
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
    const q = decodeRequantizing(numberListAttr(node.attrs, ATTR.quant, op), operandCountOf(node, kind), op);
    const output = {outputScale: q.output.scale, outputZeroPoint: q.output.zeroPoint};
    if (isInt8Active()) return requantizingInt8(node, kind, op, q.operands, output);
    const y = requantizingFloat(node, kind, op);
    const quantized = fakeQuantize(y, [output.outputScale], [output.outputZeroPoint], -128, 127);
    y.dispose();
    return quantized;
  };
}
