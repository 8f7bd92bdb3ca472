// ModelArtifacts (model.json + weight data) <-> ModelGraph (plain data).

import * as tf from '@tensorflow/tfjs-core';

import {float16Bits} from './float16';
import {NodeDef, tfjsDtypeOf} from './graph_def';
import {elementCount, GraphExtras, ModelGraph, WeightStorage, WeightTensor} from './model_graph';

const BYTES_PER_VALUE: Record<string, number> = {float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, complex64: 8};

/** Lossless 1-byte storage of int8 codes as a float32 weight: value = byte·1 + (−128). */
export const INT8_CODES_QUANTIZATION = {dtype: 'uint8', scale: 1, min: -128} as const;
/** Lossless 2-byte storage of int16 codes as a float32 weight: value = uint16·1 + (−32768). */
export const INT16_CODES_QUANTIZATION = {dtype: 'uint16', scale: 1, min: -32768} as const;

interface GraphTopologyJson {
  node?: NodeDef[];
  library?: unknown;
  versions?: {producer?: number; minConsumer?: number};
}

/** Whether model.json's topology is a Keras layers model (not a GraphDef). */
export function isLayersTopology(topology: unknown): boolean {
  if (topology == null || typeof topology !== 'object') return false;
  const t = topology as Record<string, unknown>;
  return t.model_config != null || t.class_name != null || t.config != null;
}

function totalWeightBytes(weightData: tf.io.WeightData | undefined): number {
  if (weightData == null) return 0;
  return Array.isArray(weightData) ? weightData.reduce((sum, b) => sum + b.byteLength, 0) : weightData.byteLength;
}

/** Bytes a weight entry takes in the weight file; undefined for strings (variable length). */
export function weightEntryBytes(spec: tf.io.WeightsManifestEntry): number | undefined {
  if (spec.dtype === 'string' && spec.quantization == null) return undefined;
  const storedDtype = spec.quantization?.dtype ?? spec.dtype;
  const perValue = BYTES_PER_VALUE[storedDtype];
  if (perValue === undefined) {
    throw new Error(`Weight '${spec.name}' has an unsupported stored dtype '${storedDtype}'.`);
  }
  return elementCount(spec.shape) * perValue;
}

/**
 * Checks model.json's weight manifest against the weight data before decoding,
 * so a truncated or mismatched weight file gets an error naming it.
 */
function checkWeightData(specs: tf.io.WeightsManifestEntry[], weightData: tf.io.WeightData | undefined, source: string): void {
  let expected = 0;
  for (const spec of specs) {
    if (!Array.isArray(spec.shape) || spec.shape.some(d => !Number.isInteger(d) || d < 0)) {
      throw new Error(`${source}: weight '${spec.name}' has an invalid shape ${JSON.stringify(spec.shape)}.`);
    }
    const bytes = weightEntryBytes(spec);
    if (bytes === undefined) return; // strings: tfjs checks as it decodes
    expected += bytes;
  }
  const actual = totalWeightBytes(weightData);
  if (actual < expected) {
    throw new Error(
        `${source}: the weight data is truncated: the manifest lists ${specs.length} weights needing ` +
        `${expected} bytes, but the weight file(s) hold ${actual} bytes.`);
  }
  if (actual > expected) {
    throw new Error(
        `${source}: the weight data (${actual} bytes) does not match the manifest (${expected} bytes for ` +
        `${specs.length} weights); the weight file(s) may belong to another model.`);
  }
}

function toWeightTensor(tensor: tf.Tensor, name: string, source: string): WeightTensor {
  const shape = tensor.shape.slice();
  switch (tensor.dtype) {
    case 'float32':
      return {dtype: 'float32', shape, values: Float32Array.from(tensor.dataSync() as Float32Array)};
    case 'int32':
      return {dtype: 'int32', shape, values: Int32Array.from(tensor.dataSync() as Int32Array)};
    case 'bool':
      return {dtype: 'bool', shape, values: Uint8Array.from(tensor.dataSync() as Uint8Array)};
    default:
      throw new Error(`${source}: weight '${name}' has dtype '${tensor.dtype}', which the quantization pass does not handle.`);
  }
}

