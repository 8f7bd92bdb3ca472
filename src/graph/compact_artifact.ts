// The int8 artifact's model.json made lean (pure; the last step before writing). Nothing
// that tfjs-converter or the executors read changes meaning:
//   - nodes get short names (1–2 characters, the shortest to the most referenced), except the model's inputs and outputs
//     (Placeholders, signature entries, nodes nobody reads); the artifact → original map is
//     returned for the report (quantization-report.json), so every node can be traced back
//   - Const nodes lose their attrs (tfjs takes a weight's dtype and shape from the manifest)
//   - TensorFlow type attrs tfjs-converter never reads are dropped, and attrs holding
//     TensorFlow's default where tfjs does not read them either
//   - int64 attrs are written as numbers (tfjs parses both)
//   - float32 weights whose values are all float16s are stored as float16 (lossless)

import {QUANTIZED_GRAPH_OPS} from '../ops/op_names';
import {allFloat16} from './float16';
import {AttrValue, formatInputRef, NodeDef, parseInputRef} from './graph_def';
import {graphInputNames, graphOutputNames, ModelGraph, SignatureJson, WeightTensor} from './model_graph';

export interface CompactArtifact {
  graph: ModelGraph;
  /** Artifact node name → the node's name before (renamed nodes only). */
  nodeNames: Map<string, string>;
}

/**
 * TensorFlow's type attrs. tfjs-converter (4.x, src/operations/op_list) maps none of them
 * to a parameter an executor reads, except for the ops in TYPE_ATTR_READERS.
 */
const TYPE_ATTRS = new Set(['T', 'Tidx', 'Tshape', 'Tpaddings', 'Tdim', 'Tindices', 'Tparams', 'Tmultiples', 'Taxis', 'Tperm',
  'SrcT', 'Truncate', 'output_type', 'out_type']);

/** Ops whose tfjs executor reads one of TYPE_ATTRS (as its `dtype`). */
const TYPE_ATTR_READERS: Readonly<Record<string, readonly string[]>> = {
  Fill: ['T'], OneHot: ['T'], Ones: ['T'], Zeros: ['T'], ZerosLike: ['T'], Multinomial: ['T'], Einsum: ['T'], Range: ['Tidx'],
  TensorArrayScatterV3: ['T'], TensorArraySplitV3: ['T'],
};

const NHWC_BASE64 = 'TkhXQw==';

/**
 * Attrs equal to TensorFlow's default, which an op means when they are absent
 * (TensorFlow's own strip_default_attrs) and which tfjs does not read for the op.
 */
const DEFAULT_VALUED: Readonly<Record<string, Readonly<Record<string, (value: AttrValue) => boolean>>>> = {
  FakeQuantWithMinMaxVars: {num_bits: v => Number(v.i) === 8, narrow_range: v => v.b !== true},
  MaxPool: {data_format: v => v.s === NHWC_BASE64},
  AvgPool: {data_format: v => v.s === NHWC_BASE64},
};

const OWN_OPS = new Set<string>(QUANTIZED_GRAPH_OPS);

function isDroppedAttr(op: string, key: string, value: AttrValue): boolean {
  if (TYPE_ATTRS.has(key)) return !(TYPE_ATTR_READERS[op] ?? []).includes(key);
  return DEFAULT_VALUED[op]?.[key]?.(value) === true;
}

function asNumber(value: string | number): string | number {
  const n = Number(value);
  return typeof value === 'string' && Number.isSafeInteger(n) ? n : value;
}

/** An attr value with its int64s as numbers. */
function compactValue(value: AttrValue): AttrValue {
  const out: AttrValue = {...value};
  if (out.i !== undefined) out.i = asNumber(out.i);
  if (out.list?.i !== undefined) out.list = {...out.list, i: out.list.i.map(asNumber)};
  if (out.shape?.dim !== undefined) out.shape = {...out.shape, dim: out.shape.dim.map(d => (d.size === undefined ? d : {...d, size: asNumber(d.size)}))};
  return out;
}

function compactAttrs(node: NodeDef): Record<string, AttrValue> | undefined {
  if (node.op === 'Const') return undefined;
  const kept: Record<string, AttrValue> = {};
  for (const [key, value] of Object.entries(node.attr ?? {})) {
    // The pass's own ops carry their TensorFlow source op's type attrs along; nothing reads them.
    if (isDroppedAttr(node.op, key, value) || (OWN_OPS.has(node.op) && TYPE_ATTRS.has(key))) continue;
    kept[key] = compactValue(value);
  }
  return Object.keys(kept).length > 0 ? kept : undefined;
}

