import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {beforeAll, describe, expect, it} from 'vitest';

import '../../src/ops/index';
import {foldGraph} from '../../src/graph/fold';
import {attr, getBoolAttr, getFloatListAttr, getIntAttr, NodeDef} from '../../src/graph/graph_def';
import {applyActivationRanges, insertFakeQuant} from '../../src/graph/insert_fake_quant';
import {layersModelToGraph} from '../../src/graph/layers_export';
import {planQuantization} from '../../src/graph/plan';
import {chooseActivationParams} from '../../src/graph/quantize_model';
import {TestGraph} from './graph_builder';
import {buildSmallConvNet, graphModelFrom} from './helpers';

describe('fake-quant insertion', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  const folded = foldGraph(layersModelToGraph(buildSmallConvNet(1)));
  const plan = planQuantization(folded);
  const fq = insertFakeQuant(folded, plan, {perChannel: true});
  const byName = new Map(fq.graph.nodes.map(n => [n.name, n]));
  const node = (name: string): NodeDef => {
    const n = byName.get(name);
    if (n === undefined) throw new Error(`no node ${name}`);
    return n;
  };

  it('quantizes the model input with a separate FakeQuantWithMinMaxVars read by its consumer', () => {
    const q = node('image/quantized');
    expect(q.op).toBe('FakeQuantWithMinMaxVars');
    expect(q.input?.[0]).toBe('image');
    expect(node('pad/float').input?.[0]).toBe('image/quantized');
  });

  it('puts a FakeQuantWithMinMaxVars (num_bits 8, min/max Consts, calibration mode) after every conv/add/concat/pool output', () => {
    for (const name of ['relu1', 'pw', 'add', 'sep', 'cat', 'maxpool', 'avgpool', 'gap']) {
      const q = node(name);
      expect(q.op, name).toBe('FakeQuantWithMinMaxVars');
      expect(getIntAttr(q, 'num_bits')).toBe(8);
      expect(getBoolAttr(q, 'narrow_range')).toBe(false);
      expect(getBoolAttr(q, 'calibrating')).toBe(true);
      const [producer, min, max] = q.input!;
      expect(producer).toBe(`${name}/float`);
      expect(node(min).op).toBe('Const');
      expect(node(max).op).toBe('Const');
    }
    expect(node('relu1/float').op).toBe('_FusedConv2D');
    expect(node('add/float').op).toBe('AddV2');
  });

  it('puts a FakeQuantWithMinMaxVarsPerChannel (narrow range, per-channel min/max) on every conv/matmul filter', () => {
    for (const name of ['relu1/float', 'relu_dw/float', 'pw/float', 'logits']) {
      const compute = node(name);
      const fqpc = node(compute.input![1]);
      expect(fqpc.op).toBe('FakeQuantWithMinMaxVarsPerChannel');
      expect(getBoolAttr(fqpc, 'narrow_range')).toBe(true);
      const filter = fq.graph.weights[fqpc.input![0]];
      const scales = getFloatListAttr(fqpc, 'quant_scales');
      const axis = getIntAttr(fqpc, 'quant_axis');
      expect(scales).toHaveLength(filter.shape[axis]);
      const max = fq.graph.weights[fqpc.input![2]].values;
      scales.forEach((s, c) => expect(max[c]).toBeCloseTo(127 * s, 5));
    }
  });

  it('ties pass-through ops (max pool, avg pool) to their input range and leaves softmax\'s input float', () => {
    const tied = new Map(fq.observers.map(o => [o.tensor, o.tiedTo]));
    expect(tied.get('maxpool')).toBe('cat');
    expect(tied.get('avgpool')).toBe('cat');
    expect(tied.get('cat')).toBeUndefined();
    expect(byName.get('logits')?.op).toBe('_FusedMatMul'); // float output: no fake-quant after it
    expect(node('probs').input?.[0]).toBe('logits');
  });

  it('in calibration mode observes (identity); with ranges it clamps and rounds, like the executors promise', () => {
    const ranges = new Map(fq.observers.map(o => [o.tensor, {min: -1, max: 1}]));
    const simulation = applyActivationRanges(fq, chooseActivationParams(fq.observers, ranges));
    const sim = new Map(simulation.nodes.map(n => [n.name, n]));
    expect(getBoolAttr(sim.get('relu1')!, 'calibrating', false)).toBe(false);
    expect(simulation.weights[sim.get('relu1')!.input![2]].values[0]).toBeCloseTo(1, 1);
  });
});

