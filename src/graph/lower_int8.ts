// Lowering (pure): the calibrated fake-quant graph → the int8 artifact graph.
//   conv/matmul + filter fake-quant (+ output fake-quant)  → one Int8Fused* node with int8 filter
//     codes, an int32 bias (scale S_in·S_w[c], zero point 0) and per-channel (M0, shift)
//   activation fake-quants                                  → kept (quantize / requantize)
//   float ops reading a quantized tensor                    → read it through Int8Dequantize

import {
  ATTR, FAKE_QUANT_OP, INT8_CONV2D_OP, INT8_DEPTHWISE_CONV2D_OP, INT8_DEQUANTIZE_OP, INT8_MATMUL_OP, QuantizedActivation, REQUANTIZING_OP_OF,
} from '../ops/op_names';
import {attr, AttrValue, getBoolAttr, NodeDef, parseInputRef} from './graph_def';
import {GraphEdit} from './graph_edit';
import {fusedActivationOf} from './fold';
import {ActivationObserver, ActivationParams} from './insert_fake_quant';
import {consumerMap, ModelGraph, nodeMap, WeightTensor} from './model_graph';
import {FusedComputeOp} from './op_catalog';
import {QuantPlan} from './plan';
import {encodeScales} from '../ops/scale_codec';
import {minimumScalesForBias, outputCodeRange, quantizeBias, quantizeFilter} from './weight_quant';

const INT8_OP_OF: Record<FusedComputeOp, string> = {
  _FusedConv2D: INT8_CONV2D_OP,
  FusedDepthwiseConv2dNative: INT8_DEPTHWISE_CONV2D_OP,
  _FusedMatMul: INT8_MATMUL_OP,
};

/** TensorFlow attrs of the conv/matmul that the int8 node keeps. */
const KEPT_ATTRS = ['strides', 'padding', 'explicit_paddings', 'dilations', 'data_format', 'transpose_a', 'transpose_b'];

export interface LoweredCompute {
  name: string;
  op: FusedComputeOp;
  inputScale: number;
  inputZeroPoint: number;
  filterScales: number[];
  output?: ActivationParams;
  biasSaturated: number;
}

export interface LowerResult {
  graph: ModelGraph;
  computes: LoweredCompute[];
}

export interface LowerOptions {
  perChannel: boolean;
  /** Bias correction: the mean output shift of each compute node's weight rounding (by node name), subtracted from its bias. */
  biasShifts?: ReadonlyMap<string, ArrayLike<number>>;
}

/** Whether a kept attr holds the value the executors assume when it is absent (then model.json leaves it out). */
function isDefaultAttr(key: string, value: AttrValue): boolean {
  const ints = value.list?.i;
  switch (key) {
    case 'explicit_paddings': return (ints ?? []).length === 0 && (value.list?.f ?? []).length === 0;
    case 'dilations': return ints !== undefined && ints.every(v => Number(v) === 1);
    case 'data_format': return value.s === attr.string('NHWC').s;
    case 'transpose_a':
    case 'transpose_b': return value.b !== true;
    default: return false;
  }
}

function keptAttrs(node: NodeDef): Record<string, AttrValue> {
  const kept: Record<string, AttrValue> = {};
  for (const key of KEPT_ATTRS) {
    const value = node.attr?.[key];
    if (value !== undefined && !isDefaultAttr(key, value)) kept[key] = value;
  }
  return kept;
}

function quantizedActivation(node: NodeDef): QuantizedActivation {
  const activation = fusedActivationOf(node);
  if (activation !== 'none' && activation !== 'relu' && activation !== 'relu6') {
    throw new Error(`Node '${node.name}': fused activation '${activation}' cannot be quantized.`);
  }
  return activation;
}

/** The compute node in the simulation graph for compute tensor `name`. */
function simulationComputeNode(edit: GraphEdit, name: string, fakeQuantOf: ReadonlyMap<string, ActivationObserver>): NodeDef {
  const observer = fakeQuantOf.get(name);
  if (observer !== undefined && observer.fakeQuantNode === name) {
    const fq = edit.get(name) as NodeDef;
    return edit.get(parseInputRef((fq.input ?? [])[0]).node) as NodeDef;
  }
  return edit.get(name) as NodeDef;
}

/** The int32 bias codes, stored in 2 bytes each when they all fit in int16 (decoded to the same integers). */
function biasWeightOf(codes: Int32Array): WeightTensor {
  const fitsInt16 = codes.every(c => c >= -32768 && c <= 32767);
  return fitsInt16
    ? {dtype: 'float32', shape: [codes.length], values: Float32Array.from(codes), storage: 'int16-codes'}
    : {dtype: 'int32', shape: [codes.length], values: codes};
}

