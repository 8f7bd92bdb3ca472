import {backend_util, DataStorage, DataType, engine, KernelBackend, TensorInfo} from '@tensorflow/tfjs-core';
import {MathBackendCPU} from '@tensorflow/tfjs-backend-cpu';

import {ArrayCodeStore, CodeStore, Codes} from './code_store';
import {dequantizeValues, validateQuantizationParams} from './quant';
import type {CodeDtype, QuantizationParams} from './quant/types';

/** tfjs-core's opaque data handle. */
export type DataId = object;

/** The integer side of a quantized tensor: its codes and what they mean. */
export interface QuantizedData {
  dtype: CodeDtype;
  params: QuantizationParams;
  /** The shape the per-channel `params.axis` refers to (reshapes share codes). */
  shape: number[];
  store: CodeStore;
}

/** Something derived from a tensor (e.g. its weight codes), freed with it. */
interface Derived {
  value: unknown;
  free?: () => void;
}

/** The cpu backend's tensor entry, plus optional codes and derived data. */
export interface Int8TensorData {
  values?: backend_util.BackendValues;
  dtype: DataType;
  refCount: number;
  complexTensorInfos?: {real: TensorInfo; imag: TensorInfo};
  quantized?: QuantizedData;
  derived?: Map<string, Derived>;
}

/** Counters that tests and the benchmark read. */
export interface BackendInt8Stats {
  /** Times a quantized tensor was dequantized to float for a float kernel. */
  dequantizations: number;
  /** Times derived data (e.g. per-channel weight codes) was computed. */
  derivations: number;
}

/**
 * The cpu backend's storage, except that reading the entry of a quantized
 * tensor materializes its float `values` (dequantized once, then cached), so
 * every float kernel sees a float tensor.
 */
class QuantAwareStorage extends DataStorage<Int8TensorData> {
  constructor(backend: KernelBackend, private readonly onDequantize: () => void) {
    super(backend, engine());
  }

  override get(dataId: DataId): Int8TensorData {
    const entry = super.get(dataId);
    if (entry != null && entry.quantized != null && entry.values == null) {
      const {store, shape, params} = entry.quantized;
      entry.values = dequantizeValues(store.codes(), shape, params);
      this.onDequantize();
    }
    return entry;
  }

  /** The entry as stored, without materializing float values. */
  peek(dataId: DataId): Int8TensorData | undefined {
    // DataStorage keeps entries in a private WeakMap; reading it directly
    // skips both the data mover and the dequantization above.
    return (this as unknown as {data: WeakMap<DataId, Int8TensorData>}).data.get(dataId);
  }
}

/**
 * The `int8` backend: tfjs-backend-cpu for every kernel, with a tensor store
 * that also holds integer codes and quantization parameters, and integer
 * kernels (kernels/) under the kernel names they replace.
 */
export class BackendInt8 extends MathBackendCPU {
  override data: QuantAwareStorage;
  readonly stats: BackendInt8Stats = {dequantizations: 0, derivations: 0};
  private readonly liveStores = new Set<CodeStore>();

  constructor() {
    super();
    this.data = new QuantAwareStorage(this, () => this.stats.dequantizations++);
  }

  /** The codes and parameters of a quantized tensor, or undefined for a float one. */
  getQuantized(dataId: DataId): QuantizedData | undefined {
    return this.data.peek(dataId)?.quantized;
  }

  /** Whether this tensor currently holds integer codes. */
  isQuantized(dataId: DataId): boolean {
    return this.getQuantized(dataId) !== undefined;
  }

