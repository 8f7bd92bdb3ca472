// PoseNet (MobileNetV1) from the model cache, through the file IOHandler, on the cpu backend.

import {join} from 'node:path';
import {fileURLToPath} from 'node:url';

import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {beforeAll, describe, expect, it} from 'vitest';

import {ensureModels} from '../../models/fetch-models';
import {loadGraphModelFromCache} from '../../models/load';
import {decodeImage, imageToInputTensor} from '../../src/io/images';
import {POSENET_INPUT_SIZE, POSENET_OUTPUTS, quietUnlessFetching} from './model_fixtures';

const IMAGES = fileURLToPath(new URL('../fixtures/images', import.meta.url));

function posenetInput(file: string): tf.Tensor4D {
  const image = decodeImage(join(IMAGES, file));
  return imageToInputTensor(image, {height: POSENET_INPUT_SIZE, width: POSENET_INPUT_SIZE, range: '-1,1'});
}

/** The most confident keypoint anywhere: sigmoid of the largest heatmap logit. */
function bestKeypointScore(heatmap: tf.Tensor): number {
  return tf.tidy(() => tf.sigmoid(tf.max(heatmap)).dataSync()[0]);
}

describe('posenet on cpu', () => {
  let model: GraphModel;

  beforeAll(async () => {
    await ensureModels(['posenet'], {onProgress: quietUnlessFetching});
    await tf.setBackend('cpu');
    model = await loadGraphModelFromCache('posenet');
  }, 600_000);

  it('has the pinned input and outputs', () => {
    expect(model.inputs.map(input => [input.name, input.shape, input.dtype])).toEqual([['image', [1, 385, 385, 3], 'float32']]);
    expect(model.outputs.map(output => output.name).sort()).toEqual(Object.keys(POSENET_OUTPUTS).sort());
  });

  it('runs on a photo of people with the right output shapes and confident keypoints', () => {
    const input = posenetInput('opencv-messi5.jpg');
    const names = Object.keys(POSENET_OUTPUTS);
    const outputs = model.execute(input, names) as tf.Tensor[];
    names.forEach((name, index) => {
      expect(outputs[index].shape, name).toEqual(POSENET_OUTPUTS[name]);
      expect(outputs[index].dtype, name).toBe('float32');
      expect(Array.from(outputs[index].dataSync()).every(Number.isFinite), name).toBe(true);
    });
    expect(bestKeypointScore(outputs[names.indexOf('MobilenetV1/heatmap_2/BiasAdd')])).toBeGreaterThan(0.9);
    tf.dispose([input, ...outputs]);
  });

  it('finds no confident keypoint on a photo of a hammer', () => {
    const input = posenetInput('gcompris-tools-hammer1.jpg');
    const heatmap = model.execute(input, 'MobilenetV1/heatmap_2/BiasAdd') as tf.Tensor;
    expect(heatmap.shape).toEqual([1, 25, 25, 17]);
    expect(bestKeypointScore(heatmap)).toBeLessThan(0.1);
    tf.dispose([input, heatmap]);
  });
});
