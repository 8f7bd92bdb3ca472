import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {beforeAll, describe, expect, it} from 'vitest';

import {foldGraph, fusedActivationOf, opHistogram} from '../../src/graph/fold';
import {attr} from '../../src/graph/graph_def';
import {layersModelToGraph} from '../../src/graph/layers_export';
import {preluGraph, TestGraph, unfusedGraph, convAttrs} from './graph_builder';
import {buildSmallConvNet, graphModelFrom, maxAbsDiff, syntheticImages} from './helpers';
import type {ModelGraph} from '../../src/graph/model_graph';

function runGraph(graph: ModelGraph, input: tf.Tensor, outputs?: string[]): Float32Array[] {
  const model = graphModelFrom(graph);
  const result = model.execute({x: input}, outputs);
  const list = Array.isArray(result) ? result : [result];
  const values = list.map(t => t.dataSync() as Float32Array);
  tf.dispose(list);
  model.dispose();
  return values;
}

describe('folding', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('folds batch norm, bias adds, per-channel Mul/Add and activations into fused ops, preserving outputs', () => {
    const graph = unfusedGraph();
    const folded = foldGraph(graph);
    const ops = opHistogram(folded);
    expect(ops.FusedBatchNormV3).toBeUndefined();
    expect(ops.BiasAdd).toBeUndefined();
    expect(ops.Relu6).toBeUndefined();
    expect(ops.Relu).toBeUndefined();
    expect(ops.Mul).toBeUndefined();
    expect(ops.Conv2D).toBeUndefined();
    expect(ops.MatMul).toBeUndefined();
    expect(ops._FusedConv2D).toBe(2);
    expect(ops.FusedDepthwiseConv2dNative).toBe(1);
    expect(ops._FusedMatMul).toBe(1);
    expect(ops.AddV2).toBe(1); // the residual add of two activations stays
    const byName = new Map(folded.nodes.map(n => [n.name, n]));
    expect(fusedActivationOf(byName.get('r1')!)).toBe('relu6');
    expect(fusedActivationOf(byName.get('r2')!)).toBe('relu');
    expect(fusedActivationOf(byName.get('c2_add')!)).toBe('none');

    for (const input of syntheticImages(3, 8)) {
      const [a] = runGraph(graph, input);
      const [b] = runGraph(folded, input);
      expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(1e-4);
      const inner = ['r1', 'r2', 'c2_add'];
      const before = runGraph(graph, input, inner);
      const after = runGraph(folded, input, inner);
      inner.forEach((_, i) => expect(maxAbsDiff(before[i], after[i])).toBeLessThanOrEqual(1e-4));
    }
  });

  it('folds ClipByValue(0, 6) and Maximum(0)/Minimum(6) into relu6, and Sub of a constant into the bias', () => {
    const g = new TestGraph(5);
    const x = g.input('x', [1, 6, 6, 2]);
    const c = g.conv('c', x, [3, 3, 2, 4]);
    const sub = g.op('sub', 'Sub', [c, g.const('sub/k', [4], [0.1, -0.2, 0.3, 0])]);
    const clip = g.op('clip', 'ClipByValue', [sub, g.const('clip/lo', [], [0]), g.const('clip/hi', [], [6])]);
    const c2 = g.conv('c2', clip, [1, 1, 4, 4]);
    const max = g.op('max', 'Maximum', [c2, g.const('max/zero', [], [0])]);
    g.op('min', 'Minimum', [max, g.const('min/six', [], [6])]);
    const graph = g.build();
    const folded = foldGraph(graph);
    const byName = new Map(folded.nodes.map(n => [n.name, n]));
    expect(byName.get('clip')?.op).toBe('_FusedConv2D');
    expect(fusedActivationOf(byName.get('clip')!)).toBe('relu6');
    expect(byName.get('min')?.op).toBe('_FusedConv2D');
    expect(fusedActivationOf(byName.get('min')!)).toBe('relu6');
    const input = tf.mul(tf.slice(syntheticImages(1, 6)[0], [0, 0, 0, 0], [1, 6, 6, 2]), 4);
    expect(maxAbsDiff(runGraph(graph, input)[0], runGraph(folded, input)[0])).toBeLessThanOrEqual(1e-4);
  });

  it('keeps a conv whose output has two readers unfolded with its batch norm, and stays correct', () => {
    const g = new TestGraph(9);
    const x = g.input('x', [1, 5, 5, 2]);
    const c = g.conv('c', x, [3, 3, 2, 3]);
    const bn = g.op('bn', 'FusedBatchNormV3', [c, g.const('s', [3], [1, 2, 3]), g.const('o', [3], [0, 0, 0]), g.const('m', [3], [0, 0, 0]), g.const('v', [3], [1, 1, 1])],
        {epsilon: attr.float(1e-3), is_training: attr.bool(false)});
    g.op('out', 'AddV2', [bn, c]);
    const graph = g.build();
    const folded = foldGraph(graph);
    expect(opHistogram(folded).FusedBatchNormV3).toBe(1);
    const input = tf.slice(syntheticImages(1, 5)[0], [0, 0, 0, 0], [1, 5, 5, 2]);
    expect(maxAbsDiff(runGraph(graph, input)[0], runGraph(folded, input)[0])).toBeLessThanOrEqual(1e-4);
  });

  it('folds an exported Keras model (conv+BN+ReLU6, depthwise, separable, dense) preserving outputs', () => {
    const model = buildSmallConvNet(2);
    const folded = foldGraph(layersModelToGraph(model));
    expect(opHistogram(folded).FusedBatchNormV3).toBeUndefined();
    const fm = graphModelFrom(folded);
    for (const image of syntheticImages(3)) {
      const expected = (model.predict(image) as tf.Tensor).dataSync();
      const actual = (fm.execute({image}) as tf.Tensor).dataSync();
      expect(maxAbsDiff(expected, actual)).toBeLessThanOrEqual(1e-4);
    }
  });

  it('writes fused ops the way tfjs-converter reads them (fused_ops, num_args)', () => {
    const folded = foldGraph(unfusedGraph());
    const conv = folded.nodes.find(n => n.op === '_FusedConv2D')!;
    expect(conv.attr?.num_args).toEqual(attr.int(1));
    expect(conv.input).toHaveLength(3);
    expect(convAttrs(1, 'SAME').strides).toEqual(conv.attr?.strides);
  });

  it('folds PReLU (Relu/Abs/Sub/Mul/Add in every operand order, x + (x − |x|)·c, tfjs Prelu) into the fused op', () => {
    const graph = preluGraph();
    const folded = foldGraph(graph);
    const ops = opHistogram(folded);
    expect(ops.Prelu).toBeUndefined();
    expect(ops.BiasAdd).toBeUndefined();
    // Only the blocked PReLU's ops remain.
    for (const op of ['Relu', 'Abs', 'Sub', 'Mul']) expect(ops[op], op).toBe(1);
    const byName = new Map(folded.nodes.map(n => [n.name, n]));
    const alphaOf = (name: string): number[] => {
      const node = byName.get(name)!;
      expect(node.attr?.num_args).toEqual(attr.int(2));
      expect(node.input).toHaveLength(4);
      return Array.from(folded.weights[node.input![3]].values);
    };
    // The fused node takes the name of the final Add (or Prelu); alpha = 2c, 1 + 2c, −2c (|x| − x), or Prelu's own.
    expect(fusedActivationOf(byName.get('p1')!)).toBe('prelu');
    const expectAlpha = (name: string, expected: number[]): void => expect(maxAbsDiff(alphaOf(name), expected), name).toBeLessThanOrEqual(1e-7);
    expectAlpha('p1', [0.25, -0.1, 0, 0.05].map(c => 2 * c));
    expect(fusedActivationOf(byName.get('p2')!)).toBe('relu'); // x is relu already: y = x
    expect(byName.get('p2')?.input).toHaveLength(3);
    expectAlpha('p3', [0.1, 0.2, -0.3, 0.4, 0].map(c => 1 - 2 * c));
    expectAlpha('p4', [0.3, -0.2, 0, 0.1, 0.5]);
    expect(fusedActivationOf(byName.get('p5')!)).toBe('prelu'); // matmul
    // A conv output read by a node outside the pattern keeps its PReLU ops.
    expect(byName.get('blocked')?.op).toBe('AddV2');
    expect(byName.get('blocked_prelu')?.op).toBe('Add');
    for (const input of syntheticImages(3, 6, 11).map(t => tf.mul(tf.sub(t, 0.5), 3))) {
      const names = ['p1', 'p2', 'p3', 'p4', 'p5', 'blocked'];
      const before = runGraph(graph, input, names);
      const after = runGraph(folded, input, names);
      names.forEach((name, i) => expect(maxAbsDiff(before[i], after[i]), name).toBeLessThanOrEqual(1e-5));
    }
  });
});
