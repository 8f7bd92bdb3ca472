// Helpers of the static-kernel tests: a seeded PRNG, quantized inputs on the
// int8 backend, the float simulation on tfjs-cpu (dequantize → float op →
// fake-quantize), LSB distances, and a per-kernel LSB tally printed at the end.
// The fake quantizer here is written independently of src/quant.
import * as tf from '@tensorflow/tfjs-core';
import {expect} from 'vitest';

import {BACKEND_NAME, getQuantization, int8Backend, quantizedTensor} from '../../src/index';
import type {QuantizationParams} from '../../src/quant/types';

export interface Rng {
  /** Integer in [lo, hi]. */
  int: (lo: number, hi: number) => number;
  /** Float in [lo, hi). */
  float: (lo: number, hi: number) => number;
  /** exp(uniform(log lo, log hi)). */
  logUniform: (lo: number, hi: number) => number;
  pick: <T>(items: readonly T[]) => T;
  bool: () => boolean;
}

/** mulberry32. */
export function makeRng(seed: number): Rng {
  let state = seed >>> 0;
  const unit = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number): number => lo + Math.floor(unit() * (hi - lo + 1));
  return {
    int,
    float: (lo, hi) => lo + unit() * (hi - lo),
    logUniform: (lo, hi) => Math.exp(Math.log(lo) + unit() * (Math.log(hi) - Math.log(lo))),
    pick: items => items[int(0, items.length - 1)],
    bool: () => unit() < 0.5,
  };
}

/** An int8 per-tensor quantized input: codes, shape and parameters. */
export interface QuantizedInput {
  codes: Int8Array;
  shape: number[];
  params: QuantizationParams;
}

/**
 * Random per-tensor parameters: log-uniform scale, zero point anywhere in
 * [−128, 127] (often negative), sometimes an extreme one.
 */
export function randomParams(rng: Rng): QuantizationParams {
  const zeroPoint = rng.pick([-128, 127, 0, rng.int(-128, 127), rng.int(-128, 127), rng.int(-128, 127)]);
  return {scale: [rng.logUniform(1e-3, 10)], zeroPoint: [zeroPoint]};
}

/**
 * Random codes; `degenerate` makes every code the zero point (a tensor of
 * zeros, the range a single point) or one constant.
 */
export function randomInput(rng: Rng, shape: number[], params = randomParams(rng), degenerate = rng.int(0, 9) === 0):
    QuantizedInput {
  const size = shape.reduce((a, b) => a * b, 1);
  const codes = new Int8Array(size);
  const constant = rng.bool() ? params.zeroPoint[0] : rng.int(-128, 127);
  for (let i = 0; i < size; i++) codes[i] = degenerate ? constant : rng.int(-128, 127);
  return {codes, shape, params};
}

export function randomShape(rng: Rng, minRank: number, maxRank: number, maxDim = 5): number[] {
  const rank = rng.int(minRank, maxRank);
  return Array.from({length: rank}, () => rng.int(1, maxDim));
}

/** The float32 values the int8 backend dequantizes the codes to: S·(q − Z), stored as float32. */
export function dequantize(input: QuantizedInput): Float32Array {
  const {codes, params} = input;
  return Float32Array.from(codes, q => params.scale[0] * (q - params.zeroPoint[0]));
}

/**
 * Fake quantization, independent of src/quant: clamp(round(r/S) + Z) with
 * ties away from zero. NaN stays NaN so a caller can see it.
 */
export function fakeQuantize(values: ArrayLike<number>, params: QuantizationParams): number[] {
  const s = params.scale[0];
  const z = params.zeroPoint[0];
  return Array.from(values, v => {
    if (Number.isNaN(v)) return NaN;
    const x = v / s;
    const rounded = x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
    return Math.min(127, Math.max(-128, rounded + z));
  });
}

export const int8 = (): ReturnType<typeof int8Backend> => int8Backend();

export function makeQuantized(input: QuantizedInput): tf.Tensor {
  return quantizedTensor(input.codes, input.shape, input.params);
}

