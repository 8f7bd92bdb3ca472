// The whole int8 artifact (model.json + weight files) against the float model, and how it
// stays small: float16 per-channel scales in shared tables, a lean model.json (short node
// names, compact attrs) that tf.loadGraphModel loads as it is.

import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs';
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
import {compactArtifactGraph} from '../../src/graph/compact_artifact';
import {float16BitsOf, FLOAT16_MIN_NORMAL, isFloat16, roundUpToFloat32, storableFloats, toFloat16} from '../../src/graph/float16';
import {attr, NodeDef} from '../../src/graph/graph_def';
import {layersModelToGraph} from '../../src/graph/layers_export';
import type {ModelGraph} from '../../src/graph/model_graph';
import {fileIOHandler} from '../../src/io/file_io';
import {artifactNodes, computeNodeInfo} from './artifact_nodes';
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

/** model.json + every weight file in `dir`. */
function filesBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
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

  it('model.json + weight files ≤ 26% of the float model (model.json + float32 weights)', () => {
    const floatBytes = filesBytes(join(dir, 'float'));
    const int8Bytes = filesBytes(join(dir, 'int8'));
    expect(readdirSync(join(dir, 'int8')).sort()).toEqual(['model.json', 'weights.bin']);
    expect(floatBytes).toBeGreaterThanOrEqual(model.countParams() * 4);
    console.log(`int8 ${int8Bytes} bytes (model.json ${statSync(join(dir, 'int8', 'model.json')).size}) of float ${floatBytes}: ` +
        `${(100 * int8Bytes / floatBytes).toFixed(2)} %`);
    expect(int8Bytes / floatBytes).toBeLessThanOrEqual(0.26);
  });

  it('stores per-channel scales as float16 in one shared table, and the bias codes in shared tables', () => {
    const nodes = artifactNodes(q.artifacts);
    const computes = nodes.filter(n => n.op.startsWith('Int8Fused'));
    expect(computes.length).toBe(20);
    const tables = new Set(computes.flatMap(n => [n.input![2], n.input![3]]));
    expect(tables.size).toBeLessThanOrEqual(3);
    const specs = new Map(q.artifacts.weightSpecs!.map(s => [s.name, s]));
    expect(specs.get(computes[0].input![3])!.quantization).toEqual({dtype: 'float16'});
    for (const node of computes) {
      const {filterScales} = computeNodeInfo(q.artifacts, node);
      // Each scale is a float16 (times 2^-exponent): what tfjs decodes is exactly what the pass computed with.
      const {quant} = computeNodeInfo(q.artifacts, node);
      expect(filterScales.every(s => isFloat16(s * 2 ** quant.scaleExponent))).toBe(true);
      // No per-channel lists in model.json: one short `q` list per node.
      expect(Object.keys(node.attr ?? {})).toEqual(['q']);
    }
  });

  it('gives the same outputs after reloading from the files (cpu and int8)', async () => {
    const reloaded = await loadGraphModel(fileIOHandler(join(dir, 'int8', 'model.json')));
    const inMemory = graphModelFromArtifacts(q.artifacts);
    for (const backend of ['cpu', 'int8']) {
      await tf.setBackend(backend);
      for (const image of images) {
        const outputs = [reloaded, inMemory].map(m => Array.from((m.execute(image) as tf.Tensor).dataSync()));
        expect(outputs[0]).toEqual(outputs[1]);
      }
    }
    await tf.setBackend('cpu');
  });

  it('keeps the model input and output names, and maps every short name back', () => {
    const json = JSON.parse(readFileSync(join(dir, 'int8', 'model.json'), 'utf8')) as {modelTopology: {node: NodeDef[]}};
    const names = json.modelTopology.node.map(n => n.name);
    const floatNames = new Set(layersModelToGraph(model).nodes.map(n => n.name));
    expect(names).toContain(model.inputs[0].name.split(':')[0]);
    const renamed = names.filter(n => !floatNames.has(n));
    expect(renamed.every(n => n.length <= 2)).toBe(true);
    for (const name of renamed) expect(q.nodeNames[name]).toBeDefined();
    // The report names nodes as the model does, with their short names alongside.
    const entry = q.report.find(e => e.dtype === 'int8' && e.node !== undefined)!;
    expect(q.nodeNames[entry.node!]).toBe(entry.name);
  });

  afterAll(() => {
    rmSync(dir, {recursive: true, force: true});
    tf.dispose(images);
  });
});

