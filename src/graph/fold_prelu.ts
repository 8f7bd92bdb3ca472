// Folding PReLU (He et al. 2015) into the fused conv/depthwise/matmul x before it:
//   TensorFlow's decomposition  y = Relu(x) + Mul(Sub(x, Abs(x)), c)  → fused 'prelu', alpha = 2c
//     (x ≥ 0: Relu(x) = x and x − |x| = 0; x < 0: Relu(x) = 0 and x − |x| = 2x, so y = 2c·x)
//   the same without the Relu   y = x + Mul(Sub(x, Abs(x)), c)        → fused 'prelu', alpha = 1 + 2c
//   x with a fused relu/relu6   y = x + Mul(Sub(x, Abs(x)), c)        → y = x (x ≥ 0, so x − |x| = 0)
//   tfjs's Prelu(x, alpha)                                             → fused 'prelu', alpha
// Sub(Abs(x), x) negates c; Add/AddV2 and Mul match in either operand order. x must be in
// BiasAdd form with constant filter and bias, and the pattern's nodes must be the only readers
// of x and of each other. The fused node takes the name of the final Add (or Prelu), so the
// nodes that read it are untouched. tfjs-converter runs the result as is: fused_ops
// ['BiasAdd', 'Prelu'], num_args 2, inputs [x, filter, bias, alpha].

import {attr, getStringListAttr, InputRef, NodeDef, parseInputRef, withAttrs} from './graph_def';
import {GraphEdit} from './graph_edit';
import {fusedActivationOf, isFusedCompute, layoutOfNode, perChannelValues} from './fold';
import {consumerMap, graphOutputNames, ModelGraph} from './model_graph';
import {FusedComputeOp} from './op_catalog';

type FusedNode = NodeDef & {op: FusedComputeOp};

/** One recognised PReLU: what replaces `root`, and which nodes go. */
interface PreluMatch {
  /** The Add (or Prelu) whose name the fused node takes. */
  root: NodeDef;
  compute: FusedNode;
  /** Pattern nodes besides root and compute (removed; their constants are pruned). */
  inner: NodeDef[];
  /** Per-channel alpha of the fused prelu; null when x is non-negative already (y = x). */
  alpha: Float64Array | null;
}

/** What the graph says about who reads what. */
interface GraphIndex {
  edit: GraphEdit;
  consumers: ReadonlyMap<string, NodeDef[]>;
  outputs: ReadonlySet<string>;
}

function dataRefs(node: NodeDef): InputRef[] {
  return (node.input ?? []).filter(r => !r.startsWith('^')).map(parseInputRef);
}

function hasControlInputs(node: NodeDef): boolean {
  return (node.input ?? []).some(r => r.startsWith('^'));
}

/** The node `ref` names when it reads output 0 of a node with `op`. */
function producerWithOp(index: GraphIndex, ref: InputRef, ops: readonly string[]): NodeDef | undefined {
  const node = ref.outputIndex === 0 ? index.edit.get(ref.node) : undefined;
  return node !== undefined && ops.includes(node.op) && !hasControlInputs(node) ? node : undefined;
}

/** Whether exactly `readers` read `name` (output 0 only, no control edges) and it is no model output. */
function readExactlyBy(index: GraphIndex, name: string, readers: readonly NodeDef[]): boolean {
  if (index.outputs.has(name)) return false;
  const actual = index.consumers.get(name) ?? [];
  if (actual.length !== readers.length || !readers.every(r => actual.some(a => a.name === r.name))) return false;
  return actual.every(reader => (reader.input ?? []).map(parseInputRef)
      .filter(r => r.node === name).every(r => !r.control && r.outputIndex === 0));
}

/** A fused compute node in BiasAdd form with a constant float filter, and its channel count. */
function foldableCompute(index: GraphIndex, name: string): {node: FusedNode; channels: number} | undefined {
  const node = index.edit.get(name);
  if (node === undefined || !isFusedCompute(node) || hasControlInputs(node)) return undefined;
  const fusedOps = getStringListAttr(node, 'fused_ops');
  if (fusedOps.length < 1 || fusedOps[0].toLowerCase() !== 'biasadd' || dataRefs(node).length !== 3) return undefined;
  const filter = index.edit.weight(parseInputRef((node.input ?? [])[1]).node);
  if (filter === undefined || filter.dtype !== 'float32') return undefined;
  return {node, channels: layoutOfNode(node, filter).channels};
}

/** Mul(Sub(x, Abs(x)), c) in any operand order: x, c (sign of the Sub folded in) and its three nodes. */
interface ScaledDifference {
  x: string;
  c: (channels: number) => Float64Array | undefined;
  mul: NodeDef;
  sub: NodeDef;
  abs: NodeDef;
}

function scaledDifference(index: GraphIndex, ref: InputRef): ScaledDifference | undefined {
  const mul = producerWithOp(index, ref, ['Mul']);
  const mulRefs = mul === undefined ? [] : dataRefs(mul);
  if (mul === undefined || mulRefs.length !== 2) return undefined;
  for (const [subRef, constRef] of [[mulRefs[0], mulRefs[1]], [mulRefs[1], mulRefs[0]]]) {
    const sub = producerWithOp(index, subRef, ['Sub']);
    const weight = index.edit.weight(constRef.node);
    const subRefs = sub === undefined ? [] : dataRefs(sub);
    if (sub === undefined || weight === undefined || subRefs.length !== 2) continue;
    // x − |x| (sign +1) or |x| − x (sign −1).
    for (const [xRef, absRef, sign] of [[subRefs[0], subRefs[1], 1], [subRefs[1], subRefs[0], -1]] as const) {
      const abs = producerWithOp(index, absRef, ['Abs']);
      if (abs === undefined || xRef.outputIndex !== 0 || !readsOnly(abs, xRef.node)) continue;
      const c = (channels: number): Float64Array | undefined => perChannelValues(weight, channels)?.map(v => sign * v);
      return {x: xRef.node, c, mul, sub, abs};
    }
  }
  return undefined;
}

