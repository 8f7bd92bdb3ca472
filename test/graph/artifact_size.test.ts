// The whole int8 artifact (model.json + weights) against the float model, and the
// per-channel values stored in the weights (not in model.json) giving the same bits.

import {mkdtempSync, readdirSync, rmSync, statSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import {loadGraphModel} from '@tensorflow/tfjs-converter';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import '../../src/index';
import {quantizeModel, QuantizedModel} from '../../src/graph/index';
import {modelGraphToArtifacts} from '../../src/graph/artifacts';
import {attr, getBoolAttr, getFloatAttr, getIntAttr, NodeDef} from '../../src/graph/graph_def';
import {layersModelToGraph} from '../../src/graph/layers_export';
import {fileIOHandler} from '../../src/io/file_io';
import {decodeScales} from '../../src/ops/scale_codec';
import {quantizeMultiplier} from '../../src/quant';
import {graphModelFromArtifacts, setDeterministicWeights} from './helpers';

/** A MobileNetV1-like net: strided stem, depthwise + pointwise blocks up to 1024 channels (as MobileNetV1), pool, dense. */
function mobileNetLike(): tfl.LayersModel {
  const input = tfl.input({shape: [64, 64, 3]});
  let x = tfl.layers.conv2d({filters: 32, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu6'}).apply(input) as tfl.SymbolicTensor;
  for (const [filters, strides] of [[64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2], [512, 1], [1024, 2], [1024, 1]] as const) {
    x = tfl.layers.depthwiseConv2d({kernelSize: 3, strides, padding: 'same', activation: 'relu6'}).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.conv2d({filters, kernelSize: 1, activation: 'relu6'}).apply(x) as tfl.SymbolicTensor;
  }
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({units: 100}).apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({inputs: input, outputs: x});
  setDeterministicWeights(model, 3);
  return model;
}

function filesBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

/** The same artifact in the earlier format: per-channel attrs in model.json, no filter-scales input. */
function withPerChannelAttrs(artifacts: tf.io.ModelArtifacts): tf.io.ModelArtifacts {
  const weights = tf.io.decodeWeights(artifacts.weightData!, artifacts.weightSpecs!);
  const topology = artifacts.modelTopology as {node: NodeDef[]};
  const nodes = topology.node.map(node => {
    if (!node.op.startsWith('Int8Fused')) return node;
    const stored = weights[node.input![3]];
    const divisor = node.attr!['filter_scale_divisor'] === undefined ? undefined : getIntAttr(node, 'filter_scale_divisor');
    const scales = decodeScales(stored.dataSync(), stored.dtype, divisor, weights[node.input![2]].size, node.name);
    const inputScale = getFloatAttr(node, 'input_scale');
    const a = {...node.attr!};
    delete a['filter_scale_divisor'];
    a['filter_scales'] = attr.floatList(scales);
    a['bias_scales'] = attr.floatList(scales.map(s => inputScale * s));
    if (getBoolAttr(node, 'output_quantized')) {
      const m = scales.map(s => quantizeMultiplier(inputScale * s / getFloatAttr(node, 'output_scale')));
      a['output_multipliers'] = attr.intList(m.map(q => q.multiplier));
      a['output_shifts'] = attr.intList(m.map(q => q.shift));
    }
    return {...node, input: node.input!.slice(0, 3), attr: a};
  });
  tf.dispose(Object.values(weights));
  return {...artifacts, modelTopology: {...topology, node: nodes}};
}

describe('artifact size', () => {
  let model: tfl.LayersModel;
  let q: QuantizedModel;
  let dir: string;
  let images: tf.Tensor4D[];

  beforeAll(async () => {
    await tf.setBackend('cpu');
    model = mobileNetLike();
    images = [0, 1, 2].map(s => tf.randomUniform([1, 64, 64, 3], 0, 1, 'float32', s) as tf.Tensor4D);
    q = await quantizeModel(model, {calibrationData: images.slice(0, 2), reportSamples: 0});
    dir = mkdtempSync(join(tmpdir(), 'tfjs-int8-size-'));
    await q.save(fileIOHandler(join(dir, 'int8', 'model.json')));
    await fileIOHandler(join(dir, 'float', 'model.json')).save!(modelGraphToArtifacts(layersModelToGraph(model)));
  });

  it('model.json + weights ≤ 26% of the float32 model (model.json + weights)', () => {
    const floatBytes = filesBytes(join(dir, 'float'));
    const int8Bytes = filesBytes(join(dir, 'int8'));
    expect(floatBytes).toBeGreaterThanOrEqual(model.countParams() * 4);
    expect(int8Bytes / floatBytes).toBeLessThanOrEqual(0.26);
    // No per-channel lists in model.json.
    for (const node of (q.artifacts.modelTopology as {node: NodeDef[]}).node) {
      for (const value of Object.values(node.attr ?? {})) expect(value.list?.f?.length ?? 0).toBeLessThanOrEqual(4);
    }
  });

  it('gives the same bits after reloading, and the same bits as the per-channel-attrs format (cpu and int8)', async () => {
    const reloaded = await loadGraphModel(fileIOHandler(join(dir, 'int8', 'model.json')));
    const inMemory = graphModelFromArtifacts(q.artifacts);
    const legacy = graphModelFromArtifacts(withPerChannelAttrs(q.artifacts));
    for (const backend of ['cpu', 'int8']) {
      await tf.setBackend(backend);
      for (const image of images) {
        const outputs = [reloaded, inMemory, legacy].map(m => Array.from((m.execute(image) as tf.Tensor).dataSync()));
        expect(outputs[0]).toEqual(outputs[1]);
        expect(outputs[0]).toEqual(outputs[2]);
      }
    }
    await tf.setBackend('cpu');
  });

  afterAll(() => {
    rmSync(dir, {recursive: true, force: true});
    tf.dispose(images);
  });
});
