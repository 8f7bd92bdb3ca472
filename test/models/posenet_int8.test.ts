// PoseNet on the int8 backend against the cpu backend: every output within 25 dB SQNR.

import {join} from 'node:path';
import {fileURLToPath} from 'node:url';

import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import {beforeAll, describe, expect, it} from 'vitest';

import {ensureModels} from '../../models/fetch-models';
import {loadGraphModelFromCache} from '../../models/load';
import {decodeImage, imageToInputTensor} from '../../src/io/images';
import {BACKEND_NAME} from '../../src/index';
import {sqnrDb} from './metrics';
import {POSENET_INPUT_SIZE, POSENET_OUTPUTS, quietUnlessFetching} from './model_fixtures';

const IMAGES = fileURLToPath(new URL('../fixtures/images', import.meta.url));
const PHOTOS = ['opencv-messi5.jpg', 'opencv-fruits.jpg'];
const MIN_SQNR_DB = 25;
const OUTPUT_NAMES = Object.keys(POSENET_OUTPUTS);

/** Runs posenet on `backend` for each photo and returns every output's values. */
async function runPosenet(backend: string): Promise<Float32Array[][]> {
  await tf.setBackend(backend);
  const model = await loadGraphModelFromCache('posenet');
  const results: Float32Array[][] = [];
  for (const photo of PHOTOS) {
    const input = imageToInputTensor(decodeImage(join(IMAGES, photo)), {height: POSENET_INPUT_SIZE, width: POSENET_INPUT_SIZE, range: '-1,1'});
    const outputs = model.execute(input, OUTPUT_NAMES) as tf.Tensor[];
    results.push(outputs.map(output => output.dataSync() as Float32Array));
    tf.dispose([input, ...outputs]);
  }
  model.dispose();
  return results;
}

describe(`posenet on ${BACKEND_NAME} vs cpu`, () => {
  let reference: Float32Array[][];
  let quantized: Float32Array[][];

  beforeAll(async () => {
    await ensureModels(['posenet'], {onProgress: quietUnlessFetching});
    reference = await runPosenet('cpu');
    quantized = await runPosenet(BACKEND_NAME);
  }, 600_000);

  PHOTOS.forEach((photo, photoIndex) => {
    it.each(OUTPUT_NAMES.map((name, outputIndex) => [name, outputIndex] as const))(`${photo}: %s SQNR >= ${MIN_SQNR_DB} dB`, (name, outputIndex) => {
      const sqnr = sqnrDb(reference[photoIndex][outputIndex], quantized[photoIndex][outputIndex]);
      expect(sqnr, `${photo} ${name}: ${sqnr.toFixed(1)} dB`).toBeGreaterThanOrEqual(MIN_SQNR_DB);
    });
  });
});
