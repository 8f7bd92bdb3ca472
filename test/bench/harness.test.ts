// The benchmark harness on tiny synthetic models: the JSON it promises (backend names, timings,
// run counts) and an exact MAC count. Speed itself is not tested: benchmarks measure, tests assert.

import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest';

import {BENCH_BACKENDS, median, runBenchmark} from '../../bench/harness';
import {FIXTURE_IMAGES_DIR} from '../../bench/inputs';
import {countMacs, kernelMacs, profileMacs} from '../../bench/macs';
import {useBackend} from '../../bench/backends';
import {ensureQuantizedModel} from '../../bench/quantized_cache';
import {benchJson} from '../../bench/report';
import {runBenchCommand} from '../../src/cli/bench';
import {imageInputOf} from '../../src/cli/image_inputs';
import {loadModelFile} from '../../src/cli/model_files';
import {fileIOHandler} from '../../src/io/file_io';
import {listImages} from '../../src/io/images';

// Silence tfjs's "install tfjs-node" banner.
tf.env().set('IS_TEST', true);

// input [1, 8, 8, 3]
//   conv 3×3×3→4, stride 1, same:        8·8·4 outputs × 3·3·3      = 6912 MACs
//   depthwise 3×3, multiplier 2, stride 2: 4·4·8 outputs × 3·3        = 1152 MACs
//   flatten → dense 128→10:                10 outputs × 128            = 1280 MACs
const EXPECTED_MACS = {conv: 6912, depthwise: 1152, matmul: 1280};

