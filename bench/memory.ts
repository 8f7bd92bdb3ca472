// Resident weight memory of a loaded model, asked of the backend that holds it rather than
// estimated from the model file:
// - cpu / wasm (float backends): the bytes the engine counts for the tensors the load created
//   (tf.memory().numBytes before and after; every weight is float32 or int32 there);
// - int8: the backend's tensor store, walked from the model's weight tensors: float values it
//   holds in JavaScript, integer codes in JavaScript arrays, and everything the kernels derived
//   and cached from a weight (per-channel codes, column sums, int32 biases, the static path's
//   code tensors; an array shared by several entries counted once; codes moved into packed
//   wasm weights not counted in JavaScript), plus the growth of the int8 WebAssembly heap (its allocatedBytes(): packed
//   weights and requantization tables live there). The engine's count is wrong for int8: to tfjs
//   every quantized tensor is float32 (4 bytes per element) whatever its codes take.

import * as tf from '@tensorflow/tfjs-core';

import {RelocatableCodeStore} from '../src/backend';
import type {BackendInt8, Int8TensorData} from '../src/backend';
import {Int8Wasm, sharedInt8Wasm} from '../kernels/wasm/loader';

export interface ResidentBytes {
  /** Everything below, summed. */
  total: number;
  /** Float (or int32) values of weight tensors, held in JavaScript or by a float backend. */
  floatBytes: number;
  /** Integer codes and other data derived from the weights, in JavaScript typed arrays. */
  derivedBytes: number;
  /** Growth of the int8 WebAssembly heap over the baseline (packed weights, codes, tables). */
  wasmBytes: number;
}

/** The int8 WebAssembly heap in use, or 0 when the wasm kernels are not loaded. */
export function int8WasmAllocatedBytes(): number {
  try {
    return sharedInt8Wasm()?.allocatedBytes() ?? 0;
  } catch {
    return 0;
  }
}

/** The tensors that hold a model's weights (GraphModel.weights or LayersModel.weights). */
export function modelWeightTensors(model: unknown): tf.Tensor[] {
  const m = model as {weights?: unknown};
  const weights = m.weights;
  if (Array.isArray(weights)) {
    // LayersModel: LayerVariable[]; read() returns the variable's tensor without copying.
    return weights.map(w => (w as {read(): tf.Tensor}).read());
  }
  if (weights != null && typeof weights === 'object') {
    // GraphModel: {name: Tensor[]}
    return Object.values(weights as Record<string, tf.Tensor[]>).flat();
  }
  throw new Error('cannot list the weights of this model (neither a GraphModel nor a LayersModel)');
}

/** Bytes of float values held by a float backend: the engine's count. */
export function engineBytes(): number {
  return tf.memory().numBytes;
}

interface Walk {
  backend: BackendInt8;
  wasmBuffer: ArrayBufferLike | null;
  seenEntries: Set<object>;
  seenObjects: WeakSet<object>;
}

function typedArrayBytes(view: ArrayBufferView, walk: Walk): number {
  // A view over the int8 wasm memory is counted once, by allocatedBytes().
  if (walk.wasmBuffer !== null && view.buffer === walk.wasmBuffer) return 0;
  return view.byteLength;
}

/** Bytes of a value the backend derived from a weight (typed arrays, tensors, objects of them). */
function derivedValueBytes(value: unknown, walk: Walk, depth: number): number {
  if (value == null || typeof value !== 'object' || depth > 6) return 0;
  if (walk.seenObjects.has(value)) return 0;
  walk.seenObjects.add(value);
  if (ArrayBuffer.isView(value)) return typedArrayBytes(value, walk);
  if (value instanceof ArrayBuffer) return value.byteLength;
  if (value instanceof tf.Tensor) {
    const parts = entryBytes(value.dataId, walk);
    return parts.floatBytes + parts.derivedBytes;
  }
  if (value instanceof Int8Wasm || value instanceof WebAssembly.Memory) return 0;
  const children = value instanceof Map ? [...value.values()] : Array.isArray(value) ? value : Object.values(value);
  let total = 0;
  for (const child of children) total += derivedValueBytes(child, walk, depth + 1);
  return total;
}

function entryBytes(dataId: object, walk: Walk): {floatBytes: number; derivedBytes: number} {
  const result = {floatBytes: 0, derivedBytes: 0};
  if (walk.seenEntries.has(dataId)) return result;
  walk.seenEntries.add(dataId);
  const entry: Int8TensorData | undefined = walk.backend.data.peek(dataId);
  if (entry === undefined) return result;
  const values = entry.values as unknown;
  if (values != null && ArrayBuffer.isView(values) && !walk.seenObjects.has(values)) {
    walk.seenObjects.add(values);
    result.floatBytes += typedArrayBytes(values, walk);
  }
  if (entry.quantized !== undefined) {
    const {store} = entry.quantized;
    // A relocated store holds no codes in JavaScript (its packed form is in the wasm heap);
    // codes() would unpack a temporary copy, which is not resident.
    if (!(store instanceof RelocatableCodeStore) || store.resident) {
      try {
        // A weight Const and its cached code tensor share one array: count it once.
        result.derivedBytes += derivedValueBytes(store.codes(), walk, 0);
      } catch {
        // freed codes take no memory
      }
    }
  }
  if (entry.derived !== undefined) {
    for (const derived of entry.derived.values()) result.derivedBytes += derivedValueBytes(derived.value, walk, 0);
  }
  return result;
}

/**
 * What the int8 backend keeps for these weight tensors: their float values, the codes and other
 * data derived from them, and the int8 wasm heap's growth since `wasmBaselineBytes`.
 */
export function int8ResidentBytes(backend: BackendInt8, weights: readonly tf.Tensor[], wasmBaselineBytes: number): ResidentBytes {
  const walk: Walk = {
    backend,
    wasmBuffer: sharedInt8WasmBuffer(),
    seenEntries: new Set(),
    seenObjects: new WeakSet(),
  };
  let floatBytes = 0;
  let derivedBytes = 0;
  for (const weight of weights) {
    const parts = entryBytes(weight.dataId, walk);
    floatBytes += parts.floatBytes;
    derivedBytes += parts.derivedBytes;
  }
  const wasmBytes = Math.max(0, int8WasmAllocatedBytes() - wasmBaselineBytes);
  return {total: floatBytes + derivedBytes + wasmBytes, floatBytes, derivedBytes, wasmBytes};
}

function sharedInt8WasmBuffer(): ArrayBufferLike | null {
  try {
    return sharedInt8Wasm()?.memory.buffer ?? null;
  } catch {
    return null;
  }
}

/** A float backend's resident weights: the engine's byte count growth over the load. */
export function floatResidentBytes(bytesBefore: number, bytesAfter: number): ResidentBytes {
  const floatBytes = Math.max(0, bytesAfter - bytesBefore);
  return {total: floatBytes, floatBytes, derivedBytes: 0, wasmBytes: 0};
}
