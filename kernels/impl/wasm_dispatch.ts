// The switch between the WebAssembly SIMD kernels (kernels/wasm) and the
// TypeScript reference kernels, and what the wasm paths of the conv and matmul
// kernel bodies share: the activation in wasm memory, weights packed once per
// weight tensor, and the three epilogues (int8 codes, int32 accumulators,
// float). Every path here computes exactly what the reference computes
// (conv_kernel.ts, matmul_kernel.ts with output.ts): same operands (operands.ts
// decides quantization parameters), same int32 accumulators, same epilogue
// formulas; test/kernels/wasm_*.test.ts check it bit for bit.
//
// The switch: the tfjs environment flag INT8_WASM (default: the runtime
// validates WebAssembly SIMD and the environment variable TFJS_INT8_WASM is not
// "0"/"false"). `tf.env().set('INT8_WASM', false)` forces the reference kernels.
//
// Memory (all in the process-wide instance sharedInt8Wasm()):
// - packed weights and requantization tables: derived data of the weight
//   tensor (backend.derive), freed with it;
// - int8 / int32 outputs of the integer epilogues: WasmCodeStore, freed with
//   the output tensor; a later kernel reads them by pointer, without a copy;
// - float outputs of the fused float epilogue: their values (the "twin",
//   derived data of the output tensor, freed with it), copied into JavaScript
//   only when read (see FloatTwin);
// - one 16-byte block per instance for ranges, kept;
// - everything else (input codes, accumulators of the unfused float epilogue,
//   scale blocks, repeated channels): allocated and freed within the call.

import {env} from '@tensorflow/tfjs-core';
import type {TensorInfo} from '@tensorflow/tfjs-core';

import {RelocatableCodeStore} from '../../src/backend';
import type {BackendInt8} from '../../src/backend';
import {activationRange, chooseQuantizationParams, validateQuantizationParams} from '../../src/quant';
import type {PerTensorParams} from '../../src/quant';
import {
  Int8Wasm, PackedDepthwiseWeights, PackedGemmWeights, RequantTable, sharedInt8Wasm, simdSupported, WasmCodeStore,
} from '../wasm/loader';
import type {FloatOutputParams} from '../wasm/loader';
import {
  addBias, applyActivation, broadcastOverOutput, channelMultipliers, clampAccumulators, sixInAccumulatorScale,
} from './epilogue';
import type {ChannelBroadcast} from './epilogue';
import {ensureOnBackend, floatValues, identityOf} from './operands';
import type {WeightOperand} from './operands';
import {
  accumulatorParams, accumulatorScale, cachedWithWeights, floatOrInt8Output, int32Bias, isIntegerEpilogue, perTensor,
  preluSlopeMultipliers,
} from './output';
import type {EpilogueSpec} from './output';

/** The tfjs environment flag that enables the WebAssembly kernels. */
export const INT8_WASM_FLAG = 'INT8_WASM';

function defaultEnabled(): boolean {
  const setting = (globalThis as {process?: {env?: Record<string, string | undefined>}}).process?.env?.TFJS_INT8_WASM;
  if (setting === '0' || setting === 'false') return false;
  return simdSupported();
}

function registerFlag(): void {
  const registry = (env() as unknown as {flagRegistry?: Record<string, unknown>}).flagRegistry;
  if (registry?.[INT8_WASM_FLAG] == null) env().registerFlag(INT8_WASM_FLAG, defaultEnabled);
}
registerFlag();

/**
 * The wasm kernels to use for this call, or null for the reference kernels
 * (flag off, no WebAssembly SIMD, or the module failed to load).
 */
export function activeInt8Wasm(): Int8Wasm | null {
  if (!env().getBool(INT8_WASM_FLAG)) return null;
  return sharedInt8Wasm();
}

/**
 * Runs a wasm path, turning "out of WebAssembly memory" (wasm32 memory ends at
 * 4 GiB, and may be capped lower) into null: the caller then runs the
 * reference kernel on JavaScript arrays. Every wasm path frees what it
 * allocated when it throws.
 */
