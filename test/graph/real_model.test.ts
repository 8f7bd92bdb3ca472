// One real model: nsfwjs MobileNetV2 (Keras layers model), if models/fetch-models.ts has cached it.

import {existsSync} from 'node:fs';
import {join} from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import '../../src/index';
import {quantizeModel, QuantizedModel} from '../../src/graph/index';
import {sqnrOf} from '../../src/graph/report';
import {fileIOHandler} from '../../src/io/file_io';
import {decodeImage, imageToInputTensor, listImages} from '../../src/io/images';
import {graphModelFromArtifacts} from './helpers';

const cache = process.env.TFJS_INT8_CACHE ?? join(process.env.HOME ?? '', '.cache', 'tfjs-backend-int8');
const modelJson = join(cache, 'models', 'nsfwjs-mobilenet-v2', 'model.json');

/** wasm (XNNPACK) for the float work when it initializes here, else cpu. */
async function floatBackend(): Promise<string> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    if (await tf.setBackend('wasm')) return 'wasm';
  } catch {
    // fall through
  }
  await tf.setBackend('cpu');
  return 'cpu';
}

function top1(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

describe.skipIf(!existsSync(modelJson))('nsfwjs MobileNetV2 (real model)', () => {
  let backend: string;
  let model: tfl.LayersModel;
  let quantized: QuantizedModel;
  let evaluation: tf.Tensor4D[];

  beforeAll(async () => {
    backend = await floatBackend();
    model = await tfl.loadLayersModel(fileIOHandler(modelJson));
    const files = listImages(join(__dirname, '..', 'fixtures', 'images'));
    const images = files.map(f => imageToInputTensor(decodeImage(f), {height: 224, width: 224, range: '0,1'}));
    const calibration = images.filter((_, i) => i % 2 === 0).slice(0, 4);
    evaluation = images.filter((_, i) => i % 2 === 1).slice(0, 4);
    quantized = await quantizeModel(model, {calibrationData: calibration, reportSamples: 0});
  }, 300_000);

  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('writes weights ≤ 26% of the float model', () => {
    expect(quantized.sizes.quantizedWeightBytes / quantized.sizes.floatWeightBytes).toBeLessThanOrEqual(0.26);
  });

  it(`keeps top-1 and a high SQNR vs float in the simulation, and cpu vs int8 agree (≥ 35 dB, same top-1)`, async () => {
    await tf.setBackend(backend);
    const q = graphModelFromArtifacts(quantized.artifacts);
    const float: number[] = [];
    const simulated: number[] = [];
    const simulatedTop1: number[] = [];
    for (const image of evaluation) {
      const f = (model.predict(image) as tf.Tensor).dataSync();
      const s = (q.execute(image) as tf.Tensor).dataSync();
      float.push(...f);
      simulated.push(...s);
      expect(top1(s)).toBe(top1(f));
      simulatedTop1.push(top1(s));
    }
    expect(sqnrOf(float, simulated)).toBeGreaterThan(25);
    await tf.setBackend('int8');
    const int8: number[] = [];
    evaluation.forEach((image, i) => {
      const v = (q.execute(image) as tf.Tensor).dataSync();
      int8.push(...v);
      expect(top1(v)).toBe(simulatedTop1[i]);
    });
    expect(sqnrOf(simulated, int8)).toBeGreaterThanOrEqual(35);
  }, 300_000);
});
