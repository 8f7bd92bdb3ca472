// Small models and data for the graph-pass tests.

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';

import {modelGraphToArtifacts} from '../../src/graph/artifacts';
import type {ModelGraph} from '../../src/graph/model_graph';

/** Deterministic pseudo-random numbers (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Gives every weight of a model deterministic values; BN variances positive. */
export function setDeterministicWeights(model: tfl.LayersModel, seed = 1): void {
  const random = seededRandom(seed);
  for (const layer of model.layers) {
    const weights = layer.getWeights();
    if (weights.length === 0) continue;
    const fresh = weights.map((w, i) => {
      const name = layer.weights[i].originalName;
      const size = w.size;
      const values = new Float32Array(size);
      for (let j = 0; j < size; j++) {
        const u = random() * 2 - 1;
        if (name.endsWith('moving_variance')) values[j] = 0.5 + random();
        else if (name.endsWith('gamma')) values[j] = 0.5 + random();
        else if (name.endsWith('bias') || name.endsWith('beta') || name.endsWith('moving_mean')) values[j] = 0.2 * u;
        else values[j] = u * Math.sqrt(3 / Math.max(1, size / w.shape[w.shape.length - 1]));
      }
      return tf.tensor(values, w.shape);
    });
    layer.setWeights(fresh);
    tf.dispose(fresh);
  }
}

/** A MobileNet-like classifier: conv+BN+relu6, depthwise, pointwise, residual add, concat, pools, dense, softmax. */
export function buildSmallConvNet(seed = 1, size = 16): tfl.LayersModel {
  const input = tfl.input({shape: [size, size, 3], name: 'image'});
  let x = tfl.layers.zeroPadding2d({padding: [[0, 1], [0, 1]], name: 'pad'}).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({filters: 8, kernelSize: 3, strides: 2, useBias: false, name: 'conv1'}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({name: 'bn1'}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({maxValue: 6, name: 'relu1'}).apply(x) as tfl.SymbolicTensor;
  const dw = tfl.layers.depthwiseConv2d({kernelSize: 3, padding: 'same', useBias: false, name: 'dw'}).apply(x) as tfl.SymbolicTensor;
  let y = tfl.layers.batchNormalization({name: 'bn_dw'}).apply(dw) as tfl.SymbolicTensor;
  y = tfl.layers.activation({activation: 'relu', name: 'relu_dw'}).apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.conv2d({filters: 8, kernelSize: 1, name: 'pw'}).apply(y) as tfl.SymbolicTensor;
  const added = tfl.layers.add({name: 'add'}).apply([x, y]) as tfl.SymbolicTensor;
  const sep = tfl.layers.separableConv2d({filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'sep'}).apply(added) as tfl.SymbolicTensor;
  const cat = tfl.layers.concatenate({name: 'cat'}).apply([added, sep]) as tfl.SymbolicTensor;
  const pooled = tfl.layers.maxPooling2d({poolSize: 2, name: 'maxpool'}).apply(cat) as tfl.SymbolicTensor;
  const avg = tfl.layers.averagePooling2d({poolSize: 2, name: 'avgpool'}).apply(pooled) as tfl.SymbolicTensor;
  const gap = tfl.layers.globalAveragePooling2d({name: 'gap'}).apply(avg) as tfl.SymbolicTensor;
  const drop = tfl.layers.dropout({rate: 0.5, name: 'drop'}).apply(gap) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({units: 5, name: 'logits'}).apply(drop) as tfl.SymbolicTensor;
  const probs = tfl.layers.activation({activation: 'softmax', name: 'probs'}).apply(logits) as tfl.SymbolicTensor;
  const model = tfl.model({inputs: input, outputs: probs, name: 'small_convnet'});
  setDeterministicWeights(model, seed);
  return model;
}

/** Images-like inputs in [0, 1] (smooth gradients plus noise). */
export function syntheticImages(count: number, size = 16, seed = 7): tf.Tensor4D[] {
  const random = seededRandom(seed);
  const images: tf.Tensor4D[] = [];
  for (let n = 0; n < count; n++) {
    const values = new Float32Array(size * size * 3);
    const fx = random() * 3;
    const fy = random() * 3;
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        for (let c = 0; c < 3; c++) {
          const v = 0.5 + 0.35 * Math.sin(fx * i / 3 + c) * Math.cos(fy * j / 3 - c) + 0.15 * (random() - 0.5);
          values[(i * size + j) * 3 + c] = Math.min(1, Math.max(0, v));
        }
      }
    }
    images.push(tf.tensor4d(values, [1, size, size, 3]));
  }
  return images;
}

export function graphModelFrom(graph: ModelGraph): GraphModel {
  return loadGraphModelSync(modelGraphToArtifacts(graph)) as unknown as GraphModel;
}

export function graphModelFromArtifacts(artifacts: tf.io.ModelArtifacts): GraphModel {
  return loadGraphModelSync(artifacts) as unknown as GraphModel;
}

/** Largest |actual − reference| relative to the largest |reference|. */
export function maxRelativeDiff(reference: ArrayLike<number>, actual: ArrayLike<number>): number {
  let diff = 0;
  let top = 0;
  for (let i = 0; i < reference.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - reference[i]));
    top = Math.max(top, Math.abs(reference[i]));
  }
  return diff / top;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

export function firstOutput(result: tf.Tensor | tf.Tensor[] | tf.NamedTensorMap): tf.Tensor {
  if (result instanceof tf.Tensor) return result;
  if (Array.isArray(result)) return result[0];
  return Object.values(result)[0];
}
