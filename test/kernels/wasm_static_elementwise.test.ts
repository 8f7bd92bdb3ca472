// The wasm paths of the static elementwise kernels (kernels/impl/wasm_elementwise.ts)
// against their TypeScript references, bit for bit:
// - addI8 (kernels/wasm/assembly/add.ts) against src/quant quantizedAdd on random codes and
//   parameters from prepareQuantizedAdd over scale ratios up to 2^±40 (right shifts 0..31),
//   lengths with every tail;
// - the Add, PadV2 and Int8Quantize kernels with INT8_WASM on and off (dispatch counted),
//   their outputs resident in wasm memory and read by the next kernel.
import * as tf from '@tensorflow/tfjs-core';
import {beforeAll, describe, expect, it} from 'vitest';

import {wasmDispatchCounters} from '../../kernels/impl/wasm_dispatch';
import {Int8Wasm, loadInt8WasmSync} from '../../kernels/wasm/loader';
import {BACKEND_NAME} from '../../src/index';
import {prepareQuantizedAdd, quantizedAdd} from '../../src/quant';
import {makeQuantized, makeRng, randomInput} from './int8_test_utils';
import type {Rng} from './int8_test_utils';
import {snapshot, withWasm} from './wasm_helpers';
import type {Snapshot} from './wasm_helpers';

let wasm: Int8Wasm;
beforeAll(async () => {
  const loaded = loadInt8WasmSync();
  if (loaded === null) throw new Error('this runtime does not validate WebAssembly SIMD');
  wasm = loaded;
  await tf.setBackend(BACKEND_NAME);
});

function randomCodes(rng: Rng, n: number): Int8Array {
  const mode = rng.int(0, 3);
  return Int8Array.from({length: n}, () => mode === 0 ? rng.pick([-128, 127, 0, -1]) : rng.int(-128, 127));
}

/** snapshot(run()) inside a tidy. */
function snap(run: () => tf.Tensor): Snapshot {
  let s: Snapshot | undefined;
  tf.tidy(() => {
    s = snapshot(run());
  });
  return s as Snapshot;
}

/** Runs the kernel both ways; returns the snapshots and the wasm dispatch counts of `counter`. */
function bothWays(counter: 'add' | 'pad' | 'quantize', run: () => tf.Tensor) {
  const once = (on: boolean) => {
    const before = wasmDispatchCounters[counter];
    const s = withWasm(on, () => snap(run));
    return {s, d: wasmDispatchCounters[counter] - before};
  };
  const w = once(true);
  const r = once(false);
  return {wasm: w.s, reference: r.s, dispatched: [w.d, r.d]};
}

describe('wasm int8 Add kernel (addI8)', () => {
  it('equals quantizedAdd on random codes, parameters (right shifts 0..31) and lengths', () => {
    const rng = makeRng(31337);
    let tested = 0, wide = 0;
    for (let round = 0; round < 300; round++) {
      const n = rng.pick([1, 7, 15, 16, 17, 31, 32, 33, 100, rng.int(1, 3000)]);
      const sa = 2 ** (rng.float(-12, 4));
      const ratio = round % 3 === 0 ? 2 ** rng.float(-40, 40) : 2 ** rng.float(-3, 3);
      const sb = sa * ratio;
      const so = Math.max(sa, sb) * 2 ** rng.float(-19.5, 3);
      const za = rng.int(-128, 127), zb = rng.int(-128, 127), zo = rng.int(-128, 127);
      let p;
      try {
        p = prepareQuantizedAdd({scale: sa, zeroPoint: za}, {scale: sb, zeroPoint: zb}, {scale: so, zeroPoint: zo});
      } catch {
        continue;  // output multiplier >= 1: the kernel never gets here
      }
      if ([p.input1Shift, p.input2Shift, p.outputShift].some(s => s < -31)) continue;
      tested++;
      if ([p.input1Shift, p.input2Shift, p.outputShift].some(s => s < -21)) wide++;
      const lo = rng.bool() ? -128 : rng.int(-128, zo);
      const hi = rng.bool() ? 127 : rng.int(Math.max(lo, zo), 127);
      const a = randomCodes(rng, n), b = randomCodes(rng, n);
      const want = Int8Array.from({length: n}, (_, i) => quantizedAdd(a[i], b[i], p, lo, hi));
      const pa = wasm.allocInt8(a), pb = wasm.allocInt8(b), po = wasm.alloc(n);
      try {
        wasm.addInt8(pa, pb, po, n, p, lo, hi);
        const got = wasm.readInt8(po, n);
        const i = got.findIndex((v, j) => v !== want[j]);
        expect(i, `round ${round} n ${n} ${JSON.stringify(p)} at ${i}: a ${a[i]} b ${b[i]} got ${got[i]} want ${want[i]}`).toBe(-1);
      } finally {
        wasm.free(pa); wasm.free(pb); wasm.free(po);
      }
    }
    expect(tested).toBeGreaterThan(200);
    expect(wide).toBeGreaterThan(20);
  });
});

