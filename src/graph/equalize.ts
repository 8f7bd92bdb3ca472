// Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization Through Weight
// Equalization and Bias Correction", arXiv 1906.04721, §4.1), on the folded float graph,
// before the plan. Exact in float: only the per-channel split of the work between layers moves.
//
// A group is a set of fused convs/matmuls (producers) whose outputs reach other fused
// convs/matmuls (consumers, reading them as their data input) only through ops that commute
// with a positive per-channel scale:
//
//   producer (fused activation none / relu / prelu / leakyrelu; relu6: see below)
//     → [Relu, LeakyRelu, Prelu, Abs, Neg, MaxPool, AvgPool, Pad / PadV2 (zeros) / MirrorPad
//        not padding channels, ResizeBilinear / ResizeNearestNeighbor, Mul by a scalar or
//        per-channel constant, Add / AddV2 / Sub / AddN / Maximum / Minimum of tensors of the
//        group, Maximum / Minimum with 0]*
//     → consumers
//
// Output channel c of every producer (filter and bias) is divided by s_c and input channel c of
// every consumer's filter multiplied by s_c: f(x / s) = f(x) / s for s > 0 for all those ops, so
// the consumers' outputs do not change. conv → act → conv, depthwise → pointwise and pointwise →
// depthwise are groups of one producer and one consumer; a layer read by several heads has
// several consumers; a residual stream (Add of producers) has several producers; the PReLU that
// TensorFlow decomposes into relu(x) + α·(x − |x|)·0.5 is a chain of such ops, and a fused 'prelu'
// keeps its α (positive scaling commutes with it). Anything not proved safe (a group tensor that
// is a model output or read by another op, a control edge, other fused activations, mismatched
// channel counts, a non-NHWC conv) leaves the whole group alone.
//
// The scales (option `method`):
//   'weights'      DFQ, data-free: s_c = sqrt(r1_c / r2_c), r1_c the largest |w| of output
//                  channel c over the producers, r2_c the largest |w| of input channel c over the
//                  consumers; sweeps over all groups until the scales settle (a layer is the
//                  consumer of one group and the producer of the next).
//   'activations'  data-aware. Weights are int8 per output channel here, so a producer's own
//                  weights do not care about s, nor does a depthwise consumer; what the scheme
//                  loses is the per-TENSOR activation quantization of channels with very
//                  different ranges. s_c = a_c / A: a_c is channel c's largest |x| on the
//                  calibration data (relative to its tensor's largest, the maximum over the
//                  group's tensors), A = max a_c, so every channel spans the range of the widest.
//                  One measurement serves all groups: a group's scales leave every tensor
//                  outside it unchanged (its consumers' outputs are the same), so there is nothing
//                  to iterate. Groups with fewer than `minObservations` values per channel (the
//                  dense layers of a classifier: one vector per calibration image) are left
//                  alone: their per-channel maxima are too noisy (measured: nsfwjs's dense layers
//                  equalized on 32 maxima cost 4 dB).
//   'balanced'     'activations' with DFQ's balance where a group has conv/matmul consumers (one
//                  weight scale per output channel across its input channels, so the consumer's
//                  weights do care): s_c ∝ sqrt(a_c / r2_c), r2_c the consumers' largest |w| of
//                  input channel c, largest s = 1; depthwise-only groups as 'activations'. All
//                  groups' scales from the one measurement and the unscaled weights. Measured
//                  (126 photos, int8): InceptionV3 44.6 dB vs 37.7 with 'activations',
//                  mobilefacenet 36.5 vs 34.5, but MobileNetV2 36.9 vs 38.2 and emotion 24.2 vs 25.0:
//                  not the default (src/graph/README.md).
//
// relu6 is not positively homogeneous: relu6(x / s) ≠ relu6(x) / s. Option `relu6`:
//   'keep'   the producer keeps relu6. With 'activations' the scales are bounded (s_c ≥ a_c / 6,
//            s_c = 1 for channels that reach 6) so the rewrite is exact wherever the
//            pre-activation stays within what calibration saw (A = max a_c ≤ 6 gives that by
//            itself); beyond it channel c clips at 6·s_c ≥ a_c — and the int8 model clips it at
//            its calibrated range times s_c, which is lower, anyway. Default for 'activations'.
//   'relu'   DFQ's choice, relu6 → relu: the float model changes wherever relu6 clipped.
//   'skip'   groups with a relu6 producer are left alone. Default for 'weights': measured, DFQ's
//            scales with relu6 → relu leave posenet's float model at 6 dB SQNR (movenet 12,
//            MobileNetV2 18), and keeping relu6 with those scales is worse still: these nets clip
//            at 6 a lot, and no per-tensor range can restore per-channel clips at 6 / s_c.

