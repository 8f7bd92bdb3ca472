// Per-tensor sensitivity: how much of the model's output quality one int8
// activation costs on its own. Each activation that feeds a conv/depthwise/
// matmul (the tensors the int8 backend quantizes per tensor, in dynamic mode
// from their actual min/max) is quantized alone — everything else stays float —
// and the model's outputs are compared with the float run. The model input is
// also tried with ±½-step uniform noise: the floor set by the 8-bit photo itself.
// TFLite's quantization debugger answers the same question layer by layer.

import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';

import {dequantizeValues, quantizeActivation} from '../quant';
import {parseInputRef} from './graph_def';
import type {NodeDef} from './graph_def';
import {graphInputNames, graphOutputNames, nodeMap} from './model_graph';
import type {ModelGraph} from './model_graph';
import {FUSED_COMPUTE_OPS, UNFUSED_COMPUTE_OPS} from './op_catalog';
import {accumulateSqnr, sqnrDb} from './report';
import type {SqnrAccumulator} from './report';

const COMPUTE_OPS = new Set<string>([...FUSED_COMPUTE_OPS, ...UNFUSED_COMPUTE_OPS, 'BatchMatMul', 'BatchMatMulV2']);

/** One probed tensor: what it feeds and the output SQNR when only it is perturbed. */
export interface SensitivityRow {
  /** The tensor (a node name), or `<input>+noise` for the input-noise floor. */
  tensor: string;
  kind: 'activation' | 'input-noise';
  /** The compute nodes that read it. */
  consumers: string[];
  shape: number[];
  /** Its observed range over the samples. */
  min: number;
  max: number;
  /** SQNR of all outputs together, and of each output, over all samples (dB vs the float run). */
  sqnrDb: number;
  perOutput: Record<string, number>;
}

export interface SensitivityOptions {
  /** Also probe the model input with ±½-step uniform noise of an 8-bit grid over its range (float inputs only). */
  inputNoise?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Seed of the input-noise generator (deterministic results). */
  seed?: number;
}

/** The activations (not weights) that compute nodes read, in graph order, with their readers. */
export function quantizedActivationInputs(graph: ModelGraph): Map<string, string[]> {
  const byName = nodeMap(graph.nodes);
  const readers = new Map<string, string[]>();
  for (const node of graph.nodes) {
    if (!COMPUTE_OPS.has(node.op)) continue;
    for (const ref of dataOperandsOf(node)) {
      const producer = byName.get(parseInputRef(ref).node);
      if (producer === undefined || producer.op === 'Const') continue;
      const list = readers.get(ref) ?? [];
      list.push(node.name);
      readers.set(ref, list);
    }
  }
  return readers;
}

/** The operands a compute node quantizes per tensor: input 0, and input 1 of a matmul when it is not a weight. */
function dataOperandsOf(node: NodeDef): string[] {
  const inputs = (node.input ?? []).filter(ref => !ref.startsWith('^'));
  const matmul = node.op.includes('MatMul');
  return matmul ? inputs.slice(0, 2) : inputs.slice(0, 1);
}

/** Fake-quantizes values per tensor to int8 from their actual min/max (the dynamic mode's rule). */
export function fakeQuantizePerTensor(values: Float32Array): Float32Array {
  const quantized = quantizeActivation(values);
  if (quantized === null) throw new Error('sensitivity: a probed activation holds NaN or ±Infinity');
  const {codes, scale, zeroPoint} = quantized;
  return dequantizeValues(codes, [values.length], {scale: [scale], zeroPoint: [zeroPoint]});
}

/** Adds uniform noise of ±½ step of an 8-bit grid spanning the values' range (LCG: deterministic). */
function withHalfStepNoise(values: Float32Array, seed: number): Float32Array {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const halfStep = (max - min) / 255 / 2;
  let state = seed >>> 0;
  return values.map(v => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;  // Numerical Recipes' LCG
    return v + (state / 4294967296 * 2 - 1) * halfStep;
  });
}

