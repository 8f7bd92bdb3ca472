// The `q` attr of the nodes the pass writes (op_names.ts FAKE_QUANT_Q, COMPUTE_Q,
// REQUANTIZING_Q): one list of numbers by position, written by src/graph and read by
// the executors, so model.json spends a few characters per number and no attribute names.

import {COMPUTE_ACTIVATIONS, COMPUTE_FLAGS, COMPUTE_PADDINGS, COMPUTE_Q, FAKE_QUANT_Q, Int8Activation, REQUANTIZING_Q} from './op_names';

/** Scale and zero point of one int8 tensor. */
export interface ScaleZeroPoint {
  scale: number;
  zeroPoint: number;
}

export type ComputePadding = typeof COMPUTE_PADDINGS[number];

/** What an Int8Fused* node's `q` says. */
export interface ComputeQuant {
  input: ScaleZeroPoint;
  activation: Int8Activation;
  padding: ComputePadding;
  /** [h, w]. */
  strides: [number, number];
  /** One scale for the whole filter (one value in the scale table). */
  perTensor: boolean;
  /** Where the node's bias codes start in its bias table. */
  biasOffset: number;
  /** Where the node's filter scales start in its scale table. */
  scaleOffset: number;
  /** The scale table holds scale·2^scaleExponent. */
  scaleExponent: number;
  /** Absent: the node outputs the dequantized float accumulator. */
  output?: ScaleZeroPoint;
}

function codeOf<T>(values: readonly T[], value: T, what: string): number {
  const code = values.indexOf(value);
  if (code < 0) throw new Error(`No code for ${what} '${String(value)}'.`);
  return code;
}

function valueOf<T>(values: readonly T[], code: number, what: string, op: string): T {
  if (!Number.isInteger(code) || code < 0 || code >= values.length) throw new Error(`${op}: unknown ${what} code ${code} in attr 'q'.`);
  return values[code];
}

function checkedIndex(value: number, what: string, op: string): number {
  if (!Number.isInteger(value) || value < 0) throw new Error(`${op}: ${what} ${value} in attr 'q' is not an index.`);
  return value;
}

type FlagField = keyof typeof COMPUTE_FLAGS;

function packFlags(fields: Record<FlagField, number>): number {
  let flags = 0;
  for (const [key, value] of Object.entries(fields) as Array<[FlagField, number]>) {
    const {unit, size} = COMPUTE_FLAGS[key];
    if (!Number.isInteger(value) || value < 0 || value >= size) throw new Error(`Compute flag '${key}' ${value} does not fit 0..${size - 1}.`);
    flags += value * unit;
  }
  return flags;
}

function flagField(flags: number, key: FlagField): number {
  const {unit, size} = COMPUTE_FLAGS[key];
  return Math.floor(flags / unit) % size;
}

export function encodeComputeQuant(q: ComputeQuant): number[] {
  const values = new Array<number>(q.output === undefined ? COMPUTE_Q.floatOutputLength : COMPUTE_Q.quantizedOutputLength);
  values[COMPUTE_Q.inputScale] = q.input.scale;
  values[COMPUTE_Q.inputZeroPoint] = q.input.zeroPoint;
  values[COMPUTE_Q.flags] = packFlags({
    activation: codeOf(COMPUTE_ACTIVATIONS, q.activation, 'activation'), padding: codeOf(COMPUTE_PADDINGS, q.padding, 'padding'),
    perTensor: q.perTensor ? 1 : 0, strideHMinus1: q.strides[0] - 1, strideWMinus1: q.strides[1] - 1,
  });
  values[COMPUTE_Q.biasOffset] = q.biasOffset;
  values[COMPUTE_Q.scaleOffset] = q.scaleOffset;
  values[COMPUTE_Q.scaleExponent] = q.scaleExponent;
  if (q.output !== undefined) {
    values[COMPUTE_Q.outputScale] = q.output.scale;
    values[COMPUTE_Q.outputZeroPoint] = q.output.zeroPoint;
  }
  return values;
}

export function decodeComputeQuant(values: readonly number[], op: string): ComputeQuant {
  if (values.length !== COMPUTE_Q.floatOutputLength && values.length !== COMPUTE_Q.quantizedOutputLength) {
    throw new Error(`${op}: attr 'q' has ${values.length} numbers (expected ${COMPUTE_Q.floatOutputLength} or ${COMPUTE_Q.quantizedOutputLength}).`);
  }
  const flags = checkedIndex(values[COMPUTE_Q.flags], 'flags', op);
  const quantizedOutput = values.length === COMPUTE_Q.quantizedOutputLength;
  return {
    input: {scale: values[COMPUTE_Q.inputScale], zeroPoint: values[COMPUTE_Q.inputZeroPoint]},
    activation: valueOf(COMPUTE_ACTIVATIONS, flagField(flags, 'activation'), 'activation', op),
    padding: valueOf(COMPUTE_PADDINGS, flagField(flags, 'padding'), 'padding', op),
    strides: [flagField(flags, 'strideHMinus1') + 1, flagField(flags, 'strideWMinus1') + 1],
    perTensor: flagField(flags, 'perTensor') === 1,
    biasOffset: checkedIndex(values[COMPUTE_Q.biasOffset], 'bias offset', op),
    scaleOffset: checkedIndex(values[COMPUTE_Q.scaleOffset], 'scale offset', op),
    scaleExponent: checkedIndex(values[COMPUTE_Q.scaleExponent], 'scale exponent', op),
    ...(quantizedOutput ? {output: {scale: values[COMPUTE_Q.outputScale], zeroPoint: values[COMPUTE_Q.outputZeroPoint]}} : {}),
  };
}

export function encodeFakeQuant(q: ScaleZeroPoint): number[] {
  const values = new Array<number>(FAKE_QUANT_Q.length);
  values[FAKE_QUANT_Q.scale] = q.scale;
  values[FAKE_QUANT_Q.zeroPoint] = q.zeroPoint;
  return values;
}

export function decodeFakeQuant(values: readonly number[], op: string): ScaleZeroPoint {
  if (values.length !== FAKE_QUANT_Q.length) throw new Error(`${op}: attr 'q' has ${values.length} numbers (expected scale, zero point).`);
  return {scale: values[FAKE_QUANT_Q.scale], zeroPoint: values[FAKE_QUANT_Q.zeroPoint]};
}

/** Int8AddV2 / Int8ConcatV2 / Int8Mean: the operands' params, then the output's. */
export function encodeRequantizing(operands: readonly ScaleZeroPoint[], output: ScaleZeroPoint): number[] {
  return [...operands, output].flatMap(p => [p.scale, p.zeroPoint]);
}

export function decodeRequantizing(values: readonly number[], operandCount: number, op: string): {operands: ScaleZeroPoint[]; output: ScaleZeroPoint} {
  const pairs = values.length / REQUANTIZING_Q.pairLength;
  if (!Number.isInteger(pairs) || pairs !== operandCount + 1) {
    throw new Error(`${op}: attr 'q' has ${values.length} numbers for ${operandCount} operands (expected a scale and zero point each, then the output's).`);
  }
  const params: ScaleZeroPoint[] = [];
  for (let i = 0; i < values.length; i += REQUANTIZING_Q.pairLength) params.push({scale: values[i], zeroPoint: values[i + 1]});
  const output = params.pop() as ScaleZeroPoint;
  return {operands: params, output};
}