function signatureNames(signature: SignatureJson | undefined): string[] {
  return [...Object.values(signature?.inputs ?? {}), ...Object.values(signature?.outputs ?? {})].map(e => parseInputRef(e.name).node);
}

/** Names that stay: what a user feeds, fetches or finds in the signature. */
function keptNames(graph: ModelGraph): Set<string> {
  const metadataSignature = graph.extras.userDefinedMetadata?.signature as SignatureJson | undefined;
  return new Set([
    ...graphInputNames(graph), ...graphOutputNames(graph), ...graph.nodes.filter(n => n.op.startsWith('Placeholder')).map(n => n.name),
    ...signatureNames(graph.extras.signature), ...signatureNames(metadataSignature),
  ]);
}

const NAME_DIGITS = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** The i-th short name: 0..9a..zA..Z, then two digits, and so on (bijective base 62). */
function shortName(i: number): string {
  let name = '';
  let n = i;
  do {
    name = NAME_DIGITS[n % NAME_DIGITS.length] + name;
    n = Math.floor(n / NAME_DIGITS.length) - 1;
  } while (n >= 0);
  return name;
}

/** How often each node's name is written: its own, each reader's reference, a weight's manifest entry. */
function nameUses(graph: ModelGraph): Map<string, number> {
  const uses = new Map(graph.nodes.map(n => [n.name, n.op === 'Const' ? 2 : 1]));
  for (const node of graph.nodes) {
    for (const ref of node.input ?? []) {
      const name = parseInputRef(ref).node;
      uses.set(name, (uses.get(name) ?? 0) + 1);
    }
  }
  return uses;
}

/**
 * Original name → artifact name: the shortest names to the most written ones (ties in
 * graph order), the kept names as they are.
 */
function shortNames(graph: ModelGraph): Map<string, string> {
  const kept = keptNames(graph);
  const uses = nameUses(graph);
  const renamed = graph.nodes.filter(n => !kept.has(n.name)).map(n => n.name);
  const byUse = renamed.map((name, order) => ({name, order, uses: uses.get(name) ?? 0}))
      .sort((a, b) => b.uses - a.uses || a.order - b.order);
  const names = new Map<string, string>();
  for (const name of kept) names.set(name, name);
  let next = 0;
  for (const {name} of byUse) {
    let short = shortName(next++);
    while (kept.has(short)) short = shortName(next++);
    names.set(name, short);
  }
  return names;
}

function renamedInput(ref: string, names: ReadonlyMap<string, string>): string {
  const parsed = parseInputRef(ref);
  return formatInputRef({...parsed, node: names.get(parsed.node) ?? parsed.node});
}

function compactNode(node: NodeDef, names: ReadonlyMap<string, string>): NodeDef {
  const out: NodeDef = {name: names.get(node.name) ?? node.name, op: node.op};
  if ((node.input ?? []).length > 0) out.input = (node.input ?? []).map(ref => renamedInput(ref, names));
  if (node.device !== undefined && node.device !== '') out.device = node.device;
  const attrs = compactAttrs(node);
  if (attrs !== undefined) out.attr = attrs;
  return out;
}

/** float32 weights of float16 values are stored in 2 bytes (decoded to the same float32s). */
function compactWeight(weight: WeightTensor): WeightTensor {
  const plainFloat = weight.dtype === 'float32' && (weight.storage === undefined || weight.storage === 'float32');
  return plainFloat && weight.values.length > 0 && allFloat16(weight.values) ? {...weight, storage: 'float16'} : weight;
}

function isEmptyLibrary(library: unknown): boolean {
  return library == null || (typeof library === 'object' && Object.keys(library).length === 0);
}

export function compactArtifactGraph(graph: ModelGraph): CompactArtifact {
  const names = shortNames(graph);
  const weights: Record<string, WeightTensor> = {};
  for (const [name, weight] of Object.entries(graph.weights)) weights[names.get(name) ?? name] = compactWeight(weight);
  const nodeNames = new Map<string, string>();
  for (const [original, short] of names) {
    if (original !== short) nodeNames.set(short, original);
  }
  const extras = isEmptyLibrary(graph.extras.library) ? {...graph.extras, library: undefined} : graph.extras;
  return {graph: {nodes: graph.nodes.map(n => compactNode(n, names)), weights, extras}, nodeNames};
}