/** Decodes a graph model's artifacts into a ModelGraph; errors name `source` (a file path or model). */
export function modelGraphFromArtifacts(artifacts: tf.io.ModelArtifacts, source: string): ModelGraph {
  const topology = artifacts.modelTopology as GraphTopologyJson | ArrayBuffer | undefined;
  if (topology == null) {
    throw new Error(`${source}: the model has no modelTopology.`);
  }
  if (topology instanceof ArrayBuffer) {
    throw new Error(`${source}: binary (protobuf) GraphDefs are not supported; convert the model with tensorflowjs_converter.`);
  }
  if (isLayersTopology(topology)) {
    throw new Error(`${source}: this is a Keras layers model; load it with tf.loadLayersModel and pass the LayersModel.`);
  }
  if (!Array.isArray(topology.node)) {
    throw new Error(`${source}: modelTopology has no 'node' list; it is not a TensorFlow.js graph model.`);
  }
  const nodes = topology.node;
  for (const [i, node] of nodes.entries()) {
    if (node == null || typeof node.name !== 'string' || typeof node.op !== 'string') {
      throw new Error(`${source}: node #${i} of modelTopology has no name or op.`);
    }
  }
  const specs = artifacts.weightSpecs ?? [];
  const specNames = new Set(specs.map(s => s.name));
  const nodeNames = new Set(nodes.map(n => n.name));
  for (const node of nodes) {
    if (node.op === 'Const' && !specNames.has(node.name)) {
      throw new Error(`${source}: Const node '${node.name}' has no weight in the weights manifest (missing weight).`);
    }
    for (const ref of node.input ?? []) {
      const producer = ref.replace(/^\^/, '').replace(/:\d+$/, '');
      if (!nodeNames.has(producer)) {
        throw new Error(`${source}: node '${node.name}' (op ${node.op}) reads '${producer}', which is not in the graph.`);
      }
    }
  }
  checkWeightData(specs, artifacts.weightData, source);
  const weights: Record<string, WeightTensor> = {};
  if (specs.length > 0) {
    if (artifacts.weightData == null) {
      throw new Error(`${source}: the manifest lists ${specs.length} weights but no weight data was loaded.`);
    }
    let decoded: tf.NamedTensorMap;
    try {
      decoded = tf.io.decodeWeights(artifacts.weightData, specs);
    } catch (e) {
      throw new Error(`${source}: the weights cannot be decoded: ${(e as Error).message}`);
    }
    try {
      for (const [name, tensor] of Object.entries(decoded)) weights[name] = toWeightTensor(tensor, name, source);
    } finally {
      tf.dispose(Object.values(decoded));
    }
  }
  const extras: GraphExtras = {
    library: topology.library,
    versions: topology.versions,
    signature: artifacts.signature as GraphExtras['signature'],
    userDefinedMetadata: artifacts.userDefinedMetadata as GraphExtras['userDefinedMetadata'],
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    modelInitializer: artifacts.modelInitializer,
    initializerSignature: artifacts.initializerSignature,
  };
  return {nodes, weights, extras};
}

/** The artifacts of a loaded GraphModel (what `model.save` would write). */
export async function artifactsOfGraphModel(model: {save: (h: tf.io.IOHandler) => Promise<tf.io.SaveResult>}): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async artifacts => {
    captured = artifacts;
    return {modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts)};
  }));
  if (captured == null) throw new Error('GraphModel.save produced no artifacts.');
  return captured;
}

function checkedCodes(weight: WeightTensor, name: string, bits: 8 | 16): Uint8Array {
  const offset = bits === 8 ? 128 : 32768;
  const stored = bits === 8 ? new Uint8Array(weight.values.length) : new Uint16Array(weight.values.length);
  for (let i = 0; i < weight.values.length; i++) {
    const code = weight.values[i];
    if (!Number.isInteger(code) || code < -offset || code >= offset) {
      throw new Error(`Weight '${name}' is stored as int${bits} codes but value #${i} is ${code}.`);
    }
    stored[i] = code + offset;
  }
  // The weight file is little endian (as tfjs reads it); so are the platforms tfjs runs on.
  return new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
}