describe('static elementwise kernels on wasm vs the TypeScript reference', () => {
  it('Add: equal shapes, random parameters, with and without output attrs (wasm); broadcasts stay on TS', () => {
    const rng = makeRng(4242);
    for (let trial = 0; trial < 60; trial++) {
      const shape = [1, rng.int(1, 9), rng.int(1, 9), rng.int(1, 40)];
      const broadcast = trial % 5 === 4;
      const bShape = broadcast ? [shape[3]] : shape;
      const a = randomInput(rng, shape);
      const b = randomInput(rng, bShape);
      const attrs: object = rng.bool() ? {} : {outputScale: Math.max(a.params.scale[0], b.params.scale[0]) * rng.float(0.5, 3),
                                        outputZeroPoint: rng.int(-128, 127)};
      const qa = makeQuantized(a), qb = makeQuantized(b);
      const run = () => tf.engine().runKernel('Add', {a: qa, b: qb}, attrs as tf.NamedAttrMap) as tf.Tensor;
      const {wasm: w, reference, dispatched} = bothWays('add', run);
      expect(w, `trial ${trial}`).toEqual(reference);
      expect(dispatched).toEqual([broadcast ? 0 : 1, 0]);
      tf.dispose([qa, qb]);
    }
  });

  it('PadV2: random ranks, shapes, paddings and constants', () => {
    const rng = makeRng(777);
    for (let trial = 0; trial < 80; trial++) {
      const rank = rng.int(1, 4);
      const shape = Array.from({length: rank}, () => rng.int(1, 7));
      const paddings = shape.map(() => [rng.int(0, 2), rng.int(0, 2)] as [number, number]);
      if (rng.bool()) paddings[rank - 1] = [0, 0];
      const constantValue = rng.pick([0, 0, 1.5, -3, 1e6]);
      const x = makeQuantized(randomInput(rng, shape));
      const run = () => tf.engine().runKernel('PadV2', {x}, {paddings, constantValue} as unknown as tf.NamedAttrMap) as tf.Tensor;
      const {wasm: w, reference, dispatched} = bothWays('pad', run);
      expect(w, `trial ${trial} [${shape}] ${JSON.stringify(paddings)}`).toEqual(reference);
      expect(dispatched).toEqual([1, 0]);
      x.dispose();
    }
  });

  it('Int8Quantize: float32 values (near-ties, image-like, out of range), random parameters', () => {
    const rng = makeRng(99);
    for (let trial = 0; trial < 60; trial++) {
      const n = rng.pick([1, 15, 16, 17, 100, rng.int(1, 5000)]);
      const scale = rng.pick([2 / 255, 1 / 127.5, 0.1, 2 ** rng.float(-10, 3)]);
      const zeroPoint = rng.int(-128, 127);
      const kind = trial % 3;
      const values = Float32Array.from({length: n}, () =>
        kind === 0 ? rng.int(0, 255) / 127.5 - 1 :
        kind === 1 ? (rng.int(-300, 300) + 0.5) * scale : rng.float(-1000, 1000) * scale);
      const x = tf.tensor(values, [n]);
      const run = () => tf.engine().runKernel('Int8Quantize', {x}, {scale, zeroPoint}) as tf.Tensor;
      const {wasm: w, reference, dispatched} = bothWays('quantize', run);
      expect(w, `trial ${trial}`).toEqual(reference);
      expect(dispatched).toEqual([1, 0]);
      x.dispose();
    }
  });

  it('a chain quantize → pad → add → conv keeps codes in wasm and equals the reference', () => {
    const rng = makeRng(5);
    const values = Float32Array.from({length: 1 * 6 * 6 * 8}, () => rng.float(-1, 1));
    const filter = tf.tensor4d(Float32Array.from({length: 3 * 3 * 8 * 16}, () => rng.float(-1, 1)), [3, 3, 8, 16]);
    const x = tf.tensor4d(values, [1, 6, 6, 8]);
    const run = () => {
      const q = tf.engine().runKernel('Int8Quantize', {x}, {scale: 2 / 255, zeroPoint: 3}) as tf.Tensor;
      const p = tf.engine().runKernel('PadV2', {x: q}, {paddings: [[0, 0], [1, 1], [1, 1], [0, 0]], constantValue: 0} as
                                      unknown as tf.NamedAttrMap) as tf.Tensor;
      const s = tf.engine().runKernel('Add', {a: p, b: p}, {outputScale: 4 / 255, outputZeroPoint: 3}) as tf.Tensor;
      return tf.engine().runKernel('FusedConv2D', {x: s, filter}, {
        strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1], activation: 'relu6',
        outputScale: 0.05, outputZeroPoint: -128,
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
    };
    const before = {...wasmDispatchCounters};
    const w = withWasm(true, () => snap(run));
    expect(wasmDispatchCounters.quantize - before.quantize).toBe(1);
    expect(wasmDispatchCounters.pad - before.pad).toBe(1);
    expect(wasmDispatchCounters.add - before.add).toBe(1);
    expect(wasmDispatchCounters.conv2d - before.conv2d).toBe(1);
    const r = withWasm(false, () => snap(run));
    expect(w).toEqual(r);
    tf.dispose([x, filter]);
  });
});

describe('float32 binary kernels (Add, Sub, Multiply, SquaredDifference) vs tfjs-cpu, bit for bit', () => {
  it('random broadcast shapes and values (NaN, ±Infinity, −0 included)', async () => {
    const rng = makeRng(2718);
    const special = [NaN, Infinity, -Infinity, -0, 0, 1e-45, 3.4e38];
    const randomShape = (): number[] => Array.from({length: rng.int(0, 4)}, () => rng.int(1, 6));
    const values = (n: number): Float32Array =>
      Float32Array.from({length: n}, () => rng.int(0, 20) === 0 ? rng.pick(special) : rng.float(-100, 100));
    const cases: Array<[number[], number[]]> = [[[1, 12, 12, 3], [1, 1, 1, 3]], [[12, 12, 1], [1, 17]], [[4, 5], []]];
    for (let t = 0; t < 120; t++) {
      const full = randomShape();
      const thin = (shape: number[]): number[] => shape.slice(rng.int(0, shape.length)).map(d => rng.bool() ? 1 : d);
      cases.push(rng.bool() ? [full, thin(full)] : [thin(full), full]);
    }
    const ops: Array<(a: tf.Tensor, b: tf.Tensor) => tf.Tensor> =
        [tf.add, tf.sub, tf.mul, tf.squaredDifference];
    for (const [aShape, bShape] of cases) {
      const av = values(aShape.reduce((x, y) => x * y, 1)), bv = values(bShape.reduce((x, y) => x * y, 1));
      for (const op of ops) {
        await tf.setBackend('cpu');
        const want = tf.tidy(() => op(tf.tensor(av, aShape), tf.tensor(bv, bShape)));
        const wantBits = Array.from(new Uint32Array((want.dataSync() as Float32Array).slice().buffer));
        const wantShape = want.shape;
        want.dispose();
        await tf.setBackend(BACKEND_NAME);
        const got = tf.tidy(() => op(tf.tensor(av, aShape), tf.tensor(bv, bShape)));
        expect(got.shape).toEqual(wantShape);
        expect(Array.from(new Uint32Array((got.dataSync() as Float32Array).slice().buffer)),
               `${op.name} [${aShape}] [${bShape}]`).toEqual(wantBits);
        got.dispose();
      }
    }
  });
});