describe('float16 storage', () => {
  it('encodes float16s exactly and rejects the rest', () => {
    expect(float16BitsOf(1)).toBe(0x3c00);
    expect(float16BitsOf(-2)).toBe(0xc000);
    expect(float16BitsOf(65504)).toBe(0x7bff);
    expect(float16BitsOf(2 ** -24)).toBe(1);
    expect(float16BitsOf(-0)).toBe(0x8000);
    expect(float16BitsOf(1 + 2 ** -11)).toBeUndefined();
    expect(float16BitsOf(65520)).toBeUndefined();
    expect(float16BitsOf(Infinity)).toBeUndefined();
  });

  it('rounds up to the smallest float16 (and float32) at or above a value', () => {
    expect(toFloat16(1 + 2 ** -12, 'up')).toBe(1 + 2 ** -10);
    expect(toFloat16(1 + 2 ** -12, 'nearest')).toBe(1);
    expect(toFloat16(0.1, 'up')).toBeGreaterThanOrEqual(0.1);
    expect(toFloat16(FLOAT16_MIN_NORMAL / 2, 'up')).toBeUndefined();
    expect(roundUpToFloat32(0.1)).toBeGreaterThanOrEqual(0.1);
    expect(Math.fround(roundUpToFloat32(0.1))).toBe(roundUpToFloat32(0.1));
  });

  it('stores scales below float16 range with a power-of-two offset, and wide spreads as float32', () => {
    const tiny = storableFloats([1e-7, 0.5], 'up');
    expect(tiny.storage).toEqual({dtype: 'float16', exponent: 10});
    tiny.values.forEach((v, i) => {
      expect(v).toBeGreaterThanOrEqual([1e-7, 0.5][i]);
      expect(isFloat16(v * 2 ** 10)).toBe(true);
    });
    expect(storableFloats([0.01, 0.02], 'up').storage).toEqual({dtype: 'float16', exponent: 0});
    const wide = storableFloats([1e-12, 1e3], 'up');
    expect(wide.storage).toEqual({dtype: 'float32'});
    expect(wide.values[0]).toBeGreaterThanOrEqual(1e-12);
  });
});

describe('compactArtifactGraph', () => {
  const graph: ModelGraph = {
    nodes: [
      {name: 'input', op: 'Placeholder', attr: {dtype: attr.type('float32'), shape: {shape: {dim: [{size: '1'}, {size: '4'}]}}}},
      {name: 'some/long/weight', op: 'Const', attr: {value: attr.tensor('float32', [4]), dtype: attr.type('float32')}},
      {name: 'some/long/mul', op: 'Mul', input: ['input', 'some/long/weight'], attr: {T: attr.type('float32')}},
      {name: 'pool', op: 'MaxPool', input: ['some/long/mul'], attr: {data_format: attr.string('NHWC'), ksize: attr.intList([1, 2, 2, 1])}},
      {name: 'fill', op: 'Fill', input: ['pool', '^some/long/mul'], attr: {T: attr.type('float32'), index_type: attr.type('int32')}},
      {name: 'output', op: 'Identity', input: ['fill'], attr: {T: attr.type('float32')}},
    ],
    weights: {'some/long/weight': {dtype: 'float32', shape: [4], values: Float32Array.of(0.5, -2, 0, 1024)}},
    extras: {library: {}, versions: {producer: 1}},
  };

  it('renames all but inputs and outputs, and drops only what tfjs does not read', () => {
    const {graph: compact, nodeNames} = compactArtifactGraph(graph);
    const byOriginal = new Map([...nodeNames].map(([short, original]) => [original, short]));
    expect(compact.nodes.map(n => n.name)).toEqual(['input', byOriginal.get('some/long/weight'), byOriginal.get('some/long/mul'),
      byOriginal.get('pool'), byOriginal.get('fill'), 'output']);
    const [placeholder, weight, mul, pool, fill, output] = compact.nodes;
    expect(placeholder.attr!.shape.shape!.dim).toEqual([{size: 1}, {size: 4}]);
    expect(weight).toEqual({name: byOriginal.get('some/long/weight'), op: 'Const'});
    expect(mul.attr).toBeUndefined();
    expect(mul.input).toEqual(['input', weight.name]);
    expect(pool.attr).toEqual({ksize: {list: {i: [1, 2, 2, 1]}}});
    // Fill's executor reads T; the control input keeps its '^'.
    expect(Object.keys(fill.attr!)).toEqual(['T', 'index_type']);
    expect(fill.input).toEqual([pool.name, `^${mul.name}`]);
    expect(output.input).toEqual([fill.name]);
    // A float32 weight of float16 values is stored in 2 bytes; an empty library goes.
    expect(compact.weights[weight.name].storage).toBe('float16');
    expect(compact.extras.library).toBeUndefined();
  });
});
