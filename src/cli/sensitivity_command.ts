// tfjs-int8 sensitivity: which activations cost the model its accuracy when
// quantized to int8 per tensor, one at a time (see src/graph/sensitivity.ts).

import * as tf from '@tensorflow/tfjs-core';
import {loadLayersModel} from '@tensorflow/tfjs-layers';

import {isLayersTopology, modelGraphFromArtifacts} from '../graph/artifacts';
import {graphModelOf, modelInputSpecs} from '../graph/calibrate';
import {layersModelToGraph} from '../graph/layers_export';
import type {ModelGraph} from '../graph/model_graph';
import {activationSensitivity} from '../graph/sensitivity';
import {fileIOHandler} from '../io/file_io';
import {checkKnownFlags, inputRangeFlag, inputSizeFlag, ParsedArgs, positiveIntFlag, requiredFlag, UsageError} from './args';
import {imageFiles, imageInputOf, imageTensor} from './image_inputs';
import {progressBar} from './progress';

const DEFAULT_MAX_IMAGES = 8;

/** The float model as a graph (a Keras layers model goes through the exporter). */
async function loadFloatGraph(path: string): Promise<ModelGraph> {
  const handler = fileIOHandler(path);
  const artifacts = await (handler.load as () => Promise<tf.io.ModelArtifacts>)();
  if (!isLayersTopology(artifacts.modelTopology)) return modelGraphFromArtifacts(artifacts, path);
  const layers = await loadLayersModel(tf.io.fromMemory(artifacts));
  try {
    return layersModelToGraph(layers);
  } finally {
    layers.dispose();
  }
}

export async function sensitivityCommand(args: ParsedArgs): Promise<void> {
  checkKnownFlags(args, ['images', 'input-size', 'input-range', 'max-images', 'float-backend']);
  const modelPath = args.positionals[0];
  if (modelPath === undefined) throw new UsageError(`'sensitivity' needs a model.json`);
  const imagesDir = requiredFlag(args, 'images');
  const graph = await loadFloatGraph(modelPath);
  const input = imageInputOf(modelInputSpecs(graph), inputSizeFlag(args), inputRangeFlag(args), modelPath);
  const files = imageFiles(imagesDir, positiveIntFlag(args, 'max-images') ?? DEFAULT_MAX_IMAGES);
  const samples = files.map(file => ({[input.name]: imageTensor(file, input)}));
  const model = graphModelOf(graph);
  const bar = progressBar(`probing activations on ${tf.getBackend()}`);
  try {
    const rows = activationSensitivity(graph, model, samples, {onProgress: (done, total) => bar.update(done, total)});
    bar.finish();
    process.stdout.write(`${JSON.stringify({model: modelPath, images: files.length, rows}, null, 1)}\n`);
  } finally {
    bar.finish();
    model.dispose();
    tf.dispose(samples.map(s => Object.values(s)).flat());
  }
}