export function unlessOutOfMemory(run: () => TensorInfo | null): TensorInfo | null {
  try {
    return run();
  } catch (e) {
    if (e instanceof Error && /^int8 wasm[^:]*: out of (WebAssembly )?memory/.test(e.message)) return null;
    throw e;
  }
}

/** How often each wasm path ran (tests read it to prove the dispatch happened). */
export const wasmDispatchCounters = {conv2d: 0, depthwise: 0, matmul: 0, add: 0, pad: 0, quantize: 0};

/** An int8 per-tensor activation in wasm memory: r = scale·(q − zeroPoint). */
export interface WasmActivation {
  ptr: number;
  length: number;
  scale: number;
  zeroPoint: number;
  /** The tensor held these codes (static mode) rather than float values. */
  fromCodes: boolean;
  /** Releases the codes when this call allocated them. */
  release(): void;
}

/** A block holding two float32 (the range of rangeInto), kept per instance. */
const rangeScratch = new WeakMap<Int8Wasm, number>();

function rangeBlock(wasm: Int8Wasm): number {
  let p = rangeScratch.get(wasm);
  if (p === undefined) {
    p = wasm.alloc(16);
    rangeScratch.set(wasm, p);
  }
  return p;
}

/** Copies int8 codes into a new block of `wasm` (the view is taken after the allocation). */
function copyIn(wasm: Int8Wasm, length: number, codes: () => ArrayLike<number>): number {
  const p = wasm.alloc(length);
  wasm.heapI8().set(codes(), p);
  return p;
}

/**
 * The activation `x` as per-tensor int8 codes in wasm memory, as operands.ts
 * activationOperand makes them: its own codes when it is a per-tensor int8
 * tensor (by pointer when they live in this instance already), otherwise its
 * float values quantized per tensor from their range (range and quantization
 * in wasm, parameters from src/quant chooseQuantizationParams). Null when a
 * value is NaN or ±Infinity (the reference path then falls back to float).
 */
export function wasmActivation(wasm: Int8Wasm, backend: BackendInt8, x: TensorInfo): WasmActivation | null {
  ensureOnBackend(backend, x);
  const q = backend.getQuantized(x.dataId);
  if (q !== undefined && q.dtype === 'int8' && q.params.scale.length === 1) {
    const {store, params} = q;
    const resident = store instanceof WasmCodeStore && store.isIn(wasm);
    const ptr = resident ? store.ptr : copyIn(wasm, store.length, () => store.codes());
    return {
      ptr, length: store.length, scale: params.scale[0], zeroPoint: params.zeroPoint[0], fromCodes: true,
      release: () => {
        if (!resident) wasm.free(ptr);
      },
    };
  }
  const n = x.shape.reduce((a, b) => a * b, 1);
  const twin = floatTwinOf(wasm, backend, x.dataId, n);
  let floats = 0;
  try {
    let range: {min: number; max: number; nanCount: number};
    if (twin !== null) {
      range = {min: twin.min, max: twin.max, nanCount: 0};
    } else {
      const values = floatValues(backend, x);
      floats = wasm.alloc(n * 4);
      wasm.heapF32().set(values, floats >> 2);
      range = wasm.rangeInto(floats, n, rangeBlock(wasm));
    }
    if (range.nanCount > 0 || !Number.isFinite(range.min) || !Number.isFinite(range.max)) return null;
    // dynamic.ts quantizeActivation's range: [min, max] widened to contain 0.
    const min = range.min < 0 ? range.min : 0;
    const max = range.max > 0 ? range.max : 0;
    const {scale, zeroPoint} = chooseQuantizationParams(min, max, {dtype: 'int8'});
    const codes = wasm.alloc(n);
    wasm.quantize(twin !== null ? twin.ptr : floats, n, scale, zeroPoint, codes);
    return {ptr: codes, length: n, scale, zeroPoint, fromCodes: false, release: () => wasm.free(codes)};
  } finally {
    if (floats !== 0) wasm.free(floats);
  }
}

/**
 * A float output of a wasm kernel keeps a copy of its values in wasm memory
 * (its "twin", with their [min, max]), derived data of the output tensor freed
 * with it: the next wasm kernel quantizes from it without copying the values
 * in or scanning their range again. Tensors are immutable, so the twin stays
 * equal to the values (a tensor shares its dataId only with reshapes of it:
 * the same values).
 */