import * as tf from '@tensorflow/tfjs-core';

import {graphModelOf} from './calibrate';
import {attr, getBoolAttr, getStringAttr, getStringListAttr, NodeDef, parseInputRef, withAttrs} from './graph_def';
import {GraphEdit} from './graph_edit';
import {isFusedCompute, fusedActivationOf, outputChannelLayout, perChannelValues} from './fold';
import {consumerMap, graphOutputNames, ModelGraph, nodeMap, WeightTensor} from './model_graph';
import {FusedComputeOp} from './op_catalog';

export type EqualizeMethod = 'weights' | 'activations' | 'balanced';
export type Relu6Handling = 'keep' | 'relu' | 'skip';

export const EQUALIZE_METHODS: readonly EqualizeMethod[] = ['weights', 'activations', 'balanced'];

/** The method `equalize: true` means. */
export const DEFAULT_EQUALIZE_METHOD: EqualizeMethod = 'activations';

/** Values per channel below which 'activations' leaves a group alone. */
export const MIN_OBSERVATIONS_PER_CHANNEL = 1024;

export interface EqualizeOptions {
  method: EqualizeMethod;
  /** The calibration samples ('activations' measures the per-channel ranges on them). */
  samples?: readonly tf.NamedTensorMap[];
  /** Default: 'keep' for 'activations', 'skip' for 'weights'. */
  relu6?: Relu6Handling;
  /** 'weights': sweeps over all groups (default 50; stops once every |log s_c| < 1e-4). */
  maxSweeps?: number;
  /** 'activations': default MIN_OBSERVATIONS_PER_CHANNEL. */
  minObservations?: number;
  /** Called after each calibration sample is measured ('activations'). */
  onSample?: () => void;
}

/** One equalized group: the producers' output channel c ÷ scales[c], the consumers' input channel c × scales[c]. */
export interface EqualizedGroup {
  producers: string[];
  consumers: string[];
  /** The scale-commuting ops between them. */
  through: string[];
  scales: Float64Array;
  /** For groups with a relu6 producer: kept, or replaced by relu. */
  relu6?: 'kept' | 'replaced';
}

export interface EqualizeResult {
  graph: ModelGraph;
  groups: EqualizedGroup[];
}

/** Fused activations with f(x / s) = f(x) / s for s > 0 (prelu/leakyrelu keep their alpha). */
const HOMOGENEOUS_ACTIVATIONS = new Set(['none', 'relu', 'prelu', 'leakyrelu']);

/** Ops of one tensor (input 0; the other inputs constants) that commute with a positive per-channel scale. */
const UNARY_THROUGH = new Set(['Relu', 'LeakyRelu', 'Prelu', 'Abs', 'Neg', 'MaxPool', 'AvgPool', 'Pad', 'PadV2', 'MirrorPad',
  'ResizeBilinear', 'ResizeNearestNeighbor', 'Identity']);
/** Ops of several tensors that commute with the same positive per-channel scale of all of them. */
const NARY_THROUGH = new Set(['Add', 'AddV2', 'Sub', 'AddN', 'Maximum', 'Minimum']);

function isThroughOp(node: NodeDef): boolean {
  return UNARY_THROUGH.has(node.op) || NARY_THROUGH.has(node.op) || node.op === 'Mul';
}

function dataRefs(node: NodeDef): string[] {
  return (node.input ?? []).filter(r => !r.startsWith('^'));
}

/** A fused conv/matmul the pass can rescale: constant float filter, per-channel bias, NHWC. */
interface Compute {
  node: NodeDef & {op: FusedComputeOp};
  filterName: string;
  biasName: string;
  filter: WeightTensor;
  channelsOut: number;
  channelsIn: number;
  transposeB: boolean;
}

