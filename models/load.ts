// Loads cached models (see fetch-models.ts) through the file IOHandler. Never fetches: a model
// that is not cached gives an error that says how to fetch it.

import {existsSync} from 'node:fs';

import {GraphModel, loadGraphModel} from '@tensorflow/tfjs-converter';
import {LayersModel, loadLayersModel} from '@tensorflow/tfjs-layers';

import {fileIOHandler} from '../src/io/file_io';
import {modelKind, modelPath} from './fetch-models';

/** The cached model.json of a model of the expected kind, or a clear error. */
function cachedModelJsonPath(name: string, expectedKind: 'graph-model' | 'layers-model'): string {
  const kind = modelKind(name);
  if (kind !== expectedKind) {
    const loader = kind === 'graph-model' ? 'loadGraphModelFromCache' : 'loadLayersModelFromCache';
    throw new Error(`model "${name}" is a ${kind}, not a ${expectedKind}; load it with ${loader}`);
  }
  const path = modelPath(name);
  if (!existsSync(path)) {
    throw new Error(`model "${name}" is not cached (${path} missing); run: npm run models -- ${name}`);
  }
  return path;
}

/** Loads a cached converted TensorFlow graph model (e.g. "posenet") on the current backend. */
export async function loadGraphModelFromCache(name: string): Promise<GraphModel> {
  const path = cachedModelJsonPath(name, 'graph-model');
  try {
    return await loadGraphModel(fileIOHandler(path));
  } catch (error) {
    throw new Error(`cannot load graph model "${name}" from ${path}: ${(error as Error).message}`);
  }
}

/** Loads a cached Keras layers model (e.g. "nsfwjs-mobilenet-v2") on the current backend. */
export async function loadLayersModelFromCache(name: string): Promise<LayersModel> {
  const path = cachedModelJsonPath(name, 'layers-model');
  try {
    return await loadLayersModel(fileIOHandler(path));
  } catch (error) {
    throw new Error(`cannot load layers model "${name}" from ${path}: ${(error as Error).message}`);
  }
}