interface FloatTwin {
  wasm: Int8Wasm;
  ptr: number;
  length: number;
  /** min and max of the values; all are finite or ±Infinity, none NaN. */
  min: number;
  max: number;
}

const FLOAT_TWIN_KEY = 'int8.wasm.floatTwin';

function floatTwinOf(wasm: Int8Wasm, backend: BackendInt8, dataId: object, length: number): FloatTwin | null {
  const twin = backend.data.peek(dataId)?.derived?.get(FLOAT_TWIN_KEY)?.value as FloatTwin | undefined;
  return twin !== undefined && twin.wasm === wasm && twin.length === length ? twin : null;
}

/** Packed weights with the bias currently written into them. */
interface Packed<P extends PackedGemmWeights | PackedDepthwiseWeights> {
  weights: P;
  bias: Int32Array | null;
}

function cacheOf(weights: WeightOperand, what: string): NonNullable<WeightOperand['cache']> {
  if (weights.cache === null) throw new Error(`int8 wasm: ${what} needs weights cached with a tensor`);
  return weights.cache;
}

/** Copies a codes view that lives in this instance's memory (packing allocates). */
function detachedCodes(wasm: Int8Wasm, codes: Int8Array): Int8Array {
  return codes.buffer === wasm.memory.buffer ? codes.slice() : codes;
}

/**
 * How static weights (codes in a RelocatableCodeStore, src/backend.ts) are packed:
 * 'int8' (default) 1 byte per weight, the micro-kernels widen in the loop;
 * 'int16' 2 bytes per weight (the dynamic mode's packing; faster loop, twice the
 * memory). Environment variable TFJS_INT8_STATIC_PACK, read once.
 */
function staticPacking(): 'int8' | 'int16' {
  const setting = (globalThis as {process?: {env?: Record<string, string | undefined>}}).process?.env?.TFJS_INT8_STATIC_PACK;
  return setting === 'int16' ? 'int16' : 'int8';
}
const STATIC_PACKING = staticPacking();

/** The weight's codes store when it may leave JavaScript once packed (static-mode weights). */
function relocatableStore(backend: BackendInt8, weights: WeightOperand): RelocatableCodeStore | null {
  if (weights.cache === null) return null;
  const store = backend.getQuantized(weights.cache.dataId)?.store;
  return store instanceof RelocatableCodeStore && store.resident && store.dtype === 'int8' ? store : null;
}

/**
 * The weights packed for gemm / conv2d ([k, n], or [n, k] with transposed),
 * packed once per weight tensor and layout and freed with the weight. Static
 * weights (a RelocatableCodeStore) are packed as int8 and their JavaScript codes
 * are dropped: the packed form is then the only resident copy, and `codes()`
 * unpacks it for the rare reader (reference kernels, float reads); the codes
 * return to JavaScript before the packed form is freed while the store lives.
 */
export function packedGemm(wasm: Int8Wasm, backend: BackendInt8, weights: WeightOperand, k: number, n: number,
                           transposed: boolean): Packed<PackedGemmWeights> {
  const cache = cacheOf(weights, 'packGemmWeights');
  return backend.derive(cache.dataId, `${cache.key}:wasm.gemm:${transposed ? 't' : 'n'}`, () => {
    const store = relocatableStore(backend, weights);
    const packed = wasm.packGemmWeights(detachedCodes(wasm, weights.codes()), k, n,
                                        {transposed, int8: store !== null && STATIC_PACKING === 'int8'});
    let unpack: (() => Int8Array) | null = null;
    if (store !== null) {
      unpack = () => wasm.unpackGemmWeights(packed, transposed);
      store.relocate(unpack);
    }
    return {weights: packed, bias: null, store, unpack};
  }, p => {
    if (p.store !== null && p.unpack !== null) p.store.restore(p.unpack);
    p.weights.free();
  });
}

/**
 * The depthwise filter [fh, fw, inC, multiplier] packed once per weight tensor, freed with it.
 * Static weights (a RelocatableCodeStore) are packed as int8 pairs (each call widens them
 * into scratch) and their JavaScript codes are dropped, as packedGemm does.
 */
