// A model as plain data: its GraphDef nodes and its weights as typed arrays.
// Every step of the pass takes a ModelGraph and returns a new one.

import {dataInputNodes, NodeDef, parseInputRef} from './graph_def';

/** How a weight is stored in the artifact's weight file. */
export type WeightStorage =
  | 'float32' // 4 bytes
  | 'int32' // 4 bytes
  | 'bool' // 1 byte
  /** float32 tensor of exact integers in [-128, 127], stored as 1 byte with tfjs's uint8 quantization (scale 1, min -128). */
  | 'int8-codes'
  /** float32 tensor of exact integers in [-32768, 32767], stored as 2 bytes with tfjs's uint16 quantization (scale 1, min -32768). */
  | 'int16-codes'
  /** float32 tensor of values that are all float16s (src/graph/float16.ts), stored as 2 bytes with tfjs's float16 quantization. */
  | 'float16';

/** One weight tensor (the value of a Const node of the same name). */
export interface WeightTensor {
  dtype: 'float32' | 'int32' | 'bool';
  shape: number[];
  values: Float32Array | Int32Array | Uint8Array;
  /** Storage in the weight file; defaults to the dtype's own. */
  storage?: WeightStorage;
}

export type WeightMap = Readonly<Record<string, WeightTensor>>;

/** The model's signature entry as model.json writes it. */
export interface SignatureEntryJson {
  name: string;
  dtype?: string;
  tensorShape?: unknown;
}

export interface SignatureJson {
  inputs?: Record<string, SignatureEntryJson>;
  outputs?: Record<string, SignatureEntryJson>;
  methodName?: string;
}

/** Everything of model.json besides nodes and weights, carried through unchanged. */
export interface GraphExtras {
  library?: unknown;
  versions?: {producer?: number; minConsumer?: number};
  signature?: SignatureJson;
  userDefinedMetadata?: Record<string, unknown>;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  modelInitializer?: unknown;
  initializerSignature?: unknown;
}

export interface ModelGraph {
  nodes: readonly NodeDef[];
  weights: WeightMap;
  extras: GraphExtras;
}

export function nodeMap(nodes: readonly NodeDef[]): Map<string, NodeDef> {
  return new Map(nodes.map(n => [n.name, n]));
}

/** For each node name, the nodes that read it (data or control). */
export function consumerMap(nodes: readonly NodeDef[]): Map<string, NodeDef[]> {
  const consumers = new Map<string, NodeDef[]>();
  for (const node of nodes) {
    for (const ref of node.input ?? []) {
      const producer = parseInputRef(ref).node;
      const list = consumers.get(producer) ?? [];
      if (!list.includes(node)) list.push(node);
      consumers.set(producer, list);
    }
  }
  return consumers;
}

/** The model's input node names: the signature's, else every Placeholder. */
export function graphInputNames(graph: ModelGraph): string[] {
  const fromSignature = Object.values(graph.extras.signature?.inputs ?? {}).map(e => parseInputRef(e.name).node);
  if (fromSignature.length > 0) return fromSignature;
  return graph.nodes.filter(n => n.op.startsWith('Placeholder')).map(n => n.name);
}

/**
 * The model's output node names: the signature's, else every node nobody reads
 * (as tfjs decides), constants left out (an unused weight is not an output).
 */
export function graphOutputNames(graph: ModelGraph): string[] {
  const fromSignature = Object.values(graph.extras.signature?.outputs ?? {}).map(e => parseInputRef(e.name).node);
  if (fromSignature.length > 0) return fromSignature;
  const consumers = consumerMap(graph.nodes);
  return graph.nodes.filter(n => !consumers.has(n.name) && n.op !== 'Const').map(n => n.name);
}

/** Nodes in an order where every node comes after its inputs; throws on a cycle or dangling input. */
export function topologicalOrder(nodes: readonly NodeDef[]): NodeDef[] {
  const byName = nodeMap(nodes);
  const state = new Map<string, 'visiting' | 'done'>();
  const order: NodeDef[] = [];
  const visit = (start: NodeDef): void => {
    // Iterative DFS: real graphs are deep enough to overflow a recursive one.
    const stack: Array<{node: NodeDef; next: number}> = [{node: start, next: 0}];
    state.set(start.name, 'visiting');
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const inputs = top.node.input ?? [];
      if (top.next < inputs.length) {
        const producerName = parseInputRef(inputs[top.next++]).node;
        const producer = byName.get(producerName);
        if (producer == null) {
          throw new Error(`Node '${top.node.name}' (op ${top.node.op}) reads '${producerName}', which is not in the graph.`);
        }
        const seen = state.get(producerName);
        if (seen === 'visiting') {
          throw new Error(`The graph has a cycle through node '${producerName}' (control flow is not supported by the pass).`);
        }
        if (seen === undefined) {
          state.set(producerName, 'visiting');
          stack.push({node: producer, next: 0});
        }
      } else {
        state.set(top.node.name, 'done');
        order.push(top.node);
        stack.pop();
      }
    }
  };
  for (const node of nodes) {
    if (!state.has(node.name)) visit(node);
  }
  return order;
}

/**
 * Drops the nodes no output depends on (inputs are always kept) and the weights
 * no Const uses. `outputs` defaults to the graph's own.
 */
export function pruneUnreachable(graph: ModelGraph, keep: readonly string[] = [], outputs = graphOutputNames(graph)): ModelGraph {
  const byName = nodeMap(graph.nodes);
  const reachable = new Set<string>();
  const pending = [...outputs, ...graphInputNames(graph), ...keep];
  while (pending.length > 0) {
    const name = pending.pop() as string;
    if (reachable.has(name)) continue;
    const node = byName.get(name);
    if (node == null) continue;
    reachable.add(name);
    for (const ref of node.input ?? []) pending.push(parseInputRef(ref).node);
  }
  const nodes = graph.nodes.filter(n => reachable.has(n.name));
  const weights: Record<string, WeightTensor> = {};
  for (const node of nodes) {
    if (node.op === 'Const' && graph.weights[node.name] !== undefined) weights[node.name] = graph.weights[node.name];
  }
  return {...graph, nodes, weights};
}

/** A name not in `taken`, built from `base` (adds _1, _2... if needed); records it in `taken`. */
export function uniqueName(base: string, taken: Set<string>): string {
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

/** The producers of a node's data inputs, as nodes (throws naming the node if one is missing). */
export function dataInputs(node: NodeDef, byName: ReadonlyMap<string, NodeDef>): NodeDef[] {
  return dataInputNodes(node).map(name => {
    const producer = byName.get(name);
    if (producer == null) {
      throw new Error(`Node '${node.name}' (op ${node.op}) reads '${name}', which is not in the graph.`);
    }
    return producer;
  });
}

/** The weight of a Const node, or undefined if `name` is not a Const with a weight. */
export function constValue(graph: ModelGraph, byName: ReadonlyMap<string, NodeDef>, name: string): WeightTensor | undefined {
  const node = byName.get(parseInputRef(name).node);
  if (node == null || node.op !== 'Const') return undefined;
  return graph.weights[node.name];
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
