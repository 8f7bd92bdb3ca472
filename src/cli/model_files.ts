// Loading a model.json of either format tfjs writes (graph model or Keras layers
// model) from disk, with errors that name the file.

import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import {LayersModel, loadLayersModel} from '@tensorflow/tfjs-layers';

import {isLayersTopology, modelGraphFromArtifacts} from '../graph/artifacts';
import {ModelInputSpec, modelInputSpecs} from '../graph/calibrate';
import {graphOutputNames} from '../graph/model_graph';
import {explainRunError} from '../graph/run_errors';
import {fileIOHandler} from '../io/file_io';

export interface LoadedModel {
  path: string;
  kind: 'graph-model' | 'layers-model';
  model: GraphModel | LayersModel;
  inputs: ModelInputSpec[];
  outputNames: string[];
  /** Runs the model; outputs in `outputNames` order. */
  run(feeds: tf.NamedTensorMap): tf.Tensor[];
  dispose(): void;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function loadLayers(path: string, artifacts: tf.io.ModelArtifacts): Promise<LoadedModel> {
  let model: LayersModel;
  try {
    model = await loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (error) {
    throw new Error(`${path}: cannot load the Keras layers model: ${message(error)}`);
  }
  const inputs = model.inputs.map(t => ({name: t.sourceLayer.name, dtype: t.dtype, shape: t.shape.map(d => d ?? -1)}));
  const outputNames = model.outputs.map(t => t.sourceLayer.name);
  return {
    path, kind: 'layers-model', model, inputs, outputNames,
    run(feeds) {
      const ordered = inputs.map(i => feeds[i.name]);
      try {
        const out = model.predict(ordered.length === 1 ? ordered[0] : ordered);
        return Array.isArray(out) ? out : [out];
      } catch (error) {
        throw explainRunError(error, undefined, path);
      }
    },
    dispose: () => model.dispose(),
  };
}

function loadGraph(path: string, artifacts: tf.io.ModelArtifacts): LoadedModel {
  // Decoding into a ModelGraph checks the topology and weights with errors naming the file.
  const graph = modelGraphFromArtifacts(artifacts, path);
  let model: GraphModel;
  try {
    model = loadGraphModelSync(artifacts) as unknown as GraphModel;
  } catch (error) {
    throw new Error(`${path}: cannot load the graph model: ${message(error)}`);
  }
  const outputNames = graphOutputNames(graph);
  return {
    path, kind: 'graph-model', model, inputs: modelInputSpecs(graph), outputNames,
    run(feeds) {
      try {
        const out = model.execute(feeds, outputNames.slice());
        return Array.isArray(out) ? out : [out];
      } catch (error) {
        throw explainRunError(error, graph, path);
      }
    },
    dispose: () => model.dispose(),
  };
}

export async function loadModelFile(path: string): Promise<LoadedModel> {
  const handler = fileIOHandler(path);
  const artifacts = await (handler.load as () => Promise<tf.io.ModelArtifacts>)();
  return isLayersTopology(artifacts.modelTopology) ? loadLayers(path, artifacts) : loadGraph(path, artifacts);
}
