// Lowering (pure): the calibrated fake-quant graph → the int8 artifact graph.
//   conv/matmul + filter fake-quant (+ output fake-quant)  → one Int8Fused* node with int8 filter
//     codes, an int32 bias (scale S_in·S_w[c], zero point 0) and per-channel (M0, shift), the bias
//     codes and filter scales in the shared per-channel tables (channel_tables.ts), the rest in `q`;
//     a fused prelu keeps its alpha (float32 [C], input #4)
//   activation fake-quants                                  → kept (quantize / requantize)
//   float ops reading a quantized tensor                    → read it through Int8Dequantize

import {
  ATTR, FAKE_QUANT_OP, INT8_CONV2D_OP, INT8_DEPTHWISE_CONV2D_OP, INT8_DEQUANTIZE_OP, INT8_MATMUL_OP, Int8Activation, REQUANTIZING_OP_OF,
} from '../ops/op_names';
import {attr, AttrValue, getBoolAttr, getIntListAttr, getStringAttr, NodeDef, parseInputRef} from './graph_def';
import {GraphEdit} from './graph_edit';
import {fusedActivationOf, outputChannelLayout, perChannelValues} from './fold';
import {ActivationObserver, ActivationParams} from './insert_fake_quant';
import {consumerMap, ModelGraph, nodeMap, WeightTensor} from './model_graph';
import {FusedComputeOp} from './op_catalog';
import {QuantPlan} from './plan';
import {ComputePadding, encodeComputeQuant, encodeRequantizing} from '../ops/quant_attrs';
import {ChannelTables} from './channel_tables';
import {QuantizedFilter, quantizeFilterAndBias} from './weight_quant';

const INT8_OP_OF: Record<FusedComputeOp, string> = {
  _FusedConv2D: INT8_CONV2D_OP,
  FusedDepthwiseConv2dNative: INT8_DEPTHWISE_CONV2D_OP,
  _FusedMatMul: INT8_MATMUL_OP,
};

/** TensorFlow attrs of the conv/matmul that the int8 node keeps (strides and padding go to `q`). */
const KEPT_ATTRS = ['explicit_paddings', 'dilations', 'data_format', 'transpose_a', 'transpose_b'];

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

function quantizedActivation(node: NodeDef): Int8Activation {
  const activation = fusedActivationOf(node);
  if (activation !== 'none' && activation !== 'relu' && activation !== 'relu6' && activation !== 'prelu') {
    throw new Error(`Node '${node.name}': fused activation '${activation}' cannot be quantized.`);
  }
  return activation;
}