interface RowState {
  row: Omit<SensitivityRow, 'sqnrDb' | 'perOutput'>;
  overall: SqnrAccumulator;
  outputs: SqnrAccumulator[];
}

function execute(model: GraphModel, feeds: tf.NamedTensorMap, names: readonly string[]): tf.Tensor[] {
  const out = model.execute(feeds, names.slice());
  return Array.isArray(out) ? out : [out];
}

/** Runs the probe over the samples; rows sorted from the most to the least harmful. */
export function activationSensitivity(graph: ModelGraph, model: GraphModel, samples: readonly tf.NamedTensorMap[],
    options: SensitivityOptions = {}): SensitivityRow[] {
  const outputs = graphOutputNames(graph);
  const inputNames = graphInputNames(graph);
  const activations = quantizedActivationInputs(graph);
  const probed = [...activations.keys()];
  const states = new Map<string, RowState>();
  const stateOf = (key: string, make: () => RowState['row']): RowState => {
    let state = states.get(key);
    if (state === undefined) {
      state = {row: make(), overall: {signal: 0, noise: 0}, outputs: outputs.map(() => ({signal: 0, noise: 0}))};
      states.set(key, state);
    }
    return state;
  };
  const accumulate = (state: RowState, reference: Float32Array[], test: tf.Tensor[]) => {
    test.forEach((t, k) => {
      const values = t.dataSync() as Float32Array;
      state.outputs[k] = accumulateSqnr(state.outputs[k], reference[k], values);
      state.overall = accumulateSqnr(state.overall, reference[k], values);
    });
  };
  samples.forEach((sample, index) => {
    const reference = execute(model, sample, outputs);
    const referenceValues = reference.map(t => Float32Array.from(t.dataSync()));
    tf.dispose(reference);
    if (options.inputNoise !== false) {
      for (const name of inputNames) {
        const x = sample[name];
        if (x === undefined || x.dtype !== 'float32') continue;
        const noisy = tf.tensor(withHalfStepNoise(x.dataSync() as Float32Array, (options.seed ?? 1) + index), x.shape);
        const out = execute(model, {...sample, [name]: noisy}, outputs);
        const state = stateOf(`${name}+noise`, () => ({
          tensor: `${name}+noise`, kind: 'input-noise', consumers: [], shape: x.shape.slice(), min: Infinity, max: -Infinity,
        }));
        accumulate(state, referenceValues, out);
        tf.dispose([noisy, ...out]);
      }
    }
    const values = execute(model, sample, probed);
    probed.forEach((name, i) => {
      const data = values[i].dataSync() as Float32Array;
      const state = stateOf(name, () => ({
        tensor: name, kind: 'activation', consumers: activations.get(name) ?? [], shape: values[i].shape.slice(),
        min: Infinity, max: -Infinity,
      }));
      for (const v of data) {
        if (v < state.row.min) state.row.min = v;
        if (v > state.row.max) state.row.max = v;
      }
      const quantized = tf.tensor(fakeQuantizePerTensor(data), values[i].shape);
      const out = execute(model, {...sample, [name]: quantized}, outputs);
      accumulate(state, referenceValues, out);
      tf.dispose([quantized, ...out]);
      options.onProgress?.(index * probed.length + i + 1, samples.length * probed.length);
    });
    // A probed tensor may be the sample's own input: not ours to dispose.
    const inputs = new Set(Object.values(sample));
    tf.dispose(values.filter(t => !inputs.has(t)));
  });
  const rows = [...states.values()].map(({row, overall, outputs: perOutput}) => ({
    ...row,
    sqnrDb: sqnrDb(overall),
    perOutput: Object.fromEntries(outputs.map((name, k) => [name, sqnrDb(perOutput[k])])),
  }));
  return rows.sort((a, b) => worstOf(a) - worstOf(b));
}

/** The lowest per-output SQNR of a row: the output it hurts most. */
export function worstOf(row: SensitivityRow): number {
  return Math.min(...Object.values(row.perOutput));
}