function encodeWeight(name: string, weight: WeightTensor): {spec: tf.io.WeightsManifestEntry; bytes: Uint8Array} {
  const storage: WeightStorage = weight.storage ?? weight.dtype;
  const expected = elementCount(weight.shape);
  if (weight.values.length !== expected) {
    throw new Error(`Weight '${name}' has ${weight.values.length} values for shape [${weight.shape.join(', ')}].`);
  }
  switch (storage) {
    case 'int8-codes':
      return {
        spec: {name, shape: weight.shape, dtype: 'float32', quantization: {...INT8_CODES_QUANTIZATION}},
        bytes: checkedCodes(weight, name, 8),
      };
    case 'int16-codes':
      return {
        spec: {name, shape: weight.shape, dtype: 'float32', quantization: {...INT16_CODES_QUANTIZATION}},
        bytes: checkedCodes(weight, name, 16),
      };
    case 'float16':
      return {spec: {name, shape: weight.shape, dtype: 'float32', quantization: {dtype: 'float16'}}, bytes: byteView(float16Bits(weight.values, name))};
    case 'float32':
      return {spec: {name, shape: weight.shape, dtype: 'float32'}, bytes: byteView(Float32Array.from(weight.values))};
    case 'int32':
      return {spec: {name, shape: weight.shape, dtype: 'int32'}, bytes: byteView(Int32Array.from(weight.values))};
    case 'bool':
      return {spec: {name, shape: weight.shape, dtype: 'bool'}, bytes: Uint8Array.from(weight.values)};
  }
}

function byteView(array: Float32Array | Int32Array | Uint16Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** Encodes a ModelGraph as graph-model artifacts (one weight buffer; the save handler shards it). */
export function modelGraphToArtifacts(graph: ModelGraph, metadata: Record<string, unknown> = {}): tf.io.ModelArtifacts {
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  for (const node of graph.nodes) {
    if (node.op !== 'Const') continue;
    const weight = graph.weights[node.name];
    if (weight === undefined) throw new Error(`Const node '${node.name}' has no weight.`);
    const {spec, bytes} = encodeWeight(node.name, weight);
    specs.push(spec);
    chunks.push(bytes);
  }
  const total = chunks.reduce((sum, c) => sum + c.byteLength, 0);
  const data = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.byteLength;
  }
  const {extras} = graph;
  const userDefinedMetadata = {...(extras.userDefinedMetadata ?? {}), ...metadata};
  const artifacts: tf.io.ModelArtifacts = {
    // tfjs reads `versions` (it must be there) and `library` only when present.
    modelTopology: {node: graph.nodes, ...(extras.library !== undefined ? {library: extras.library} : {}), versions: extras.versions ?? {}},
    format: 'graph-model',
    generatedBy: extras.generatedBy,
    convertedBy: extras.convertedBy,
    weightSpecs: specs,
    weightData: data.buffer,
  };
  if (extras.signature != null) artifacts.signature = extras.signature;
  if (Object.keys(userDefinedMetadata).length > 0) artifacts.userDefinedMetadata = userDefinedMetadata as Record<string, {}>;
  if (extras.modelInitializer != null) artifacts.modelInitializer = extras.modelInitializer as {};
  if (extras.initializerSignature != null) artifacts.initializerSignature = extras.initializerSignature as {};
  return artifacts;
}

/** The total bytes of an artifact's weight data. */
export function weightDataBytes(artifacts: tf.io.ModelArtifacts): number {
  return totalWeightBytes(artifacts.weightData);
}

/** The dtype a node's (first) output has, as far as the attrs tell; 'float32' when nothing does. */
export function outputDtypeOf(node: NodeDef, inputDtype: (name: string) => string | undefined): string {
  const a = node.attr ?? {};
  for (const key of ['DstT', 'dtype', 'output_type', 'out_type', 'Tparams', 'T']) {
    const type = a[key]?.type;
    if (type != null) return tfjsDtypeOf(type);
  }
  const firstInput = (node.input ?? []).find(i => !i.startsWith('^'));
  if (firstInput !== undefined) return inputDtype(firstInput) ?? 'float32';
  return 'float32';
}
