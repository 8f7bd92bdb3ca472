// Folding: what the converter left unfused goes into the fused conv/matmul.
//   Conv2D / DepthwiseConv2dNative / MatMul        → fused form with a (zero) bias
//   fused op → FusedBatchNorm*                     → filter·k, (bias − mean)·k + offset
//   fused op → Mul by a per-channel constant       → filter·c, bias·c
//   fused op → BiasAdd / Add / AddV2 / Sub of a per-channel constant → bias ± c
//   fused op → Relu / Relu6 / clip [0, 6] / Maximum 0 (→ Minimum 6) → fused activation
//   fused op → PReLU (TensorFlow's Relu/Abs/Sub/Mul/Add decomposition, or Prelu) → fused
//     'prelu' with its alpha as a 4th input (fold_prelu.ts)
// Each rule is a pure function of the graph; `foldGraph` applies them until
// nothing changes. The fused node takes the name of the node it absorbed, so
// the nodes that read it are untouched.

import {attr, getFloatAttr, getStringAttr, getStringListAttr, getBoolAttr, NodeDef, parseInputRef, withAttrs} from './graph_def';
import {GraphEdit} from './graph_edit';
import {consumerMap, elementCount, graphOutputNames, ModelGraph, topologicalOrder, WeightTensor} from './model_graph';
import {foldPrelu} from './fold_prelu';
import {FUSED_COMPUTE_OPS, FusedComputeOp} from './op_catalog';

export function isFusedCompute(node: NodeDef): node is NodeDef & {op: FusedComputeOp} {
  return (FUSED_COMPUTE_OPS as readonly string[]).includes(node.op);
}

/** The fused activation of a fused op, lowercased ('none' when there is none). */
export function fusedActivationOf(node: NodeDef): string {
  const ops = getStringListAttr(node, 'fused_ops');
  return ops.length >= 2 ? ops[1].toLowerCase() : 'none';
}

/** The fused extra op ('biasadd', 'fusedbatchnorm' or '' ). */
function fusedExtraOpOf(node: NodeDef): string {
  const ops = getStringListAttr(node, 'fused_ops');
  return ops.length >= 1 ? ops[0].toLowerCase() : '';
}

const ACTIVATION_TF_NAME: Record<string, string> = {relu: 'Relu', relu6: 'Relu6'};

function fusedOpsAttrs(activation: string): NodeDef['attr'] {
  const ops = activation === 'none' ? ['BiasAdd'] : ['BiasAdd', ACTIVATION_TF_NAME[activation] ?? activation];
  return {fused_ops: attr.stringList(ops), num_args: attr.int(1)};
}

/** How the elements of a filter map to output channels. */
export interface ChannelLayout {
  channels: number;
  channelOf: (index: number) => number;
}

/** Output-channel layout of a conv [h,w,in,out], depthwise [h,w,in,mult] or matmul [K,N] (transposed: [N,K]) filter. */
export function outputChannelLayout(op: FusedComputeOp, filterShape: readonly number[], transposeB = false): ChannelLayout {
  if (op === '_FusedConv2D') {
    const out = filterShape[3];
    return {channels: out, channelOf: i => i % out};
  }
  if (op === 'FusedDepthwiseConv2dNative') {
    const channels = filterShape[2] * filterShape[3];
    return {channels, channelOf: i => i % channels};
  }
  if (transposeB) {
    const k = filterShape[1];
    return {channels: filterShape[0], channelOf: i => Math.floor(i / k)};
  }
  const n = filterShape[1];
  return {channels: n, channelOf: i => i % n};
}

export function layoutOfNode(node: NodeDef & {op: FusedComputeOp}, filter: WeightTensor): ChannelLayout {
  return outputChannelLayout(node.op, filter.shape, getBoolAttr(node, 'transpose_b'));
}

/** The values of a constant that broadcasts per output channel ([], [C], [1,...,1,C]); undefined otherwise. */
export function perChannelValues(weight: WeightTensor | undefined, channels: number): Float64Array | undefined {
  if (weight === undefined || weight.dtype !== 'float32') return undefined;
  const count = elementCount(weight.shape);
  const leadingOnes = weight.shape.slice(0, -1).every(d => d === 1);
  if (count === 1) return new Float64Array(channels).fill(weight.values[0]);
  if (count === channels && leadingOnes && weight.shape[weight.shape.length - 1] === channels) {
    return Float64Array.from(weight.values);
  }
  return undefined;
}

function scaledFilter(filter: WeightTensor, layout: ChannelLayout, factor: ArrayLike<number>): WeightTensor {
  const values = new Float32Array(filter.values.length);
  for (let i = 0; i < values.length; i++) values[i] = filter.values[i] * factor[layout.channelOf(i)];
  return {dtype: 'float32', shape: filter.shape.slice(), values};
}

