// The same artifact on `cpu` (float simulation) and on `int8` (integer kernels).

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {GraphModel} from '@tensorflow/tfjs-converter';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import '../../src/index';
import {quantizeModel} from '../../src/graph/index';
import {NodeDef} from '../../src/graph/graph_def';
import {outputParamsOf} from './artifact_nodes';
import {sqnrOf} from '../../src/graph/report';
import {preluGraph} from './graph_builder';
import {buildSmallConvNet, graphModelFrom, graphModelFromArtifacts, syntheticImages} from './helpers';

/** The scale of one output code of a node of the artifact (undefined for float outputs). */
function outputScaleOf(node: NodeDef): number | undefined {
  return outputParamsOf(node)?.scale;
}

interface Value {
  values: Float32Array;
  shape: number[];
}

function run(model: GraphModel, feeds: tf.NamedTensorMap, outputs: string[]): Value[] {
  const result = model.execute(feeds, outputs);
  const list = Array.isArray(result) ? result : [result];
  const values = list.map(t => ({values: Float32Array.from(t.dataSync()), shape: t.shape.slice()}));
  const inputs = new Set(Object.values(feeds));
  tf.dispose(list.filter(t => !inputs.has(t)));
  return values;
}

/**
 * Each quantized layer, run alone on int8 and fed the cpu simulation's values of its inputs,
 * agrees with the cpu simulation within 1 LSB (for every feed).
 */
async function expectLayersAgree(nodes: NodeDef[], model: GraphModel, feedsList: tf.NamedTensorMap[]): Promise<void> {
  const layers = nodes.filter(n => outputScaleOf(n) !== undefined && n.op !== 'Placeholder');
  expect(layers.length).toBeGreaterThan(3);
  const notComputed = new Set(nodes.filter(n => n.op === 'Const' || n.op === 'Placeholder').map(n => n.name));
  for (const modelFeeds of feedsList) {
    // Every node's value on cpu (the float simulation).
    await tf.setBackend('cpu');
    const names = nodes.filter(n => !notComputed.has(n.name)).map(n => n.name);
    const cpuRun = run(model, modelFeeds, names);
    const onCpu = new Map(names.map((name, i) => [name, cpuRun[i]]));
    let checked = 0;
    for (const layer of layers) {
      const inputs = (layer.input ?? []).filter(r => !notComputed.has(r));
      if (inputs.length === 0) continue;
      // The layer alone on int8, fed the cpu values of its inputs.
      await tf.setBackend('int8');
      const feeds: tf.NamedTensorMap = {};
      for (const input of inputs) {
        const value = onCpu.get(input)!;
        feeds[input] = tf.tensor(value.values, value.shape);
      }
      const [actual] = run(model, feeds, [layer.name]);
      const expected = onCpu.get(layer.name)!.values;
      const scale = outputScaleOf(layer)!;
      let worst = 0;
      for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(expected[i] - actual.values[i]) / scale);
      expect(worst, `${layer.name} (${layer.op})`).toBeLessThanOrEqual(1 + 1e-3);
      checked++;
      tf.dispose(Object.values(feeds));
    }
    expect(checked).toBeGreaterThan(3);
  }
}

describe('cpu simulation vs int8 kernels, same artifact', () => {
  let nodes: NodeDef[];
  let model: GraphModel;
  const images = syntheticImages(6, 16, 123);

  beforeAll(async () => {
    await tf.setBackend('cpu');
    const float = buildSmallConvNet(7);
    const quantized = await quantizeModel(float, {calibrationData: syntheticImages(8, 16, 5), reportSamples: 0});
    nodes = (quantized.artifacts.modelTopology as {node: NodeDef[]}).node;
    model = graphModelFromArtifacts(quantized.artifacts);
  });

  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('fed the same quantized input, each quantized layer agrees within 1 LSB', async () => {
    await expectLayersAgree(nodes, model, images.slice(0, 2).map(image => ({image})));
  });

  it('end to end: same top-1 and SQNR ≥ 35 dB between cpu and int8', async () => {
    const cpu: number[] = [];
    const int8: number[] = [];
    let sameTop1 = 0;
    for (const image of images) {
      await tf.setBackend('cpu');
      const [a] = run(model, {image}, model.outputNodes);
      await tf.setBackend('int8');
      const [b] = run(model, {image}, model.outputNodes);
      cpu.push(...a.values);
      int8.push(...b.values);
      const top = (v: Float32Array) => v.indexOf(Math.max(...v));
      if (top(a.values) === top(b.values)) sameTop1++;
    }
    expect(sameTop1).toBe(images.length);
    expect(sqnrOf(cpu, int8)).toBeGreaterThanOrEqual(35);
  });
});

describe('cpu simulation vs int8 kernels: a graph with PReLU folded into its convs and matmul', () => {
  let nodes: NodeDef[];
  let model: GraphModel;
  const inputs = syntheticImages(4, 6, 321).map(t => tf.sub(tf.mul(t, 3), 1.5));

  beforeAll(async () => {
    await tf.setBackend('cpu');
    const float = graphModelFrom(preluGraph());
    const calibration = syntheticImages(8, 6, 17).map(t => ({x: tf.sub(tf.mul(t, 3), 1.5)}));
    const quantized = await quantizeModel(float, {calibrationData: calibration, reportSamples: 0});
    nodes = (quantized.artifacts.modelTopology as {node: NodeDef[]}).node;
    model = graphModelFromArtifacts(quantized.artifacts);
  });

  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('lowers the fused prelu into Int8Fused* nodes (alpha as input #4), leaving only the blocked PReLU in float', () => {
    // p1, p3, p4 (convs) and p5 (matmul); inner node names may be shortened by the artifact writer.
    const prelu = nodes.filter(n => n.op.startsWith('Int8Fused') && n.input?.length === 5);
    expect(prelu.map(n => n.op).sort()).toEqual(['Int8FusedConv2D', 'Int8FusedConv2D', 'Int8FusedConv2D', 'Int8FusedMatMul']);
    for (const n of ['Abs', 'Prelu']) expect(nodes.filter(node => node.op === n).length, n).toBe(n === 'Abs' ? 1 : 0);
  });

  it('fed the same quantized input, each quantized layer (prelu ones included) agrees within 1 LSB', async () => {
    await expectLayersAgree(nodes, model, inputs.slice(0, 2).map(x => ({x})));
  });

  it('end to end: SQNR ≥ 35 dB between cpu and int8', async () => {
    const cpu: number[] = [];
    const int8: number[] = [];
    for (const x of inputs) {
      await tf.setBackend('cpu');
      for (const value of run(model, {x}, model.outputNodes)) cpu.push(...value.values);
      await tf.setBackend('int8');
      for (const value of run(model, {x}, model.outputNodes)) int8.push(...value.values);
    }
    expect(sqnrOf(cpu, int8)).toBeGreaterThanOrEqual(35);
  });
});
