import {mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, existsSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {expectedWeightBytes, fileIOHandler} from '../../src/io/file_io';

const scratch = mkdtempSync(join(tmpdir(), 'tfjs-int8-file-io-'));
let directoryCount = 0;
const freshDirectory = () => join(scratch, `model-${directoryCount++}`);

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => rmSync(scratch, {recursive: true, force: true}));

function smallLayersModel(): tfl.Sequential {
  const model = tfl.sequential();
  model.add(tfl.layers.conv2d({inputShape: [6, 6, 3], filters: 4, kernelSize: 3, activation: 'relu'}));
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dense({units: 5, activation: 'softmax'}));
  return model;
}

async function saveSmallModel(directory: string): Promise<string> {
  const path = join(directory, 'model.json');
  await smallLayersModel().save(fileIOHandler(path));
  return path;
}

describe('fileIOHandler round trip', () => {
  it('saves a layers model as model.json + weights.bin and loads it back with identical predictions', async () => {
    const path = join(freshDirectory(), 'model.json');
    const original = smallLayersModel();
    const result = await original.save(fileIOHandler(path));
    expect(result.modelArtifactsInfo.weightDataBytes).toBeGreaterThan(0);
    expect(existsSync(join(path, '..', 'weights.bin'))).toBe(true);
    const modelJson = JSON.parse(readFileSync(path, 'utf8'));
    expect(modelJson.weightsManifest[0].paths).toEqual(['weights.bin']);

    const loaded = await tfl.loadLayersModel(fileIOHandler(path));
    const input = tf.randomUniform([2, 6, 6, 3], 0, 1, 'float32', 7);
    const expected = (original.predict(input) as tf.Tensor).dataSync();
    const actual = (loaded.predict(input) as tf.Tensor).dataSync();
    expect(Array.from(actual)).toEqual(Array.from(expected));
  });

  it('keeps weight specs, bytes and metadata of raw artifacts, joining split weight data', async () => {
    const path = join(freshDirectory(), 'graph.json');
    const weightSpecs: tf.io.WeightsManifestEntry[] = [
      {name: 'w', shape: [2, 2], dtype: 'float32'},
      {name: 'q', shape: [3], dtype: 'float32', quantization: {dtype: 'uint8', min: -1, scale: 0.5}},
    ];
    const first = new Float32Array([1, 2, 3, 4]).buffer;
    const second = new Uint8Array([7, 8, 9]).buffer;
    await fileIOHandler(path).save!({
      modelTopology: {node: [{name: 'x', op: 'Placeholder'}]},
      format: 'graph-model',
      signature: {inputs: {x: {name: 'x'}}},
      userDefinedMetadata: {note: {text: 'hello'}},
      weightSpecs,
      weightData: [first, second],
    });
    const loaded = await fileIOHandler(path).load!();
    expect(loaded.weightSpecs).toEqual(weightSpecs);
    expect(loaded.format).toBe('graph-model');
    expect(loaded.signature).toEqual({inputs: {x: {name: 'x'}}});
    expect(loaded.userDefinedMetadata).toEqual({note: {text: 'hello'}});
    const bytes = new Uint8Array(loaded.weightData as ArrayBuffer);
    expect(Array.from(bytes.subarray(16))).toEqual([7, 8, 9]);
    expect(Array.from(new Float32Array(bytes.slice(0, 16).buffer))).toEqual([1, 2, 3, 4]);
  });

  it('loads several groups and shards (paths relative to model.json) in manifest order', async () => {
    const directory = freshDirectory();
    mkdirSync(join(directory, 'shards'), {recursive: true});
    writeFileSync(join(directory, 'shards', 'a1.bin'), Buffer.from([1, 2]));
    writeFileSync(join(directory, 'shards', 'a2.bin'), Buffer.from([3, 4, 5, 6]));
    writeFileSync(join(directory, 'b.bin'), new Uint8Array(new Int32Array([-5]).buffer));
    const modelJson = {
      modelTopology: {node: []},
      weightsManifest: [
        {paths: ['shards/a1.bin', 'shards/a2.bin'], weights: [{name: 'a', shape: [3], dtype: 'float32', quantization: {dtype: 'float16'}}]},
        {paths: ['b.bin'], weights: [{name: 'b', shape: [], dtype: 'int32'}]},
      ],
    };
    writeFileSync(join(directory, 'model.json'), JSON.stringify(modelJson));
    const loaded = await fileIOHandler(join(directory, 'model.json')).load!();
    expect(loaded.weightSpecs!.map(spec => spec.name)).toEqual(['a', 'b']);
    expect(Array.from(new Uint8Array(loaded.weightData as ArrayBuffer).subarray(0, 6))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Int32Array((loaded.weightData as ArrayBuffer).slice(6))[0]).toBe(-5);
  });
});