/** Whether `node` has exactly one data input, output 0 of `x`. */
function readsOnly(node: NodeDef, x: string): boolean {
  const refs = dataRefs(node);
  return refs.length === 1 && refs[0].node === x && refs[0].outputIndex === 0;
}

/** Relu(x) + Mul(Sub(x, Abs(x)), c), or x + Mul(...), rooted at an Add/AddV2. */
function matchDecomposition(index: GraphIndex, add: NodeDef): PreluMatch | undefined {
  if ((add.op !== 'Add' && add.op !== 'AddV2') || hasControlInputs(add)) return undefined;
  const refs = dataRefs(add);
  if (refs.length !== 2) return undefined;
  for (const [mulRef, otherRef] of [[refs[0], refs[1]], [refs[1], refs[0]]]) {
    const d = scaledDifference(index, mulRef);
    if (d === undefined || otherRef.outputIndex !== 0) continue;
    // The other operand: Relu(x), or x itself.
    const relu = otherRef.node === d.x ? undefined : producerWithOp(index, otherRef, ['Relu']);
    if (relu === undefined ? otherRef.node !== d.x : !readsOnly(relu, d.x)) continue;
    const compute = foldableCompute(index, d.x);
    const c = compute === undefined ? undefined : d.c(compute.channels);
    if (compute === undefined || c === undefined) continue;
    const alpha = decompositionAlpha(fusedActivationOf(compute.node), relu !== undefined, c);
    if (alpha === undefined) continue;
    const chain: Array<[NodeDef, NodeDef]> = [[d.abs, d.sub], [d.sub, d.mul], [d.mul, add]];
    if (relu !== undefined) chain.push([relu, add]);
    if (!readExactlyBy(index, d.x, [d.abs, d.sub, relu ?? add])) continue;
    if (!chain.every(([node, reader]) => readExactlyBy(index, node.name, [reader]))) continue;
    return {root: add, compute: compute.node, inner: relu === undefined ? [d.abs, d.sub, d.mul] : [d.abs, d.sub, d.mul, relu], alpha};
  }
  return undefined;
}

/**
 * The alpha of a matched decomposition (see the top of this file), null for "y = x", or
 * undefined when x's activation does not allow the fold.
 */
function decompositionAlpha(activation: string, withRelu: boolean, c: Float64Array): Float64Array | null | undefined {
  if (activation === 'none') return withRelu ? c.map(v => 2 * v) : c.map(v => 1 + 2 * v);
  if (!withRelu && (activation === 'relu' || activation === 'relu6')) return null;
  return undefined;
}

/** tfjs's Prelu(x, alpha) with a per-channel constant alpha. */
function matchPreluOp(index: GraphIndex, prelu: NodeDef): PreluMatch | undefined {
  if (prelu.op !== 'Prelu' || hasControlInputs(prelu)) return undefined;
  const [xRef, alphaRef] = dataRefs(prelu);
  if (xRef === undefined || alphaRef === undefined || xRef.outputIndex !== 0) return undefined;
  const compute = foldableCompute(index, xRef.node);
  if (compute === undefined || fusedActivationOf(compute.node) !== 'none') return undefined;
  const alpha = perChannelValues(index.edit.weight(alphaRef.node), compute.channels);
  if (alpha === undefined || !readExactlyBy(index, xRef.node, [prelu])) return undefined;
  return {root: prelu, compute: compute.node, inner: [], alpha};
}

/** Writes the fused node under the root's name and removes the pattern. */
function applyMatch(edit: GraphEdit, match: PreluMatch): void {
  const {root, compute, inner, alpha} = match;
  for (const node of inner) edit.remove(node.name);
  edit.remove(compute.name);
  if (alpha === null) {
    edit.put({...compute, name: root.name});
    return;
  }
  const alphaName = edit.freshName(`${root.name}/prelu_alpha`);
  edit.putConst(alphaName, {dtype: 'float32', shape: [alpha.length], values: Float32Array.from(alpha)});
  const [x, filter, bias] = compute.input ?? [];
  edit.put(withAttrs({...compute, name: root.name, input: [x, filter, bias, alphaName]},
      {fused_ops: attr.stringList(['BiasAdd', 'Prelu']), num_args: attr.int(2)}));
}

/** Folds every PReLU (see the top of this file) into the fused op before it. */
export function foldPrelu(graph: ModelGraph): ModelGraph {
  const edit = new GraphEdit(graph);
  const index: GraphIndex = {edit, consumers: consumerMap(graph.nodes), outputs: new Set(graphOutputNames(graph))};
  const consumed = new Set<string>();
  let changed = false;
  for (const node of graph.nodes) {
    const match = matchDecomposition(index, node) ?? matchPreluOp(index, node);
    if (match === undefined) continue;
    const names = [match.root, match.compute, ...match.inner].map(n => n.name);
    if (names.some(n => consumed.has(n))) continue;
    names.forEach(n => consumed.add(n));
    applyMatch(edit, match);
    changed = true;
  }
  return changed ? edit.build() : graph;
}
