// The same artifact on `cpu` (float simulation) and on `int8` (integer kernels).

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {GraphModel} from '@tensorflow/tfjs-converter';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import '../../src/index';
import {quantizeModel, QuantizedModel} from '../../src/graph/index';
import {NodeDef} from '../../src/graph/graph_def';
import {outputParamsOf} from './artifact_nodes';
import {sqnrOf} from '../../src/graph/report';
import {preluGraph, TestGraph} from './graph_builder';
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

/** SQNR between all outputs of the artifact run on cpu and on int8, over the feeds. */
async function cpuVsInt8Sqnr(model: GraphModel, feedsList: tf.NamedTensorMap[]): Promise<number> {
  const cpu: number[] = [];
  const int8: number[] = [];
  for (const feeds of feedsList) {
    await tf.setBackend('cpu');
    for (const value of run(model, feeds, model.outputNodes)) cpu.push(...value.values);
    await tf.setBackend('int8');
    for (const value of run(model, feeds, model.outputNodes)) int8.push(...value.values);
  }
  return sqnrOf(cpu, int8);
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
    expect(await cpuVsInt8Sqnr(model, inputs.map(x => ({x})))).toBeGreaterThanOrEqual(35);
  });
});

/**
 * emotion's block: x → conv c1 → AddV2(c1, conv c2(c1)) read by conv c3, a standalone Relu and a
 * standalone Relu6 (the converter cannot fuse them) → depthwise d / conv c5 → AddV2(c3, d) + c5
 * → MaxPool → conv c4 (the output).
 */
function residualReluGraph(): ReturnType<TestGraph['build']> {
  const g = new TestGraph(29);
  const x = g.input('x', [1, 8, 8, 4]);
  const c1 = g.conv('c1', x, [3, 3, 4, 8]);
  const add = g.op('add', 'AddV2', [c1, g.conv('c2', c1, [1, 1, 8, 8])]);
  const relu = g.op('relu', 'Relu', [add]);
  const sum = g.op('sum', 'AddV2', [g.conv('c3', add, [1, 1, 8, 8]), g.depthwise('d', relu, [3, 3, 8, 1])]);
  const total = g.op('total', 'AddV2', [sum, g.conv('c5', g.op('relu6', 'Relu6', [add]), [1, 1, 8, 8])]);
  const pool = g.op('pool', 'MaxPool', [total], {ksize: {list: {i: ['1', '2', '2', '1']}}, strides: {list: {i: ['1', '2', '2', '1']}},
    padding: {s: btoa('VALID')}, data_format: {s: btoa('NHWC')}});
  g.conv('c4', pool, [1, 1, 8, 3]);
  return g.build();
}

/** A [1,8,8,3] synthetic image as a [1,8,8,4] input in [−1, 1]. */
function fourChannels(t: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.sub(tf.mul(tf.slice(tf.tile(t, [1, 1, 1, 2]), [0, 0, 0, 0], [1, 8, 8, 4]), 2), 1));
}

describe('cpu simulation vs int8 kernels: a standalone Relu after a shared Add, a MaxPool', () => {
  let quantized: QuantizedModel;
  let nodes: NodeDef[];
  let model: GraphModel;
  const inputs = syntheticImages(4, 8, 77).map(t => fourChannels(t));

  beforeAll(async () => {
    await tf.setBackend('cpu');
    const calibration = syntheticImages(8, 8, 71).map(t => ({x: fourChannels(t)}));
    quantized = await quantizeModel(graphModelFrom(residualReluGraph()), {calibrationData: calibration, reportSamples: 0});
    nodes = (quantized.artifacts.modelTopology as {node: NodeDef[]}).node;
    model = graphModelFromArtifacts(quantized.artifacts);
  });

  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('gives the Relu its own range [0, max] (the Add keeps its negatives) and drops the no-op fake-quant after MaxPool', () => {
    const add = quantized.report.find(e => e.name === 'add')!;
    const relu = quantized.report.find(e => e.name === 'relu')!;
    expect(add.min!).toBeLessThan(0);
    expect(relu.dtype).toBe('int8');
    expect(relu.note ?? '').not.toMatch(/range shared/);
    expect(relu.zeroPoint).toBe(-128);
    expect(relu.min).toBe(0);
    expect(relu.max!).toBeLessThanOrEqual(add.max! * 1.01);
    // One code of the Relu's output is finer than one of the Add's: the bit sharing would waste.
    expect(relu.scale!).toBeLessThan(0.75 * add.scale!);
    const relu6 = quantized.report.find(e => e.name === 'relu6')!;
    expect(relu6).toMatchObject({dtype: 'int8', zeroPoint: -128, min: 0});
    expect(relu6.max!).toBeLessThanOrEqual(6 * 1.01);
    const byName = new Map(nodes.map(n => [n.name, n]));
    const readsOp = (n: NodeDef, op: string) => byName.get((n.input ?? [])[0])?.op === op;
    expect(nodes.filter(n => n.op === 'FakeQuantWithMinMaxVars' && readsOp(n, 'Relu')).length).toBe(1);
    expect(nodes.filter(n => n.op === 'FakeQuantWithMinMaxVars' && readsOp(n, 'Relu6')).length).toBe(1);
    expect(nodes.filter(n => n.op === 'MaxPool').length).toBe(1);
    expect(nodes.filter(n => n.op === 'FakeQuantWithMinMaxVars' && readsOp(n, 'MaxPool')).length).toBe(0);
  });

  it('fed the same quantized input, each quantized layer agrees within 1 LSB', async () => {
    await expectLayersAgree(nodes, model, inputs.slice(0, 2).map(x => ({x})));
  });

  it('end to end: SQNR ≥ 35 dB between cpu and int8', async () => {
    expect(await cpuVsInt8Sqnr(model, inputs.map(x => ({x})))).toBeGreaterThanOrEqual(35);
  });
});
