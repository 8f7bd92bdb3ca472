// Calibration: run the fake-quant graph (activation fake-quants in observe
// mode) over the calibration data on the active float backend, and turn what
// each observer saw into a range with the chosen method.

import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';

import '../ops/index';
import {modelGraphToArtifacts} from './artifacts';
import {
  accumulateHistogram, CalibrationMethod, emptyHistogram, emptyStats, extremesOf, Histogram, needsHistogram, Range, rangeFor,
  RunningStats, updateStats,
} from './calibration_methods';
import {getShapeAttr, tfjsDtypeOf} from './graph_def';
import {FakeQuantGraph} from './insert_fake_quant';
import {graphInputNames, ModelGraph, nodeMap} from './model_graph';
import {explainRunError} from './run_errors';

export type CalibrationSample = tf.Tensor | tf.NamedTensorMap;
export type CalibrationData = Iterable<CalibrationSample> | AsyncIterable<CalibrationSample>;
export type ProgressCallback = (done: number, total?: number) => void;

/** A GraphModel that runs a ModelGraph (weights are copied into tensors). */
export function graphModelOf(graph: ModelGraph): GraphModel {
  return loadGraphModelSync(modelGraphToArtifacts(graph)) as unknown as GraphModel;
}

function isAsyncIterable(data: CalibrationData): data is AsyncIterable<CalibrationSample> {
  return typeof (data as AsyncIterable<CalibrationSample>)[Symbol.asyncIterator] === 'function';
}

/** The model inputs a sample must feed: name, dtype and static shape (−1 unknown). */
export interface ModelInputSpec {
  name: string;
  dtype: string;
  shape?: number[];
}

export function modelInputSpecs(graph: ModelGraph): ModelInputSpec[] {
  const byName = nodeMap(graph.nodes);
  return graphInputNames(graph).map(name => {
    const node = byName.get(name);
    return {name, dtype: tfjsDtypeOf(node?.attr?.dtype?.type), shape: node === undefined ? undefined : getShapeAttr(node)};
  });
}

/** Checks one calibration sample and names it as the model's inputs (throws naming the sample/input). */
export function normalizeSample(sample: CalibrationSample, inputs: readonly ModelInputSpec[], index: number): tf.NamedTensorMap {
  let named: tf.NamedTensorMap;
  if (sample instanceof tf.Tensor) {
    if (inputs.length !== 1) {
      throw new Error(`Calibration sample #${index} is a single tensor but the model has ${inputs.length} inputs ` +
          `(${inputs.map(i => i.name).join(', ')}); pass a map from input name to tensor.`);
    }
    named = {[inputs[0].name]: sample};
  } else if (sample != null && typeof sample === 'object') {
    named = {};
    for (const [key, value] of Object.entries(sample)) named[key.replace(/:0$/, '')] = value;
  } else {
    throw new Error(`Calibration sample #${index} is neither a tensor nor a map of tensors.`);
  }
  for (const input of inputs) {
    const tensor = named[input.name];
    if (!(tensor instanceof tf.Tensor)) {
      throw new Error(`Calibration sample #${index} has no tensor for model input '${input.name}'.`);
    }
    if (tensor.isDisposed) throw new Error(`Calibration sample #${index}: the tensor for input '${input.name}' is disposed.`);
    if (input.shape !== undefined && (tensor.rank !== input.shape.length ||
        input.shape.some((d, i) => d >= 0 && d !== tensor.shape[i]))) {
      throw new Error(`Calibration sample #${index}: input '${input.name}' has shape [${tensor.shape.join(', ')}], ` +
          `the model expects [${input.shape.join(', ')}].`);
    }
    if ((input.dtype === 'float32' || input.dtype === 'int32') && tensor.dtype !== input.dtype) {
      throw new Error(`Calibration sample #${index}: input '${input.name}' is ${tensor.dtype}, the model expects ${input.dtype}.`);
    }
    if (tensor.dtype === 'float32') {
      extremesOf(tensor.dataSync() as Float32Array, (i, v) => {
        throw new Error(`Calibration sample #${index}: input '${input.name}' contains ${v} at index ${i} (NaN/Inf is not allowed).`);
      });
    }
  }
  return named;
}

/**
 * Reads the calibration data once into memory (validated), so the
 * histogram methods can make a second pass even over a one-shot iterator.
 */