export function packedDepthwise(wasm: Int8Wasm, backend: BackendInt8, weights: WeightOperand, fh: number, fw: number,
                                inChannels: number, multiplier: number): Packed<PackedDepthwiseWeights> {
  const cache = cacheOf(weights, 'packDepthwiseWeights');
  return backend.derive(cache.dataId, `${cache.key}:wasm.depthwise`, () => {
    const store = relocatableStore(backend, weights);
    const packed = wasm.packDepthwiseWeights(detachedCodes(wasm, weights.codes()), fh, fw, inChannels, multiplier,
                                             {int8: store !== null && STATIC_PACKING === 'int8'});
    let unpack: (() => Int8Array) | null = null;
    if (store !== null) {
      unpack = () => wasm.unpackDepthwiseWeights(packed);
      store.relocate(unpack);
    }
    return {weights: packed, bias: null, store, unpack};
  }, p => {
    if (p.store !== null && p.unpack !== null) p.store.restore(p.unpack);
    p.weights.free();
  });
}

/** Writes `bias` (or zeros) into the packed weights unless it is there already. */
function useBias(wasm: Int8Wasm, packed: Packed<PackedGemmWeights | PackedDepthwiseWeights>,
                 bias: Int32Array | null): void {
  if (packed.bias === bias) return;
  wasm.setPackedBias(packed.weights, bias);
  packed.bias = bias;
}

/** Static packed weights: the bias they hold, named by what it was computed from (no JavaScript copy kept). */
const staticBiasKeys = new WeakMap<object, string>();
/** `Packed.bias` of weights holding a static bias: equal to no other bias, so useBias rewrites it. */
const STATIC_BIAS = new Int32Array(0);

/**
 * The static path's bias: computed (output.ts int32Bias, uncached) and written into the
 * packed weights only when what it derives from changed (the bias tensor, the input scale);
 * the packed weights then hold its only derived copy.
 */
function useStaticBias(wasm: Int8Wasm, backend: BackendInt8, spec: EpilogueSpec, weights: WeightOperand,
                       packed: Packed<PackedGemmWeights | PackedDepthwiseWeights>, inputScale: number,
                       accScale: Float64Array): void {
  const key = spec.bias === undefined ? 'none' : `${identityOf(spec.bias.dataId)}:${inputScale}`;
  if (staticBiasKeys.get(packed) === key) return;
  // No spread: it would read (compute) the lazy channel sums.
  const uncached: WeightOperand = {
    codes: weights.codes, zeroPoint: weights.zeroPoint, channelScale: weights.channelScale,
    get channelSums(): Int32Array {
      return weights.channelSums;
    },
    cache: null,
  };
  const bias = int32Bias(backend, spec, uncached, inputScale, accScale);
  wasm.setPackedBias(packed.weights, bias);
  packed.bias = STATIC_BIAS;
  staticBiasKeys.set(packed, key);
}

/** What a wasm conv / matmul computes, given where to write. */
export interface WasmProduct {
  /** int8 codes requantized by `table`, clamped to [lo, hi]. */
  int8(out: number, table: RequantTable, zeroPointOut: number, lo: number, hi: number): void;
  /** int32 accumulators (bias included). */
  int32(out: number): void;
  /** float32 through the fused float epilogue; returns the output's [min, max]. */
  float32(out: number, params: FloatOutputParams): {min: number; max: number};
}

/**
 * Runs `product` with the packed weights and the epilogue the reference would
 * run (output.ts: isIntegerEpilogue decides), and returns the output tensor:
 * - integer epilogue with output parameters: int8 codes in wasm memory;
 * - integer epilogue without: int32 accumulators in wasm memory (relu/relu6
 *   clamped as clampAccumulators does);
 * - float epilogue: accumulators dequantized with bias and activation
 *   (finishFloatInWasm), float output or int8 when output parameters were given.
 */
