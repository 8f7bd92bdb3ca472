import {existsSync} from 'node:fs';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import {beforeAll, describe, expect, it} from 'vitest';

import {foldGraph} from '../../src/graph/fold';
import {layersModelToGraph} from '../../src/graph/layers_export';
import {buildSmallConvNet, graphModelFrom, maxAbsDiff, setDeterministicWeights, syntheticImages} from './helpers';

function expectGraphMatchesLayers(model: tfl.LayersModel, inputs: tf.Tensor[], tolerance = 1e-4): void {
  const graph = layersModelToGraph(model);
  for (const g of [graph, foldGraph(graph)]) {
    const gm = graphModelFrom(g);
    for (const x of inputs) {
      const expected = model.predict(x) as tf.Tensor;
      const actual = gm.execute(x) as tf.Tensor;
      expect(actual.shape).toEqual(expected.shape);
      expect(maxAbsDiff(expected.dataSync(), actual.dataSync())).toBeLessThanOrEqual(tolerance);
      tf.dispose([expected, actual]);
    }
    gm.dispose();
  }
}

describe('LayersModel → GraphDef export', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('matches a functional MobileNet-like model (Conv2D, BN, ReLU6, DepthwiseConv2D, SeparableConv2D, Add, Concatenate, pools, Dense, Softmax)', () => {
    expectGraphMatchesLayers(buildSmallConvNet(4), syntheticImages(3));
  });

  it('matches a Sequential model (InputLayer implied, Activation, MaxPooling2D, Flatten, Dropout, Reshape, Dense relu)', () => {
    const model = tfl.sequential({layers: [
      tfl.layers.conv2d({inputShape: [10, 10, 2], filters: 4, kernelSize: 3, padding: 'valid', activation: 'relu'}),
      tfl.layers.maxPooling2d({poolSize: 2, strides: 2}),
      tfl.layers.activation({activation: 'tanh'}),
      tfl.layers.flatten(),
      tfl.layers.dropout({rate: 0.3}),
      tfl.layers.dense({units: 6, activation: 'relu'}),
      tfl.layers.reshape({targetShape: [2, 3]}),
      tfl.layers.activation({activation: 'sigmoid'}),
    ]});
    setDeterministicWeights(model, 11);
    const inputs = [0, 1].map(s => tf.randomUniform([1, 10, 10, 2], -1, 1, 'float32', s + 1));
    expectGraphMatchesLayers(model, inputs);
  });

  it('matches ZeroPadding2D, strided/dilated convs, ReLU with max_value, GlobalAveragePooling2D and BatchNormalization on a dense output', () => {
    const input = tfl.input({shape: [9, 9, 3]});
    let x = tfl.layers.zeroPadding2d({padding: 2}).apply(input) as tfl.SymbolicTensor;
    x = tfl.layers.conv2d({filters: 6, kernelSize: 3, strides: 2, padding: 'same'}).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.reLU({maxValue: 1.5}).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.conv2d({filters: 6, kernelSize: 3, dilationRate: 2, padding: 'same', useBias: false}).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.depthwiseConv2d({kernelSize: 3, depthMultiplier: 2, padding: 'valid'}).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.averagePooling2d({poolSize: 2, padding: 'same'}).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.dense({units: 4}).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.batchNormalization({}).apply(x) as tfl.SymbolicTensor;
    const model = tfl.model({inputs: input, outputs: x});
    setDeterministicWeights(model, 12);
    expectGraphMatchesLayers(model, [tf.randomUniform([1, 9, 9, 3], 0, 1, 'float32', 5)]);
  });

  it('names unsupported layers in its error', () => {
    const model = tfl.sequential({layers: [tfl.layers.dense({inputShape: [3], units: 2}), tfl.layers.repeatVector({n: 2})]});
    expect(() => layersModelToGraph(model)).toThrow(/Layer '.*' \(RepeatVector\): layer class 'RepeatVector' is not supported/);
  });

  const nsfwjs = `${process.env.TFJS_INT8_CACHE ?? `${process.env.HOME}/.cache/tfjs-backend-int8`}/models/nsfwjs-mobilenet-v2/model.json`;
  it.skipIf(!existsSync(nsfwjs))('matches nsfwjs MobileNetV2 (a real Keras model)', async () => {
    const {fileIOHandler} = await import('../../src/io/file_io');
    const model = await tfl.loadLayersModel(fileIOHandler(nsfwjs));
    const x = tf.randomUniform([1, 224, 224, 3], 0, 1, 'float32', 3);
    expectGraphMatchesLayers(model, [x], 1e-4);
    model.dispose();
  }, 120_000);
});