describe('fake-quant executors', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  function singleFakeQuant(attrs: Record<string, ReturnType<typeof attr.bool>>, min: number, max: number) {
    const g = new TestGraph();
    const x = g.input('x', [6]);
    g.op('q', 'FakeQuantWithMinMaxVars', [x, g.const('q/min', [], [min]), g.const('q/max', [], [max])],
        {num_bits: attr.int(8), narrow_range: attr.bool(false), ...attrs});
    return graphModelFrom(g.build());
  }

  it('FakeQuantWithMinMaxVars from min/max inputs (TensorFlow graphs): nudged to include 0, clamped, rounded half away from zero', () => {
    const model = singleFakeQuant({}, -1, 1.55);
    const scale = 2.55 / 255; // 0.01, zero point round(-128 + 1/0.01) = -28
    const x = tf.tensor1d([-3, -1, 0, 0.0051, 0.0149, 2]);
    const y = Array.from((model.execute({x}) as tf.Tensor).dataSync());
    const expected = [-100 * scale, -100 * scale, 0, 1 * scale, 1 * scale, 155 * scale];
    y.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
    // Ties (exact in float32 with a power-of-two scale) round away from zero.
    const exact = singleFakeQuant({}, -32, 31.75); // scale 0.25, zero point 0
    const ties = Array.from((exact.execute({x: tf.tensor1d([0.125, -0.125, 0.375, -0.375, 100, -100])}) as tf.Tensor).dataSync());
    expect(ties).toEqual([0.25, -0.25, 0.5, -0.5, 31.75, -32]);
  });

  it('passes values through unchanged in calibration mode', () => {
    const model = singleFakeQuant({calibrating: attr.bool(true)}, 0, 0);
    const x = tf.tensor1d([-3, 1e6, 0.123456, NaN, 7, 8]);
    const y = Array.from((model.execute({x}) as tf.Tensor).dataSync());
    expect(y.slice(0, 3)).toEqual([-3, 1e6, Math.fround(0.123456)]);
  });

  it('FakeQuantWithMinMaxVarsPerChannel quantizes along the last axis by default', () => {
    const g = new TestGraph();
    const x = g.input('x', [2, 2]);
    g.op('q', 'FakeQuantWithMinMaxVarsPerChannel', [x, g.const('q/min', [2], [-31.75, -127]), g.const('q/max', [2], [31.75, 127])],
        {num_bits: attr.int(8), narrow_range: attr.bool(true)});
    const model = graphModelFrom(g.build());
    const y = Array.from((model.execute({x: tf.tensor2d([[0.375, 14.5], [50, -300]])}) as tf.Tensor).dataSync());
    expect(y[0]).toBe(0.5); // channel 0: scale 0.25, 1.5 → 2 (half away from zero)
    expect(y[1]).toBe(15); // channel 1: scale 1, 14.5 → 15
    expect(y[2]).toBe(31.75); // clamped to 127·0.25
    expect(y[3]).toBe(-127); // narrow range: −127, not −128
  });

  it('rejects num_bits other than 8, naming the op', () => {
    const g = new TestGraph();
    const x = g.input('x', [2]);
    g.op('q', 'FakeQuantWithMinMaxVars', [x, g.const('q/min', [], [-1]), g.const('q/max', [], [1])], {num_bits: attr.int(4)});
    const model = graphModelFrom(g.build());
    expect(() => model.execute({x: tf.tensor1d([0, 1])})).toThrow(/FakeQuantWithMinMaxVars: num_bits = 4 is not supported/);
  });
});
