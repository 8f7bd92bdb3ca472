// BatchMatMul and _FusedMatMul on the WebAssembly SIMD kernels vs their
// TypeScript reference (flag INT8_WASM off), bit for bit, on randomized sweeps
// of m, k, n (across the GEMM's 16-column panels, 8-deep k blocks and row
// blocks), a's batch and rank, transposeA / transposeB, fused bias and
// activations — static mode (int8 a with negative zero points; b as int8
// per-column or per-tensor codes or float; int8 or int32 out) and dynamic mode
// (float a and b). A b that is not a weight (batched, or per-tensor codes
// with a zero point) stays on the reference path; the results must still agree.
import * as tf from '@tensorflow/tfjs-core';
import {beforeAll, describe, expect, it} from 'vitest';

import {activeInt8Wasm} from '../../kernels/impl/wasm_dispatch';
import {quantizedTensor} from '../../src/index';
import {randomCodes, randomData, rngFor, sizeOf} from './conv_matmul_helpers';
import type {Rng} from './conv_matmul_helpers';
import {expectBitExact, runBothWays} from './wasm_helpers';

type Activation = 'linear' | 'relu' | 'relu6' | 'leakyrelu' | 'prelu' | 'sigmoid' | 'elu';
const ACTIVATIONS: Activation[] = ['linear', 'relu', 'relu6', 'leakyrelu', 'prelu', 'sigmoid', 'elu'];

interface MatMulCase {
  kernelName: 'BatchMatMul' | '_FusedMatMul';
  inputs: Record<string, tf.Tensor>;
  attrs: tf.NamedAttrMap;
  /** b is a weight without batch: the wasm path must run. */
  wasm: boolean;
  label: string;
}

function dims(rng: Rng): {m: number; k: number; n: number} {
  return {
    m: rng.pick([1, 2, 3, 7, 16, 33, rng.intIn(1, 60), 300]),
    k: rng.pick([1, 2, 7, 8, 9, 16, 31, 64, rng.intIn(1, 80)]),
    n: rng.pick([1, 3, 4, 5, 8, 12, 16, 17, 32, 33, rng.intIn(1, 50)]),
  };
}