  /**
   * Stores codes with their parameters and returns the TensorInfo of a
   * float32 tensor whose values are their dequantization.
   */
  makeQuantizedOutput(
      codes: Codes | CodeStore, shape: number[], params: QuantizationParams,
      name = 'output'): TensorInfo {
    const store = isCodeStore(codes) ? codes : new ArrayCodeStore(codes);
    const size = shape.reduce((a, b) => a * b, 1);
    if (store.length !== size) {
      throw new Error(
          `Quantized tensor '${name}': ${store.length} codes do not fill shape ` +
          `[${shape.join(', ')}] (${size} elements).`);
    }
    validateQuantizationParams(params, shape, store.dtype, name);
    const dataId = this.write(undefined as unknown as backend_util.BackendValues, shape, 'float32');
    const entry = this.data.peek(dataId) as Int8TensorData;
    entry.quantized = {dtype: store.dtype, params: copyParams(params), shape: shape.slice(), store};
    this.liveStores.add(store);
    return {dataId, shape, dtype: 'float32'};
  }

  /**
   * Data derived from a tensor, computed once and freed when the tensor is
   * disposed (the dynamic mode's per-channel weight codes live here).
   */
  derive<T>(dataId: DataId, key: string, create: () => T, free?: (value: T) => void): T {
    const entry = this.data.peek(dataId);
    if (entry == null) {
      throw new Error(`Cannot derive '${key}' from a tensor that is not on the int8 backend.`);
    }
    entry.derived ??= new Map();
    const hit = entry.derived.get(key);
    if (hit !== undefined) return hit.value as T;
    const value = create();
    this.stats.derivations++;
    entry.derived.set(key, {value, free: free && (() => free(value))});
    return value;
  }

  /**
   * Static-mode weights (src/ops/int8_runtime.ts cachedCodesTensor): the float32
   * tensor `dataId`, whose values are exact integer codes (a quantized artifact's
   * weight Const), gives up its float values and holds those codes instead, as a
   * quantized tensor with scale 1 and zero point 0 — it still dequantizes to the
   * very same values, so every reader sees the same tensor. The codes are shared
   * with `codesOf`, a quantized tensor made from the same values (the executor's
   * cached weight tensor); their common store becomes a RelocatableCodeStore,
   * which a kernel may move into another form (weights packed in wasm memory,
   * kernels/impl/wasm_dispatch.ts). An int32 Const (a bias) keeps its values and
   * dtype; the quantized tensor shares them instead. Returns false and changes nothing unless
   * `dataId` is a float32 tensor whose values equal those codes exactly.
   */
  compactToCodes(dataId: DataId, shape: number[], codesOf: DataId): boolean {
    const entry = this.data.peek(dataId);
    const codesEntry = this.data.peek(codesOf);
    const q = codesEntry?.quantized;
    if (entry != null && q != null && dataId !== codesOf && entry.dtype === 'int32' && entry.values instanceof Int32Array &&
        q.store instanceof ArrayCodeStore && q.dtype === 'int32') {
      // An int32 Const (a bias) stays an int32 tensor; its codes tensor shares its values instead of a copy.
      const values = entry.values;
      const codes = q.store.codes();
      if (values.length !== codes.length) return false;
      for (let i = 0; i < codes.length; i++) {
        if (values[i] !== codes[i]) return false;
      }
      this.liveStores.delete(q.store);
      q.store = new ArrayCodeStore(values);
      this.liveStores.add(q.store);
      return true;
    }
    if (entry == null || q == null || dataId === codesOf || entry.quantized != null || entry.dtype !== 'float32' ||
        entry.complexTensorInfos != null) {
      return false;
    }
    const values = entry.values as ArrayLike<number> | undefined;
    const codes = q.store.codes();
    if (values == null || values.length !== codes.length || shape.reduce((a, b) => a * b, 1) !== codes.length) return false;
    for (let i = 0; i < codes.length; i++) {
      if (values[i] !== codes[i]) return false;
    }
    let store = q.store;
    if (store instanceof ArrayCodeStore) {
      store = new RelocatableCodeStore(codes);
      this.liveStores.delete(q.store);
      q.store = store;
      this.liveStores.add(store);
    }
    entry.quantized = {dtype: q.dtype, params: {scale: [1], zeroPoint: [0]}, shape: shape.slice(), store};
    entry.values = undefined;
    return true;
  }

  override readSync(dataId: DataId): backend_util.BackendValues {
    this.assertAlive(dataId);
    return super.readSync(dataId);
  }