function asCompute(graph: ModelGraph, byName: ReadonlyMap<string, NodeDef>, node: NodeDef | undefined): Compute | undefined {
  if (node === undefined || !isFusedCompute(node)) return undefined;
  const refs = dataRefs(node);
  if (refs.length < 3) return undefined;
  const ops = getStringListAttr(node, 'fused_ops');
  if (ops.length === 0 || ops[0].toLowerCase() !== 'biasadd') return undefined;
  const filterName = parseInputRef(refs[1]).node;
  const biasName = parseInputRef(refs[2]).node;
  if (byName.get(filterName)?.op !== 'Const' || byName.get(biasName)?.op !== 'Const') return undefined;
  const filter = graph.weights[filterName];
  const bias = graph.weights[biasName];
  if (filter?.dtype !== 'float32' || bias?.dtype !== 'float32') return undefined;
  if (node.op === '_FusedMatMul') {
    if (getBoolAttr(node, 'transpose_a') || filter.shape.length !== 2) return undefined;
  } else if (filter.shape.length !== 4 || getStringAttr(node, 'data_format', 'NHWC').toUpperCase() !== 'NHWC') {
    return undefined;
  }
  const transposeB = node.op === '_FusedMatMul' && getBoolAttr(node, 'transpose_b');
  const channelsOut = outputChannelLayout(node.op, filter.shape, transposeB).channels;
  if (perChannelValues(bias, channelsOut) === undefined) return undefined;
  const channelsIn = node.op === '_FusedMatMul' ? filter.shape[transposeB ? 1 : 0] : filter.shape[2];
  return {node, filterName, biasName, filter, channelsOut, channelsIn, transposeB};
}

/** Input channel of each filter element: conv [h,w,in,out], depthwise [h,w,in,mult], matmul [K,N] or [N,K]. */
function inputChannelOf(c: Compute): (index: number) => number {
  const s = c.filter.shape;
  if (c.node.op === '_FusedMatMul') return c.transposeB ? i => i % s[1] : i => Math.floor(i / s[1]);
  return i => Math.floor(i / s[3]) % s[2];
}

/** A group found in the graph, before its scales are chosen. */
export interface EqualizationGroup {
  producers: string[];
  consumers: string[];
  through: string[];
  channels: number;
  /** Some producer has a fused relu6. */
  hasRelu6: boolean;
}

/** Whether a through op keeps channel c in channel c, with its non-group operands allowed. */
function throughOpValid(graph: ModelGraph, byName: ReadonlyMap<string, NodeDef>, node: NodeDef, members: ReadonlySet<string>,
    channels: number): boolean {
  const refs = dataRefs(node).map(parseInputRef);
  if (refs.some(r => r.outputIndex !== 0)) return false;
  const constOf = (name: string): WeightTensor | undefined => (byName.get(name)?.op === 'Const' ? graph.weights[name] : undefined);
  const isZeroScalar = (w: WeightTensor | undefined) => w !== undefined && w.values.length === 1 && Number(w.values[0]) === 0;
  if (UNARY_THROUGH.has(node.op)) {
    if (refs.length === 0 || !members.has(refs[0].node)) return false;
    const rest = refs.slice(1).map(r => constOf(r.node));
    if (rest.some(w => w === undefined)) return false;
    switch (node.op) {
      case 'Pad':
      case 'PadV2':
      case 'MirrorPad': {
        // paddings [rank, 2]: the channel (last) axis must not be padded; PadV2 pads with 0.
        const paddings = rest[0] as WeightTensor;
        const n = paddings.values.length;
        if (paddings.shape.length !== 2 || paddings.shape[1] !== 2 || n < 2) return false;
        if (Number(paddings.values[n - 1]) !== 0 || Number(paddings.values[n - 2]) !== 0) return false;
        return node.op === 'PadV2' ? rest.length === 2 && isZeroScalar(rest[1]) : rest.length === 1;
      }
      case 'Prelu':
      case 'ResizeBilinear':
      case 'ResizeNearestNeighbor':
        return rest.length === 1;
      case 'MaxPool':
      case 'AvgPool':
        return rest.length === 0 && getStringAttr(node, 'data_format', 'NHWC').toUpperCase() === 'NHWC';
      default:
        return rest.length === 0;
    }
  }
  if (node.op === 'Mul') {
    if (refs.length !== 2 || refs.filter(r => members.has(r.node)).length !== 1) return false;
    const k = constOf((refs.find(r => !members.has(r.node)) as {node: string}).node);
    return k !== undefined && k.dtype === 'float32' && (k.values.length === 1 || perChannelValues(k, channels) !== undefined);
  }
  if (refs.length < 2) return false;
  if (refs.every(r => members.has(r.node))) return true;
  // max(x, 0) / min(x, 0) of a group tensor.
  if ((node.op === 'Maximum' || node.op === 'Minimum') && refs.length === 2 && refs.filter(r => members.has(r.node)).length === 1) {
    return isZeroScalar(constOf((refs.find(r => !members.has(r.node)) as {node: string}).node));
  }
  return false;
}

