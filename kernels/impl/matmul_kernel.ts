// The body of BatchMatMul and _FusedMatMul on the int8 backend. In order:
//   1. check inputs and attributes (errors name the kernel and attribute);
//   2. non-float32 dtypes, empty tensors, non-finite inputs: the cpu backend's
//      float kernel (quantized inputs are dequantized for it);
//   3. a as per-tensor int8 codes — its own (static mode) or its float values
//      quantized for this call (dynamic mode);
//   4. b as int8 codes with one scale per output column j (respecting
//      transposeB):
//      - weight-like b — int8 codes with zero points 0 whose scales are
//        constant per column, or a float b without batch (rank 2 or leading
//        dims 1, as a dense layer's kernel): symmetric per column, quantized
//        once and cached with b (backend.derive, freed with b);
//      - otherwise (int8 per-tensor codes with a zero point, or a batched
//        float b, e.g. attention's activations): per tensor, asymmetric, its
//        own codes or quantized for this call;
//   5. the int32 accumulator matMulInt8, a's and b's zero points (and, in the
//      integer epilogue, the int32 bias) folded into per-column constants;
//   6. the epilogue of output.ts: int8 codes, int32 accumulators, or float.

import {NamedTensorInfoMap, TensorInfo, backend_util, broadcast_util} from '@tensorflow/tfjs-core';

import type {BackendInt8} from '../../src/backend';
import {Int8KernelArgs, outputParamsFromAttrs, runCpuKernelSingle} from '../int8_kernel_utils';
import type {ChannelLayout} from './dynamic';
import {matMulInt8} from './matmul_int8';
import type {MatMulGeometry} from './matmul_int8';
import {activationOperand, channelScalesOf, ensureOnBackend, perTensorWeightOperand, weightOperand} from './operands';
import type {WeightOperand} from './operands';
import {accumulatorScale, finishFloat, finishInteger, int32Bias, isIntegerEpilogue, quantizeIfAsked} from './output';
import type {EpilogueSpec} from './output';
import {checkActivation, checkBroadcastsTo, checkLeakyReluAlpha, withKernelName} from './validate';
import {activeInt8Wasm, unlessOutOfMemory} from './wasm_dispatch';
import {wasmMatMul} from './wasm_matmul';
import {foldZeroPoints} from './zero_point_fold';

/** Inputs of the matmul kernels (bias and prelu weights only for _FusedMatMul). */
export interface MatMulInputs extends NamedTensorInfoMap {
  a: TensorInfo;
  b: TensorInfo;
  bias?: TensorInfo;
  preluActivationWeights?: TensorInfo;
}

/** Attributes of the matmul kernels, plus the int8 backend's optional output parameters. */
export interface MatMulAttrs {
  transposeA?: boolean;
  transposeB?: boolean;
  activation?: backend_util.Activation;
  leakyreluAlpha?: number;
  outputScale?: number;
  outputZeroPoint?: number;
}

export type MatMulKernelArgs = Int8KernelArgs<MatMulInputs, MatMulAttrs>;

export interface MatMulKind {
  kernelName: string;
  fused: boolean;
}

/** Runs BatchMatMul or _FusedMatMul (see the top of this file). */
export function runMatMul(kind: MatMulKind, args: MatMulKernelArgs): TensorInfo {
  const {inputs, backend} = args;
  const attrs = args.attrs ?? {};
  const {kernelName} = kind;
  const {a, b} = inputs;
  if (a == null) throw new Error(`${kernelName}: input 'a' is missing.`);
  if (b == null) throw new Error(`${kernelName}: input 'b' is missing.`);
  const {g, outShape} = matMulGeometry(kernelName, a, b, attrs);
  const output = outputParamsFromAttrs(kernelName, attrs);
  const spec: EpilogueSpec = {
    kernelName,
    outShape,
    bias: kind.fused ? inputs.bias : undefined,
    activation: kind.fused ? checkActivation(kernelName, attrs.activation, inputs.preluActivationWeights) : 'linear',
    preluActivationWeights: kind.fused ? inputs.preluActivationWeights : undefined,
    leakyreluAlpha: checkLeakyReluAlpha(kernelName, attrs.leakyreluAlpha),
    output: output === undefined ? null : {scale: output.scale[0], zeroPoint: output.zeroPoint[0]},
  };
  if (spec.bias !== undefined) checkBroadcastsTo(kernelName, 'bias', spec.bias.shape, outShape);
  if (spec.activation === 'prelu' && spec.preluActivationWeights !== undefined) {
    checkBroadcastsTo(kernelName, 'preluActivationWeights', spec.preluActivationWeights.shape, outShape);
  }
  const float = (): TensorInfo => quantizeIfAsked(backend, spec, runCpuKernelSingle(kernelName, args));
  const nonEmpty = [...a.shape, ...b.shape].every(d => d > 0);
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || !nonEmpty) return float();

  // WebAssembly SIMD kernels when available (wasm_dispatch.ts) and b is a
  // weight without batch; the code below is the reference.
  const wasm = activeInt8Wasm();
  if (wasm !== null && g.batchB === 1 && isWeightLike(backend, b, g)) {
    const result = unlessOutOfMemory(() => wasmMatMul(wasm, kernelName, backend, a, b, g, rightLayout(g), spec));
    if (result !== null) return result;
  }
  const left = activationOperand(backend, a);
  const right = left === null ? null : rightOperand(backend, b, g, kernelName);
  if (left === null || right === null) return float();  // NaN or ±Infinity in a or b
  const integerEpilogue = isIntegerEpilogue(left.fromCodes, spec);
  const accScale = accumulatorScale(left.scale, right);
  const bias32 = integerEpilogue ? int32Bias(backend, spec, right, left.scale, accScale) : null;
  const columnBias = foldZeroPoints(bias32, right.channelSums, left.zeroPoint, right.zeroPoint, g.k, g.n);

  const acc = new Int32Array(g.batch * g.m * g.n);
  matMulInt8(left.codes(), right.codes(), right.zeroPoint, columnBias, g, acc);

  return integerEpilogue ? finishInteger(backend, spec, acc, right, left.scale, accScale) :
                           finishFloat(backend, spec, acc, accScale);
}