function tinyModel(): tfl.LayersModel {
  const model = tfl.sequential();
  model.add(tfl.layers.conv2d({inputShape: [8, 8, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: 'glorotUniform'}));
  model.add(tfl.layers.depthwiseConv2d({kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', activation: 'relu'}));
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dense({units: 10, activation: 'softmax'}));
  return model;
}

describe('MAC counter', () => {
  it('counts conv, depthwise and matmul kernels from their shapes', () => {
    expect(kernelMacs({name: 'FusedConv2D', inputShapes: [[1, 8, 8, 3], [3, 3, 3, 4], [4]], outputShapes: [[1, 8, 8, 4]]}))
        .toEqual({family: 'conv', macs: 6912});
    expect(kernelMacs({name: 'DepthwiseConv2dNative', inputShapes: [[1, 8, 8, 4], [3, 3, 4, 2]], outputShapes: [[1, 4, 4, 8]]}))
        .toEqual({family: 'depthwise', macs: 1152});
    // a [2, 5, 7] × b [2, 7, 3]; transposed a [2, 7, 5] gives the same K.
    expect(kernelMacs({name: 'BatchMatMul', inputShapes: [[2, 5, 7], [2, 7, 3]], outputShapes: [[2, 5, 3]]})?.macs).toBe(2 * 5 * 3 * 7);
    expect(kernelMacs({name: '_FusedMatMul', inputShapes: [[2, 7, 5], [2, 7, 3], [3]], outputShapes: [[2, 5, 3]]})?.macs).toBe(2 * 5 * 3 * 7);
    // A transposed convolution: dy [1, 4, 4, 8], filter [3, 3, 2, 8] → 4·4·8 inputs × 3·3·2.
    expect(kernelMacs({name: 'Conv2DBackpropInput', inputShapes: [[1, 4, 4, 8], [3, 3, 2, 8]], outputShapes: [[1, 8, 8, 2]]})?.macs)
        .toBe(4 * 4 * 8 * 3 * 3 * 2);
    expect(kernelMacs({name: 'Add', inputShapes: [[4], [4]], outputShapes: [[4]]})).toBeNull();
    expect(countMacs([]).total).toBe(0);
  });

  it('is exact on a tiny conv + depthwise + matmul model, on cpu and on wasm', async () => {
    for (const backend of ['cpu', 'wasm'] as const) {
      await useBackend(backend);
      const model = tinyModel();
      const x = tf.randomUniform([1, 8, 8, 3]);
      const count = await profileMacs(() => model.predict(x) as tf.Tensor);
      expect(count.byFamily, backend).toEqual(EXPECTED_MACS);
      expect(count.total).toBe(6912 + 1152 + 1280);
      expect(count.kernels).toEqual({conv: 1, depthwise: 1, matmul: 1});
      x.dispose();
      model.dispose();
    }
  });
});

describe('benchmark harness on a tiny model', () => {
  let directory: string;
  let floatPath: string;
  let quantizedPath: string;
  const previousBenchDir = process.env.TFJS_INT8_BENCH_DIR;

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'tfjs-int8-bench-test-'));
    process.env.TFJS_INT8_BENCH_DIR = join(directory, 'quantized');
    await useBackend('cpu');
    floatPath = join(directory, 'float', 'model.json');
    const model = tinyModel();
    await model.save(fileIOHandler(floatPath));
    model.dispose();
    const loaded = await loadModelFile(floatPath);
    const input = imageInputOf(loaded.inputs, undefined, '0,1', floatPath);
    loaded.dispose();
    const made = await ensureQuantizedModel(floatPath, {label: 'tiny', calibrationImages: listImages(FIXTURE_IMAGES_DIR).slice(0, 4), input});
    quantizedPath = made.modelJsonPath;
    // A second call with the same inputs reuses the artifact.
    expect((await ensureQuantizedModel(floatPath, {label: 'tiny', calibrationImages: listImages(FIXTURE_IMAGES_DIR).slice(0, 4), input})).cached).toBe(true);
  });

  afterAll(() => {
    if (previousBenchDir === undefined) delete process.env.TFJS_INT8_BENCH_DIR; else process.env.TFJS_INT8_BENCH_DIR = previousBenchDir;
    rmSync(directory, {recursive: true, force: true});
  });

  it('reports every backend with its exact name, positive timings and the run count', async () => {
    const result = await runBenchmark({modelPath: floatPath, quantizedPath, runs: 2, warmup: 1, log: () => {}});
    const json = JSON.parse(JSON.stringify(benchJson(result))) as {
      model: string; input: {shape: number[]};
      results: Array<{backend: string; medianMs: number; minMs: number; maxMs: number; runs: number; gmacPerS: number}>;
    };
    expect(json.model).toBe(floatPath);
    expect(json.input.shape).toEqual([1, 8, 8, 3]);
    expect(json.results.map(r => r.backend)).toEqual([...BENCH_BACKENDS]);
    for (const r of json.results) {
      expect(r.runs, r.backend).toBe(2);
      expect(r.medianMs, r.backend).toBeGreaterThan(0);
      expect(r.minMs).toBeLessThanOrEqual(r.medianMs);
      expect(r.maxMs).toBeGreaterThanOrEqual(r.medianMs);
      expect(r.gmacPerS, r.backend).toBeGreaterThan(0);
    }
    expect(result.macs.total).toBe(6912 + 1152 + 1280);
    expect(result.unavailable).toEqual([]);
    for (const r of result.results) expect(r.weightBytes.total, r.backend).toBeGreaterThan(0);
  });

  it('prints exactly one JSON object on stdout with --json, and reports a missing quantized model', async () => {
    const written: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let code: number;
    try {
      code = await runBenchCommand([floatPath, '--backends', 'cpu,int8-dynamic,int8-static', '--runs', '2', '--warmup', '1', '--json']);
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
    expect(code).toBe(0);
    const text = written.join('');
    expect(text.trim().split('\n')).toHaveLength(1);
    const json = JSON.parse(text) as {results: Array<{backend: string; runs: number}>; unavailable: Array<{backend: string; reason: string}>};
    expect(json.results.map(r => r.backend)).toEqual(['cpu', 'int8-dynamic']);
    expect(json.results.every(r => r.runs === 2)).toBe(true);
    expect(json.unavailable.map(u => u.backend)).toEqual(['int8-static']);
    expect(json.unavailable[0].reason).toMatch(/--quantized/);
  });

  it('rejects unknown backends with a usage error', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runBenchCommand([floatPath, '--backends', 'cpu,gpu'])).toBe(1);
      expect(await runBenchCommand([])).toBe(1);
    } finally {
      stderr.mockRestore();
    }
  });

  it('takes the median of an even count as the mean of the middle two', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5, 1, 3])).toBe(3);
  });
});
