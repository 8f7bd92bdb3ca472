// Static mode keeps nothing but the weights' int8 codes resident (in their wasm-packed form once
// packed): the artifact's float32 Consts give up their values (BackendInt8.compactToCodes), the
// JavaScript codes of packed weights are dropped (wasm_dispatch.ts packedGemm, packedDepthwise), and everything is
// freed with the model. On a real model (nsfwjs-mobilenet-v2, quantized as the benchmark does);
// skipped when the model is not in the local cache.

import {existsSync, readFileSync} from 'node:fs';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {afterAll, describe, expect, it} from 'vitest';

import '../../src/index';
import {BackendInt8} from '../../src/backend';
import {imageTensor} from '../../src/cli/image_inputs';
import {loadModelFile} from '../../src/cli/model_files';
import type {LoadedModel} from '../../src/cli/model_files';
import {INT8_WASM_FLAG} from '../../kernels/impl/wasm_dispatch';
import {benchImageInput, DEFAULT_BENCH_IMAGE} from '../../bench/inputs';
import {int8ResidentBytes, int8WasmAllocatedBytes, modelWeightTensors} from '../../bench/memory';
import {quantizedForBenchmark} from '../../bench/quantized_cache';
import {modelPath} from '../../models/fetch-models';

const NAME = 'nsfwjs-mobilenet-v2';

function floatModelPath(): string | undefined {
  try {
    const path = modelPath(NAME);
    return existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

const floatPath = floatModelPath();

function runOutputs(model: LoadedModel, feeds: tf.NamedTensorMap): Float32Array[] {
  const outputs = model.run(feeds);
  const values = outputs.map(t => Float32Array.from(t.dataSync()));
  tf.dispose(outputs);
  return values;
}

function expectBitEqual(a: Float32Array[], b: Float32Array[]): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    expect(Buffer.from(a[i].buffer).equals(Buffer.from(b[i].buffer))).toBe(true);
  }
}

describe.skipIf(floatPath === undefined)(`int8 static resident weights (${NAME})`, () => {
  afterAll(async () => {
    tf.env().set(INT8_WASM_FLAG, true);
    await tf.setBackend('cpu');
  });

  it('keeps ≤ 30 % of the float32 weight bytes, same outputs, nothing leaked', async () => {
    const quantized = await quantizedForBenchmark(floatPath as string, NAME, () => {});
    expect(quantized.reason).toBeUndefined();
    const quantizedPath = quantized.path as string;

    // The float model's weight bytes, and the original codes of the artifact (for the read-back check).
    await tf.setBackend('cpu');
    const floatModel = await loadModelFile(floatPath as string);
    const floatWeightBytes = modelWeightTensors(floatModel.model).reduce((sum, t) => sum + t.size * 4, 0);
    const input = benchImageInput(floatModel, NAME);
    floatModel.dispose();
    const reference = await loadModelFile(quantizedPath);
    const referenceCodes = modelWeightTensors(reference.model).map(t => t.dataSync().slice());
    reference.dispose();

    await tf.setBackend('int8');
    const backend = tf.backend() as BackendInt8;
    tf.env().set(INT8_WASM_FLAG, true);
    const tensorsBefore = tf.memory().numTensors;
    const wasmBefore = int8WasmAllocatedBytes();
    const model = await loadModelFile(quantizedPath);
    const image = imageTensor(DEFAULT_BENCH_IMAGE, input);
    const feeds = {[model.inputs[0].name]: image};
    const first = runOutputs(model, feeds);

    const weights = modelWeightTensors(model.model);
    const resident = int8ResidentBytes(backend, weights, wasmBefore);
    // No float32 weight keeps float values, but the shared per-channel tables (inputs #2 and #3 of the
    // Int8Fused* nodes: bias codes and filter scales, a few bytes a channel, counted above).
    const topology = JSON.parse(readFileSync(quantizedPath, 'utf8')).modelTopology as {node: Array<{op: string; input?: string[]}>};
    const scaleNames = new Set(topology.node.filter(n => n.op.startsWith('Int8Fused')).flatMap(n => (n.input ?? []).slice(2, 4)));
    const graphWeights = (model.model as unknown as {weights: Record<string, tf.Tensor[]>}).weights;
    const scaleTensors = new Set(Object.entries(graphWeights).filter(([name]) => scaleNames.has(name)).flatMap(([, ts]) => ts));
    expect(scaleTensors.size).toBeGreaterThan(0);
    for (const t of weights) {
      if (t.dtype === 'float32' && t.size > 1 && !scaleTensors.has(t)) {
        expect(backend.data.peek(t.dataId)?.values, t.id.toString()).toBeUndefined();
      }
    }
    // Measured 28.0 % (the per-channel tables included): int8-packed gemm and depthwise weights, the bias
    // codes (the shared tables and each node's slice in JavaScript, one copy in the packed weights), (M0, shift) in wasm.
    console.log(`resident ${JSON.stringify(resident)} of float ${floatWeightBytes} (${(100 * resident.total / floatWeightBytes).toFixed(1)} %)`);
    // The per-channel tables (filter scales, bias codes; decoded to 4 bytes a channel, counted above); the bound is on the rest.
    const scaleBytes = [...scaleTensors].reduce((sum, t) => sum + t.size * 4, 0);
    console.log(`per-channel tables ${scaleBytes} bytes (${(100 * scaleBytes / floatWeightBytes).toFixed(2)} %)`);
    // Two tables of 4 bytes a channel (a weight of C·K·K float32 values has C channels).
    expect(scaleBytes).toBeLessThanOrEqual(0.02 * floatWeightBytes);
    expect(resident.total - scaleBytes).toBeLessThanOrEqual(0.30 * floatWeightBytes);

    // Same outputs on later runs, and bit for bit those of the reference kernels (bit-exact with wasm).
    expectBitEqual(runOutputs(model, feeds), first);
    tf.env().set(INT8_WASM_FLAG, false);
    try {
      expectBitEqual(runOutputs(model, feeds), first);
    } finally {
      tf.env().set(INT8_WASM_FLAG, true);
    }

    // The weights still read as the codes the artifact holds (unpacked from wasm where relocated).
    const readBack = weights.map(t => t.dataSync());
    for (let i = 0; i < readBack.length; i++) {
      expect(Buffer.from(Float32Array.from(readBack[i]).buffer).equals(Buffer.from(Float32Array.from(referenceCodes[i]).buffer)))
          .toBe(true);
    }

    image.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(int8WasmAllocatedBytes()).toBe(wasmBefore);
  }, 600_000);
});
