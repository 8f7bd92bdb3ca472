// A scratch copy of a ModelGraph that a pure pass step edits and then returns
// as a new ModelGraph (the input graph is never changed).

import {formatInputRef, makeConstNode, NodeDef, parseInputRef} from './graph_def';
import {consumerMap, graphOutputNames, ModelGraph, nodeMap, pruneUnreachable, uniqueName, WeightTensor} from './model_graph';

export class GraphEdit {
  private readonly order: string[];
  private readonly nodes: Map<string, NodeDef>;
  private readonly weights: Record<string, WeightTensor>;
  private readonly taken: Set<string>;

  constructor(private readonly source: ModelGraph) {
    this.order = source.nodes.map(n => n.name);
    this.nodes = nodeMap(source.nodes);
    this.weights = {...source.weights};
    this.taken = new Set(this.order);
  }

  get(name: string): NodeDef | undefined {
    return this.nodes.get(name);
  }

  has(name: string): boolean {
    return this.nodes.has(name);
  }

  weight(name: string): WeightTensor | undefined {
    return this.nodes.get(name)?.op === 'Const' ? this.weights[name] : undefined;
  }

  /** A fresh node name derived from `base`. */
  freshName(base: string): string {
    return uniqueName(base, this.taken);
  }

  /** Adds or replaces a node (a new one goes after `after`, or at the end). */
  put(node: NodeDef, after?: string): void {
    if (!this.nodes.has(node.name)) {
      const at = after !== undefined ? this.order.indexOf(after) : -1;
      if (at >= 0) this.order.splice(at + 1, 0, node.name);
      else this.order.push(node.name);
      this.taken.add(node.name);
    }
    this.nodes.set(node.name, node);
  }

  /** Adds a Const node with its weight. */
  putConst(name: string, weight: WeightTensor, after?: string): void {
    this.put(makeConstNode(name, weight.dtype, weight.shape), after);
    this.weights[name] = weight;
  }

  remove(name: string): void {
    this.nodes.delete(name);
    delete this.weights[name];
    const at = this.order.indexOf(name);
    if (at >= 0) this.order.splice(at, 1);
  }

  /**
   * Renames a node; the nodes that read it are NOT rewired (the caller puts a
   * new node under the old name, which they then read).
   */
  rename(from: string, to: string): void {
    const node = this.nodes.get(from);
    if (node == null) throw new Error(`rename: no node '${from}'`);
    this.nodes.delete(from);
    this.nodes.set(to, {...node, name: to});
    this.order[this.order.indexOf(from)] = to;
    this.taken.add(to);
    if (this.weights[from] !== undefined) {
      this.weights[to] = this.weights[from];
      delete this.weights[from];
    }
  }

  /** Makes `consumer` read `to` wherever it read output 0 of `from`. */
  rewireInput(consumer: string, from: string, to: string): void {
    const node = this.nodes.get(consumer);
    if (node == null) return;
    const input = (node.input ?? []).map(ref => {
      const parsed = parseInputRef(ref);
      if (parsed.node === from && parsed.outputIndex === 0) return formatInputRef({...parsed, node: to});
      return ref;
    });
    this.nodes.set(consumer, {...node, input});
  }

  /** The current consumers of a node. */
  consumersOf(name: string): NodeDef[] {
    return consumerMap(this.list()).get(name) ?? [];
  }

  list(): NodeDef[] {
    return this.order.map(name => this.nodes.get(name) as NodeDef);
  }

  build(prune = true): ModelGraph {
    const graph: ModelGraph = {nodes: this.list(), weights: {...this.weights}, extras: this.source.extras};
    // The outputs are the source graph's: edits keep output names, and a weight left unused is no output.
    return prune ? pruneUnreachable(graph, [], graphOutputNames(this.source).filter(name => this.nodes.has(name))) : graph;
  }
}
