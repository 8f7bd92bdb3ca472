/**
 * What the integer kernels of kernels/ share: running the cpu backend's float
 * kernel, recognizing inputs the static path computes on, and reading the
 * optional output quantization attributes.
 */
import {getKernel, NamedAttrMap, NamedTensorInfoMap, TensorInfo, util} from '@tensorflow/tfjs-core';

import type {BackendInt8, DataId} from '../src/backend';
import {chooseQuantizationParams, CODE_RANGE, quantizeValues} from '../src/quant';
import type {QuantizationParams} from '../src/quant';

/** The arguments tfjs passes to a kernel function of the int8 backend. */
export interface Int8KernelArgs<Inputs extends NamedTensorInfoMap | TensorInfo[] = NamedTensorInfoMap,
                                Attrs extends object = NamedAttrMap> {
  inputs: Inputs;
  backend: BackendInt8;
  attrs?: Attrs;
}

/**
 * Runs tfjs-backend-cpu's float kernel `kernelName` on the int8 backend (a
 * MathBackendCPU). Looked up at call time, so it is the kernel registered for
 * `cpu` when the op runs. A quantized input is dequantized (once, cached; the
 * backend counts it in `stats.dequantizations`).
 */
export function runCpuKernel(kernelName: string, args: {inputs: unknown; backend: BackendInt8; attrs?: object}):
    TensorInfo | TensorInfo[] {
  const config = getKernel(kernelName, 'cpu');
  if (config == null) {
    throw new Error(`${kernelName}: the cpu backend has no kernel '${kernelName}' to run float inputs on.`);
  }
  return config.kernelFunc(args as Parameters<typeof config.kernelFunc>[0]);
}

/** `runCpuKernel` for kernels that return a single tensor. */
export function runCpuKernelSingle(kernelName: string, args: {inputs: unknown; backend: BackendInt8; attrs?: object}):
    TensorInfo {
  const out = runCpuKernel(kernelName, args);
  if (Array.isArray(out)) {
    throw new Error(`${kernelName}: the cpu kernel returned ${out.length} tensors where one was expected.`);
  }
  return out;
}

/** An input the static path computes on: int8 codes with one scale and zero point. */
export interface PerTensorInt8 {
  readonly dataId: DataId;
  /** The codes; call right before use and do not keep (they may live in wasm memory). */
  codes(): Int8Array;
  readonly scale: number;
  readonly zeroPoint: number;
  readonly params: QuantizationParams;
}

/**
 * The codes and parameters of `x` when it holds int8 codes quantized per
 * tensor; undefined for a float tensor. Other quantized tensors (int32
 * accumulators, per-channel codes) are not computed on by the non-conv static
 * kernels: they count as float and are dequantized by the cpu kernel
 * (reported through `stats.dequantizations`).
 */
export function perTensorInt8(backend: BackendInt8, x: TensorInfo): PerTensorInt8 | undefined {
  const q = backend.getQuantized(x.dataId);
  if (q == null || q.dtype !== 'int8' || q.params.axis !== undefined) return undefined;
  const {store, params} = q;
  return {
    dataId: x.dataId,
    codes: () => store.codes() as Int8Array,
    scale: params.scale[0],
    zeroPoint: params.zeroPoint[0],
    params,
  };
}

/** Per-tensor int8 parameters. */
export function perTensorParams(scale: number, zeroPoint: number): QuantizationParams {
  return {scale: [scale], zeroPoint: [zeroPoint]};
}

/** Whether two per-tensor parameter sets are the same (then codes can be copied). */
export function sameParams(a: PerTensorInt8 | QuantizationParams, b: QuantizationParams): boolean {
  const aScale = 'params' in a ? a.scale : a.scale[0];
  const aZero = 'params' in a ? a.zeroPoint : a.zeroPoint[0];
  return aScale === b.scale[0] && aZero === b.zeroPoint[0];
}

