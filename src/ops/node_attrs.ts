// Reading the attributes of the nodes the pass writes, from tfjs-converter's
// GraphNode (`attrs` as tfjs parses them: strings lowercased, lists as numbers).

import type {GraphNode} from '@tensorflow/tfjs-converter';

import {chooseQuantizationParams} from '../quant/params';
import {ATTR} from './op_names';
import {decodeFakeQuant} from './quant_attrs';

type Attrs = GraphNode['attrs'];

export function numberAttr(attrs: Attrs, key: string, op: string): number {
  const value = attrs[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Error(`${op}: attribute '${key}' is missing or not a number.`);
  }
  return value;
}

export function optionalNumberAttr(attrs: Attrs, key: string): number | undefined {
  const value = attrs[key];
  return typeof value === 'number' ? value : undefined;
}

export function numberListAttr(attrs: Attrs, key: string, op: string): number[] {
  const value = attrs[key];
  if (!Array.isArray(value) || value.some(v => typeof v !== 'number')) {
    throw new Error(`${op}: attribute '${key}' is missing or not a list of numbers.`);
  }
  return value as number[];
}

export function boolAttr(attrs: Attrs, key: string, fallback: boolean): boolean {
  const value = attrs[key];
  return typeof value === 'boolean' ? value : fallback;
}

export function stringAttr(attrs: Attrs, key: string, fallback: string): string {
  const value = attrs[key];
  return typeof value === 'string' ? value : fallback;
}

/** int8 code range of a fake-quant: [-128, 127], or [-127, 127] with narrow_range. */
export function codeRange(attrs: Attrs, op: string): {qmin: number; qmax: number; narrowRange: boolean} {
  const numBits = optionalNumberAttr(attrs, ATTR.numBits) ?? 8;
  if (numBits !== 8) {
    throw new Error(`${op}: num_bits = ${numBits} is not supported (only 8-bit quantization).`);
  }
  const narrowRange = boolAttr(attrs, ATTR.narrowRange, false);
  return {qmin: narrowRange ? -127 : -128, qmax: 127, narrowRange};
}

export interface PerTensorQuant {
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
}

/**
 * Scale and zero point of a per-tensor fake-quant: from the precomputed `q` attr
 * the pass writes, else from its min/max inputs (TensorFlow's own graphs).
 */
export function perTensorQuantOf(attrs: Attrs, readMinMax: () => [number, number], op: string): PerTensorQuant {
  const {qmin, qmax, narrowRange} = codeRange(attrs, op);
  if (attrs[ATTR.quant] !== undefined) return {...decodeFakeQuant(numberListAttr(attrs, ATTR.quant, op), op), qmin, qmax};
  const [min, max] = readMinMax();
  const params = chooseQuantizationParams(min, max, {dtype: 'int8', narrowRange});
  return {scale: params.scale, zeroPoint: params.zeroPoint, qmin, qmax};
}

export interface PerChannelQuant {
  scales: number[];
  zeroPoints: number[];
  qmin: number;
  qmax: number;
}

export function perChannelQuantOf(attrs: Attrs, readMinMax: () => [number[], number[]], op: string): PerChannelQuant {
  const {qmin, qmax, narrowRange} = codeRange(attrs, op);
  const scales = attrs[ATTR.scales];
  if (Array.isArray(scales) && scales.length > 0) {
    return {scales: scales as number[], zeroPoints: new Array<number>(scales.length).fill(0), qmin, qmax};
  }
  const [mins, maxs] = readMinMax();
  if (mins.length !== maxs.length) {
    throw new Error(`${op}: min has ${mins.length} channels but max has ${maxs.length}.`);
  }
  const params = mins.map((min, c) => chooseQuantizationParams(min, maxs[c], {dtype: 'int8', narrowRange}));
  return {scales: params.map(p => p.scale), zeroPoints: params.map(p => p.zeroPoint), qmin, qmax};
}

/** tfjs's pad argument from TensorFlow's padding / explicit_paddings attrs. */
export function padAttr(attrs: Attrs, op: string): TfjsPad {
  return tfjsPad(stringAttr(attrs, 'padding', 'valid'), attrs, op);
}

export type TfjsPad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

/** tfjs's pad argument for TensorFlow's padding `padding` (lowercase), the amounts of 'explicit' in the attrs. */
export function tfjsPad(padding: string, attrs: Attrs, op: string): TfjsPad {
  if (padding === 'same' || padding === 'valid') return padding;
  if (padding === 'explicit') {
    const p = numberListAttr(attrs, 'explicit_paddings', op);
    return [[p[0], p[1]], [p[2], p[3]], [p[4], p[5]], [p[6], p[7]]];
  }
  throw new Error(`${op}: unknown padding '${padding}'.`);
}

/** [h, w] of a 4-element NHWC strides/dilations list. */
export function spatialPair(attrs: Attrs, key: string, op: string): [number, number] {
  const values = attrs[key];
  if (values === undefined) return [1, 1];
  const list = numberListAttr(attrs, key, op);
  return list.length === 4 ? [list[1], list[2]] : list.length === 2 ? [list[0], list[1]] : [1, 1];
}
