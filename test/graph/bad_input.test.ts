import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {beforeAll, describe, expect, it} from 'vitest';

import type {GraphModel} from '@tensorflow/tfjs-converter';

import {CalibrationMethod, quantizeModel} from '../../src/graph/index';
import {attr} from '../../src/graph/graph_def';
import {modelGraphFromArtifacts, modelGraphToArtifacts} from '../../src/graph/artifacts';
import {TestGraph} from './graph_builder';
import {buildSmallConvNet, graphModelFrom, syntheticImages} from './helpers';

function tinyGraph(extra?: (g: TestGraph, x: string) => string) {
  const g = new TestGraph(2);
  const x = g.input('x', [1, 4, 4, 2]);
  const c = g.conv('conv', x, [3, 3, 2, 3]);
  const out = extra === undefined ? c : extra(g, c);
  g.op('out', 'Relu', [out]);
  return g.build();
}

describe('bad input gets a clear error or a documented fallback', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('truncated weight data names the source and both sizes', () => {
    const artifacts = modelGraphToArtifacts(tinyGraph());
    const truncated = {...artifacts, weightData: (artifacts.weightData as ArrayBuffer).slice(0, 10)};
    expect(() => modelGraphFromArtifacts(truncated, 'model.json')).toThrow(/model\.json: the weight data is truncated: .* needing \d+ bytes, but the weight file\(s\) hold 10 bytes/);
  });

  it('a Const without a weight is a missing weight, named', () => {
    const artifacts = modelGraphToArtifacts(tinyGraph());
    const specs = artifacts.weightSpecs!.filter(s => s.name !== 'conv/filter');
    expect(() => modelGraphFromArtifacts({...artifacts, weightSpecs: specs}, 'm.json')).toThrow("m.json: Const node 'conv/filter' has no weight in the weights manifest (missing weight)");
  });

  it('a topology that is not a GraphDef, or a node without op, is named', () => {
    expect(() => modelGraphFromArtifacts({modelTopology: {foo: 1}}, 'a.json')).toThrow("a.json: modelTopology has no 'node' list");
    expect(() => modelGraphFromArtifacts({modelTopology: {node: [{name: 'x'}]}}, 'b.json')).toThrow('b.json: node #0 of modelTopology has no name or op');
    expect(() => modelGraphFromArtifacts({modelTopology: {class_name: 'Model', config: {}}}, 'c.json')).toThrow(/c\.json: this is a Keras layers model/);
  });

  it('a node reading a missing node is named', async () => {
    const graph = tinyGraph();
    const broken = {...graph, nodes: graph.nodes.map(n => (n.name === 'out' ? {...n, input: ['nowhere']} : n))};
    const model = graphModelFrom(graph);
    const {foldGraph} = await import('../../src/graph/fold');
    expect(() => foldGraph(broken)).toThrow("Node 'out' (op Relu) reads 'nowhere', which is not in the graph.");
    model.dispose();
  });

  it('an empty calibration set', async () => {
    await expect(quantizeModel(graphModelFrom(tinyGraph()), {calibrationData: []})).rejects.toThrow('calibrationData is empty');
  });

  it('NaN or Infinity in the calibration data names the sample and input', async () => {
    const good = tf.ones([1, 4, 4, 2]);
    const bad = tf.tensor4d([1, 2, NaN, ...new Array(29).fill(0)], [1, 4, 4, 2]);
    await expect(quantizeModel(graphModelFrom(tinyGraph()), {calibrationData: [good, bad]}))
        .rejects.toThrow("Calibration sample #1: input 'x' contains NaN at index 2 (NaN/Inf is not allowed).");
    const inf = tf.fill([1, 4, 4, 2], Infinity);
    await expect(quantizeModel(graphModelFrom(tinyGraph()), {calibrationData: [inf]})).rejects.toThrow(/contains Infinity/);
  });

  it('a sample of the wrong shape or dtype names the input', async () => {
    await expect(quantizeModel(graphModelFrom(tinyGraph()), {calibrationData: [tf.ones([1, 5, 4, 2])]}))
        .rejects.toThrow("Calibration sample #0: input 'x' has shape [1, 5, 4, 2], the model expects [1, 4, 4, 2].");
    await expect(quantizeModel(graphModelFrom(tinyGraph()), {calibrationData: [tf.ones([1, 4, 4, 2], 'int32')]}))
        .rejects.toThrow("Calibration sample #0: input 'x' is int32, the model expects float32.");
    await expect(quantizeModel(graphModelFrom(tinyGraph()), {calibrationData: [{y: tf.ones([1, 4, 4, 2])}]}))
        .rejects.toThrow("Calibration sample #0 has no tensor for model input 'x'.");
  });

  it('a degenerate range (a constant activation, min == max) is widened to include 0 and reported', async () => {
    const graph = tinyGraph((g, c) => g.op('zeroed', 'Mul', [c, g.const('zero', [], [0])]));
    const q = await quantizeModel(graphModelFrom(graph), {calibrationData: [tf.ones([1, 4, 4, 2])], method: 'minmax'});
    const entry = q.report.find(e => e.note?.includes('degenerate'));
    expect(entry).toBeDefined();
    expect(entry!.scale).toBeGreaterThan(0);
    const out = graphModelFrom(modelGraphFromArtifacts(q.artifacts, 'q')).execute({x: tf.ones([1, 4, 4, 2])}) as tf.Tensor;
    expect(Array.from(out.dataSync()).every(v => v === 0)).toBe(true);
  });

  it('an op the pass does not know stays float and is reported; one tfjs cannot run is named with its node', async () => {
    const known = tinyGraph((g, c) => g.op('soft', 'Softplus', [c]));
    const q = await quantizeModel(graphModelFrom(known), {calibrationData: [tf.ones([1, 4, 4, 2])]});
    expect(q.report.find(e => e.name === 'soft')).toMatchObject({dtype: 'float', note: "unknown op 'Softplus': kept in float"});
    const unknown = tinyGraph((g, c) => g.op('mystery', 'MyCustomOp', [c], {alpha: attr.float(1)}));
    await expect(quantizeModel(graphModelFrom(unknown), {calibrationData: [tf.ones([1, 4, 4, 2])]}))
        .rejects.toThrow("node 'mystery' has op 'MyCustomOp', which TensorFlow.js cannot run");
  });

  it('unknown method, a non-model, and calibrating while int8 is active are refused', async () => {
    const model = buildSmallConvNet();
    const data = syntheticImages(1);
    await expect(quantizeModel(model, {calibrationData: data, method: 'median' as unknown as CalibrationMethod}))
        .rejects.toThrow("unknown calibration method 'median'");
    await expect(quantizeModel({} as unknown as GraphModel, {calibrationData: data})).rejects.toThrow('model must be a tf.GraphModel or tf.LayersModel');
    await import('../../src/index');
    await tf.setBackend('int8');
    try {
      await expect(quantizeModel(model, {calibrationData: data})).rejects.toThrow(/calibrates in float/);
    } finally {
      await tf.setBackend('cpu');
    }
  });
});