export function lowerToInt8(simulation: ModelGraph, plan: QuantPlan, observers: readonly ActivationObserver[],
    params: ReadonlyMap<string, ActivationParams>, options: LowerOptions): LowerResult {
  const edit = new GraphEdit(simulation);
  const byTensor = new Map(observers.map(o => [o.tensor, o]));
  const paramsOfFakeQuant = new Map<string, ActivationParams>();
  for (const o of observers) {
    const p = params.get(o.tensor);
    if (p !== undefined) paramsOfFakeQuant.set(o.fakeQuantNode, p);
  }
  const computes: LoweredCompute[] = [];
  for (const [name, decision] of plan.decisions) {
    if (decision.role !== 'compute') continue;
    const compute = simulationComputeNode(edit, name, byTensor);
    const [xRef, filterFqRef, biasRef] = (compute.input ?? []).filter(r => !r.startsWith('^'));
    const inputParams = paramsOfFakeQuant.get(parseInputRef(xRef).node);
    if (inputParams === undefined) {
      throw new Error(`Node '${name}' (${compute.op}): its input '${xRef}' is not quantized; the plan is inconsistent.`);
    }
    const filterFq = edit.get(parseInputRef(filterFqRef).node) as NodeDef;
    const filterName = parseInputRef((filterFq.input ?? [])[0]).node;
    const filterWeight = edit.weight(filterName);
    const biasWeight = edit.weight(parseInputRef(biasRef).node);
    if (filterWeight === undefined || biasWeight === undefined) {
      throw new Error(`Node '${name}' (${compute.op}): filter or bias is not a constant.`);
    }
    const op = compute.op as FusedComputeOp;
    const transposeB = getBoolAttr(compute, 'transpose_b');
    const filter = quantizeFilter(op, filterWeight, options.perChannel, transposeB, filterName,
        minimumScalesForBias(biasWeight.values, inputParams.scale));
    const shift = options.biasShifts?.get(name);
    const floatBias = shift === undefined ? biasWeight.values : Float64Array.from(biasWeight.values, (b, c) => b - shift[c]);
    const bias = quantizeBias(floatBias, inputParams.scale, filter.scales);
    const output = plan.floatOutputCompute.has(name) ? undefined : params.get(name);
    if (!plan.floatOutputCompute.has(name) && output === undefined) {
      throw new Error(`Node '${name}' (${compute.op}): no output quantization parameters.`);
    }
    const activation = quantizedActivation(compute);
    // Short names: a Const's name is written three times in model.json (node, reader's input, manifest).
    const prefix = `int8_${computes.length}`;
    const filterCodesName = edit.freshName(`${prefix}/w`);
    const biasName = edit.freshName(`${prefix}/b`);
    const scalesName = edit.freshName(`${prefix}/s`);
    edit.putConst(filterCodesName, {dtype: 'float32', shape: filterWeight.shape.slice(), values: Float32Array.from(filter.codes), storage: 'int8-codes'});
    edit.putConst(biasName, biasWeightOf(bias.codes));
    // Per-channel scales go to the weight file (exactly); bias scales and (M0, shift) are derived from them at load time.
    const scales = encodeScales(filter.scales, filter.axis < 0);
    edit.putConst(scalesName, scales.kind === 'float32'
      ? {dtype: 'float32', shape: [scales.values.length], values: scales.values}
      : {dtype: 'int32', shape: [scales.values.length / 2, 2], values: scales.values});
    const quantAttrs: Record<string, AttrValue> = {
      [ATTR.activation]: attr.string(activation),
      [ATTR.inputScale]: attr.float(inputParams.scale),
      [ATTR.inputZeroPoint]: attr.int(inputParams.zeroPoint),
      [ATTR.filterAxis]: attr.int(filter.axis),
      [ATTR.outputQuantized]: attr.bool(output !== undefined),
    };
    if (scales.kind === 'float32') quantAttrs[ATTR.filterScaleDivisor] = attr.int(scales.divisor);
    if (output !== undefined) {
      const {lo, hi} = outputCodeRange(activation, output.scale, output.zeroPoint);
      Object.assign(quantAttrs, {
        [ATTR.outputScale]: attr.float(output.scale),
        [ATTR.outputZeroPoint]: attr.int(output.zeroPoint),
        [ATTR.outputMin]: attr.int(lo),
        [ATTR.outputMax]: attr.int(hi),
      });
    }
    if (compute.name !== name) edit.remove(compute.name);
    edit.put({name, op: INT8_OP_OF[op], input: [xRef, filterCodesName, biasName, scalesName], attr: {...keptAttrs(compute), ...quantAttrs}});
    computes.push({
      name, op, inputScale: inputParams.scale, inputZeroPoint: inputParams.zeroPoint, filterScales: filter.scales, output,
      biasSaturated: bias.saturated,
    });
  }
  fuseRequantizingOps(edit, observers, params, paramsOfFakeQuant);
  insertDequantizeBoundaries(edit, plan, observers);
  dropFakeQuantRanges(edit);
  return {graph: edit.build(), computes};
}

