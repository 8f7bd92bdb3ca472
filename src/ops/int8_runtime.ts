// What the executors need from the `int8` backend: whether it is active, the
// custom kernels of docs/CONTRACTS.md, and weight codes cached per Const.

import * as tf from '@tensorflow/tfjs-core';

import {BackendInt8} from '../backend';

export const INT8_BACKEND_NAME = 'int8';

export function isInt8Active(): boolean {
  return tf.getBackend() === INT8_BACKEND_NAME;
}

function activeInt8Backend(): BackendInt8 {
  const backend = tf.backend();
  if (!(backend instanceof BackendInt8)) {
    throw new Error(`The active backend '${tf.getBackend()}' is not the int8 backend.`);
  }
  return backend;
}

/** runKernel on the int8 backend, with an error naming the graph op if the kernel is missing. */
export function runInt8Kernel(kernelName: string, inputs: tf.NamedTensorMap, attrs: Record<string, unknown>, op: string): tf.Tensor {
  if (tf.getKernel(kernelName, INT8_BACKEND_NAME) == null) {
    throw new Error(
        `${op}: the int8 backend has no '${kernelName}' kernel (see docs/CONTRACTS.md); ` +
        `run this quantized model on 'cpu' (float simulation) until it is registered.`);
  }
  return tf.engine().runKernel(kernelName, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** Per-tensor params of an int8 tensor on the int8 backend, or undefined if it holds float values. */
export function perTensorQuantization(x: tf.Tensor): {scale: number; zeroPoint: number; dtype: string} | undefined {
  const q = activeInt8Backend().getQuantized(x.dataId);
  if (q == null || q.params.axis !== undefined || q.params.scale.length !== 1) return undefined;
  return {scale: q.params.scale[0], zeroPoint: q.params.zeroPoint[0], dtype: q.dtype};
}

/** `x` as int8 codes with exactly these params: as is if it already is, else Int8Quantize. */
export function ensureQuantized(x: tf.Tensor, scale: number, zeroPoint: number, op: string): tf.Tensor {
  const current = perTensorQuantization(x);
  if (current !== undefined && current.dtype === 'int8' && current.scale === scale && current.zeroPoint === zeroPoint) return x;
  return runInt8Kernel('Int8Quantize', {x}, {scale, zeroPoint}, op);
}

export interface CodesSpec {
  dtype: 'int8' | 'int32';
  scale: number[];
  zeroPoint: number[];
  /** −1: per tensor. */
  axis: number;
  /** Shape to give the codes before Int8FromCodes (e.g. matmul's 3-D filter). */
  shape?: number[];
}

/**
 * The quantized tensor for a Const holding codes, made once per Const (and
 * spec) and kept until that Const is disposed: weights are not re-quantized
 * per inference. Once it is made, the Const itself gives up its float values
 * and holds the same codes (scale 1, zero point 0: it still reads as the same
 * numbers), shared with the quantized tensor (BackendInt8.compactToCodes): in
 * static mode a weight stays resident as its codes only (and, once the wasm
 * kernels packed them, as its packed form only).
 */
export function cachedCodesTensor(source: tf.Tensor, spec: CodesSpec, op: string): tf.Tensor {
  const backend = activeInt8Backend();
  if (!backend.data.has(source.dataId)) {
    // Created on another backend (the model was loaded before setBackend('int8')): move it here.
    backend.data.get(source.dataId);
  }
  const key = specKey(spec, source.shape);
  return backend.derive(source.dataId, key, () => {
    const shaped = spec.shape != null ? tf.reshape(source, spec.shape) : source;
    const made = runInt8Kernel('Int8FromCodes', {x: shaped}, {dtype: spec.dtype, scale: spec.scale, zeroPoint: spec.zeroPoint, axis: spec.axis}, op);
    tf.keep(made);
    if (shaped !== source) shaped.dispose();
    backend.compactToCodes(source.dataId, source.shape, made.dataId);
    return made;
  }, made => made.dispose());
}

/**
 * The quantized tensor for `spec.scale.length` codes of a shared table Const (a node's bias
 * codes in the bias table, src/ops/channel_tables.ts) from `offset`: made once per table,
 * slice and spec, kept until the table is disposed. The table itself keeps its values
 * (a few bytes a channel, read by every node).
 */
export function cachedTableSliceCodes(table: tf.Tensor, offset: number, spec: CodesSpec, op: string): tf.Tensor {
  const backend = activeInt8Backend();
  if (!backend.data.has(table.dataId)) backend.data.get(table.dataId);
  const length = spec.scale.length;
  return backend.derive(table.dataId, `graph-slice:${offset}:${specKey(spec, [length])}`, () => {
    const values = table.dataSync().slice(offset, offset + length);
    if (values.length !== length) throw new Error(`${op}: the table has ${table.size} values; the node reads ${length} from offset ${offset}.`);
    const slice = tf.tensor(values, [length], table.dtype);
    const made = runInt8Kernel('Int8FromCodes', {x: slice}, {dtype: spec.dtype, scale: spec.scale, zeroPoint: spec.zeroPoint, axis: spec.axis}, op);
    tf.keep(made);
    slice.dispose();
    return made;
  }, made => made.dispose());
}

/** The derive key of a CodesSpec, built once per spec object and shape (executors keep their specs per node). */
const specKeys = new WeakMap<CodesSpec, Map<string, string>>();

function specKey(spec: CodesSpec, sourceShape: number[]): string {
  const shape = (spec.shape ?? sourceShape).join('x');
  let byShape = specKeys.get(spec);
  if (byShape === undefined) {
    byShape = new Map();
    specKeys.set(spec, byShape);
  }
  let key = byShape.get(shape);
  if (key === undefined) {
    key = `graph-codes:${spec.dtype}:${spec.axis}:${shape}:${spec.scale.join(',')}`;
    byShape.set(shape, key);
  }
  return key;
}