function floatWeight(shape: number[], values: ArrayLike<number>): WeightTensor {
  return {dtype: 'float32', shape, values: Float32Array.from(values)};
}

interface FusedParts {
  node: NodeDef & {op: FusedComputeOp};
  input: string;
  filter: WeightTensor;
  bias: Float64Array;
  layout: ChannelLayout;
}

/** The data input, constant filter and bias of a fused op in BiasAdd form; undefined if not foldable. */
function fusedParts(edit: GraphEdit, node: NodeDef): FusedParts | undefined {
  if (!isFusedCompute(node) || fusedExtraOpOf(node) !== 'biasadd') return undefined;
  const inputs = node.input ?? [];
  if (inputs.length < 3) return undefined;
  const filter = edit.weight(parseInputRef(inputs[1]).node);
  const biasWeight = edit.weight(parseInputRef(inputs[2]).node);
  if (filter === undefined || filter.dtype !== 'float32' || biasWeight === undefined) return undefined;
  const layout = layoutOfNode(node, filter);
  const bias = perChannelValues(biasWeight, layout.channels);
  if (bias === undefined) return undefined;
  return {node, input: inputs[0], filter, bias, layout};
}

/** Writes a fused node named `name` with new filter/bias constants, replacing whatever had that name. */
function putFused(edit: GraphEdit, parts: FusedParts, name: string, filter: WeightTensor, bias: ArrayLike<number>, activation: string): void {
  const filterName = edit.freshName(`${name}/folded_filter`);
  const biasName = edit.freshName(`${name}/folded_bias`);
  edit.putConst(filterName, filter);
  edit.putConst(biasName, floatWeight([parts.layout.channels], bias));
  const extraInputs = (parts.node.input ?? []).filter(ref => ref.startsWith('^'));
  edit.put(withAttrs({...parts.node, name, input: [parts.input, filterName, biasName, ...extraInputs]}, fusedOpsAttrs(activation) ?? {}));
}

/** The single consumer of output 0 of `producer`, if it is the only reader. */
function soleConsumer(consumerIndex: ReadonlyMap<string, NodeDef[]>, producer: string, outputs: ReadonlySet<string>): NodeDef | undefined {
  if (outputs.has(producer)) return undefined;
  const consumers = consumerIndex.get(producer) ?? [];
  if (consumers.length !== 1) return undefined;
  const consumer = consumers[0];
  const refs = (consumer.input ?? []).map(parseInputRef).filter(r => r.node === producer);
  if (refs.some(r => r.control || r.outputIndex !== 0)) return undefined;
  return consumer;
}

// ---------------------------------------------------------------------------
// Rules

/** Conv2D / DepthwiseConv2dNative / MatMul with a constant filter → fused form with a zero bias. */
export function fuseUnfusedCompute(graph: ModelGraph): ModelGraph {
  const edit = new GraphEdit(graph);
  let changed = false;
  for (const node of graph.nodes) {
    const fusedOp = ({Conv2D: '_FusedConv2D', DepthwiseConv2dNative: 'FusedDepthwiseConv2dNative', MatMul: '_FusedMatMul'} as const)[
      node.op as 'Conv2D' | 'DepthwiseConv2dNative' | 'MatMul'];
    if (fusedOp === undefined) continue;
    const inputs = node.input ?? [];
    const filter = edit.weight(parseInputRef(inputs[1] ?? '').node);
    if (filter === undefined || filter.dtype !== 'float32') continue;
    if (node.op === 'MatMul' && (getBoolAttr(node, 'transpose_a') || filter.shape.length !== 2)) continue;
    if (node.op !== 'MatMul' && filter.shape.length !== 4) continue;
    const layout = outputChannelLayout(fusedOp, filter.shape, getBoolAttr(node, 'transpose_b'));
    const biasName = edit.freshName(`${node.name}/zero_bias`);
    edit.putConst(biasName, floatWeight([layout.channels], new Float32Array(layout.channels)));
    edit.put(withAttrs({...node, op: fusedOp, input: [inputs[0], inputs[1], biasName, ...inputs.slice(2)]},
        {...fusedOpsAttrs('none'), epsilon: attr.float(0)}));
    changed = true;
  }
  return changed ? edit.build() : graph;
}