/**
 * AddV2 / ConcatV2 / Mean followed by their output fake-quant become one Int8AddV2 /
 * Int8ConcatV2 / Int8Mean node that hands the calibrated output params to the int8
 * kernel, so the result is requantized once (no second rounding in a separate quantize).
 */
function fuseRequantizingOps(edit: GraphEdit, observers: readonly ActivationObserver[], params: ReadonlyMap<string, ActivationParams>,
    paramsOfFakeQuant: ReadonlyMap<string, ActivationParams>): void {
  for (const observer of observers) {
    if (observer.fakeQuantNode !== observer.tensor || observer.tiedTo !== undefined) continue;
    const fakeQuant = edit.get(observer.fakeQuantNode);
    const producer = fakeQuant === undefined ? undefined : edit.get(parseInputRef((fakeQuant.input ?? [])[0]).node);
    const fusedOp = producer === undefined ? undefined : REQUANTIZING_OP_OF[producer.op];
    const p = params.get(observer.tensor);
    if (producer === undefined || fusedOp === undefined || p === undefined) continue;
    // Activation operands: all but ConcatV2's trailing axis and Mean's axes; each must be quantized.
    const dataRefs = (producer.input ?? []).filter(r => !r.startsWith('^'));
    const operands = producer.op === 'ConcatV2' ? dataRefs.slice(0, -1) : producer.op === 'Mean' ? dataRefs.slice(0, 1) : dataRefs;
    const operandParams = operands.map(ref => paramsOfFakeQuant.get(parseInputRef(ref).node));
    if (operandParams.some(q => q === undefined)) continue;
    edit.remove(producer.name);
    edit.put({name: observer.tensor, op: fusedOp, input: producer.input, attr: {
      ...(producer.attr ?? {}),
      [ATTR.inputScales]: attr.floatList(operandParams.map(q => (q as ActivationParams).scale)),
      [ATTR.inputZeroPoints]: attr.intList(operandParams.map(q => (q as ActivationParams).zeroPoint)),
      [ATTR.outputScale]: attr.float(p.scale), [ATTR.outputZeroPoint]: attr.int(p.zeroPoint),
    }});
  }
}

/** Float ops reading a tensor quantized in place read it through an Int8Dequantize node. */
function insertDequantizeBoundaries(edit: GraphEdit, plan: QuantPlan, observers: readonly ActivationObserver[]): void {
  const current = edit.list();
  const consumers = consumerMap(current);
  const byName = nodeMap(current);
  for (const observer of observers) {
    if (observer.fakeQuantNode !== observer.tensor) continue;
    const floatReaders = (consumers.get(observer.tensor) ?? []).filter(r => plan.floatConsumers.has(r.name) && byName.has(r.name));
    if (floatReaders.length === 0) continue;
    const dequantized = edit.freshName(`${observer.tensor}/dequantized`);
    edit.put({name: dequantized, op: INT8_DEQUANTIZE_OP, input: [observer.tensor]}, observer.tensor);
    for (const reader of floatReaders) edit.rewireInput(reader.name, observer.tensor, dequantized);
  }
}

/**
 * A fake-quant with precomputed quant_scale / quant_zero_point never reads its min/max
 * inputs (src/ops/node_attrs.ts perTensorQuantOf): the int8 artifact keeps x only, and
 * drops the min/max Consts nobody else reads (two Const nodes and manifest entries each).
 */
function dropFakeQuantRanges(edit: GraphEdit): void {
  const dropped = new Set<string>();
  for (const node of edit.list()) {
    if (node.op !== FAKE_QUANT_OP || node.attr?.[ATTR.scale] === undefined || node.attr?.[ATTR.zeroPoint] === undefined) continue;
    const inputs = node.input ?? [];
    const data = inputs.filter(r => !r.startsWith('^'));
    if (data.length !== 3) continue;
    for (const ref of data.slice(1)) dropped.add(parseInputRef(ref).node);
    edit.put({...node, input: [data[0], ...inputs.filter(r => r.startsWith('^'))]});
  }
  if (dropped.size === 0) return;
  const stillRead = new Set(edit.list().flatMap(n => (n.input ?? []).map(r => parseInputRef(r).node)));
  for (const name of dropped) {
    if (!stillRead.has(name) && edit.get(name)?.op === 'Const') edit.remove(name);
  }
}