/** The groups of the graph (see the header), producers/consumers/through in graph order. */
export function findEqualizationGroups(graph: ModelGraph, relu6: Relu6Handling = 'keep'): EqualizationGroup[] {
  const byName = nodeMap(graph.nodes);
  const consumers = consumerMap(graph.nodes);
  const outputs = new Set(graphOutputNames(graph));
  const order = new Map(graph.nodes.map((n, i) => [n.name, i]));
  const producerOk = (c: Compute): boolean => {
    const activation = fusedActivationOf(c.node);
    return HOMOGENEOUS_ACTIVATIONS.has(activation) || (activation === 'relu6' && relu6 !== 'skip');
  };
  const assigned = new Set<string>();
  const groups: EqualizationGroup[] = [];
  for (const start of graph.nodes) {
    if (assigned.has(start.name)) continue;
    const first = asCompute(graph, byName, start);
    if (first === undefined || !producerOk(first)) continue;
    const group = growGroup(graph, byName, consumers, outputs, first, producerOk, order);
    if (group === undefined) continue;
    for (const name of [...group.producers, ...group.through]) assigned.add(name);
    groups.push(group);
  }
  return groups;
}

/**
 * The group of `first`: forward from every producer and through op to all their readers,
 * backward from every through op to its other operands (more producers), until closed.
 */
function growGroup(graph: ModelGraph, byName: ReadonlyMap<string, NodeDef>, consumers: ReadonlyMap<string, NodeDef[]>,
    outputs: ReadonlySet<string>, first: Compute, producerOk: (c: Compute) => boolean,
    order: ReadonlyMap<string, number>): EqualizationGroup | undefined {
  const channels = first.channelsOut;
  const producers = new Set<string>([first.node.name]);
  const through = new Set<string>();
  const terminals = new Set<string>();
  const forward: string[] = [first.node.name];
  const backward: string[] = [];
  const inGroup = (name: string) => producers.has(name) || through.has(name);
  const addThrough = (node: NodeDef) => {
    through.add(node.name);
    forward.push(node.name);
    for (const ref of dataRefs(node).map(parseInputRef)) {
      if (!inGroup(ref.node) && byName.get(ref.node)?.op !== 'Const') backward.push(ref.node);
    }
  };
  while (forward.length > 0 || backward.length > 0) {
    while (forward.length > 0) {
      const tensor = forward.pop() as string;
      if (outputs.has(tensor)) return undefined;
      for (const reader of consumers.get(tensor) ?? []) {
        const refs = (reader.input ?? []).map(parseInputRef).filter(r => r.node === tensor);
        if (refs.some(r => r.control || r.outputIndex !== 0)) return undefined;
        const readerRefs = dataRefs(reader).map(parseInputRef);
        const compute = asCompute(graph, byName, reader);
        if (compute !== undefined && readerRefs[0].node === tensor && readerRefs.slice(1).every(r => r.node !== tensor)) {
          if (compute.channelsIn !== channels) return undefined;
          terminals.add(reader.name);
        } else if (isThroughOp(reader)) {
          if (!through.has(reader.name)) addThrough(reader);
        } else {
          return undefined;
        }
      }
    }
    while (backward.length > 0) {
      const name = backward.pop() as string;
      if (inGroup(name)) continue;
      const node = byName.get(name);
      const compute = asCompute(graph, byName, node);
      if (compute !== undefined) {
        if (!producerOk(compute) || compute.channelsOut !== channels) return undefined;
        producers.add(name);
        forward.push(name);
      } else if (node !== undefined && isThroughOp(node)) {
        addThrough(node);
      } else {
        return undefined;
      }
    }
  }
  if (terminals.size === 0) return undefined;
  const members = new Set([...producers, ...through]);
  for (const name of through) {
    if (!throughOpValid(graph, byName, byName.get(name) as NodeDef, members, channels)) return undefined;
  }
  const sorted = (names: Iterable<string>) => [...names].sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
  const hasRelu6 = [...producers].some(p => fusedActivationOf(byName.get(p) as NodeDef) === 'relu6');
  return {producers: sorted(producers), consumers: sorted(terminals), through: sorted(through), channels, hasRelu6};
}

