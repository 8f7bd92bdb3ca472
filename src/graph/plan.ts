// Deciding, per node, what the pass does with it (pure: graph in, plan out).
//
// Roles:
//   compute      conv / depthwise / matmul with a constant filter: int8 kernel, per-channel weights
//   calibrated   an op whose output gets its own calibrated range (add, concat, avg pool, relu...)
//   passthrough  an op that moves values (max pool, reshape, pad...): output shares the input's range
//   float        kept in float (known float-only op, excluded, unknown op, or not quantizable as is)
//   structural   Const, Placeholder, and nodes that compute only from constants
//
// A float activation tensor is quantized when some consumer needs it quantized:
// a compute node reading it as its data input, or a calibrated/passthrough node
// whose own output is quantized. So the last layers before float ops or the
// model outputs emit float, and everything upstream stays int8.

import {getBoolAttr, getStringAttr, NodeDef, parseInputRef} from './graph_def';
import {outputDtypeOf} from './artifacts';
import {fusedActivationOf, isFusedCompute, layoutOfNode, perChannelValues} from './fold';
import {consumerMap, graphInputNames, ModelGraph, nodeMap, topologicalOrder} from './model_graph';
import {CALIBRATED_OPS, FLOAT_OPS, PASSTHROUGH_OPS, STRUCTURAL_OPS} from './op_catalog';

export type NodeRole = 'compute' | 'calibrated' | 'passthrough' | 'float' | 'structural';

export interface NodeDecision {
  name: string;
  op: string;
  role: NodeRole;
  /** Why a node stays in float. */
  reason?: string;
  /** The op is not one the pass knows. */
  unknown?: boolean;
}

export interface QuantPlan {
  decisions: ReadonlyMap<string, NodeDecision>;
  /** Producer node names whose output 0 is quantized, in topological order. */
  quantizedTensors: readonly string[];
  /** Passthrough tensors → the tensor whose range they share (resolved to a calibrated one). */
  tiedTo: ReadonlyMap<string, string>;
  /** Compute nodes whose output is float (nothing downstream needs it quantized). */
  floatOutputCompute: ReadonlySet<string>;
  /** Float nodes that read a quantized tensor (they get an explicit dequantize). */
  floatConsumers: ReadonlySet<string>;
}

export interface PlanOptions {
  exclude?: readonly string[];
}

/** Why a fused compute node cannot be quantized as is (undefined if it can). */
export function computeBlocker(graph: ModelGraph, byName: ReadonlyMap<string, NodeDef>, node: NodeDef): string | undefined {
  const inputs = (node.input ?? []).filter(r => !r.startsWith('^'));
  const activation = fusedActivationOf(node);
  if (!['none', 'relu', 'relu6', 'prelu'].includes(activation)) return `fused activation '${activation}' is not a clamp or prelu`;
  const prelu = activation === 'prelu';
  if (inputs.length !== (prelu ? 4 : 3)) return `has ${inputs.length} inputs (expected data, filter, bias${prelu ? ', alpha' : ''})`;
  const filterNode = byName.get(parseInputRef(inputs[1]).node);
  const biasNode = byName.get(parseInputRef(inputs[2]).node);
  if (filterNode?.op !== 'Const' || graph.weights[filterNode.name]?.dtype !== 'float32') return 'filter is not a float constant';
  if (biasNode?.op !== 'Const' || graph.weights[biasNode.name]?.dtype !== 'float32') return 'bias is not a float constant';
  const fusedOps = node.attr?.fused_ops?.list?.s?.length ?? 0;
  if (fusedOps === 0) return 'no fused bias';
  if (prelu && preluAlphaOf(graph, byName, node) === undefined) return 'prelu alpha is not a float constant with one value per output channel';
  const format = getStringAttr(node, 'data_format', 'NHWC').toUpperCase();
  if (node.op !== '_FusedMatMul' && format !== 'NHWC') return `data format ${format}`;
  if (node.op === '_FusedMatMul' && getBoolAttr(node, 'transpose_a')) return 'transpose_a';
  const filterShape = graph.weights[filterNode.name].shape;
  if (node.op === '_FusedMatMul' ? filterShape.length !== 2 : filterShape.length !== 4) return `filter rank ${filterShape.length}`;
  if (parseInputRef(inputs[0]).outputIndex !== 0) return 'reads output #1+ of a multi-output op';
  return undefined;
}

/** The per-output-channel alpha of a fused 'prelu' (input #3, a float Const of shape [], [C] or [1,…,1,C]). */
function preluAlphaOf(graph: ModelGraph, byName: ReadonlyMap<string, NodeDef>, node: NodeDef): Float64Array | undefined {
  if (!isFusedCompute(node)) return undefined;
  const inputs = (node.input ?? []).filter(r => !r.startsWith('^'));
  const filter = graph.weights[parseInputRef(inputs[1] ?? '').node];
  const alphaNode = byName.get(parseInputRef(inputs[3] ?? '').node);
  if (filter === undefined || alphaNode?.op !== 'Const') return undefined;
  return perChannelValues(graph.weights[alphaNode.name], layoutOfNode(node, filter).channels);
}

/** Per node: float-dtype output, and whether it depends on a model input. */
function activationNodes(graph: ModelGraph, order: readonly NodeDef[]): {isActivation: Set<string>; dtypeOf: Map<string, string>} {
  const dtypeOf = new Map<string, string>();
  const isActivation = new Set<string>();
  const inputs = new Set(graphInputNames(graph));
  for (const node of order) {
    dtypeOf.set(node.name, outputDtypeOf(node, ref => dtypeOf.get(parseInputRef(ref).node)));
    const dependsOnInput = inputs.has(node.name) || node.op.startsWith('Placeholder') ||
      (node.input ?? []).some(ref => !ref.startsWith('^') && isActivation.has(parseInputRef(ref).node));
    if (dependsOnInput && node.op !== 'Const') isActivation.add(node.name);
  }
  return {isActivation, dtypeOf};
}

