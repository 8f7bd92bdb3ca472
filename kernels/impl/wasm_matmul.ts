// The WebAssembly SIMD path of BatchMatMul / _FusedMatMul (matmul_kernel.ts
// runMatMul) for a weight-like b without batch (a dense layer's kernel): the
// same operands as the reference (operands.ts), a's batches stacked into the
// rows of one GEMM (b is shared by all of them), transposeA by an int8
// transpose in wasm, transposeB by the packing, and the epilogues of
// wasm_dispatch.ts. kernels/wasm gemm computes `bias32 + Σ (qA − zA)·qB`,
// bit-identical with matmul_int8.ts's folded form (int32, wrapping).

import type {TensorInfo} from '@tensorflow/tfjs-core';

import type {BackendInt8} from '../../src/backend';
import type {Int8Wasm} from '../wasm/loader';
import type {ChannelLayout} from './dynamic';
import type {MatMulGeometry} from './matmul_int8';
import {weightOperand} from './operands';
import type {EpilogueSpec} from './output';
import {finishWasmProduct, packedGemm, wasmActivation, wasmDispatchCounters} from './wasm_dispatch';

/**
 * The matmul on the wasm kernels; b must be weight-like with one batch (the
 * caller checks). Null when the reference path must decide (NaN or ±Infinity).
 */
export function wasmMatMul(wasm: Int8Wasm, kernelName: string, backend: BackendInt8, a: TensorInfo, b: TensorInfo,
                           g: MatMulGeometry, layout: ChannelLayout, spec: EpilogueSpec): TensorInfo | null {
  if (g.batchB !== 1) throw new Error(`${kernelName}: the wasm matmul takes b without batch`);
  const input = wasmActivation(wasm, backend, a);
  if (input === null) return null;
  let transposed = 0;
  try {
    const weights = weightOperand(backend, b, layout, `${kernelName} b`);
    if (weights === null) return null;
    const packed = packedGemm(wasm, backend, weights, g.k, g.n, g.transposeB);
    let rowsPtr = input.ptr;
    if (g.transposeA) {
      const slice = g.m * g.k;
      transposed = wasm.alloc(g.batchA * slice);
      for (let bi = 0; bi < g.batchA; bi++) {
        wasm.transposeInt8(input.ptr + bi * slice, g.k, g.m, transposed + bi * slice);
      }
      rowsPtr = transposed;
    }
    const rows = g.batch * g.m;  // batchB = 1: batch = batchA, a's batches one after the other
    wasmDispatchCounters.matmul++;
    return finishWasmProduct(wasm, backend, spec, input, weights, packed, {
      int8: (out, requant, zeroPointOut, lo, hi) => wasm.gemmInt8(
          {a: rowsPtr, m: rows, zeroPointA: input.zeroPoint, weights: packed.weights, out, requant, zeroPointOut, lo, hi}),
      int32: out => wasm.gemmInt32({a: rowsPtr, m: rows, zeroPointA: input.zeroPoint, weights: packed.weights, out}),
      float32: (out, params) => wasm.gemmFloat32(
          {a: rowsPtr, m: rows, zeroPointA: input.zeroPoint, weights: packed.weights, out, ...params}),
    });
  } finally {
    if (transposed !== 0) wasm.free(transposed);
    input.release();
  }
}