/** A fused prelu's alpha (input #3 of the fused node) as a float32 Const [C]; the node's error otherwise. */
function preluAlphaWeight(edit: GraphEdit, compute: NodeDef, alphaRef: string | undefined, filter: WeightTensor): WeightTensor {
  const op = compute.op as FusedComputeOp;
  const channels = outputChannelLayout(op, filter.shape, getBoolAttr(compute, 'transpose_b')).channels;
  const values = alphaRef === undefined ? undefined : perChannelValues(edit.weight(parseInputRef(alphaRef).node), channels);
  if (values === undefined) {
    throw new Error(`Node '${compute.name}' (${compute.op}): its prelu alpha is not a float constant with one value per output channel.`);
  }
  return {dtype: 'float32', shape: [channels], values: Float32Array.from(values)};
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

/** TensorFlow's padding of a conv (VALID for a matmul). */
function paddingOf(node: NodeDef): ComputePadding {
  const padding = getStringAttr(node, 'padding', 'VALID').toLowerCase();
  if (padding !== 'valid' && padding !== 'same' && padding !== 'explicit') {
    throw new Error(`Node '${node.name}' (${node.op}): unknown padding '${padding}'.`);
  }
  return padding;
}

/** [h, w] of TensorFlow's NHWC strides ([1, 1] for a matmul). */
function stridesOf(node: NodeDef): [number, number] {
  const strides = getIntListAttr(node, 'strides', [1, 1, 1, 1]);
  return strides.length === 4 ? [strides[1], strides[2]] : [1, 1];
}

/** The node's filter scales in the scale table: one value for a per-tensor filter. */
function storedScales(filter: QuantizedFilter): number[] {
  return filter.axis < 0 ? filter.scales.slice(0, 1) : filter.scales;
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
  const tables = new ChannelTables(edit);
  for (const [name, decision] of plan.decisions) {
    if (decision.role !== 'compute') continue;
    const compute = simulationComputeNode(edit, name, byTensor);
    const [xRef, filterFqRef, biasRef, alphaRef] = (compute.input ?? []).filter(r => !r.startsWith('^'));
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
    const shift = options.biasShifts?.get(name);
    const floatBias = shift === undefined ? biasWeight.values : Float64Array.from(biasWeight.values, (b, c) => b - shift[c]);
    const {filter, bias} = quantizeFilterAndBias(op, filterWeight, floatBias, inputParams.scale, options.perChannel, transposeB, filterName);
    const output = plan.floatOutputCompute.has(name) ? undefined : params.get(name);
    if (!plan.floatOutputCompute.has(name) && output === undefined) {
      throw new Error(`Node '${name}' (${compute.op}): no output quantization parameters.`);
    }
    const activation = quantizedActivation(compute);
    const prefix = `int8_${computes.length}`;
    const filterCodesName = edit.freshName(`${prefix}/w`);
    const alphaInputs: string[] = [];
    if (activation === 'prelu') {
      alphaInputs.push(edit.freshName(`${prefix}/a`));
      edit.putConst(alphaInputs[0], preluAlphaWeight(edit, compute, alphaRef, filterWeight));
    }
    edit.putConst(filterCodesName, {dtype: 'float32', shape: filterWeight.shape.slice(), values: Float32Array.from(filter.codes), storage: 'int8-codes'});
    // Bias codes and filter scales go to the shared tables (exactly); bias scales, (M0, shift) and the
    // output clamp are derived from them and `q` at load time.
    const biasSlice = tables.addCodes(bias.codes);
    const scaleSlice = tables.addFloats(storedScales(filter), filter.storage);
    const q = encodeComputeQuant({
      input: inputParams, activation, padding: paddingOf(compute), strides: stridesOf(compute), perTensor: filter.axis < 0,
      biasOffset: biasSlice.offset, scaleOffset: scaleSlice.offset,
      scaleExponent: filter.storage.dtype === 'float16' ? filter.storage.exponent : 0, output,
    });
    if (compute.name !== name) edit.remove(compute.name);
    edit.put({name, op: INT8_OP_OF[op], input: [xRef, filterCodesName, biasSlice.table, scaleSlice.table, ...alphaInputs],
      attr: {...keptAttrs(compute), [ATTR.quant]: attr.floatList(q)}});
    computes.push({
      name, op, inputScale: inputParams.scale, inputZeroPoint: inputParams.zeroPoint, filterScales: filter.scales, output,
      biasSaturated: bias.saturated,
    });
  }
  tables.putInto(edit);
  fuseRequantizingOps(edit, observers, params, paramsOfFakeQuant);
  dropNoOpFakeQuants(edit, observers);
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
      [ATTR.quant]: attr.floatList(encodeRequantizing(operandParams as ActivationParams[], p)),
    }});
  }
}

/**
 * Ops whose outputs are some of their input's values, and whose int8 kernels keep the input's
 * codes and params: a fake-quant after one of them with its source's range (a tied tensor) is
 * the identity on both backends (already on the grid in float, Int8Quantize shares the codes).
 */
const CODE_PRESERVING_OPS = new Set(['MaxPool', 'Reshape', 'Squeeze', 'ExpandDims', 'Identity']);

/** Drops those fake-quants: the producer takes the tensor's name back, so its readers are unchanged. */
function dropNoOpFakeQuants(edit: GraphEdit, observers: readonly ActivationObserver[]): void {
  // Readers counted once: a drop renames only its own producer, which nothing else reads.
  const consumers = consumerMap(edit.list());
  for (const observer of observers) {
    if (observer.tiedTo === undefined || observer.fakeQuantNode !== observer.tensor) continue;
    const fakeQuant = edit.get(observer.fakeQuantNode);
    if (fakeQuant?.op !== FAKE_QUANT_OP) continue;
    const producerName = parseInputRef((fakeQuant.input ?? [])[0]).node;
    if (!CODE_PRESERVING_OPS.has(edit.get(producerName)?.op ?? '')) continue;
    if ((consumers.get(producerName) ?? []).length !== 1) continue;
    edit.remove(fakeQuant.name);
    edit.rename(producerName, observer.tensor);
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
 * A fake-quant with a precomputed scale and zero point (attr `q`) never reads its min/max
 * inputs (src/ops/node_attrs.ts perTensorQuantOf): the int8 artifact keeps x only, and
 * drops the min/max Consts nobody else reads (two Const nodes and manifest entries each).
 */
function dropFakeQuantRanges(edit: GraphEdit): void {
  const dropped = new Set<string>();
  for (const node of edit.list()) {
    if (node.op !== FAKE_QUANT_OP || node.attr?.[ATTR.quant] === undefined) continue;
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