function decideRole(graph: ModelGraph, byName: ReadonlyMap<string, NodeDef>, node: NodeDef, isActivation: ReadonlySet<string>,
    dtypeOf: ReadonlyMap<string, string>, exclude: ReadonlySet<string>): NodeDecision {
  const base = {name: node.name, op: node.op};
  if (STRUCTURAL_OPS.has(node.op) || !isActivation.has(node.name)) return {...base, role: 'structural'};
  if (exclude.has(node.name)) return {...base, role: 'float', reason: 'excluded by options.exclude'};
  if (isFusedCompute(node)) {
    const blocker = computeBlocker(graph, byName, node);
    return blocker === undefined ? {...base, role: 'compute'} : {...base, role: 'float', reason: `${node.op} not quantizable: ${blocker}`};
  }
  const floatOutput = dtypeOf.get(node.name) === 'float32';
  if (CALIBRATED_OPS.has(node.op) || PASSTHROUGH_OPS.has(node.op)) {
    if (!floatOutput) return {...base, role: 'structural'};
    return {...base, role: CALIBRATED_OPS.has(node.op) ? 'calibrated' : 'passthrough'};
  }
  const known = FLOAT_OPS[node.op];
  if (known !== undefined) return {...base, role: 'float', reason: known};
  return {...base, role: 'float', reason: `unknown op '${node.op}': kept in float`, unknown: true};
}

/** The first data input of a node (its "main" operand). */
function firstDataInput(node: NodeDef): string | undefined {
  const ref = (node.input ?? []).find(r => !r.startsWith('^'));
  return ref === undefined ? undefined : parseInputRef(ref).node;
}

export function planQuantization(graph: ModelGraph, options: PlanOptions = {}): QuantPlan {
  const order = topologicalOrder(graph.nodes);
  const byName = nodeMap(graph.nodes);
  const consumers = consumerMap(graph.nodes);
  const exclude = new Set(options.exclude ?? []);
  for (const name of exclude) {
    if (!byName.has(name)) throw new Error(`options.exclude names '${name}', which is not a node of the model.`);
  }
  const {isActivation, dtypeOf} = activationNodes(graph, order);
  const decisions = new Map<string, NodeDecision>();
  for (const node of order) decisions.set(node.name, decideRole(graph, byName, node, isActivation, dtypeOf, exclude));

  const quantizable = (name: string): boolean => isActivation.has(name) && dtypeOf.get(name) === 'float32' &&
    byName.get(name)?.op !== 'Const';
  const needsQuantized = new Set<string>();
  // Reverse topological order: a tensor's consumers are decided before it.
  for (const node of [...order].reverse()) {
    if (!quantizable(node.name)) continue;
    const readers = consumers.get(node.name) ?? [];
    const needed = readers.some(reader => {
      const role = decisions.get(reader.name)?.role;
      const refs = (reader.input ?? []).filter(r => !r.startsWith('^')).map(parseInputRef);
      const readsOutput0 = refs.some(r => r.node === node.name && r.outputIndex === 0);
      if (!readsOutput0) return false;
      if (role === 'compute') return firstDataInput(reader) === node.name;
      if (role === 'calibrated') return needsQuantized.has(reader.name);
      if (role === 'passthrough') return needsQuantized.has(reader.name) && firstDataInput(reader) === node.name;
      return false;
    });
    if (needed) needsQuantized.add(node.name);
  }

  const quantizedTensors = order.map(n => n.name).filter(name => needsQuantized.has(name));
  const tiedTo = new Map<string, string>();
  for (const name of quantizedTensors) {
    if (decisions.get(name)?.role !== 'passthrough') continue;
    const source = firstDataInput(byName.get(name) as NodeDef) as string;
    if (!needsQuantized.has(source)) {
      // Its main operand is not a quantized activation (e.g. a constant): give it its own range.
      decisions.set(name, {...(decisions.get(name) as NodeDecision), role: 'calibrated'});
      continue;
    }
    tiedTo.set(name, tiedTo.get(source) ?? source);
  }
  const floatOutputCompute = new Set(order.filter(n => decisions.get(n.name)?.role === 'compute' && !needsQuantized.has(n.name)).map(n => n.name));
  const floatConsumers = new Set<string>();
  for (const name of quantizedTensors) {
    for (const reader of consumers.get(name) ?? []) {
      const role = decisions.get(reader.name)?.role;
      const readsQuantized = role === 'compute' || ((role === 'calibrated' || role === 'passthrough') && needsQuantized.has(reader.name));
      if (!readsQuantized) floatConsumers.add(reader.name);
    }
  }
  // A calibrated/passthrough op whose output is not needed quantized runs in float: say so.
  for (const node of order) {
    const decision = decisions.get(node.name) as NodeDecision;
    if ((decision.role === 'calibrated' || decision.role === 'passthrough') && !needsQuantized.has(node.name)) {
      decisions.set(node.name, {...decision, role: 'float', reason: 'output feeds only float ops or model outputs'});
    }
  }
  return {decisions, quantizedTensors, tiedTo, floatOutputCompute, floatConsumers};
}

/** Placeholders and ops the pass does not know get a separate quantize node; the rest are renamed. */
export function quantizesInPlace(plan: QuantPlan, name: string): boolean {
  const role = plan.decisions.get(name)?.role;
  return role === 'compute' || role === 'calibrated' || role === 'passthrough';
}

