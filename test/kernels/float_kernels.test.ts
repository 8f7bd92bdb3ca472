// The float fast paths of the int8 backend (Relu, Relu6, ClipByValue,
// FusedBatchNorm, PadV2 on float32 tensors) must give bit-identical results to
// tfjs-backend-cpu's kernels, special values included.
import * as tf from '@tensorflow/tfjs-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {BACKEND_NAME} from '../../src/index';
import {clipBoundsSupported, clipFloat, relu6Float, reluFloat} from '../../kernels/impl/float_unary';
import {makeRng} from './int8_test_utils';
import type {Rng} from './int8_test_utils';

const SPECIALS = [0, -0, NaN, -NaN, Infinity, -Infinity, 6, -6, 1e-40, -1e-40, 5.999999, 6.000001, 0.5, -0.5,
                  3.4e38, -3.4e38];

function values(rng: Rng, n: number, specialRate = 0.15): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.float(0, 1) < specialRate ? rng.pick(SPECIALS) : rng.float(-10, 10);
  return out;
}

function randomShape(rng: Rng, rank: number, maxDim = 6): number[] {
  return Array.from({length: rank}, () => rng.int(1, maxDim));
}

/** Runs `f` on the cpu and the int8 backend and returns both results' data. */
function onBoth(f: () => tf.Tensor): {cpu: Float32Array; int8: Float32Array; shapes: [number[], number[]]} {
  const run = (backend: string): tf.Tensor => {
    tf.setBackend(backend);
    return f();
  };
  const a = run('cpu');
  const b = run(BACKEND_NAME);
  const result = {cpu: a.dataSync() as Float32Array, int8: b.dataSync() as Float32Array,
                  shapes: [a.shape, b.shape] as [number[], number[]]};
  tf.dispose([a, b]);
  return result;
}

/** Bitwise equality; any NaN equals any NaN (the payload is not part of tfjs's semantics). */
function expectBitIdentical(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  const a = new Int32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Int32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(actual[i]) && Number.isNaN(expected[i])) continue;
    if (a[i] !== e[i]) {
      throw new Error(`${what}: element ${i}: int8 ${actual[i]} (0x${(a[i] >>> 0).toString(16)}) vs cpu ${
          expected[i]} (0x${(e[i] >>> 0).toString(16)})`);
    }
  }
}

function both(f: () => tf.Tensor, what: string): void {
  const {cpu, int8, shapes} = onBoth(f);
  expect(shapes[1], what).toEqual(shapes[0]);
  expectBitIdentical(int8, cpu, what);
}

