import * as tf from '@tensorflow/tfjs-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {BACKEND_NAME} from '../../src/index';
import {
  expectFloatMatchesCpu, expectWithinLsb, int8, liveCounts, makeQuantized, makeRng, printLsbTally, quantizationOf,
  randomFloats, randomInput, Rng, simulate,
} from './int8_test_utils';

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
interface PoolCase {
  shape: [number, number, number, number];
  filterSize: [number, number];
  strides: [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function randomPoolCase(rng: Rng): PoolCase {
  const shape: [number, number, number, number] = [rng.int(1, 2), rng.int(1, 9), rng.int(1, 9), rng.int(1, 4)];
  const filterSize: [number, number] = [rng.int(1, 4), rng.int(1, 4)];
  const strides: [number, number] = [rng.int(1, 3), rng.int(1, 3)];
  const kind = rng.int(0, 3);
  // Padding below the filter size, except now and then (windows entirely in the padding).
  const padBelow = (filter: number): number => rng.int(0, rng.int(0, 9) === 0 ? filter + 1 : filter - 1);
  if (kind === 0) return {shape, filterSize, strides, pad: 'valid'};
  if (kind === 1) return {shape, filterSize, strides, pad: 'same'};
  if (kind === 2) {
    return {shape, filterSize, strides, pad: padBelow(Math.min(...filterSize)),
            dimRoundingMode: rng.pick([undefined, 'floor', 'round', 'ceil'] as const)};
  }
  const explicit: tf.backend_util.ExplicitPadding = [
    [0, 0], [padBelow(filterSize[0]), padBelow(filterSize[0])], [padBelow(filterSize[1]), padBelow(filterSize[1])],
    [0, 0]];
  return {shape, filterSize, strides, pad: explicit};
}

const pools = [
  {kernel: 'AvgPool', op: (x: tf.Tensor4D, c: PoolCase) => tf.avgPool(x, c.filterSize, c.strides, c.pad, c.dimRoundingMode)},
  {kernel: 'MaxPool', op: (x: tf.Tensor4D, c: PoolCase) => tf.maxPool(x, c.filterSize, c.strides, c.pad, c.dimRoundingMode)},
] as const;

describe('AvgPool and MaxPool on int8 codes', () => {
  beforeAll(async () => {
    await tf.setBackend(BACKEND_NAME);
  });
  afterAll(() => printLsbTally());

  for (const {kernel, op} of pools) {
    it(`${kernel}: keeps the parameters and equals the float simulation within 1 LSB`, async () => {
      const rng = makeRng(kernel === 'AvgPool' ? 11 : 12);
      let ran = 0;
      let emptyWindows = 0;
      for (let trial = 0; trial < 300; trial++) {
        const c = randomPoolCase(rng);
        // Geometry tfjs itself refuses (e.g. an output size of 0) is not ours to test.
        let sim: Awaited<ReturnType<typeof simulate>>;
        const x = randomInput(rng, c.shape);
        try {
          sim = await simulate([x], ([t]) => op(t as tf.Tensor4D, c), x.params);
        } catch {
          continue;
        }
        if (sim.shape.some(d => d === 0)) continue;
        ran++;
        const before = liveCounts();
        const dequantizations = int8().stats.dequantizations;
        const q = makeQuantized(x);
        const out = op(q as tf.Tensor4D, c);
        const result = quantizationOf(out);
        expect(out.shape).toEqual(sim.shape);
        expect(result.params).toEqual(x.params);
        expect(int8().stats.dequantizations).toBe(dequantizations);
        tf.dispose([q, out]);
        expect(liveCounts()).toEqual(before);
        // Windows entirely in the padding: NaN (avg) / −Infinity (max) in float, documented codes here.
        const expected = sim.codes.map((code, i) => {
          if (Number.isNaN(sim.values[i]) || sim.values[i] === -Infinity) {
            emptyWindows++;
            return kernel === 'AvgPool' ? x.params.zeroPoint[0] : -128;
          }
          return code;
        });
        expectWithinLsb(kernel, result.codes, expected, `trial ${trial} ${JSON.stringify(c)}`);
        // The only differences allowed are ties: TFLite's int8 AveragePool rounds the mean of the
        // codes half away from zero, the simulation the mean of the reals (around the zero point).
        for (let i = 0; i < expected.length; i++) {
          const centered = Math.abs(sim.values[i] / x.params.scale[0]);
          const isTie = Math.abs(centered - Math.floor(centered) - 0.5) < 1e-3;
          if (!isTie) expect(result.codes[i], `trial ${trial} element ${i}`).toBe(expected[i]);
        }
      }
      expect(ran).toBeGreaterThan(200);
      console.log(`[LSB] ${kernel}: ${emptyWindows} windows entirely in padding got the documented code`);
    });

    it(`${kernel}: float input gives exactly the cpu result`, async () => {
      const rng = makeRng(13);
      for (let trial = 0; trial < 10; trial++) {
        const c = randomPoolCase(rng);
        try {
          await onCpuGeometryCheck(c, op);
        } catch {
          continue;
        }
        await expectFloatMatchesCpu([randomFloats(rng, c.shape)], ([t]) => op(t as tf.Tensor4D, c));
      }
    });

    it(`${kernel}: bad attrs and inputs name the kernel and the attr`, () => {
      const rng = makeRng(14);
      const q = makeQuantized(randomInput(rng, [1, 4, 4, 2]));
      const q3 = makeQuantized(randomInput(rng, [4, 4, 2]));
      const run = (x: tf.Tensor, attrs: object): unknown => tf.engine().runKernel(kernel, {x}, attrs as tf.NamedAttrMap);
      expect(() => run(q3, {filterSize: 2, strides: 1, pad: 'valid'})).toThrow(new RegExp(`${kernel}: input x must be rank 4`));
      expect(() => run(q, {filterSize: 0, strides: 1, pad: 'valid'})).toThrow(new RegExp(`${kernel}: attr filterSize`));
      expect(() => run(q, {filterSize: 2, strides: [1, 1, 1], pad: 'valid'})).toThrow(new RegExp(`${kernel}: attr strides`));
      expect(() => run(q, {filterSize: 2, strides: 1, pad: 'bogus'})).toThrow(new RegExp(`${kernel}: attr pad "bogus"`));
      tf.dispose([q, q3]);
    });
  }

  it('AvgPool rounds the mean of codes half away from zero and excludes padding from the count', () => {
    // 1×2×2×1, 'same' 2×2 windows: the bottom-right window holds one cell.
    const x = makeQuantized({codes: Int8Array.from([1, 2, -4, -5]), shape: [1, 2, 2, 1], params: {scale: [1], zeroPoint: [0]}});
    const out = tf.avgPool(x as tf.Tensor4D, 2, 1, 'same');
    // (1+2−4−5)/4 = −1.5 → −2; (2−5)/2 = −1.5 → −2; (−4−5)/2 = −4.5 → −5; −5/1.
    expect(Array.from(quantizationOf(out).codes)).toEqual([-2, -2, -5, -5]);
    tf.dispose([x, out]);
  });

  it('a 1×1 window with unit strides shares the input codes', () => {
    const x = makeQuantized({codes: Int8Array.from([1, 2, 3, 4]), shape: [1, 2, 2, 1], params: {scale: [0.5], zeroPoint: [3]}});
    const out = tf.maxPool(x as tf.Tensor4D, 1, 1, 'valid');
    expect(out.dataId).toBe(x.dataId);
    expect(Array.from(quantizationOf(out).codes)).toEqual([1, 2, 3, 4]);
    tf.dispose([x, out]);
  });
});

async function onCpuGeometryCheck(c: PoolCase, op: (x: tf.Tensor4D, c: PoolCase) => tf.Tensor): Promise<void> {
  const out = tf.tidy(() => op(tf.zeros(c.shape) as tf.Tensor4D, c).shape);
  if (out.some(d => d === 0)) throw new Error('empty');
}
