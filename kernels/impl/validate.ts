// Attribute and shape checks of the conv and matmul kernels. tfjs's ops check
// most of this before a kernel runs; a kernel run directly (runKernel, the
// converter, our graph pass) gets the same rules here, as errors that name the
// kernel and the attribute or input at fault.

import {backend_util, broadcast_util, TensorInfo} from '@tensorflow/tfjs-core';

import type {FusedActivationName} from './epilogue';

const ACTIVATIONS: readonly FusedActivationName[] =
    ['linear', 'relu', 'relu6', 'leakyrelu', 'prelu', 'sigmoid', 'elu'];

/** tfjs's default leaky-relu slope (fused ops' leakyreluAlpha = 0.2). */
export const DEFAULT_LEAKYRELU_ALPHA = 0.2;

export function checkRank(kernelName: string, name: string, t: TensorInfo, rank: number): void {
  if (t.shape.length !== rank) {
    throw new Error(`${kernelName}: input '${name}' must be rank ${rank}, but got rank ${t.shape.length} ` +
                    `(shape [${t.shape.join(', ')}]).`);
  }
}

export function checkDataFormat(kernelName: string, dataFormat: unknown): 'NHWC' | 'NCHW' {
  if (dataFormat === undefined || dataFormat === 'NHWC') return 'NHWC';
  if (dataFormat === 'NCHW') return 'NCHW';
  throw new Error(`${kernelName}: attribute 'dataFormat' must be 'NHWC' or 'NCHW', got '${String(dataFormat)}'.`);
}

/** A number or a pair of positive integers, as strides and dilations are. */
export function checkPair(kernelName: string, name: string, value: unknown): [number, number] {
  const pair = typeof value === 'number' ? [value, value] : value;
  const ok = Array.isArray(pair) && pair.length === 2 && pair.every(v => Number.isInteger(v) && v > 0);
  if (!ok) {
    throw new Error(`${kernelName}: attribute '${name}' must be a positive integer or a pair of them, ` +
                    `got ${JSON.stringify(value)}.`);
  }
  return pair as [number, number];
}

export function checkDimRoundingMode(kernelName: string, pad: unknown, mode: unknown): void {
  if (mode == null) return;
  if (mode !== 'floor' && mode !== 'round' && mode !== 'ceil') {
    throw new Error(`${kernelName}: attribute 'dimRoundingMode' must be 'floor', 'round' or 'ceil', ` +
                    `got '${String(mode)}'.`);
  }
  backend_util.checkPadOnDimRoundingMode(kernelName, pad as 'valid', mode);
}

/** Explicit padding must be [[0, 0], [top, bottom], [left, right], [0, 0]] of non-negative numbers (NHWC). */
export function checkPad(kernelName: string, pad: unknown): void {
  if (pad === 'same' || pad === 'valid') return;
  if (typeof pad === 'number' && pad >= 0) return;
  const explicit = Array.isArray(pad) && pad.length === 4 &&
      pad.every(p => Array.isArray(p) && p.length === 2 && p.every(v => typeof v === 'number' && v >= 0));
  if (!explicit) {
    throw new Error(`${kernelName}: attribute 'pad' must be 'same', 'valid', a non-negative number or ` +
                    `[[0, 0], [top, bottom], [left, right], [0, 0]], got ${JSON.stringify(pad)}.`);
  }
}

export function checkActivation(kernelName: string, activation: unknown, preluWeights: TensorInfo | undefined):
    FusedActivationName {
  const name = activation == null ? 'linear' : activation;
  if (!ACTIVATIONS.includes(name as FusedActivationName)) {
    throw new Error(`${kernelName}: attribute 'activation' '${String(name)}' is not supported ` +
                    `(${ACTIVATIONS.join(', ')}).`);
  }
  if (name === 'prelu' && preluWeights === undefined) {
    throw new Error(`${kernelName}: attribute 'activation' is 'prelu' but input 'preluActivationWeights' is missing.`);
  }
  return name as FusedActivationName;
}

export function checkLeakyReluAlpha(kernelName: string, alpha: unknown): number {
  if (alpha == null) return DEFAULT_LEAKYRELU_ALPHA;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) {
    throw new Error(`${kernelName}: attribute 'leakyreluAlpha' must be a finite number, got ${String(alpha)}.`);
  }
  return alpha;
}

/** Throws unless `shape` broadcasts to `outShape` (numpy rules), naming the input. */
export function checkBroadcastsTo(kernelName: string, name: string, shape: number[], outShape: number[]): void {
  let broadcast: number[];
  try {
    broadcast = broadcast_util.assertAndGetBroadcastShape(shape, outShape);
  } catch {
    broadcast = [];
  }
  if (broadcast.length !== outShape.length || broadcast.some((d, i) => d !== outShape[i])) {
    throw new Error(`${kernelName}: input '${name}' of shape [${shape.join(', ')}] does not broadcast to the ` +
                    `output shape [${outShape.join(', ')}].`);
  }
}

/** Runs a tfjs-core geometry helper and prefixes its errors with the kernel name. */
export function withKernelName<T>(kernelName: string, compute: () => T): T {
  try {
    return compute();
  } catch (e) {
    throw new Error(`${kernelName}: ${(e as Error).message}`);
  }
}
