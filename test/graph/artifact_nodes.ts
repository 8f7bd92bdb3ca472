// Reading the int8 artifact in tests: nodes by the model's names (model.json has short ones,
// QuantizedModel.nodeNames maps them back), the `q` attrs, and the per-channel tables.

import * as tf from '@tensorflow/tfjs-core';

import type {QuantizedModel} from '../../src/graph/index';
import {getBoolAttr, getFloatListAttr, NodeDef} from '../../src/graph/graph_def';
import {biasFromTable, scalesFromTable} from '../../src/ops/channel_tables';
import {ComputeQuant, decodeComputeQuant, decodeFakeQuant, decodeRequantizing, ScaleZeroPoint} from '../../src/ops/quant_attrs';

export function artifactNodes(artifacts: tf.io.ModelArtifacts): NodeDef[] {
  return (artifacts.modelTopology as {node: NodeDef[]}).node;
}

/** The name model.json gives the node the model (or the pass) called `original`. */
export function artifactName(q: Pick<QuantizedModel, 'nodeNames'>, original: string): string {
  const entry = Object.entries(q.nodeNames).find(([, name]) => name === original);
  return entry === undefined ? original : entry[0];
}

export function artifactNode(q: Pick<QuantizedModel, 'nodeNames' | 'artifacts'>, original: string): NodeDef {
  const name = artifactName(q, original);
  const node = artifactNodes(q.artifacts).find(n => n.name === name);
  if (node === undefined) throw new Error(`No node '${original}' (${name}) in the artifact.`);
  return node;
}

export function weightValues(artifacts: tf.io.ModelArtifacts, name: string): Float32Array | Int32Array {
  const map = tf.io.decodeWeights(artifacts.weightData!, artifacts.weightSpecs!);
  const values = map[name].dataSync().slice() as Float32Array | Int32Array;
  tf.dispose(Object.values(map));
  return values;
}

/** Output channels of an Int8Fused* node, from its filter codes' shape. */
function channelsOf(artifacts: tf.io.ModelArtifacts, node: NodeDef): number {
  const shape = artifacts.weightSpecs!.find(s => s.name === node.input![1])!.shape;
  if (node.op === 'Int8FusedConv2D') return shape[3];
  if (node.op === 'Int8FusedDepthwiseConv2dNative') return shape[2] * shape[3];
  return getBoolAttr(node, 'transpose_b') ? shape[0] : shape[1];
}

export interface ComputeNodeInfo {
  quant: ComputeQuant;
  filterScales: number[];
  biasCodes: number[];
}

/** What an Int8Fused* node holds: its `q`, and its slices of the scale and bias tables. */
export function computeNodeInfo(artifacts: tf.io.ModelArtifacts, node: NodeDef): ComputeNodeInfo {
  const quant = decodeComputeQuant(getFloatListAttr(node, 'q'), node.name);
  const channels = channelsOf(artifacts, node);
  const scaleTable = weightValues(artifacts, node.input![3]);
  return {
    quant,
    filterScales: scalesFromTable(scaleTable, quant.scaleOffset, quant.perTensor ? 1 : channels, channels, quant.scaleExponent, node.name),
    biasCodes: biasFromTable(weightValues(artifacts, node.input![2]), quant.biasOffset, channels, node.name),
  };
}

/** The output params of a node the pass writes (undefined for a float output or another op). */
export function outputParamsOf(node: NodeDef): ScaleZeroPoint | undefined {
  const values = getFloatListAttr(node, 'q');
  if (node.attr?.q === undefined) return undefined;
  if (node.op === 'FakeQuantWithMinMaxVars') return decodeFakeQuant(values, node.name);
  if (node.op.startsWith('Int8Fused')) return decodeComputeQuant(values, node.name).output;
  if (node.op.startsWith('Int8')) return decodeRequantizing(values, values.length / 2 - 1, node.name).output;
  return undefined;
}