/** A fused op that carries FusedBatchNorm as its extra op (num_args 4) → BiasAdd form. */
export function foldFusedBatchNormArgs(graph: ModelGraph): ModelGraph {
  const edit = new GraphEdit(graph);
  let changed = false;
  for (const node of graph.nodes) {
    if (!isFusedCompute(node) || fusedExtraOpOf(node) !== 'fusedbatchnorm') continue;
    const inputs = node.input ?? [];
    const filter = edit.weight(parseInputRef(inputs[1] ?? '').node);
    if (filter === undefined || filter.dtype !== 'float32') continue;
    const layout = layoutOfNode(node, filter);
    const [scale, offset, mean, variance] = inputs.slice(2, 6).map(ref => perChannelValues(edit.weight(parseInputRef(ref).node), layout.channels));
    if (scale === undefined || offset === undefined || mean === undefined || variance === undefined) continue;
    const epsilon = getFloatAttr(node, 'epsilon', 1e-3);
    const k = scale.map((g, c) => g / Math.sqrt(variance[c] + epsilon));
    const bias = offset.map((beta, c) => beta - mean[c] * k[c]);
    const parts: FusedParts = {node, input: inputs[0], filter, bias: new Float64Array(layout.channels), layout};
    putFused(edit, parts, node.name, scaledFilter(filter, layout, k), bias, fusedActivationOf(node));
    changed = true;
  }
  return changed ? edit.build() : graph;
}

type ConsumerRule = (edit: GraphEdit, parts: FusedParts, consumer: NodeDef) => boolean;

/** Applies `rule` to every (fused op, its sole consumer) pair; fused op must have no activation yet. */
function foldIntoConsumer(graph: ModelGraph, rule: ConsumerRule, needsNoActivation = true): ModelGraph {
  const outputs = new Set(graphOutputNames(graph));
  const edit = new GraphEdit(graph);
  const consumerIndex = consumerMap(graph.nodes);
  const consumed = new Set<string>();
  let changed = false;
  for (const node of graph.nodes) {
    if (consumed.has(node.name)) continue;
    if (needsNoActivation && isFusedCompute(node) && fusedActivationOf(node) !== 'none') continue;
    const parts = fusedParts(edit, node);
    if (parts === undefined) continue;
    const consumer = soleConsumer(consumerIndex, node.name, outputs);
    if (consumer === undefined || consumed.has(consumer.name)) continue;
    if (rule(edit, parts, consumer)) {
      consumed.add(consumer.name);
      consumed.add(node.name);
      edit.remove(node.name);
      changed = true;
    }
  }
  return changed ? edit.build() : graph;
}

/** The constant operand of a binary op whose other operand is `producer`. */
function otherConstOperand(edit: GraphEdit, consumer: NodeDef, producer: string): {weight: WeightTensor; producerFirst: boolean} | undefined {
  const refs = (consumer.input ?? []).filter(r => !r.startsWith('^')).map(parseInputRef);
  if (refs.length !== 2) return undefined;
  const producerFirst = refs[0].node === producer;
  const other = producerFirst ? refs[1] : refs[0];
  if (other.node === producer) return undefined;
  const weight = edit.weight(other.node);
  return weight === undefined ? undefined : {weight, producerFirst};
}

const foldBatchNormRule: ConsumerRule = (edit, parts, bn) => {
  if (!['FusedBatchNorm', 'FusedBatchNormV2', 'FusedBatchNormV3'].includes(bn.op)) return false;
  if (getBoolAttr(bn, 'is_training')) return false;
  if (getStringAttr(bn, 'data_format', 'NHWC').toUpperCase() !== 'NHWC') return false;
  const refs = (bn.input ?? []).filter(r => !r.startsWith('^'));
  const [scale, offset, mean, variance] = refs.slice(1, 5).map(ref => perChannelValues(edit.weight(parseInputRef(ref).node), parts.layout.channels));
  if (scale === undefined || offset === undefined || mean === undefined || variance === undefined) return false;
  const epsilon = getFloatAttr(bn, 'epsilon', 1e-3);
  const k = scale.map((g, c) => g / Math.sqrt(variance[c] + epsilon));
  const bias = parts.bias.map((b, c) => (b - mean[c]) * k[c] + offset[c]);
  putFused(edit, parts, bn.name, scaledFilter(parts.filter, parts.layout, k), bias, 'none');
  return true;
};

const foldMulRule: ConsumerRule = (edit, parts, mul) => {
  if (mul.op !== 'Mul') return false;
  const operand = otherConstOperand(edit, mul, parts.node.name);
  const factor = perChannelValues(operand?.weight, parts.layout.channels);
  if (factor === undefined) return false;
  putFused(edit, parts, mul.name, scaledFilter(parts.filter, parts.layout, factor), parts.bias.map((b, c) => b * factor[c]), 'none');
  return true;
};

