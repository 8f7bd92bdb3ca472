// Helpers of the wasm dispatch tests (test/kernels/wasm_*.test.ts): run the
// same kernel call with the WebAssembly kernels and with the TypeScript
// reference (flag INT8_WASM), and compare the results bit for bit: the codes,
// dtype and parameters of a quantized result, the float32 bit patterns
// (−0 and NaN included) of a float one.
import * as tf from '@tensorflow/tfjs-core';
import {expect} from 'vitest';

import {wasmDispatchCounters} from '../../kernels/impl/wasm_dispatch';
import {getQuantization} from '../../src/index';
import type {QuantizationParams} from '../../src/quant/types';

export const INT8_WASM = 'INT8_WASM';

/** Runs `fn` with the wasm kernels on or off, restoring the flag afterwards. */
export function withWasm<T>(on: boolean, fn: () => T): T {
  const before = tf.env().getBool(INT8_WASM);
  tf.env().set(INT8_WASM, on);
  try {
    return fn();
  } finally {
    tf.env().set(INT8_WASM, before);
  }
}

/** Everything observable about a kernel result. */
export interface Snapshot {
  shape: number[];
  kind: 'float32' | 'int8' | 'int32';
  /** float32 bit patterns (float results) or codes (quantized results). */
  data: number[];
  params?: QuantizationParams;
}

export function snapshot(t: tf.Tensor): Snapshot {
  const q = getQuantization(t);
  if (q !== null) {
    return {shape: t.shape.slice(), kind: q.dtype, data: Array.from(q.codes), params: q.params};
  }
  const values = t.dataSync() as Float32Array;
  return {shape: t.shape.slice(), kind: 'float32', data: Array.from(new Uint32Array(values.slice().buffer))};
}

export function dispatchCount(): number {
  return wasmDispatchCounters.conv2d + wasmDispatchCounters.depthwise + wasmDispatchCounters.matmul;
}

/**
 * `run` (which makes its result from tensors made outside, e.g. cached
 * weights) three times: wasm, reference, wasm again (the caches warm). Returns
 * the snapshots and how many wasm dispatches happened in each.
 */
export function runBothWays(run: () => tf.Tensor): {wasm: Snapshot; reference: Snapshot; again: Snapshot;
                                                     dispatched: [number, number, number]} {
  const once = (on: boolean): {s: Snapshot; d: number} => {
    const before = dispatchCount();
    const s = withWasm(on, () => {
      let out: Snapshot | undefined;
      tf.tidy(() => {
        out = snapshot(run());
      });
      return out as Snapshot;
    });
    return {s, d: dispatchCount() - before};
  };
  const wasm = once(true);
  const reference = once(false);
  const again = once(true);
  return {wasm: wasm.s, reference: reference.s, again: again.s, dispatched: [wasm.d, reference.d, again.d]};
}

/** Asserts the wasm results equal the reference's bit for bit and that the wasm path ran (`expectWasm`). */
export function expectBitExact(r: ReturnType<typeof runBothWays>, label: string, expectWasm = true): void {
  expect(r.dispatched[1], `${label}: the reference run dispatched to wasm`).toBe(0);
  if (expectWasm) {
    expect(r.dispatched[0], `${label}: the wasm path did not run`).toBeGreaterThan(0);
    expect(r.dispatched[2], `${label}: the wasm path did not run (second call)`).toBeGreaterThan(0);
  }
  expectSameSnapshot(r.wasm, r.reference, `${label} (wasm vs reference)`);
  expectSameSnapshot(r.again, r.reference, `${label} (wasm, cached weights, vs reference)`);
}

export function expectSameSnapshot(actual: Snapshot, expected: Snapshot, label: string): void {
  expect(actual.kind, `${label}: kind`).toBe(expected.kind);
  expect(actual.shape, `${label}: shape`).toEqual(expected.shape);
  expect(actual.params, `${label}: params`).toEqual(expected.params);
  expect(actual.data.length, `${label}: size`).toBe(expected.data.length);
  const i = actual.data.findIndex((v, j) => v !== expected.data[j]);
  const show = (v: number): string => actual.kind === 'float32' ? `${new Float32Array(new Uint32Array([v]).buffer)[0]}` : `${v}`;
  expect(i, i < 0 ? label : `${label}: element ${i} is ${show(actual.data[i])}, reference ${show(expected.data[i])}`)
      .toBe(-1);
}
