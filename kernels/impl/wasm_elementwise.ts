// WebAssembly paths of the static-mode elementwise kernels (Add, PadV2,
// Int8Quantize): codes stay in wasm memory (WasmCodeStore outputs), so the next
// wasm kernel reads them by pointer. Each path computes exactly what its
// TypeScript reference computes (elementwise_int8.ts addInt8, pad_int8.ts
// padCodes, src/quant quantizeValues); test/kernels/wasm_elementwise_static.test.ts
// compares them bit for bit. Each returns null when the reference must run
// (shapes or parameters it does not cover); "out of wasm memory" is left to
// unlessOutOfMemory.

import type {TensorInfo} from '@tensorflow/tfjs-core';

import type {BackendInt8} from '../../src/backend';
import type {ActivationRange, QuantizationParams, QuantizedAddParams} from '../../src/quant';
import {WasmCodeStore} from '../wasm/loader';
import type {Int8Wasm} from '../wasm/loader';
import {rowMajorStrides, sizeOfShape} from './broadcast';
import {wasmDispatchCounters} from './wasm_dispatch';

/** Per-tensor int8 codes of a tensor in wasm memory: by pointer when resident, else copied in. */
interface ResidentCodes {
  ptr: number;
  release(): void;
}

function residentCodes(wasm: Int8Wasm, backend: BackendInt8, x: TensorInfo): ResidentCodes | null {
  const q = backend.getQuantized(x.dataId);
  if (q === undefined || q.dtype !== 'int8') return null;
  const {store} = q;
  if (store instanceof WasmCodeStore && store.isIn(wasm)) return {ptr: store.ptr, release: () => {}};
  const ptr = wasm.alloc(Math.max(store.length, 1));
  wasm.heapI8().set(store.codes() as Int8Array, ptr);
  return {ptr, release: () => wasm.free(ptr)};
}

/** Makes the output tensor of `store`; frees the store if that throws. */
function outputOf(backend: BackendInt8, store: WasmCodeStore, shape: number[], params: QuantizationParams,
                  name: string): TensorInfo {
  try {
    return backend.makeQuantizedOutput(store, shape, params, name);
  } catch (e) {
    store.free();
    throw e;
  }
}

/** Whether TFLite's Add shifts fit the wasm kernel (right shifts of at most 31). */
function addShiftsOk(p: QuantizedAddParams): boolean {
  return [p.input1Shift, p.input2Shift, p.outputShift].every(s => Number.isInteger(s) && s <= 0 && s >= -31);
}

/** Add of two per-tensor int8 tensors of the same size (elementwise_int8.ts addInt8 without broadcasting). */
export function wasmAdd(wasm: Int8Wasm, backend: BackendInt8, a: TensorInfo, b: TensorInfo, outShape: number[],
                        prepared: QuantizedAddParams, range: ActivationRange, outParams: QuantizationParams,
                        name: string): TensorInfo | null {
  const size = sizeOfShape(outShape);
  if (sizeOfShape(a.shape) !== size || sizeOfShape(b.shape) !== size || size === 0) return null;
  if (!addShiftsOk(prepared)) return null;
  const x = residentCodes(wasm, backend, a);
  if (x === null) return null;
  try {
    const y = residentCodes(wasm, backend, b);
    if (y === null) return null;
    try {
      const store = WasmCodeStore.adopt(wasm, 'int8', size, wasm.alloc(size));
      try {
        wasm.addInt8(x.ptr, y.ptr, store.ptr, size, prepared, range.lo, range.hi);
      } catch (e) {
        store.free();
        throw e;
      }
      wasmDispatchCounters.add++;
      return outputOf(backend, store, outShape, outParams, name);
    } finally {
      y.release();
    }
  } finally {
    x.release();
  }
}

/**
 * Constant padding (pad_int8.ts padCodes): the trailing axes without padding are
 * merged into one contiguous run, each run copied with memory.copy after a fill.
 */
export function wasmPad(wasm: Int8Wasm, backend: BackendInt8, x: TensorInfo,
                        paddings: ReadonlyArray<readonly [number, number]>, fillCode: number,
                        params: QuantizationParams, name: string): TensorInfo | null {
  const shape = x.shape;
  const rank = shape.length;
  const outShape = shape.map((dim, axis) => paddings[axis][0] + dim + paddings[axis][1]);
  const outSize = sizeOfShape(outShape);
  const inSize = sizeOfShape(shape);
  if (rank === 0 || inSize === 0 || outSize === 0) return null;
  // Innermost axes with no padding form one run with the first padded axis' dim.
  let runAxis = rank - 1;
  while (runAxis > 0 && paddings[runAxis][0] === 0 && paddings[runAxis][1] === 0) runAxis--;
  const run = sizeOfShape(shape.slice(runAxis));
  const rows = inSize / run;
  const outStrides = rowMajorStrides(outShape);
  const src = residentCodes(wasm, backend, x);
  if (src === null) return null;
  let offsets = 0;
  try {
    offsets = wasm.alloc(rows * 4);
    const off = new Int32Array(rows);
    let origin = 0;
    for (let axis = 0; axis < rank; axis++) origin += paddings[axis][0] * outStrides[axis];
    const coordinate = new Array<number>(runAxis).fill(0);
    for (let r = 0; r < rows; r++) {
      let target = origin;
      for (let axis = 0; axis < runAxis; axis++) target += coordinate[axis] * outStrides[axis];
      off[r] = target;
      for (let axis = runAxis - 1; axis >= 0; axis--) {
        if (++coordinate[axis] < shape[axis]) break;
        coordinate[axis] = 0;
      }
    }
    wasm.heapI32().set(off, offsets >> 2);
    const store = WasmCodeStore.adopt(wasm, 'int8', outSize, wasm.alloc(outSize));
    try {
      wasm.padRows(src.ptr, rows, run, offsets, store.ptr, outSize, fillCode);
    } catch (e) {
      store.free();
      throw e;
    }
    wasmDispatchCounters.pad++;
    return outputOf(backend, store, outShape, params, name);
  } finally {
    if (offsets !== 0) wasm.free(offsets);
    src.release();
  }
}

/**
 * float32 values quantized per tensor (src/quant quantizeValues: round half away
 * from zero, plus Z, clamped) by the wasm quantizer. Null for a NaN (the
 * reference then reports it) or a non-float32 source.
 */
export function wasmQuantize(wasm: Int8Wasm, backend: BackendInt8, x: TensorInfo, scale: number, zeroPoint: number,
                             params: QuantizationParams, name: string): TensorInfo | null {
  const values = backend.data.get(x.dataId).values;
  if (!(values instanceof Float32Array) || values.length === 0) return null;
  const n = values.length;
  const src = wasm.alloc(n * 4);
  try {
    wasm.heapF32().set(values, src >> 2);
    const store = WasmCodeStore.adopt(wasm, 'int8', n, wasm.alloc(n));
    const nans = wasm.exports.quantizeF32ToI8(src, n, scale, zeroPoint, store.ptr);
    if (nans !== 0) {
      store.free();
      return null;
    }
    wasmDispatchCounters.quantize++;
    return outputOf(backend, store, x.shape.slice(), params, name);
  } finally {
    wasm.free(src);
  }
}