/** The real range [lo, hi] that int8 codes with these parameters can represent (prepare-time float). */
export function representableRange(scale: number, zeroPoint: number): [number, number] {
  return [scale * (CODE_RANGE.int8.min - zeroPoint), scale * (CODE_RANGE.int8.max - zeroPoint)];
}

/**
 * The optional attrs `outputScale` and `outputZeroPoint` (both or neither) as
 * per-tensor int8 parameters; undefined when neither is given.
 */
export function outputParamsFromAttrs(kernelName: string, attrs: object | undefined): QuantizationParams | undefined {
  const {outputScale, outputZeroPoint} = (attrs ?? {}) as {outputScale?: unknown; outputZeroPoint?: unknown};
  if (outputScale == null && outputZeroPoint == null) return undefined;
  if (outputScale == null || outputZeroPoint == null) {
    const [given, missing] = outputScale == null ? ['outputZeroPoint', 'outputScale'] : ['outputScale', 'outputZeroPoint'];
    throw new Error(`${kernelName}: attr ${given} was given without attr ${missing}.`);
  }
  return checkedPerTensorParams(kernelName, ['outputScale', outputScale], ['outputZeroPoint', outputZeroPoint]);
}

/**
 * Per-tensor int8 parameters from two attrs, each given as [attr name, value];
 * the error names the kernel, the attr and the value.
 */
export function checkedPerTensorParams(kernelName: string, [scaleName, scale]: [string, unknown],
                                       [zeroPointName, zeroPoint]: [string, unknown]): QuantizationParams {
  if (typeof scale !== 'number' || !(scale > 0) || !Number.isFinite(scale)) {
    throw new Error(`${kernelName}: attr ${scaleName} must be a positive finite number, got ${String(scale)}.`);
  }
  const {min, max} = CODE_RANGE.int8;
  if (typeof zeroPoint !== 'number' || !Number.isInteger(zeroPoint) || zeroPoint < min || zeroPoint > max) {
    throw new Error(
        `${kernelName}: attr ${zeroPointName} must be an integer in [${min}, ${max}], got ${String(zeroPoint)}.`);
  }
  return perTensorParams(scale, zeroPoint);
}

/** Makes the tensor of `x` available under a second TensorInfo (shared codes, one more reference). */
export function shareData(backend: BackendInt8, x: TensorInfo, shape: number[]): TensorInfo {
  backend.incRef(x.dataId);
  return {dataId: x.dataId, shape, dtype: x.dtype};
}

/** The number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return util.sizeFromShape(shape as number[]);
}

/**
 * A float input of a static kernel whose other inputs are quantized: quantized
 * per tensor to int8 with parameters chosen from its own [min, max] range
 * (chooseQuantizationParams). This is a Quantize at the boundary of the
 * static path, so float arithmetic is allowed here.
 */
export function quantizeWithOwnRange(
    backend: BackendInt8, x: TensorInfo, kernelName: string, inputName: string): PerTensorInt8 {
  const values = backend.data.get(x.dataId).values as ArrayLike<number>;
  let min = 0;
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const tensorName = `${kernelName} input ${inputName}`;
  let params: QuantizationParams;
  let codes: Int8Array;
  try {
    const chosen = chooseQuantizationParams(min, max, {dtype: 'int8'});
    params = perTensorParams(chosen.scale, chosen.zeroPoint);
    codes = quantizeValues(values, x.shape.slice(), params, 'int8', tensorName) as Int8Array;
  } catch (e) {
    throw new Error(`${kernelName}: float input ${inputName} cannot be quantized: ${(e as Error).message}`);
  }
  return {dataId: x.dataId, codes: () => codes, scale: params.scale[0], zeroPoint: params.zeroPoint[0], params};
}

/** Runs `prepare` and prefixes any error with the kernel name. */
export function prepareOrThrow<T>(kernelName: string, what: string, prepare: () => T): T {
  try {
    return prepare();
  } catch (e) {
    throw new Error(`${kernelName}: ${what}: ${(e as Error).message}`);
  }
}