/** Codes and parameters of a quantized result; fails the test for a float result. */
export function quantizationOf(t: tf.Tensor): {codes: Int8Array; params: QuantizationParams} {
  const info = getQuantization(t);
  expect(info, 'the result is quantized').not.toBeNull();
  expect(info?.dtype).toBe('int8');
  return {codes: info?.codes as Int8Array, params: info?.params as QuantizationParams};
}

/** Runs `fn` with cpu as the current backend and returns what it returns (tensors must be read inside). */
export async function onCpu<T>(fn: () => T): Promise<T> {
  await tf.setBackend('cpu');
  try {
    let result: T | undefined;
    tf.tidy(() => {
      result = fn();
    });
    return result as T;
  } finally {
    await tf.setBackend(BACKEND_NAME);
  }
}

/** The float simulation: dequantized inputs → `op` on tfjs-cpu → fake-quantized to `outParams`. */
export async function simulate(
    inputs: readonly QuantizedInput[], op: (xs: tf.Tensor[]) => tf.Tensor,
    outParams: QuantizationParams): Promise<{codes: number[]; values: Float32Array; shape: number[]}> {
  const {values, shape} = await onCpu(() => {
    const out = op(inputs.map(x => tf.tensor(dequantize(x), x.shape, 'float32')));
    return {values: out.dataSync() as Float32Array, shape: out.shape};
  });
  return {codes: fakeQuantize(values, outParams), values, shape};
}

/** Per-kernel tally of LSB distances between int8 and the float simulation. */
const tally = new Map<string, {elements: number; offByOne: number; max: number; cases: number}>();

/**
 * Asserts every element is within `tolerance` codes of the simulation and
 * records the distances under `kernel`.
 */
export function expectWithinLsb(kernel: string, actual: ArrayLike<number>, expected: ArrayLike<number>,
                                context: string, tolerance = 1): void {
  expect(actual.length, `${context}: element count`).toBe(expected.length);
  const entry = tally.get(kernel) ?? {elements: 0, offByOne: 0, max: 0, cases: 0};
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worst)) {
      worst = d;
      worstAt = i;
    }
    if (d === 1) entry.offByOne++;
  }
  entry.elements += actual.length;
  entry.max = Math.max(entry.max, worst);
  entry.cases++;
  tally.set(kernel, entry);
  expect(worst, `${context}: element ${worstAt} is ${actual[worstAt]}, simulation ${expected[worstAt]}`)
      .toBeLessThanOrEqual(tolerance);
}

/** Prints the tally (vitest shows it with the test output). */
export function printLsbTally(): void {
  for (const [kernel, {elements, offByOne, max, cases}] of tally) {
    // eslint-disable-next-line no-console
    console.log(`[LSB] ${kernel}: ${cases} cases, ${elements} elements, max ${max} LSB, ` +
                `${offByOne} off by 1 (${(100 * offByOne / Math.max(elements, 1)).toFixed(3)}%)`);
  }
}

/** Tensors and backend data ids alive now, to compare after a test. */
export function liveCounts(): {tensors: number; dataIds: number} {
  return {tensors: tf.memory().numTensors, dataIds: int8().numDataIds()};
}

/** The same op on float inputs, on cpu and on int8: must give exactly the same values and shape. */
export async function expectFloatMatchesCpu(
    inputs: ReadonlyArray<{values: Float32Array; shape: number[]}>, op: (xs: tf.Tensor[]) => tf.Tensor): Promise<void> {
  const before = liveCounts();
  const ours = tf.tidy(() => {
    const out = op(inputs.map(x => tf.tensor(x.values, x.shape, 'float32')));
    expect(getQuantization(out)).toBeNull();
    return {values: out.dataSync().slice(), shape: out.shape};
  });
  expect(liveCounts()).toEqual(before);
  const cpu = await onCpu(() => {
    const out = op(inputs.map(x => tf.tensor(x.values, x.shape, 'float32')));
    return {values: out.dataSync().slice(), shape: out.shape};
  });
  expect(ours.shape).toEqual(cpu.shape);
  expect(Array.from(ours.values)).toEqual(Array.from(cpu.values));
}

export function randomFloats(rng: Rng, shape: number[], lo = -5, hi = 5): {values: Float32Array; shape: number[]} {
  const size = shape.reduce((a, b) => a * b, 1);
  return {values: Float32Array.from({length: size}, () => rng.float(lo, hi)), shape};
}
