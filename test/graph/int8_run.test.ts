// The same artifact on `cpu` (float simulation) and on `int8` (integer kernels).

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {GraphModel} from '@tensorflow/tfjs-converter';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import '../../src/index';
import {quantizeModel} from '../../src/graph/index';
import {getFloatAttr, NodeDef} from '../../src/graph/graph_def';
import {sqnrOf} from '../../src/graph/report';
import {buildSmallConvNet, graphModelFromArtifacts, syntheticImages} from './helpers';

/** The scale of one output code of a node of the artifact (undefined for float outputs). */
function outputScaleOf(node: NodeDef): number | undefined {
  if (node.op === 'FakeQuantWithMinMaxVars') return getFloatAttr(node, 'quant_scale');
  if (node.op.startsWith('Int8') && node.attr?.output_scale !== undefined && node.attr?.output_quantized?.b !== false) {
    return getFloatAttr(node, 'output_scale');
  }
  return undefined;
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
    const layers = nodes.filter(n => outputScaleOf(n) !== undefined && n.op !== 'Placeholder');
    expect(layers.length).toBeGreaterThan(10);
    const constNames = new Set(nodes.filter(n => n.op === 'Const').map(n => n.name));
    for (const image of images.slice(0, 2)) {
      // Every node's value on cpu (the float simulation).
      await tf.setBackend('cpu');
      const names = nodes.filter(n => n.op !== 'Const' && n.op !== 'Placeholder').map(n => n.name);
      const cpuRun = run(model, {image}, names);
      const onCpu = new Map(names.map((name, i) => [name, cpuRun[i]]));
      let checked = 0;
      for (const layer of layers) {
        const inputs = (layer.input ?? []).filter(r => !constNames.has(r) && r !== 'image');
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
      expect(checked).toBeGreaterThan(10);
    }
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