  override async read(dataId: DataId): Promise<backend_util.BackendValues> {
    return this.readSync(dataId);
  }

  override refCount(dataId: DataId): number {
    return this.data.peek(dataId)?.refCount ?? 0;
  }

  override incRef(dataId: DataId): void {
    this.assertAlive(dataId);
    // Data still held by another backend is moved here first (DataStorage.get
    // does that), as the cpu backend's incRef does; peek alone would miss it.
    (this.data.peek(dataId) ?? this.data.get(dataId)).refCount++;
  }

  override decRef(dataId: DataId): void {
    const entry = this.data.peek(dataId);
    if (entry != null) entry.refCount--;
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const entry = this.data.peek(dataId);
    if (entry == null) return true;
    entry.refCount--;
    if (!force && entry.refCount > 0) return false;
    if (entry.complexTensorInfos != null) {
      this.disposeData(entry.complexTensorInfos.real.dataId, true);
      this.disposeData(entry.complexTensorInfos.imag.dataId, true);
    }
    this.releaseCodes(entry);
    this.data.delete(dataId);
    return true;
  }

  override dispose(): void {
    for (const store of this.liveStores) store.free();
    this.liveStores.clear();
    super.dispose();
  }

  private releaseCodes(entry: Int8TensorData): void {
    if (entry.quantized != null) {
      entry.quantized.store.free();
      this.liveStores.delete(entry.quantized.store);
      entry.quantized = undefined;
    }
    if (entry.derived != null) {
      for (const {free} of entry.derived.values()) free?.();
      entry.derived = undefined;
    }
  }

  private assertAlive(dataId: DataId): void {
    if (!this.data.has(dataId) && !engineKnows(dataId)) {
      const id = (dataId as {id?: number}).id;
      throw new Error(
          `Tensor data ${id ?? ''} was read after it was disposed (backend 'int8').`);
    }
  }
}

/**
 * Codes that may leave JavaScript once a kernel keeps them in another form
 * (weights packed in wasm memory): `relocate(read)` drops the array and
 * `codes()` then re-derives it with `read` (a fresh array per call, for the
 * rare reader: a reference kernel, a float read); `restore(read)` brings the
 * codes back before that other form goes away. Shared by a weight Const and its
 * cached quantized tensor (BackendInt8.compactToCodes); `free` is idempotent.
 */
export class RelocatableCodeStore implements CodeStore {
  readonly dtype: CodeDtype;
  readonly length: number;
  private array: Codes | null;
  private reader: (() => Codes) | null = null;
  private freed = false;

  constructor(codes: Codes) {
    this.array = codes;
    this.dtype = codes instanceof Int8Array ? 'int8' : 'int32';
    this.length = codes.length;
  }

  /** Whether the codes are held in JavaScript (not only in their other form). */
  get resident(): boolean {
    return this.array !== null;
  }

  codes(): Codes {
    if (this.freed) throw new Error('Quantized codes were read after they were freed.');
    if (this.array !== null) return this.array;
    return (this.reader as () => Codes)();
  }

  relocate(read: () => Codes): void {
    if (this.freed || this.array === null) return;
    this.reader = read;
    this.array = null;
  }

  restore(read: () => Codes): void {
    if (this.freed || this.reader !== read) return;
    this.array = read();
    this.reader = null;
  }

  free(): void {
    this.freed = true;
    this.array = null;
    this.reader = null;
  }
}

function isCodeStore(x: Codes | CodeStore): x is CodeStore {
  return typeof (x as CodeStore).codes === 'function';
}

function copyParams(p: QuantizationParams): QuantizationParams {
  return p.axis === undefined ?
      {scale: p.scale.slice(), zeroPoint: p.zeroPoint.slice()} :
      {scale: p.scale.slice(), zeroPoint: p.zeroPoint.slice(), axis: p.axis};
}

/** Whether the engine still tracks this data id (it may live on another backend). */
function engineKnows(dataId: DataId): boolean {
  const state = (engine() as unknown as {state: {tensorInfo: WeakMap<DataId, unknown>}}).state;
  return state.tensorInfo.has(dataId);
}