const foldAddRule: ConsumerRule = (edit, parts, add) => {
  if (!['BiasAdd', 'Add', 'AddV2', 'Sub'].includes(add.op)) return false;
  if (add.op === 'BiasAdd' && getStringAttr(add, 'data_format', 'NHWC').toUpperCase() !== 'NHWC') return false;
  const operand = otherConstOperand(edit, add, parts.node.name);
  if (operand === undefined || (add.op === 'Sub' && !operand.producerFirst)) return false;
  const addend = perChannelValues(operand.weight, parts.layout.channels);
  if (addend === undefined) return false;
  const sign = add.op === 'Sub' ? -1 : 1;
  putFused(edit, parts, add.name, parts.filter, parts.bias.map((b, c) => b + sign * addend[c]), 'none');
  return true;
};

/** The scalar value of a constant, if it is one. */
function scalarOf(weight: WeightTensor | undefined): number | undefined {
  return weight !== undefined && weight.values.length === 1 ? Number(weight.values[0]) : undefined;
}

const foldActivationRule: ConsumerRule = (edit, parts, act) => {
  const current = fusedActivationOf(parts.node);
  let activation: string | undefined;
  if (act.op === 'Relu' && current === 'none') activation = 'relu';
  else if (act.op === 'Relu6' && (current === 'none' || current === 'relu')) activation = 'relu6';
  else if (act.op === 'ClipByValue' && (current === 'none' || current === 'relu')) {
    const refs = (act.input ?? []).filter(r => !r.startsWith('^'));
    const lo = scalarOf(edit.weight(parseInputRef(refs[1] ?? '').node));
    const hi = scalarOf(edit.weight(parseInputRef(refs[2] ?? '').node));
    if (lo === 0 && hi === 6) activation = 'relu6';
  } else if (act.op === 'Maximum' && current === 'none') {
    if (scalarOf(otherConstOperand(edit, act, parts.node.name)?.weight) === 0) activation = 'relu';
  } else if (act.op === 'Minimum' && current === 'relu') {
    if (scalarOf(otherConstOperand(edit, act, parts.node.name)?.weight) === 6) activation = 'relu6';
  }
  if (activation === undefined) return false;
  putFused(edit, parts, act.name, parts.filter, parts.bias, activation);
  return true;
};

export const foldBatchNorm = (graph: ModelGraph): ModelGraph => foldIntoConsumer(graph, foldBatchNormRule);
export const foldPerChannelMul = (graph: ModelGraph): ModelGraph => foldIntoConsumer(graph, foldMulRule);
export const foldBiasAdd = (graph: ModelGraph): ModelGraph => foldIntoConsumer(graph, foldAddRule);
export const foldActivation = (graph: ModelGraph): ModelGraph => foldIntoConsumer(graph, foldActivationRule, false);

const IDENTITY_OPS = new Set(['Identity', 'Snapshot', 'StopGradient']);

/** Identity nodes that are not model outputs are bypassed (their readers read their input). */
export function removeIdentities(graph: ModelGraph): ModelGraph {
  const outputs = new Set(graphOutputNames(graph));
  const edit = new GraphEdit(graph);
  const consumerIndex = consumerMap(graph.nodes);
  let changed = false;
  for (const node of graph.nodes) {
    if (!IDENTITY_OPS.has(node.op) || outputs.has(node.name)) continue;
    const data = (node.input ?? []).filter(r => !r.startsWith('^'));
    if (data.length !== 1 || (node.input ?? []).length !== 1) continue;
    const source = parseInputRef(data[0]);
    if (source.outputIndex !== 0) continue;
    for (const reader of consumerIndex.get(node.name) ?? []) {
      const current = edit.get(reader.name);
      if (current === undefined) continue;
      if ((current.input ?? []).some(r => r === `^${node.name}` || parseInputRef(r).outputIndex !== 0 && parseInputRef(r).node === node.name)) continue;
      edit.rewireInput(reader.name, node.name, source.node);
    }
    changed = true;
  }
  return changed ? edit.build() : graph;
}

/** Every folding rule, applied until the graph stops changing. */
export function foldGraph(graph: ModelGraph): ModelGraph {
  topologicalOrder(graph.nodes); // throws, naming the node, on a dangling input or a cycle
  const rules = [
    removeIdentities, fuseUnfusedCompute, foldFusedBatchNormArgs, foldBatchNorm, foldPerChannelMul, foldBiasAdd, foldActivation, foldPrelu,
  ];
  let current = graph;
  for (let round = 0; round < 100; round++) {
    const before = current;
    for (const rule of rules) current = rule(current);
    if (current === before) return current;
  }
  return current;
}

/** Node count by op, for tests and logs. */
export function opHistogram(graph: ModelGraph): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const node of graph.nodes) counts[node.op] = (counts[node.op] ?? 0) + 1;
  return counts;
}