// ---------------------------------------------------------------------------
// Activation statistics

/** What calibration saw of one tensor, per channel (last axis). */
export interface ChannelStats {
  /** Largest |x| of each channel. */
  absMax: Float64Array;
  /** Values seen per channel (positions × samples). */
  count: number;
}

/** Per channel (last axis) of each tensor: the largest |x| over the samples. */
export function channelStats(graph: ModelGraph, tensors: readonly string[], samples: readonly tf.NamedTensorMap[],
    onSample?: () => void): Map<string, ChannelStats> {
  const result = new Map<string, ChannelStats>();
  if (tensors.length === 0) return result;
  const model = graphModelOf(graph);
  try {
    for (const sample of samples) {
      const out = model.execute(sample, tensors.slice());
      const list = Array.isArray(out) ? out : [out];
      try {
        list.forEach((t, k) => {
          const channels = t.shape[t.rank - 1] as number;
          const values = t.dataSync();
          const stats = result.get(tensors[k]) ?? {absMax: new Float64Array(channels), count: 0};
          const max = stats.absMax;
          for (let i = 0; i < values.length; i++) {
            const v = Math.abs(values[i]);
            const c = i % channels;
            if (v > max[c]) max[c] = v;
          }
          stats.count += values.length / channels;
          result.set(tensors[k], stats);
        });
      } finally {
        const inputs = new Set(Object.values(sample));
        tf.dispose(list.filter(t => !inputs.has(t)));
      }
      onSample?.();
    }
  } finally {
    model.dispose();
  }
  return result;
}

// ---------------------------------------------------------------------------
// Scales

/** A filter and bias being rescaled (float64 copies). */
interface Working {
  compute: Compute;
  filter: Float64Array;
  bias: Float64Array;
  outputOf: (i: number) => number;
  inputOf: (i: number) => number;
}

function rangesBy(w: Working, channelOf: (i: number) => number, channels: number): Float64Array {
  const r = new Float64Array(channels);
  for (let i = 0; i < w.filter.length; i++) {
    const c = channelOf(i);
    const v = Math.abs(w.filter[i]);
    if (v > r[c]) r[c] = v;
  }
  return r;
}

function elementwiseMax(arrays: readonly Float64Array[], channels: number): Float64Array {
  const out = new Float64Array(channels);
  for (const a of arrays) for (let c = 0; c < channels; c++) out[c] = Math.max(out[c], a[c]);
  return out;
}

function largest(values: Float64Array): number {
  return values.reduce((m, v) => Math.max(m, v), 0);
}

function applyScales(group: EqualizationGroup, work: ReadonlyMap<string, Working>, s: Float64Array): void {
  for (const p of group.producers) {
    const w = work.get(p) as Working;
    for (let i = 0; i < w.filter.length; i++) w.filter[i] /= s[w.outputOf(i)];
    for (let c = 0; c < w.bias.length; c++) w.bias[c] /= s[c];
  }
  for (const t of group.consumers) {
    const w = work.get(t) as Working;
    for (let i = 0; i < w.filter.length; i++) w.filter[i] *= s[w.inputOf(i)];
  }
}

/** DFQ: s_c = sqrt(r1_c / r2_c); 1 where a channel is dead on either side. */
function weightScales(group: EqualizationGroup, work: ReadonlyMap<string, Working>): Float64Array {
  const n = group.channels;
  const r1 = elementwiseMax(group.producers.map(p => {
    const w = work.get(p) as Working;
    return rangesBy(w, w.outputOf, n);
  }), n);
  const r2 = elementwiseMax(group.consumers.map(t => {
    const w = work.get(t) as Working;
    return rangesBy(w, w.inputOf, n);
  }), n);
  return r1.map((a, c) => (a > 0 && r2[c] > 0 ? Math.sqrt(a / r2[c]) : 1));
}