describe('float kernels of the int8 backend are bit-identical with tfjs-cpu', () => {
  beforeAll(async () => {
    await tf.ready();
  });
  afterAll(async () => {
    await tf.setBackend(BACKEND_NAME);
  });

  it('Relu, Relu6 on random shapes with special values', () => {
    const rng = makeRng(11);
    for (let t = 0; t < 30; t++) {
      const shape = randomShape(rng, rng.int(0, 4));
      const v = values(rng, shape.reduce((a, b) => a * b, 1), 0.4);
      both(() => tf.relu(tf.tensor(v, shape)), `relu [${shape}]`);
      both(() => tf.relu6(tf.tensor(v, shape)), `relu6 [${shape}]`);
    }
  });

  it('the impl functions on every special value against the cpu expressions', () => {
    const x = new Float32Array(SPECIALS.concat([-7, 7, 2, -2]));
    const relu = reluFloat(x), relu6 = relu6Float(x);
    for (let i = 0; i < x.length; i++) {
      expect(Object.is(relu[i], Math.fround(Math.max(0, x[i])))).toBe(true);
      expect(Object.is(relu6[i], Math.fround(Math.min(Math.max(0, x[i]), 6)))).toBe(true);
    }
    const bounds = [0, -0, 6, -6, 0.5, -Infinity, Infinity, 1e-40, -1e-40, 3.4e38, -3.4e38].map(Math.fround);
    for (const lo of bounds) {
      for (const hi of bounds) {
        expect(clipBoundsSupported(lo, hi)).toBe(true);
        const clipped = clipFloat(x, lo, hi);
        for (let i = 0; i < x.length; i++) {
          const v = x[i];
          const expected = Math.fround(v > hi ? hi : (v < lo ? lo : v));
          expect(Object.is(clipped[i], expected), `clip(${v}, ${lo}, ${hi}) = ${clipped[i]}`).toBe(true);
        }
      }
    }
  });

  it('ClipByValue with assorted bounds, including ±0, ±∞, non-float32 bounds (cpu kernel)', () => {
    const rng = makeRng(12);
    const bounds: Array<[number, number]> = [[0, 6], [-0, 6], [0, 0], [-0, -0], [-1, 1], [-Infinity, 0], [0, Infinity],
                                             [0.1, 0.7], [2, 2], [-3.5, 1e-40], [Math.fround(-3.4e38), Math.fround(1e-40)], [-Infinity, Infinity]];
    for (const [lo, hi] of bounds) {
      const shape = randomShape(rng, rng.int(1, 4));
      const v = values(rng, shape.reduce((a, b) => a * b, 1), 0.4);
      both(() => tf.clipByValue(tf.tensor(v, shape), lo, hi), `clip [${shape}] to [${lo}, ${hi}]`);
    }
    // int32 input: the cpu kernel.
    both(() => tf.cast(tf.clipByValue(tf.tensor([-5, 0, 3, 9], [4], 'int32'), -1, 4), 'float32'), 'clip int32');
  });

  it('FusedBatchNorm with per-channel and scalar parameters, with and without scale/offset', () => {
    const rng = makeRng(13);
    for (let t = 0; t < 40; t++) {
      const shape = randomShape(rng, rng.int(1, 4));
      const c = shape[shape.length - 1];
      const size = shape.reduce((a, b) => a * b, 1);
      const x = values(rng, size, 0.2);
      const param = (positive: boolean): Float32Array => {
        const n = rng.bool() ? c : 1;
        const p = values(rng, n, 0.1);
        return positive ? p.map(Math.abs) : p;
      };
      const mean = param(false), variance = param(true);
      const scale = rng.int(0, 2) === 0 ? undefined : param(false);
      const offset = rng.int(0, 2) === 0 ? undefined : param(false);
      const eps = rng.pick([0.001, 1e-5, 0.1, 0]);
      both(() => tf.batchNorm(tf.tensor(x, shape), tf.tensor1d(mean), tf.tensor1d(variance),
                              offset && tf.tensor1d(offset), scale && tf.tensor1d(scale), eps),
           `batchNorm [${shape}] mean ${mean.length} var ${variance.length} scale ${scale?.length} offset ${
               offset?.length} eps ${eps}`);
    }
    // Parameters whose length does not divide x (cpu kernel), and a 4D parameter shape.
    both(() => tf.batchNorm(tf.ones([2, 3]), tf.tensor1d([1, 2, 3, 4]), tf.tensor1d([1, 1, 1, 1])), 'cyclic 4 over 6');
    both(() => tf.batchNorm(tf.randomNormal([1, 4, 4, 3], 0, 1, 'float32', 5), tf.tensor4d([1, 2, 3], [1, 1, 1, 3]),
                            tf.tensor4d([1, 2, 3], [1, 1, 1, 3]), tf.tensor4d([0, 1, 2], [1, 1, 1, 3]),
                            tf.tensor4d([2, 1, 0.5], [1, 1, 1, 3]), 0.001), '4D params');
  });

  it('PadV2 on random shapes and paddings, zero and other constants', () => {
    const rng = makeRng(14);
    for (let t = 0; t < 40; t++) {
      const rank = rng.int(1, 5);
      const shape = randomShape(rng, rank, 5);
      const paddings = shape.map(() => [rng.int(0, 2) === 0 ? 0 : rng.int(0, 3), rng.int(0, 2) === 0 ? 0 : rng.int(0, 3)] as
                                  [number, number]);
      const constant = rng.pick([0, 0, -0, 1.5, NaN, -Infinity, 0.1]);
      const v = values(rng, shape.reduce((a, b) => a * b, 1), 0.2);
      both(() => tf.pad(tf.tensor(v, shape), paddings, constant), `pad [${shape}] by ${JSON.stringify(paddings)} with ${
          constant}`);
    }
    // A big contiguous copy path, and an empty input.
    both(() => tf.pad(tf.randomUniform([1, 20, 20, 8], -1, 1, 'float32', 3), [[0, 0], [1, 1], [0, 1], [0, 0]]), 'pad big');
    both(() => tf.pad(tf.zeros([2, 0, 3]), [[1, 0], [0, 2], [1, 1]], 7), 'pad empty');
    both(() => tf.cast(tf.pad(tf.tensor([1, 2, 3], [3], 'int32'), [[1, 2]], 4), 'float32'), 'pad int32');
  });
});
