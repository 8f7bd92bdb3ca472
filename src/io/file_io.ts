// A Node file-system IOHandler for TensorFlow.js models: load() reads a model.json and its weight
// shards (paths relative to the model.json), save() writes a model.json and one weights.bin.
// Node only (uses node:fs); not part of the browser bundle.

import {mkdir, readFile, writeFile} from 'node:fs/promises';
import {dirname, join, resolve} from 'node:path';

import * as tf from '@tensorflow/tfjs-core';

/** The single weights file save() writes next to the model.json. */
export const SAVED_WEIGHTS_FILE_NAME = 'weights.bin';

const BYTES_PER_ELEMENT: {[dtype: string]: number} = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

function isFileNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

async function readModelJsonFile(modelJsonPath: string): Promise<tf.io.ModelJSON> {
  let text: string;
  try {
    text = await readFile(modelJsonPath, 'utf8');
  } catch (error) {
    if (isFileNotFound(error)) throw new Error(`model.json not found: ${modelJsonPath}`);
    throw new Error(`cannot read model.json ${modelJsonPath}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`invalid JSON in ${modelJsonPath}: ${(error as Error).message}`);
  }
  return assertModelJson(parsed, modelJsonPath);
}

function assertModelJson(parsed: unknown, modelJsonPath: string): tf.io.ModelJSON {
  const candidate = parsed as Partial<tf.io.ModelJSON> | null;
  if (typeof candidate !== 'object' || candidate === null || Array.isArray(candidate)) {
    throw new Error(`${modelJsonPath} is not a model.json: expected a JSON object`);
  }
  if (typeof candidate.modelTopology !== 'object' || candidate.modelTopology === null) {
    throw new Error(`${modelJsonPath} is not a model.json: it has no modelTopology object`);
  }
  if (candidate.weightsManifest !== undefined && !Array.isArray(candidate.weightsManifest)) {
    throw new Error(`${modelJsonPath}: weightsManifest must be a list of {paths, weights} groups`);
  }
  return candidate as tf.io.ModelJSON;
}

/** Bytes the weights of one manifest group occupy, or null when a string weight makes it unknowable. */
export function expectedWeightBytes(weights: tf.io.WeightsManifestEntry[]): number | null {
  let total = 0;
  for (const weight of weights) {
    const storedDtype = weight.quantization?.dtype ?? weight.dtype;
    const bytesPerElement = BYTES_PER_ELEMENT[storedDtype];
    if (bytesPerElement === undefined) return null;
    total += weight.shape.reduce((product, size) => product * size, 1) * bytesPerElement;
  }
  return total;
}

async function readShard(shardPath: string, modelJsonPath: string): Promise<Uint8Array> {
  try {
    return await readFile(shardPath);
  } catch (error) {
    if (isFileNotFound(error)) throw new Error(`weight shard not found: ${shardPath} (listed in ${modelJsonPath})`);
    throw new Error(`cannot read weight shard ${shardPath} (listed in ${modelJsonPath}): ${(error as Error).message}`);
  }
}

function assertGroupByteLength(
  group: tf.io.WeightsManifestConfig[number],
  shardPaths: string[],
  actualBytes: number,
  modelJsonPath: string,
): void {
  const expected = expectedWeightBytes(group.weights);
  if (expected === null || expected === actualBytes) return;
  const files = shardPaths.join(', ');
  const problem = actualBytes < expected ? 'truncated weight shard' : 'weight shard too long';
  throw new Error(
    `${problem}: ${files} hold ${actualBytes} bytes, but the weights listed for them in ${modelJsonPath} need ${expected} bytes`,
  );
}

/** Copies byte arrays into one fresh ArrayBuffer. */
function concatenateBytes(parts: Uint8Array[]): ArrayBuffer {
  const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.byteLength;
  }
  return joined.buffer;
}

/** Reads every group's shards, checks their sizes, and returns the specs with all bytes concatenated. */
async function loadWeightShards(
  manifest: tf.io.WeightsManifestConfig,
  modelJsonPath: string,
): Promise<[tf.io.WeightsManifestEntry[], ArrayBuffer]> {
  const directory = dirname(modelJsonPath);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  for (const group of manifest) {
    const shardPaths = group.paths.map(path => resolve(directory, path));
    const shards: Uint8Array[] = [];
    for (const shardPath of shardPaths) shards.push(await readShard(shardPath, modelJsonPath));
    const groupBytes = shards.reduce((sum, shard) => sum + shard.byteLength, 0);
    assertGroupByteLength(group, shardPaths, groupBytes, modelJsonPath);
    specs.push(...group.weights);
    parts.push(...shards);
  }
  return [specs, concatenateBytes(parts)];
}

async function loadModelArtifacts(modelJsonPath: string): Promise<tf.io.ModelArtifacts> {
  const modelJson = await readModelJsonFile(modelJsonPath);
  return tf.io.getModelArtifactsForJSON(modelJson, manifest => loadWeightShards(manifest, modelJsonPath));
}

function weightDataAsBytes(weightData: tf.io.WeightData | undefined): Uint8Array {
  if (weightData === undefined) return new Uint8Array(0);
  const buffers = Array.isArray(weightData) ? weightData : [weightData];
  return new Uint8Array(concatenateBytes(buffers.map(buffer => new Uint8Array(buffer))));
}

/** The model.json for artifacts whose weights are stored in one weights file. */
function modelJsonForArtifacts(artifacts: tf.io.ModelArtifacts, weightsFileName: string): tf.io.ModelJSON {
  const modelJson: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology as {},
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    weightsManifest: [{paths: [weightsFileName], weights: artifacts.weightSpecs ?? []}],
  };
  if (artifacts.trainingConfig !== undefined) modelJson.trainingConfig = artifacts.trainingConfig;
  if (artifacts.signature !== undefined) modelJson.signature = artifacts.signature;
  if (artifacts.userDefinedMetadata !== undefined) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
  if (artifacts.modelInitializer !== undefined) modelJson.modelInitializer = artifacts.modelInitializer;
  if (artifacts.initializerSignature !== undefined) modelJson.initializerSignature = artifacts.initializerSignature;
  return modelJson;
}

async function saveModelArtifacts(modelJsonPath: string, artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    throw new Error(`cannot save ${modelJsonPath}: binary (GraphDef protobuf) model topologies are not supported, only JSON`);
  }
  if (artifacts.modelTopology === undefined) {
    throw new Error(`cannot save ${modelJsonPath}: the model artifacts have no modelTopology`);
  }
  const weightBytes = weightDataAsBytes(artifacts.weightData);
  const expected = expectedWeightBytes(artifacts.weightSpecs ?? []);
  if (expected !== null && expected !== weightBytes.byteLength) {
    throw new Error(`cannot save ${modelJsonPath}: weight data has ${weightBytes.byteLength} bytes, its weight specs need ${expected}`);
  }
  const directory = dirname(modelJsonPath);
  await mkdir(directory, {recursive: true});
  await writeFile(join(directory, SAVED_WEIGHTS_FILE_NAME), weightBytes);
  const modelJson = modelJsonForArtifacts(artifacts, SAVED_WEIGHTS_FILE_NAME);
  await writeFile(modelJsonPath, JSON.stringify(modelJson));
  return {modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts)};
}

/**
 * An IOHandler for a model.json on the local file system. `load()` reads it and its shards (their
 * sizes checked against the weight specs); `save()` writes the model.json and a `weights.bin` next
 * to it (so two models saved into one directory would share that file name: use one per model).
 */
export function fileIOHandler(modelJsonPath: string): tf.io.IOHandler {
  const absolutePath = resolve(modelJsonPath);
  return {
    load: () => loadModelArtifacts(absolutePath),
    save: (artifacts: tf.io.ModelArtifacts) => saveModelArtifacts(absolutePath, artifacts),
  };
}