describe('fileIOHandler errors name the file', () => {
  it('rejects a truncated shard', async () => {
    const path = await saveSmallModel(freshDirectory());
    const shard = join(path, '..', 'weights.bin');
    truncateSync(shard, readFileSync(shard).length - 4);
    await expect(fileIOHandler(path).load!()).rejects.toThrow(/truncated weight shard: .*weights\.bin hold \d+ bytes.*need \d+ bytes/);
    await expect(tfl.loadLayersModel(fileIOHandler(path))).rejects.toThrow(/weights\.bin/);
  });

  it('rejects a shard longer than its weight specs', async () => {
    const path = await saveSmallModel(freshDirectory());
    const shard = join(path, '..', 'weights.bin');
    writeFileSync(shard, Buffer.concat([readFileSync(shard), Buffer.alloc(8)]));
    await expect(fileIOHandler(path).load!()).rejects.toThrow(/weight shard too long: .*weights\.bin/);
  });

  it('rejects a missing shard', async () => {
    const path = await saveSmallModel(freshDirectory());
    rmSync(join(path, '..', 'weights.bin'));
    await expect(fileIOHandler(path).load!()).rejects.toThrow(/weight shard not found: .*weights\.bin \(listed in .*model\.json\)/);
  });

  it('rejects a missing model.json', async () => {
    const path = join(freshDirectory(), 'model.json');
    await expect(fileIOHandler(path).load!()).rejects.toThrow(`model.json not found: ${path}`);
  });

  it('rejects invalid JSON', async () => {
    const directory = freshDirectory();
    mkdirSync(directory, {recursive: true});
    const path = join(directory, 'model.json');
    writeFileSync(path, '{"modelTopology": {');
    await expect(fileIOHandler(path).load!()).rejects.toThrow(/invalid JSON in .*model\.json/);
  });

  it('rejects JSON that is not a model', async () => {
    const directory = freshDirectory();
    mkdirSync(directory, {recursive: true});
    const path = join(directory, 'model.json');
    writeFileSync(path, '[1, 2, 3]');
    await expect(fileIOHandler(path).load!()).rejects.toThrow(/model\.json is not a model\.json/);
  });

  it('refuses to save weight data that does not match its specs', async () => {
    const path = join(freshDirectory(), 'model.json');
    const save = fileIOHandler(path).save!({
      modelTopology: {},
      weightSpecs: [{name: 'w', shape: [4], dtype: 'float32'}],
      weightData: new ArrayBuffer(12),
    });
    await expect(save).rejects.toThrow(/model\.json: weight data has 12 bytes, its weight specs need 16/);
  });
});

describe('expectedWeightBytes', () => {
  it('counts stored (quantized) bytes and gives up on strings', () => {
    expect(expectedWeightBytes([{name: 'a', shape: [2, 3], dtype: 'float32'}])).toBe(24);
    expect(expectedWeightBytes([{name: 'a', shape: [10], dtype: 'float32', quantization: {dtype: 'uint8'}}])).toBe(10);
    expect(expectedWeightBytes([{name: 's', shape: [], dtype: 'int32'}])).toBe(4);
    expect(expectedWeightBytes([{name: 't', shape: [2], dtype: 'string'}])).toBeNull();
  });
});