const RELU6_CAP = 6;

/**
 * Data-aware (see the header): s_c = a_c / A, or with `consumerRanges` (r2_c, 'balanced')
 * s_c ∝ sqrt(a_c / r2_c), largest 1; then the relu6 bounds when `relu6Max` is given.
 */
function activationScales(group: EqualizationGroup, stats: ReadonlyMap<string, ChannelStats>, relu6Max: Float64Array | undefined,
    consumerRanges?: Float64Array): Float64Array {
  const relative: Float64Array[] = [];
  for (const name of [...group.producers, ...group.through]) {
    const r = stats.get(name)?.absMax;
    if (r === undefined) continue;
    const top = largest(r);
    if (top > 0) relative.push(r.map(v => v / top));
  }
  const a = elementwiseMax(relative, group.channels);
  const b = consumerRanges === undefined ? a : a.map((v, c) => (v > 0 && consumerRanges[c] > 0 ? Math.sqrt(v / consumerRanges[c]) : 0));
  const top = largest(b);
  const s = b.map(v => (top > 0 && v > 0 ? v / top : 1));
  if (relu6Max !== undefined) {
    for (let c = 0; c < s.length; c++) {
      if (relu6Max[c] >= RELU6_CAP * (1 - 1e-6)) s[c] = 1; // reaches 6: only s = 1 keeps the clip exact
      else s[c] = Math.max(s[c], relu6Max[c] / RELU6_CAP);
    }
  }
  return s;
}

/** Channel maxima of the group's relu6 producers (the bounds of 'keep'), undefined if it has none. */
function relu6MaxOf(group: EqualizationGroup, byName: ReadonlyMap<string, NodeDef>, stats: ReadonlyMap<string, ChannelStats>): Float64Array | undefined {
  const relu6 = group.producers.filter(p => fusedActivationOf(byName.get(p) as NodeDef) === 'relu6');
  if (relu6.length === 0) return undefined;
  return elementwiseMax(relu6.map(p => stats.get(p)?.absMax ?? new Float64Array(group.channels).fill(RELU6_CAP)), group.channels);
}

/** r2_c over the group's conv/matmul consumers (largest |w| of input channel c), undefined if all are depthwise. */
function convConsumerRanges(group: EqualizationGroup, work: ReadonlyMap<string, Working>): Float64Array | undefined {
  const shared = group.consumers.map(t => work.get(t) as Working).filter(w => w.compute.node.op !== 'FusedDepthwiseConv2dNative');
  return shared.length === 0 ? undefined : elementwiseMax(shared.map(w => rangesBy(w, w.inputOf, group.channels)), group.channels);
}

/**
 * Rescales the groups of a folded graph (see the header). Node names, ops and topology are
 * unchanged (with relu6: 'relu', the relu6 producers' fused_ops become relu); the rescaled
 * filters and biases are new Consts.
 */