export async function collectSamples(data: CalibrationData, inputs: readonly ModelInputSpec[], maxSamples = Infinity): Promise<tf.NamedTensorMap[]> {
  if (data == null) throw new Error('calibrationData is required.');
  const samples: tf.NamedTensorMap[] = [];
  const add = (sample: CalibrationSample) => samples.push(normalizeSample(sample, inputs, samples.length));
  if (isAsyncIterable(data)) {
    for await (const sample of data) {
      if (samples.length >= maxSamples) break;
      add(sample);
    }
  } else if (typeof (data as Iterable<CalibrationSample>)[Symbol.iterator] === 'function') {
    for (const sample of data as Iterable<CalibrationSample>) {
      if (samples.length >= maxSamples) break;
      add(sample);
    }
  } else {
    throw new Error('calibrationData must be an iterable or async iterable of tensors or tensor maps.');
  }
  if (samples.length === 0) throw new Error('calibrationData is empty: at least one calibration sample is needed.');
  return samples;
}

/** What calibration found for one observed tensor. */
export interface ObservedRange extends Range {
  /** min == max on every sample (e.g. a dead channel); the range was widened to include 0. */
  degenerate: boolean;
  stats: RunningStats;
}

export interface CalibrateOptions {
  method: CalibrationMethod;
  onProgress?: ProgressCallback;
  /** Progress already reported by the caller, and the grand total, so calls chain. */
  progressOffset?: number;
  progressTotal?: number;
}

/** Number of passes over the data a method needs. */
export function calibrationPasses(method: CalibrationMethod): number {
  return needsHistogram(method) ? 2 : 1;
}

/** Runs the observers over the samples; returns each observed tensor's range under `method`. */
export function calibrateRanges(fq: FakeQuantGraph, samples: readonly tf.NamedTensorMap[], options: CalibrateOptions): Map<string, ObservedRange> {
  const observed = fq.observers.filter(o => o.tiedTo === undefined);
  const model = graphModelOf(fq.graph);
  const outputNames = observed.map(o => o.fakeQuantNode);
  const passes = calibrationPasses(options.method);
  const total = options.progressTotal ?? samples.length * passes;
  let done = options.progressOffset ?? 0;
  const tick = () => options.onProgress?.(++done, total);
  try {
    const stats = observed.map(() => emptyStats());
    forEachObservation(fq.graph, model, samples, outputNames, (o, values, sampleIndex) => {
      const observer = observed[o];
      const extremes = extremesOf(values, (i, v) => {
        throw new Error(`Calibration: node '${observer.tensor}' (op ${observer.op}) produced ${v} at index ${i} ` +
            `on sample #${sampleIndex}; the float model itself yields NaN/Inf on this data.`);
      });
      stats[o] = updateStats(stats[o], extremes);
    }, tick);
    let histograms: Histogram[] | undefined;
    if (needsHistogram(options.method)) {
      const hs = stats.map(s => emptyHistogram(s));
      forEachObservation(fq.graph, model, samples, outputNames, (o, values) => accumulateHistogram(hs[o], values), tick);
      histograms = hs;
    }
    const ranges = new Map<string, ObservedRange>();
    observed.forEach((observer, o) => {
      const range = rangeFor(options.method, stats[o], histograms?.[o]);
      ranges.set(observer.tensor, {...range, degenerate: stats[o].min === stats[o].max, stats: stats[o]});
    });
    return ranges;
  } finally {
    model.dispose();
  }
}

function forEachObservation(
    graph: ModelGraph, model: GraphModel, samples: readonly tf.NamedTensorMap[], outputNames: readonly string[],
    visit: (observer: number, values: Float32Array, sampleIndex: number, shape: number[]) => void, tick: () => void): void {
  if (outputNames.length === 0) {
    samples.forEach(tick);
    return;
  }
  samples.forEach((sample, sampleIndex) => {
    let outputs: tf.Tensor | tf.Tensor[];
    try {
      outputs = model.execute(sample, outputNames.slice()) as tf.Tensor | tf.Tensor[];
    } catch (error) {
      throw explainRunError(error, graph, `Calibration (sample #${sampleIndex})`);
    }
    const list = Array.isArray(outputs) ? outputs : [outputs];
    try {
      list.forEach((tensor, o) => visit(o, tensor.dataSync() as Float32Array, sampleIndex, tensor.shape));
    } finally {
      const inputs = new Set(Object.values(sample));
      tf.dispose(list.filter(t => !inputs.has(t)));
    }
    tick();
  });
}