function randomCase(rng: Rng, fused: boolean, mode: 'static' | 'dynamic'): MatMulCase {
  const {m, k, n} = dims(rng);
  const transposeA = rng.bool();
  const transposeB = rng.bool();
  const outer = rng.pick([[], [], [2], [3], [2, 2]]);
  const aShape = [...outer, ...(transposeA ? [k, m] : [m, k])];
  const bKind = mode === 'static' ?
      rng.pick(['perColumn', 'perColumn', 'perColumnRank3', 'perTensorZero', 'perTensorShifted', 'float',
                'batched'] as const) :
      rng.pick(['float', 'float', 'floatRank3', 'batched'] as const);
  const bBase = transposeB ? [n, k] : [k, n];
  const bShape = bKind === 'perColumnRank3' || bKind === 'floatRank3' ? [1, ...bBase] :
      bKind === 'batched' ? [outer.length === 0 ? 2 : outer[outer.length - 1], ...bBase] : bBase;
  const inputScale = rng.logUniform(1e-3, 1);
  const a = mode === 'static' ?
      quantizedTensor(randomCodes(rng, sizeOf(aShape)), aShape,
                      {scale: [inputScale], zeroPoint: [rng.pick([-128, -77, 0, 127, rng.intIn(-128, 127)])]}) :
      tf.tensor(randomData(rng, sizeOf(aShape), rng.intIn(0, 3), rng.logUniform(0.01, 100)), aShape);
  const columnScale = Array.from({length: n}, () => rng.logUniform(1e-3, 0.05));
  let b: tf.Tensor;
  switch (bKind) {
    case 'perColumn':
    case 'perColumnRank3': {
      const axis = bShape.length - (transposeB ? 2 : 1);
      b = quantizedTensor(randomCodes(rng, sizeOf(bShape), -127, 127), bShape,
                          {scale: columnScale, zeroPoint: columnScale.map(() => 0), axis});
      break;
    }
    case 'perTensorZero':
      b = quantizedTensor(randomCodes(rng, sizeOf(bShape), -127, 127), bShape, {scale: [0.01], zeroPoint: [0]});
      break;
    case 'perTensorShifted':
      b = quantizedTensor(randomCodes(rng, sizeOf(bShape)), bShape, {scale: [0.02], zeroPoint: [rng.intIn(1, 40)]});
      break;
    default:
      b = tf.tensor(randomData(rng, sizeOf(bShape), 3, rng.logUniform(0.01, 3)), bShape);
  }
  const inputs: Record<string, tf.Tensor> = {a, b};
  const outShape = [...outer, m, n];
  const activation: Activation = fused ? rng.pick(ACTIVATIONS) : 'linear';
  const biasKind = fused ? rng.pick(['none', 'int32', 'float', 'float', 'scalar', 'full'] as const) : 'none';
  if (biasKind === 'int32' && mode === 'static') {
    const accScale = columnScale.map(s => inputScale * s);
    inputs.bias = quantizedTensor(Int32Array.from({length: n}, () => rng.intIn(-30000, 30000)), [n],
                                  {scale: accScale, zeroPoint: accScale.map(() => 0), axis: 0});
  } else if (biasKind === 'float' || biasKind === 'int32') {
    inputs.bias = tf.tensor1d(randomData(rng, n, 0, 0.5));
  } else if (biasKind === 'scalar') {
    inputs.bias = tf.tensor1d(randomData(rng, 1, 0, 0.5));
  } else if (biasKind === 'full') {
    inputs.bias = tf.tensor(randomData(rng, sizeOf(outShape), 0, 0.5), outShape);
  }
  if (activation === 'prelu') {
    const alphaShape = rng.pick([[n], [1], outShape]);
    inputs.preluActivationWeights = tf.tensor(randomData(rng, sizeOf(alphaShape), 1, 0.5), alphaShape);
  }
  const attrs: Record<string, unknown> = {transposeA, transposeB};
  if (fused) Object.assign(attrs, {activation, leakyreluAlpha: rng.floatIn(0.05, 0.5)});
  const withOutput = mode === 'static' ? rng.intIn(0, 4) > 0 : rng.intIn(0, 9) === 0;
  if (withOutput) {
    attrs.outputScale = inputScale * 0.02 * 128 * Math.sqrt(k) * rng.logUniform(0.05, 2) / 8;
    attrs.outputZeroPoint = rng.pick([-128, 0, rng.intIn(-128, 127)]);
  }
  const wasm = bKind !== 'batched' && bKind !== 'perTensorShifted';
  const label = JSON.stringify({mode, m, k, n, aShape, bShape, transposeA, transposeB, bKind, biasKind, activation,
                                withOutput});
  return {kernelName: fused ? '_FusedMatMul' : 'BatchMatMul', inputs, attrs: attrs as tf.NamedAttrMap, wasm, label};
}

describe('matmul kernels: wasm SIMD vs the TypeScript reference, bit for bit', () => {
  beforeAll(async () => {
    await tf.setBackend('int8');
    expect(activeInt8Wasm(), 'this runtime validates WebAssembly SIMD').not.toBeNull();
  });

  for (const fused of [false, true]) {
    for (const mode of ['static', 'dynamic'] as const) {
      const name = fused ? '_FusedMatMul' : 'BatchMatMul';
      it(`${name}, ${mode} mode: 150 random cases`, () => {
        const rng = rngFor((fused ? 7100 : 7000) + (mode === 'static' ? 0 : 50));
        const before = tf.memory().numTensors;
        let dispatched = 0;
        for (let t = 0; t < 150; t++) {
          const c = randomCase(rng, fused, mode);
          const result = runBothWays(() => tf.engine().runKernel(c.kernelName, c.inputs, c.attrs) as tf.Tensor);
          expectBitExact(result, c.label, c.wasm);
          if (!c.wasm) expect(result.dispatched[0], `${c.label}: not a weight, yet dispatched`).toBe(0);
          if (c.wasm) dispatched++;
          tf.dispose(Object.values(c.inputs));
        }
        expect(dispatched).toBeGreaterThan(90);
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  }

  it('a dense layer: tf.matMul and tf.fused.matMul on float tensors', () => {
    const rng = rngFor(7200);
    const a = tf.tensor2d(randomData(rng, 37 * 300, 1), [37, 300]);
    const w = tf.tensor2d(randomData(rng, 300 * 70, 3, 0.1), [300, 70]);
    const bias = tf.tensor1d(randomData(rng, 70, 0));
    expectBitExact(runBothWays(() => tf.matMul(a, w)), 'matMul');
    expectBitExact(runBothWays(() => tf.fused.matMul({a, b: w, bias, activation: 'relu'})), 'fused.matMul relu');
    expectBitExact(runBothWays(() => tf.fused.matMul({a: w, b: a, transposeA: true, transposeB: true})),
                   'fused.matMul transposed (a is the weight-like 2-D operand b here)');
    tf.dispose([a, w, bias]);
  });
});