export function equalizeGraph(graph: ModelGraph, options: EqualizeOptions): EqualizeResult {
  const method = options.method;
  if (!(EQUALIZE_METHODS as readonly string[]).includes(method)) {
    throw new Error(`equalize: unknown method '${String(method)}' (one of ${EQUALIZE_METHODS.join(', ')}).`);
  }
  const relu6 = options.relu6 ?? (method === 'weights' ? 'skip' : 'keep');
  let groups = findEqualizationGroups(graph, relu6);
  if (groups.length === 0) return {graph, groups: []};
  const byName = nodeMap(graph.nodes);
  let scales: Float64Array[];
  const work = new Map<string, Working>();
  const workOf = (name: string): Working => {
    let w = work.get(name);
    if (w === undefined) {
      const compute = asCompute(graph, byName, byName.get(name)) as Compute;
      const bias = perChannelValues(graph.weights[compute.biasName], compute.channelsOut) as Float64Array;
      const outputOf = outputChannelLayout(compute.node.op, compute.filter.shape, compute.transposeB).channelOf;
      w = {compute, filter: Float64Array.from(compute.filter.values), bias, outputOf, inputOf: inputChannelOf(compute)};
      work.set(name, w);
    }
    return w;
  };
  if (method === 'weights') {
    for (const g of groups) [...g.producers, ...g.consumers].forEach(workOf);
    scales = groups.map(g => new Float64Array(g.channels).fill(1));
    const sweeps = options.maxSweeps ?? 50;
    for (let sweep = 0; sweep < sweeps; sweep++) {
      let change = 0;
      groups.forEach((g, k) => {
        const s = weightScales(g, work);
        applyScales(g, work, s);
        for (let c = 0; c < s.length; c++) {
          scales[k][c] *= s[c];
          change = Math.max(change, Math.abs(Math.log(s[c])));
        }
      });
      if (change < 1e-4) break;
    }
  } else {
    if (options.samples === undefined || options.samples.length === 0) {
      throw new Error(`equalize: method '${method}' needs calibration samples.`);
    }
    const tensors = [...new Set(groups.flatMap(g => [...g.producers, ...g.through]))];
    const stats = channelStats(graph, tensors, options.samples, options.onSample);
    const minObservations = options.minObservations ?? MIN_OBSERVATIONS_PER_CHANNEL;
    groups = groups.filter(g => [...g.producers, ...g.through].every(n => (stats.get(n)?.count ?? 0) >= minObservations));
    const relu6Bounds = (g: EqualizationGroup) => (relu6 === 'keep' ? relu6MaxOf(g, byName, stats) : undefined);
    if (method === 'balanced') {
      // Every group's consumer ranges read before any group is rescaled.
      for (const g of groups) [...g.producers, ...g.consumers].forEach(workOf);
      scales = groups.map(g => activationScales(g, stats, relu6Bounds(g), convConsumerRanges(g, work)));
      groups.forEach((g, k) => applyScales(g, work, scales[k]));
    } else {
      scales = groups.map(g => {
        const s = activationScales(g, stats, relu6Bounds(g));
        [...g.producers, ...g.consumers].forEach(workOf);
        applyScales(g, work, s);
        return s;
      });
    }
  }
  const edit = new GraphEdit(graph);
  for (const [name, w] of work) {
    const c = w.compute;
    const filterName = edit.freshName(`${name}/equalized_filter`);
    const biasName = edit.freshName(`${name}/equalized_bias`);
    edit.putConst(filterName, {dtype: 'float32', shape: c.filter.shape.slice(), values: Float32Array.from(w.filter)});
    edit.putConst(biasName, {dtype: 'float32', shape: [c.channelsOut], values: Float32Array.from(w.bias)});
    edit.put(withFilterAndBias(edit.get(name) as NodeDef, filterName, biasName));
  }
  if (relu6 === 'relu') {
    for (const p of groups.flatMap(g => g.producers)) {
      const node = edit.get(p) as NodeDef;
      if (fusedActivationOf(node) !== 'relu6') continue;
      edit.put(withAttrs(node, {fused_ops: attr.stringList([getStringListAttr(node, 'fused_ops')[0], 'Relu'])}));
    }
  }
  return {
    graph: edit.build(),
    groups: groups.map((g, k) => ({
      producers: g.producers, consumers: g.consumers, through: g.through, scales: scales[k],
      ...(g.hasRelu6 ? {relu6: relu6 === 'relu' ? 'replaced' as const : 'kept' as const} : {}),
    })),
  };
}

/** The node reading `filter` and `bias` as its data inputs 1 and 2 (the others, e.g. a prelu alpha, kept). */
export function withFilterAndBias(node: NodeDef, filter: string, bias: string): NodeDef {
  let seen = 0;
  const input = (node.input ?? []).map(ref => {
    if (ref.startsWith('^')) return ref;
    const position = seen++;
    return position === 1 ? filter : position === 2 ? bias : ref;
  });
  return {...node, input};
}

/** What `quantizeModel`'s `equalize` option means: a method, or undefined for off. */
export function equalizeMethodOf(option: boolean | EqualizeMethod | undefined, fallback: boolean | EqualizeMethod): EqualizeMethod | undefined {
  const value = option ?? fallback;
  if (value === false) return undefined;
  if (value === true) return DEFAULT_EQUALIZE_METHOD;
  if (!(EQUALIZE_METHODS as readonly string[]).includes(value)) {
    throw new Error(`quantizeModel: unknown equalize method '${String(value)}' (true, false, or one of ${EQUALIZE_METHODS.join(', ')}).`);
  }
  return value;
}