export function finishWasmProduct(
    wasm: Int8Wasm, backend: BackendInt8, spec: EpilogueSpec, input: WasmActivation, weights: WeightOperand,
    packed: Packed<PackedGemmWeights | PackedDepthwiseWeights>, product: WasmProduct): TensorInfo {
  const size = spec.outShape.reduce((a, b) => a * b, 1);
  const integerEpilogue = isIntegerEpilogue(input.fromCodes, spec);
  const accScale = accumulatorScale(input.scale, weights);
  // Static weights whose codes live only in packed form (a relocated RelocatableCodeStore).
  const transient = 'store' in packed && (packed as {store: RelocatableCodeStore | null}).store !== null;
  if (transient && integerEpilogue) {
    useStaticBias(wasm, backend, spec, weights, packed, input.scale, accScale);
  } else {
    if (transient) staticBiasKeys.delete(packed);
    useBias(wasm, packed, integerEpilogue ? int32Bias(backend, spec, weights, input.scale, accScale) : null);
  }
  const {output} = spec;
  if (integerEpilogue && output !== null && spec.activation === 'prelu') {
    return finishPreluInt8(wasm, backend, spec, input, weights, accScale, product, size, transient);
  }
  if (integerEpilogue && output !== null) {
    // Static weights: the requantization table (40 bytes per channel, more than the codes of a
    // 1×1 layer with 32 inputs) is built per call (O(channels), in wasm) from the (M0, shift)
    // pairs kept in wasm memory (5 bytes a channel) and freed after it, so it is not resident.
    const table = transient ? transientRequantTable(wasm, backend, weights, input.scale, output.scale, accScale) :
        requantTable(wasm, backend, weights, input.scale, output.scale, accScale);
    const act = spec.activation as 'linear' | 'relu' | 'relu6';
    const {lo, hi} = activationRange(act, output.scale, output.zeroPoint, 'int8');
    try {
      const store = WasmCodeStore.adopt(wasm, 'int8', size, wasm.alloc(size));
      return adoptOutput(store, () => {
        product.int8(store.ptr, table, output.zeroPoint, lo, hi);
        return backend.makeQuantizedOutput(store, spec.outShape, perTensor(output), spec.kernelName);
      });
    } finally {
      if (transient) table.free();
    }
  }
  if (integerEpilogue) {
    const store = WasmCodeStore.adopt(wasm, 'int32', size, wasm.alloc(size * 4));
    return adoptOutput(store, () => {
      product.int32(store.ptr);
      if (spec.activation !== 'linear') {
        const six = spec.activation === 'relu6' ?
            cachedWithWeights(backend, weights, `int8.six:${input.scale}`, () => sixInAccumulatorScale(accScale)) :
            null;
        clampAccumulators(store.codes() as Int32Array, accScale.length, six);
      }
      return backend.makeQuantizedOutput(store, spec.outShape, accumulatorParams(accScale, spec.outShape),
                                         spec.kernelName);
    });
  }
  return finishFloatInWasm(wasm, backend, spec, product, size, accScale);
}

/**
 * The integer prelu epilogue: the wasm kernel writes the int32 accumulators (bias included), and
 * kernels/wasm preluI32ToI8 requantizes them with two tables — (M0, shift) of S_acc[c]/S_out where
 * acc ≥ 0 (the linear epilogue's table) and of |S_acc[c]·α[c]|/S_out, times sign(α[c]), where
 * acc < 0 — bit-identical with output.ts finishInteger (src/quant requantizePrelu).
 */
function finishPreluInt8(wasm: Int8Wasm, backend: BackendInt8, spec: EpilogueSpec, input: WasmActivation,
                         weights: WeightOperand, accScale: Float64Array, product: WasmProduct, size: number,
                         transient: boolean): TensorInfo {
  const output = spec.output as PerTensorParams;
  const channels = accScale.length;
  const negative = preluSlopeMultipliers(backend, spec, weights, input.scale, output.scale, accScale);
  const positive = transient ? transientRequantTable(wasm, backend, weights, input.scale, output.scale, accScale) :
      requantTable(wasm, backend, weights, input.scale, output.scale, accScale);
  let negativeTable: RequantTable | null = null;
  let acc = 0;
  try {
    // Per call (O(channels)): the slopes belong to the alpha tensor, not to the weights.
    negativeTable = wasm.createRequantTable(negative.multiplier, negative.shift, channels);
    acc = wasm.alloc(size * 4);
    product.int32(acc);
    const {lo, hi} = activationRange('linear', output.scale, output.zeroPoint, 'int8');
    const store = WasmCodeStore.adopt(wasm, 'int8', size, wasm.alloc(size));
    const table = negativeTable;
    return adoptOutput(store, () => {
      wasm.preluInt32ToInt8(acc, size / channels, channels, positive, table, negative.sign, output.zeroPoint, lo, hi,
                            store.ptr);
      return backend.makeQuantizedOutput(store, spec.outShape, perTensor(output), spec.kernelName);
    });
  } finally {
    if (acc !== 0) wasm.free(acc);
    negativeTable?.free();
    if (transient) positive.free();
  }
}

