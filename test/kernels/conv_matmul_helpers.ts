// Helpers of the conv / matmul kernel tests (test/kernels/conv*, matmul*,
// dynamic*): seeded random data, running the same computation on cpu and
// int8, an independent fake quantizer, and tallies (SQNR, LSB) printed at the
// end of a file. SQNR itself is test/models/metrics.ts's sqnrDb.
import * as tf from '@tensorflow/tfjs-core';

import {makeRng} from '../quant/reference_model';

export {sqnrDb} from '../models/metrics';

export type Rng = ReturnType<typeof makeRng> & {pick: <T>(items: readonly T[]) => T; bool: () => boolean};

export function rngFor(seed: number): Rng {
  const base = makeRng(seed);
  return {...base, pick: items => items[base.intIn(0, items.length - 1)], bool: () => base.intIn(0, 1) === 1};
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Random float data of one of several distributions: uniform around 0,
 * all-positive (post-relu-like, zero point −128), shifted, or normal-ish with
 * outliers.
 */
export function randomData(rng: Rng, size: number, kind = rng.intIn(0, 3), magnitude = 1): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const u = rng.floatIn(-1, 1);
    const v = kind === 0 ? u : kind === 1 ? (u + 1) / 2 : kind === 2 ? u + 0.6 :
                                            (rng.floatIn(-1, 1) + rng.floatIn(-1, 1) + rng.floatIn(-1, 1));
    out[i] = v * magnitude;
  }
  return out;
}

/** Random int8 codes in [lo, hi]. */
export function randomCodes(rng: Rng, size: number, lo = -128, hi = 127): Int8Array {
  return Int8Array.from({length: size}, () => rng.intIn(lo, hi));
}

/** Runs `fn` on `backend` inside a tidy and returns the values and shape of its result. */
export async function valuesOn(
    backend: string, fn: () => tf.Tensor): Promise<{values: Float32Array; shape: number[]}> {
  const previous = tf.getBackend() ?? backend;
  await tf.setBackend(backend);
  try {
    return tf.tidy(() => {
      const out = fn();
      return {values: out.dataSync() as Float32Array, shape: out.shape.slice()};
    });
  } finally {
    await tf.setBackend(previous);
  }
}

/** Round half away from zero, written independently of src/quant. */
export function roundAway(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** clamp(round(r / S) + Z, −128, 127): the fake quantizer of the float simulation. */
export function fakeQuantize(values: ArrayLike<number>, scale: number, zeroPoint: number): Int32Array {
  return Int32Array.from(Array.from(values), v => Math.min(127, Math.max(-128, roundAway(v / scale) + zeroPoint)));
}

/**
 * Output parameters covering [min(y, 0), max(y, 0)] of a float result, the
 * range widened below and above by `widenBelow`/`widenAbove` times its span
 * (so that a fused relu / relu6 clamp falls inside the code range).
 */
export function outputParamsFor(values: ArrayLike<number>, widenBelow = 0, widenAbove = 0):
    {scale: number; zeroPoint: number} {
  let min = 0;
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    min = Math.min(min, values[i]);
    max = Math.max(max, values[i]);
  }
  const span = max - min;
  min -= widenBelow * span;
  max += widenAbove * span;
  const scale = max === min ? 1 : (max - min) / 255;
  return {scale, zeroPoint: Math.min(127, Math.max(-128, roundAway(-128 - min / scale)))};
}

/** A per-family collection of numbers summarized as min / median / max. */
export class Tally {
  private readonly rows = new Map<string, number[]>();

  add(family: string, value: number): void {
    const row = this.rows.get(family) ?? [];
    row.push(value);
    this.rows.set(family, row);
  }

  summary(): Array<{family: string; cases: number; min: number; median: number; max: number}> {
    return [...this.rows].map(([family, values]) => {
      const sorted = values.slice().sort((a, b) => a - b);
      return {family, cases: sorted.length, min: sorted[0], median: sorted[Math.floor(sorted.length / 2)],
              max: sorted[sorted.length - 1]};
    });
  }

  print(label: string, digits = 1): void {
    for (const {family, cases, min, median, max} of this.summary()) {
      // eslint-disable-next-line no-console
      console.log(`[${label}] ${family}: ${cases} cases, min ${min.toFixed(digits)}, ` +
                  `median ${median.toFixed(digits)}, max ${max.toFixed(digits)}`);
    }
  }
}

/** Per-family LSB distances between int8 codes and the float simulation. */
export class LsbTally {
  private readonly rows = new Map<string, {cases: number; elements: number; exact: number; offByOne: number; max: number}>();

  /** Records the distances and returns the largest one. */
  add(family: string, actual: ArrayLike<number>, expected: ArrayLike<number>): number {
    const row = this.rows.get(family) ?? {cases: 0, elements: 0, exact: 0, offByOne: 0, max: 0};
    let worst = 0;
    for (let i = 0; i < actual.length; i++) {
      const d = Math.abs(actual[i] - expected[i]);
      if (d === 0) row.exact++;
      if (d === 1) row.offByOne++;
      if (!(d <= worst)) worst = d;
    }
    row.cases++;
    row.elements += actual.length;
    row.max = Math.max(row.max, worst);
    this.rows.set(family, row);
    return worst;
  }

  print(label: string): void {
    for (const [family, {cases, elements, exact, offByOne, max}] of this.rows) {
      // eslint-disable-next-line no-console
      console.log(`[${label}] ${family}: ${cases} cases, ${elements} elements, max ${max} LSB, ` +
                  `${(100 * exact / elements).toFixed(2)}% exact, ${(100 * offByOne / elements).toFixed(2)}% off by 1`);
    }
  }
}

/**
 * Values of per-channel codes: r[e] = scale[ch(e)]·q[e] with ch(e) the index
 * along `axis` of `shape` (zero points 0), per tensor when axis is undefined.
 */
export function dequantizeSymmetric(codes: ArrayLike<number>, shape: number[], scale: number[],
                                    axis?: number): Float32Array {
  const inner = axis === undefined ? 1 : sizeOf(shape.slice(axis + 1));
  const n = axis === undefined ? 1 : shape[axis];
  return Float32Array.from(Array.from(codes), (q, e) => scale[Math.floor(e / inner) % n] * q);
}

/** Independent symmetric per-channel weight quantizer (max|w|/127, round half away, zero point 0). */
export function quantizeSymmetric(values: ArrayLike<number>, shape: number[], axis: number):
    {codes: Int8Array; scale: number[]} {
  const inner = sizeOf(shape.slice(axis + 1));
  const n = shape[axis];
  const maxAbs = new Array<number>(n).fill(0);
  for (let e = 0; e < values.length; e++) {
    const c = Math.floor(e / inner) % n;
    maxAbs[c] = Math.max(maxAbs[c], Math.abs(values[e]));
  }
  const scale = maxAbs.map(m => m === 0 ? 1 : m / 127);
  const codes = Int8Array.from(Array.from(values), (v, e) => roundAway(v / scale[Math.floor(e / inner) % n]));
  return {codes, scale};
}

/** Runs `fn` inside a tidy scope (tensors it makes are disposed) and returns what it returns. */
export function scoped<T>(fn: () => T): T {
  let out: T | undefined;
  tf.tidy(() => {
    out = fn();
  });
  return out as T;
}

/**
 * Activations whose result scales with their input (f(a·x) = a·f(x), a > 0): their sweeps may use
 * any magnitude, while relu6, sigmoid and elu get O(1) pre-activations as in trained models.
 */
export function isScaleFreeActivation(activation: string): boolean {
  return ['linear', 'relu', 'leakyrelu', 'prelu'].includes(activation);
}
