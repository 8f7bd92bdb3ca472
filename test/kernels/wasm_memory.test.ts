// Memory and caching of the wasm dispatch: weights are packed once per weight
// tensor and freed with it, int8/int32 outputs live in wasm memory until their
// tensor is disposed, nothing else outlives a call — wasm allocatedBytes and
// tf.memory().numTensors return to their baselines — and the INT8_WASM flag
// switches the dispatch off.
import * as tf from '@tensorflow/tfjs-core';
import {beforeAll, describe, expect, it} from 'vitest';

import {activeInt8Wasm, INT8_WASM_FLAG, wasmDispatchCounters} from '../../kernels/impl/wasm_dispatch';
import {Int8Wasm, WasmCodeStore} from '../../kernels/wasm/loader';
import {getQuantization, int8Backend, quantizedTensor} from '../../src/index';
import {randomCodes, randomData, rngFor} from './conv_matmul_helpers';
import {dispatchCount, withWasm} from './wasm_helpers';

let wasm: Int8Wasm;

function wasmKeys(t: tf.Tensor): string[] {
  const derived = int8Backend().data.peek(t.dataId)?.derived;
  return derived === undefined ? [] : [...derived.keys()].filter(k => k.includes('wasm.'));
}

describe('wasm dispatch: memory, caching, the switch', () => {
  beforeAll(async () => {
    await tf.setBackend('int8');
    const active = activeInt8Wasm();
    expect(active, 'this runtime validates WebAssembly SIMD').not.toBeNull();
    wasm = active as Int8Wasm;
    // Warm-up: the per-instance range block is allocated once, on first use.
    tf.tidy(() => tf.conv2d(tf.ones([1, 2, 2, 1]) as tf.Tensor4D, tf.ones([1, 1, 1, 1]) as tf.Tensor4D, 1, 'same'));
  });

  it('no leak: wasm memory and tensors return to their baselines after 100 mixed calls and disposal', () => {
    const rng = rngFor(8000);
    const bytes = wasm.allocatedBytes();
    const tensors = tf.memory().numTensors;
    const scale = Array.from({length: 24}, () => rng.logUniform(0.002, 0.02));
    const qFilter = quantizedTensor(randomCodes(rng, 3 * 3 * 8 * 24, -127, 127), [3, 3, 8, 24],
                                    {scale, zeroPoint: scale.map(() => 0), axis: 3});
    const qDepthwise = quantizedTensor(randomCodes(rng, 3 * 3 * 24, -127, 127), [3, 3, 24, 1],
                                       {scale, zeroPoint: scale.map(() => 0), axis: 2});
    const fFilter = tf.tensor4d(randomData(rng, 3 * 3 * 8 * 24, 3, 0.2), [3, 3, 8, 24]);
    const fDepthwise = tf.tensor4d(randomData(rng, 3 * 3 * 8 * 2, 3, 0.2), [3, 3, 8, 2]);
    const dense = tf.tensor2d(randomData(rng, 24 * 10, 3, 0.2), [24, 10]);
    const bias = tf.tensor1d(randomData(rng, 24, 0));
    const before = dispatchCount();
    for (let i = 0; i < 100; i++) {
      tf.tidy(() => {
        const x = quantizedTensor(randomCodes(rng, 2 * 9 * 9 * 8), [2, 9, 9, 8], {scale: [0.05], zeroPoint: [-9]});
        const common = {pad: 'same', dataFormat: 'NHWC', dilations: 1, strides: 1};
        const a = tf.engine().runKernel('FusedConv2D', {x, filter: qFilter, bias}, {...common, activation: 'relu6',
                                        outputScale: 0.05, outputZeroPoint: -128} as unknown as tf.NamedAttrMap) as tf.Tensor;
        const b = tf.engine().runKernel('DepthwiseConv2dNative', {x: a, filter: qDepthwise},
                                        common as unknown as tf.NamedAttrMap) as tf.Tensor;  // int32 out
        const floatX = tf.tensor4d(randomData(rng, 2 * 9 * 9 * 8, 0), [2, 9, 9, 8]);
        const c = tf.fused.conv2d({x: floatX, filter: fFilter, strides: 2, pad: 'valid', bias, activation: 'relu'});
        const d = tf.depthwiseConv2d(floatX, fDepthwise as tf.Tensor4D, 1, 'same');
        const e = tf.matMul(tf.reshape(c, [-1, 24]), dense);
        b.dataSync();
        d.dataSync();
        e.dataSync();
      });
    }
    expect(dispatchCount() - before).toBe(500);
    expect(wasm.allocatedBytes(), 'packed weights and tables stay while the weights live').toBeGreaterThan(bytes);
    tf.dispose([qFilter, qDepthwise, fFilter, fDepthwise, dense, bias]);
    expect(wasm.allocatedBytes()).toBe(bytes);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('weights are packed once per tensor (and layout) and freed with it', () => {
    const rng = rngFor(8001);
    const backend = int8Backend();
    const bytes = wasm.allocatedBytes();
    const filter = tf.tensor4d(randomData(rng, 3 * 3 * 4 * 8, 3), [3, 3, 4, 8]);
    const dense = tf.tensor2d(randomData(rng, 16 * 16, 3), [16, 16]);
    let packs = 0;
    const pack = wasm.packGemmWeights;
    wasm.packGemmWeights = (...args: Parameters<Int8Wasm['packGemmWeights']>) => {
      packs++;
      return pack.apply(wasm, args);
    };
    for (let i = 0; i < 50; i++) {
      tf.tidy(() => {
        const x = tf.tensor4d(randomData(rng, 1 * 6 * 6 * 4, 0), [1, 6, 6, 4]);
        tf.fused.conv2d({x, filter, strides: 1, pad: 'same', activation: 'relu'}).dataSync();
        const a = tf.tensor2d(randomData(rng, 3 * 16, 0), [3, 16]);
        tf.matMul(a, dense).dataSync();
        tf.matMul(a, dense, false, true).dataSync();
      });
    }
    delete (wasm as unknown as {packGemmWeights?: unknown}).packGemmWeights;
    // filter: codes + packed; dense: codes + packed per layout (two layouts).
    expect(packs).toBe(3);
    expect(backend.data.peek(filter.dataId)?.derived?.size).toBe(2);
    expect(backend.data.peek(dense.dataId)?.derived?.size).toBe(4);
    expect(wasmKeys(filter)).toHaveLength(1);
    expect(wasmKeys(dense)).toHaveLength(2);
    tf.dispose([filter, dense]);
    expect(wasm.allocatedBytes()).toBe(bytes);
  });

  it('static outputs live in wasm memory until disposed, and survive memory growth', () => {
    const rng = rngFor(8002);
    const bytes = wasm.allocatedBytes();
    const scale = Array.from({length: 16}, () => rng.logUniform(0.002, 0.02));
    const filter = quantizedTensor(randomCodes(rng, 8 * 16, -127, 127), [1, 1, 8, 16],
                                   {scale, zeroPoint: scale.map(() => 0), axis: 3});
    const x = quantizedTensor(randomCodes(rng, 1 * 5 * 5 * 8), [1, 5, 5, 8], {scale: [0.1], zeroPoint: [3]});
    const out = tf.engine().runKernel('Conv2D', {x, filter}, {strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: 1,
                                      outputScale: 0.2, outputZeroPoint: -5} as unknown as tf.NamedAttrMap) as tf.Tensor;
    const store = int8Backend().getQuantized(out.dataId)?.store;
    expect(store).toBeInstanceOf(WasmCodeStore);
    const codes = getQuantization(out)?.codes.slice();
    expect(wasm.allocatedBytes() - bytes).toBeGreaterThanOrEqual(5 * 5 * 16);
    // Grow the memory (a block larger than what is mapped), then read again.
    const pages = wasm.memory.buffer.byteLength;
    const big = wasm.alloc(pages + (1 << 20));
    expect(wasm.memory.buffer.byteLength).toBeGreaterThan(pages);
    expect(getQuantization(out)?.codes).toEqual(codes);
    wasm.free(big);
    const values = out.dataSync();  // the float view dequantizes the wasm codes
    expect(values.length).toBe(5 * 5 * 16);
    tf.dispose([x, filter]);
    expect(getQuantization(out)?.codes, 'the output outlives its inputs').toEqual(codes);
    out.dispose();
    expect(wasm.allocatedBytes()).toBe(bytes);
  });

  it('a float output read only by wasm kernels is never copied out; any read materializes the same values', async () => {
    const rng = rngFor(8004);
    const backend = int8Backend();
    const bytes = wasm.allocatedBytes();
    const x = tf.tensor4d(randomData(rng, 1 * 8 * 8 * 4, 0), [1, 8, 8, 4]);
    const f1 = tf.tensor4d(randomData(rng, 3 * 3 * 4 * 8, 3), [3, 3, 4, 8]);
    const f2 = tf.tensor4d(randomData(rng, 8 * 6, 3), [1, 1, 8, 6]);
    const lazy = (t: tf.Tensor): boolean =>
        Object.getOwnPropertyDescriptor(backend.data.peek(t.dataId) ?? {}, 'values')?.get !== undefined;
    const a = tf.fused.conv2d({x, filter: f1, strides: 1, pad: 'same', activation: 'relu'});
    const b = tf.conv2d(a, f2, 1, 'valid');
    expect(lazy(a), 'a is consumed by a wasm kernel only').toBe(true);
    const expected = withWasm(false, () => tf.tidy(() =>
        Array.from(tf.conv2d(tf.fused.conv2d({x, filter: f1, strides: 1, pad: 'same', activation: 'relu'}), f2, 1,
                             'valid').dataSync())));
    expect(Array.from(b.dataSync())).toEqual(expected);
    expect(lazy(b), 'read: b holds plain values now').toBe(false);
    const aPlusOne = tf.add(a, 1);  // a cpu kernel reads a's values
    expect(lazy(a)).toBe(false);
    expect(Array.from(aPlusOne.dataSync())).toEqual(Array.from(a.dataSync(), v => Math.fround(v + 1)));
    // Moved to another backend: read through readSync.
    const c = tf.fused.conv2d({x, filter: f1, strides: 1, pad: 'same', activation: 'relu6'});
    const cValues = withWasm(false, () => tf.tidy(() => Array.from(
        tf.fused.conv2d({x, filter: f1, strides: 1, pad: 'same', activation: 'relu6'}).dataSync())));
    await tf.setBackend('cpu');
    try {
      expect(Array.from(tf.tidy(() => tf.mul(c, 1).dataSync()))).toEqual(cValues);
    } finally {
      await tf.setBackend('int8');
    }
    tf.dispose([x, f1, f2, a, b, aPlusOne, c]);
    expect(wasm.allocatedBytes()).toBe(bytes);
  });

  it('out of wasm memory at any allocation: the call runs on the reference kernels, nothing leaks', () => {
    const rng = rngFor(8005);
    const bytes = wasm.allocatedBytes();
    const scale = Array.from({length: 12}, () => rng.logUniform(0.002, 0.02));
    const xCodes = randomCodes(rng, 2 * 7 * 7 * 6);
    const qCodes = randomCodes(rng, 3 * 3 * 6 * 12, -127, 127);
    const xFloat = randomData(rng, 2 * 7 * 7 * 6, 0);
    const wFloat = randomData(rng, 3 * 3 * 6 * 12, 3);
    const biasValues = randomData(rng, 12, 0);
    const cases: Array<[string, () => tf.Tensor]> = [
      ['static int8', () => tf.engine().runKernel('FusedConv2D', {
        x: quantizedTensor(xCodes, [2, 7, 7, 6], {scale: [0.05], zeroPoint: [-7]}),
        filter: quantizedTensor(qCodes, [3, 3, 6, 12], {scale, zeroPoint: scale.map(() => 0), axis: 3}),
        bias: tf.tensor1d(biasValues)}, {strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1, activation: 'relu',
                                         outputScale: 0.1, outputZeroPoint: -128} as unknown as tf.NamedAttrMap) as tf.Tensor],
      ['dynamic conv → depthwise', () => {
        const y = tf.fused.conv2d({x: tf.tensor4d(xFloat, [2, 7, 7, 6]), filter: tf.tensor4d(wFloat, [3, 3, 6, 12]),
                                   strides: 1, pad: 'same', bias: tf.tensor1d(biasValues), activation: 'relu6'});
        return tf.depthwiseConv2d(y, tf.ones([3, 3, 12, 2]) as tf.Tensor4D, 1, 'same');
      }],
      ['dynamic matmul', () => tf.matMul(tf.tensor2d(xFloat, [49, 12]), tf.tensor2d(wFloat.subarray(0, 12 * 9), [12, 9]))],
    ];
    for (const [name, run] of cases) {
      const reference = withWasm(false, () => tf.tidy(() => Array.from(run().dataSync())));
      for (let failAt = 1; failAt <= 12; failAt++) {
        let count = 0;
        const alloc = wasm.alloc;
        wasm.alloc = (n: number): number => {
          if (++count === failAt) throw new Error(`int8 wasm: out of memory allocating ${n} bytes`);
          return alloc.call(wasm, n);
        };
        let values: number[];
        try {
          values = withWasm(true, () => tf.tidy(() => Array.from(run().dataSync())));
        } finally {
          delete (wasm as unknown as {alloc?: unknown}).alloc;
        }
        expect(values, `${name}, allocation ${failAt} failed`).toEqual(reference);
        expect(wasm.allocatedBytes(), `${name}, allocation ${failAt} failed`).toBe(bytes);
      }
    }
  });

  it(`tf.env().set('${INT8_WASM_FLAG}', false) forces the reference kernels`, () => {
    const rng = rngFor(8003);
    const x = tf.tensor4d(randomData(rng, 1 * 5 * 5 * 3, 0), [1, 5, 5, 3]);
    const filter = tf.tensor4d(randomData(rng, 3 * 3 * 3 * 4, 3), [3, 3, 3, 4]);
    const before = {...wasmDispatchCounters};
    withWasm(false, () => {
      expect(activeInt8Wasm()).toBeNull();
      tf.tidy(() => tf.conv2d(x, filter, 1, 'same').dataSync());
    });
    expect(wasmDispatchCounters).toEqual(before);
    withWasm(true, () => tf.tidy(() => tf.conv2d(x, filter, 1, 'same').dataSync()));
    expect(wasmDispatchCounters.conv2d).toBe(before.conv2d + 1);
    tf.dispose([x, filter]);
  });
});