/** Runs `make` (which hands `store` to a tensor); frees the store if it throws. */
function adoptOutput(store: WasmCodeStore, make: () => TensorInfo): TensorInfo {
  try {
    return make();
  } catch (e) {
    store.free();
    throw e;
  }
}

/** The requantization table of (weights, input scale, output scale), derived with the weights. */
function requantTable(wasm: Int8Wasm, backend: BackendInt8, weights: WeightOperand, inputScale: number,
                      outputScale: number, accScale: Float64Array): RequantTable {
  const cache = cacheOf(weights, 'a requantization table');
  // The multipliers are output.ts finishInteger's (same cache key), so both paths share them.
  const multipliers = cachedWithWeights(backend, weights, `int8.requant:${inputScale}:${outputScale}`,
                                        () => channelMultipliers(accScale, outputScale));
  return backend.derive(cache.dataId, `${cache.key}:wasm.requant:${inputScale}:${outputScale}`,
                        () => wasm.createRequantTable(multipliers.multiplier, multipliers.shift, accScale.length),
                        table => table.free());
}

/** (M0, shift) pairs of a weight in wasm memory (Int8Wasm.allocRequantParams), derived with the weight. */
interface RequantParamsBlock {
  wasm: Int8Wasm;
  ptr: number;
}

/**
 * The requantization table of requantTable, made for this call only (the caller frees it)
 * from the (M0, shift) pairs of (weights, input scale, output scale), which are kept in
 * wasm memory only (int32 M0 and int8 shift: 5 bytes a channel).
 */
function transientRequantTable(wasm: Int8Wasm, backend: BackendInt8, weights: WeightOperand, inputScale: number,
                               outputScale: number, accScale: Float64Array): RequantTable {
  const cache = cacheOf(weights, 'a requantization table');
  const block = backend.derive(cache.dataId, `${cache.key}:wasm.requantParams:${inputScale}:${outputScale}`,
                               (): RequantParamsBlock => {
                                 const m = channelMultipliers(accScale, outputScale);
                                 return {wasm, ptr: wasm.allocRequantParams(m.multiplier, m.shift)};
                               },
                               b => b.wasm.free(b.ptr));
  return wasm.createRequantTableFromBlock(block.ptr, accScale.length);
}

/**
 * output.ts finishFloat in wasm: dequantize, bias, activation, in finishFloat's
 * order and with its formulas. With a scalar or per-channel bias and
 * linear/relu/relu6 the whole epilogue is fused into the kernel (float32
 * written directly, with its range), and a float output keeps its wasm twin;
 * otherwise the kernel writes int32 accumulators, wasm dequantizes them (and
 * adds a scalar/per-channel bias), and the remaining steps (a full-shape bias,
 * the other activations) are finishFloat's own TypeScript functions.
 */
