// Fake-quant insertion (pure): the folded float graph + plan → a graph with
//   FakeQuantWithMinMaxVars            after every quantized activation tensor
//   FakeQuantWithMinMaxVarsPerChannel  on the filter of every quantized conv/matmul
// Built in calibration mode (activation fake-quants observe, not clamp); once
// ranges are known, `applyActivationRanges` turns it into the simulation graph.

import {ATTR, FAKE_QUANT_OP, FAKE_QUANT_PER_CHANNEL_OP} from '../ops/op_names';
import {encodeFakeQuant} from '../ops/quant_attrs';
import {attr, getBoolAttr, NodeDef, parseInputRef, withAttrs, withoutAttrs} from './graph_def';
import {GraphEdit} from './graph_edit';
import {consumerMap, ModelGraph, nodeMap} from './model_graph';
import {FusedComputeOp} from './op_catalog';
import {QuantPlan, quantizesInPlace} from './plan';
import {quantizeFilter} from './weight_quant';

/** One quantized activation tensor and the fake-quant node that observes / quantizes it. */
export interface ActivationObserver {
  /** The node producing the tensor (its name in the float graph). */
  tensor: string;
  /** The fake-quant node; equal to `tensor` when the producer was renamed `<tensor>/float`. */
  fakeQuantNode: string;
  /** The producer's op. */
  op: string;
  /** Passthrough tensors share the range of this tensor (nothing to calibrate). */
  tiedTo?: string;
}

export interface FakeQuantGraph {
  graph: ModelGraph;
  observers: ActivationObserver[];
}

export interface InsertOptions {
  perChannel: boolean;
}

function scalarWeight(value: number): {dtype: 'float32'; shape: number[]; values: Float32Array} {
  return {dtype: 'float32', shape: [], values: Float32Array.of(value)};
}

/** Puts min/max Consts for a fake-quant node and returns their names. */
function putMinMax(edit: GraphEdit, fakeQuant: string, min: Float32Array, max: Float32Array, shape: number[]): [string, string] {
  const minName = edit.freshName(`${fakeQuant}/min`);
  const maxName = edit.freshName(`${fakeQuant}/max`);
  edit.putConst(minName, {dtype: 'float32', shape, values: min});
  edit.putConst(maxName, {dtype: 'float32', shape, values: max});
  return [minName, maxName];
}

function insertFilterFakeQuant(edit: GraphEdit, compute: NodeDef, perChannel: boolean): void {
  const inputs = compute.input ?? [];
  const filterName = parseInputRef(inputs[1]).node;
  const filter = edit.weight(filterName);
  if (filter === undefined) throw new Error(`Node '${compute.name}': filter '${filterName}' is not a constant.`);
  const quantized = quantizeFilter(compute.op as FusedComputeOp, filter, perChannel, getBoolAttr(compute, 'transpose_b'), filterName);
  const fakeQuant = edit.freshName(`${compute.name}/filter_fake_quant`);
  const scales = quantized.axis < 0 ? [quantized.scales[0]] : quantized.scales;
  const [minName, maxName] = putMinMax(edit, fakeQuant,
      Float32Array.from(scales, s => -127 * s), Float32Array.from(scales, s => 127 * s), [scales.length]);
  edit.put({
    name: fakeQuant, op: FAKE_QUANT_PER_CHANNEL_OP, input: [filterName, minName, maxName],
    attr: {
      [ATTR.numBits]: attr.int(8), [ATTR.narrowRange]: attr.bool(true),
      [ATTR.scales]: attr.floatList(scales), [ATTR.axis]: attr.int(quantized.axis),
    },
  }, compute.name);
  edit.put({...compute, input: [inputs[0], fakeQuant, ...inputs.slice(2)]});
}

function activationFakeQuantNode(name: string, input: string, min: string, max: string): NodeDef {
  return {
    name, op: FAKE_QUANT_OP, input: [input, min, max],
    attr: {[ATTR.numBits]: attr.int(8), [ATTR.narrowRange]: attr.bool(false), [ATTR.calibrating]: attr.bool(true)},
  };
}

export function insertFakeQuant(graph: ModelGraph, plan: QuantPlan, options: InsertOptions): FakeQuantGraph {
  const edit = new GraphEdit(graph);
  for (const node of graph.nodes) {
    if (plan.decisions.get(node.name)?.role === 'compute') insertFilterFakeQuant(edit, edit.get(node.name) as NodeDef, options.perChannel);
  }
  const consumers = consumerMap(graph.nodes);
  const byName = nodeMap(graph.nodes);
  const observers: ActivationObserver[] = [];
  for (const tensor of plan.quantizedTensors) {
    const producer = byName.get(tensor) as NodeDef;
    let fakeQuant: string;
    if (quantizesInPlace(plan, tensor)) {
      // The producer moves to `<name>/float`; the fake-quant takes its name, so every reader
      // (and a model output of that name) now sees the quantized tensor.
      const floatName = edit.freshName(`${tensor}/float`);
      edit.rename(tensor, floatName);
      fakeQuant = tensor;
      const [minName, maxName] = putMinMax(edit, fakeQuant, Float32Array.of(0), Float32Array.of(0), []);
      edit.put(activationFakeQuantNode(fakeQuant, floatName, minName, maxName), floatName);
    } else {
      // A model input or a float op: a separate quantize node, read by the quantized readers only.
      fakeQuant = edit.freshName(`${tensor}/quantized`);
      const [minName, maxName] = putMinMax(edit, fakeQuant, Float32Array.of(0), Float32Array.of(0), []);
      edit.put(activationFakeQuantNode(fakeQuant, tensor, minName, maxName), tensor);
      for (const reader of consumers.get(tensor) ?? []) {
        if (!plan.floatConsumers.has(reader.name)) edit.rewireInput(reader.name, tensor, fakeQuant);
      }
    }
    observers.push({tensor, fakeQuantNode: fakeQuant, op: producer.op, tiedTo: plan.tiedTo.get(tensor)});
  }
  return {graph: edit.build(false), observers};
}

/** Quantization parameters chosen for one activation tensor. */
export interface ActivationParams {
  scale: number;
  zeroPoint: number;
  /** The range the codes cover: scale·(−128 − zeroPoint) .. scale·(127 − zeroPoint). */
  min: number;
  max: number;
}

export function representableRange(scale: number, zeroPoint: number): {min: number; max: number} {
  return {min: scale * (-128 - zeroPoint), max: scale * (127 - zeroPoint)};
}

/**
 * The simulation graph: every activation fake-quant gets its range (min/max
 * Consts, TensorFlow's way) and its precomputed scale/zero point (attr `q`), and
 * leaves calibration mode.
 */
export function applyActivationRanges(fq: FakeQuantGraph, params: ReadonlyMap<string, ActivationParams>): ModelGraph {
  const edit = new GraphEdit(fq.graph);
  for (const observer of fq.observers) {
    const p = params.get(observer.tensor);
    if (p === undefined) throw new Error(`No quantization parameters for tensor '${observer.tensor}'.`);
    const node = edit.get(observer.fakeQuantNode) as NodeDef;
    const [minRef, maxRef] = (node.input ?? []).slice(1, 3).map(r => parseInputRef(r).node);
    edit.putConst(minRef, scalarWeight(p.min));
    edit.putConst(maxRef, scalarWeight(p.max));
    edit.put(withAttrs(withoutAttrs(node, [ATTR.calibrating]), {
      [ATTR.quant]: attr.floatList(encodeFakeQuant(p)),
    }));
  }
  return edit.build(false);
}