/**
 * The shapes of tfjs-cpu's BatchMatMul: a `[...batchA, m, k]` (or `k, m`
 * with transposeA), b `[...batchB, k, n]` (or `n, k`), batches broadcast
 * as tfjs-cpu does (batch index modulo each operand's batch count).
 */
function matMulGeometry(kernelName: string, a: TensorInfo, b: TensorInfo, attrs: MatMulAttrs):
    {g: MatMulGeometry; outShape: number[]} {
  for (const [name, t] of [['a', a], ['b', b]] as const) {
    if (t.shape.length < 2) {
      throw new Error(`${kernelName}: input '${name}' must be at least rank 2, but got rank ${t.shape.length} ` +
                      `(shape [${t.shape.join(', ')}]).`);
    }
  }
  const transposeA = attrs.transposeA === true;
  const transposeB = attrs.transposeB === true;
  const [aRows, aCols] = a.shape.slice(-2);
  const [bRows, bCols] = b.shape.slice(-2);
  const m = transposeA ? aCols : aRows;
  const k = transposeA ? aRows : aCols;
  const kB = transposeB ? bCols : bRows;
  const n = transposeB ? bRows : bCols;
  if (k !== kB) {
    throw new Error(`${kernelName}: inner shapes (${k}) and (${kB}) of inputs 'a' [${a.shape.join(', ')}] and ` +
                    `'b' [${b.shape.join(', ')}] must match (attributes transposeA=${transposeA}, ` +
                    `transposeB=${transposeB}).`);
  }
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const outer = withKernelName(kernelName, () => broadcast_util.assertAndGetBroadcastShape(outerA, outerB));
  const batchA = outerA.reduce((x, y) => x * y, 1);
  const batchB = outerB.reduce((x, y) => x * y, 1);
  const batch = Math.max(batchA, batchB);
  if (outer.reduce((x, y) => x * y, 1) !== batch) {
    throw new Error(`${kernelName}: batch dimensions [${outerA.join(', ')}] of 'a' and [${outerB.join(', ')}] of ` +
                    `'b' broadcast to [${outer.join(', ')}], which tfjs-cpu's BatchMatMul does not support.`);
  }
  return {g: {batch, batchA, batchB, m, k, n, transposeA, transposeB}, outShape: [...outer, m, n]};
}

/** The output columns of b (respecting transposeB) as weight channels. */
function rightLayout(g: MatMulGeometry): ChannelLayout {
  return {batches: g.batchB, channelInner: g.transposeB ? g.k : 1, channelCount: g.n};
}

/** Whether b is weight-like (see the top of this file). */
function isWeightLike(backend: BackendInt8, b: TensorInfo, g: MatMulGeometry): boolean {
  ensureOnBackend(backend, b);
  const q = backend.getQuantized(b.dataId);
  const int8 = q !== undefined && q.dtype === 'int8';
  const ownPerColumn = int8 && channelScalesOf(q.params, q.shape, rightLayout(g)) !== null;
  const ownPerTensor = int8 && q.params.scale.length === 1;
  return ownPerColumn || (!ownPerTensor && g.batchB === 1);
}

/** b as per-column symmetric weights when weight-like, else per tensor (see the top of this file). */
function rightOperand(backend: BackendInt8, b: TensorInfo, g: MatMulGeometry, kernelName: string):
    WeightOperand | null {
  const layout = rightLayout(g);
  if (isWeightLike(backend, b, g)) return weightOperand(backend, b, layout, `${kernelName} b`);
  return perTensorWeightOperand(backend, b, layout);
}