function finishFloatInWasm(wasm: Int8Wasm, backend: BackendInt8, spec: EpilogueSpec, product: WasmProduct,
                           size: number, accScale: Float64Array): TensorInfo {
  const {outShape, kernelName} = spec;
  const channels = accScale.length;
  validateQuantizationParams(accumulatorParams(accScale, outShape), outShape, 'int32', `${kernelName} accumulator`);
  const bias: ChannelBroadcast | null = spec.bias === undefined ? null :
      broadcastOverOutput(floatValues(backend, spec.bias), spec.bias.shape, outShape, `${kernelName}: input 'bias'`);
  const biasInWasm = bias !== null && bias.kind !== 'full';
  const clampActivation = spec.activation === 'linear' || spec.activation === 'relu' || spec.activation === 'relu6';
  const fused = clampActivation && (bias === null || biasInWasm);
  const block = wasm.alloc(channels * 12);
  let out = 0;
  let keepOut = false;
  try {
    out = wasm.alloc(size * 4);
    wasm.heapF64().set(accScale, block >> 3);
    const biasPtr = biasInWasm ? block + channels * 8 : 0;
    if (biasInWasm) {
      const f32 = wasm.heapF32();
      if (bias.kind === 'scalar') f32.fill(bias.values[0], biasPtr >> 2, (biasPtr >> 2) + channels);
      else f32.set(bias.values.subarray(0, channels), biasPtr >> 2);
    }
    if (fused) {
      const activation = spec.activation as 'linear' | 'relu' | 'relu6';
      const range = product.float32(out, {scales: block, bias: biasPtr, activation, rangeOut: rangeBlock(wasm)});
      // A NaN (from a NaN bias) would not show in the range: no twin then.
      if (spec.output !== null || (bias !== null && !allFinite(bias.values))) {
        return floatOrInt8Output(backend, spec, copyOut(wasm, out, size));
      }
      // The values stay in wasm memory; their JavaScript copy is made when
      // something reads them (a cpu kernel, dataSync), never for a tensor that
      // only wasm kernels consume.
      const info = backend.makeTensorInfo(outShape, 'float32', undefined as unknown as Float32Array);
      const twin: FloatTwin = {wasm, ptr: out, length: size, ...range};
      backend.derive(info.dataId, FLOAT_TWIN_KEY, () => twin, t => {
        t.wasm.free(t.ptr);
        t.ptr = 0;
      });
      keepOut = true;
      materializeOnRead(backend, info.dataId, twin);
      return info;
    }
    product.int32(out);
    wasm.dequantizeInt32Epilogue(out, size / channels, channels, block, biasPtr, 'linear', out);
    const values = copyOut(wasm, out, size);
    if (bias !== null && !biasInWasm) addBias(values, channels, bias);
    const alpha = spec.preluActivationWeights;
    const alphaBroadcast = alpha === undefined ? null :
        broadcastOverOutput(floatValues(backend, alpha), alpha.shape, outShape,
                            `${kernelName}: input 'preluActivationWeights'`);
    applyActivation(values, channels, spec.activation, alphaBroadcast, spec.leakyreluAlpha);
    return floatOrInt8Output(backend, spec, values);
  } finally {
    wasm.free(block);
    if (!keepOut && out !== 0) wasm.free(out);
  }
}

/**
 * Makes the tensor entry's `values` (what every cpu kernel and readSync read)
 * a getter that copies the twin out of wasm memory on first read and then
 * becomes a plain property holding that copy.
 */
function materializeOnRead(backend: BackendInt8, dataId: object, twin: FloatTwin): void {
  const entry = backend.data.peek(dataId);
  if (entry === undefined) throw new Error('int8 wasm: the output tensor vanished');
  const settle = (values: Float32Array | undefined): void => {
    Object.defineProperty(entry, 'values', {value: values, writable: true, enumerable: true, configurable: true});
  };
  Object.defineProperty(entry, 'values', {
    enumerable: true,
    configurable: true,
    get(): Float32Array {
      if (twin.ptr === 0) throw new Error('int8 wasm: the values of a disposed tensor were read');
      const values = copyOut(twin.wasm, twin.ptr, twin.length);
      settle(values);
      return values;
    },
    set(values: Float32Array | undefined): void {
      settle(values);
    },
  });
}

/** A JavaScript copy of float32 values in wasm memory. */
function copyOut(wasm: Int8Wasm, ptr: number, size: number): Float32Array {
  // new + set: TypedArray.slice of a wasm memory view is much slower for mid-sized arrays.
  const values = new Float32Array(size);
  values.set(wasm.heapF32().subarray(ptr >> 2, (ptr >> 2) + size));
  return values;
}

function allFinite(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) return false;
  }
  return true;
}
