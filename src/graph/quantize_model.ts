// quantizeModel: fold → plan → insert fake-quant → calibrate → choose params →
// lower to int8 → artifact, with a per-layer report.

import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import type {LayersModel} from '@tensorflow/tfjs-layers';

import {FAKE_QUANT_OP} from '../ops/op_names';
import {chooseQuantizationParams} from '../quant';
import {artifactsOfGraphModel, modelGraphFromArtifacts, modelGraphToArtifacts, weightDataBytes} from './artifacts';
import {compactArtifactGraph} from './compact_artifact';
import {measureBiasShifts} from './bias_correction';
import {CalibrationData, calibrateRanges, calibrationPasses, collectSamples, graphModelOf, modelInputSpecs, ObservedRange} from './calibrate';
import {CalibrationMethod, isCalibrationMethod, CALIBRATION_METHODS} from './calibration_methods';
import {foldGraph} from './fold';
import {ActivationObserver, ActivationParams, applyActivationRanges, insertFakeQuant, representableRange} from './insert_fake_quant';
import {isLayersModel, layersModelToGraph} from './layers_export';
import {LoweredCompute, lowerToInt8} from './lower_int8';
import {ModelGraph} from './model_graph';
import {planQuantization, QuantPlan} from './plan';
import {layerSqnr, TensorPair} from './report';
import {explainRunError} from './run_errors';
import type {EqualizeMethod} from './equalize';
import {preparePasses, prepareWeights} from './prepare_weights';

/**
 * The default calibration method: the one that measured best on the real
 * models (nsfwjs MobileNetV2 class scores, posenet and movenet outputs vs float;
 * numbers in src/graph/README.md).
 */
export const DEFAULT_CALIBRATION_METHOD: CalibrationMethod = 'mse';

export interface QuantizeOptions {
  calibrationData: CalibrationData;
  /** Default: DEFAULT_CALIBRATION_METHOD. */
  method?: CalibrationMethod;
  /** Per-output-channel weight scales (default true). */
  perChannel?: boolean;
  /** Node names kept in float. */
  exclude?: string[];
  /** Progress over calibration and the report's evaluation: (done, total). */
  onProgress?: (done: number, total?: number) => void;
  /** Calibration samples the report's per-layer SQNR is measured on (default 4; 0 skips it). */
  reportSamples?: number;
  /**
   * Subtract the mean output shift that weight quantization causes from each bias
   * (input means measured on the calibration data; one more pass). Default: DEFAULT_BIAS_CORRECTION.
   */
  biasCorrection?: boolean;
  /** Cross-layer equalization first (equalize.ts): a method, true (its default method) or false. Default: DEFAULT_EQUALIZE. */
  equalize?: boolean | EqualizeMethod;
  /** Data-aware rounding of the int8 weights (weight_rounding.ts; per-channel weights only). Default: DEFAULT_WEIGHT_ROUNDING. */
  weightRounding?: boolean;
}

/** One line of the report: a quantized activation, or a node kept in float. */
export interface QuantizationReportEntry {
  name: string;
  op: string;
  /** 'int8': output is int8 codes; 'int8-compute': integer conv/matmul with a float (dequantized) output; 'float': kept in float. */
  dtype: 'int8' | 'int8-compute' | 'float';
  /** The real range the codes cover, scale·(−128 − zeroPoint) .. scale·(127 − zeroPoint) (null when not quantized). */
  min: number | null;
  max: number | null;
  scale: number | null;
  zeroPoint: number | null;
  /** SQNR of this tensor in the quantized model vs the float one (dB; Infinity if identical; null if not measured). */
  sqnrDb: number | null;
  /** The extremes calibration saw (before the method chose min/max), for calibrated tensors. */
  observedMin?: number;
  observedMax?: number;
  /** Why the node is float, that the range is tied or degenerate, or that a bias saturated. */
  note?: string;
  /** The node's name in the artifact's model.json, when it was shortened (QuantizedModel.nodeNames). */
  node?: string;
}

export interface QuantizedModel {
  /** The int8 artifact: model.json topology + weights (int8 codes, int32 biases). */
  artifacts: tf.io.ModelArtifacts;
  /** Writes the artifact with a save handler (e.g. src/io's fileIOHandler) or a tfjs URL scheme. */
  save(urlOrHandler: string | tf.io.IOHandler): Promise<tf.io.SaveResult>;
  report: QuantizationReportEntry[];
  method: CalibrationMethod;
  /** The calibrated fake-quant graph (TensorFlow's FakeQuant ops on float weights): for inspection and debugging. */
  fakeQuantArtifacts: tf.io.ModelArtifacts;
  /** Weight bytes of the artifact and of the same graph stored in float32. */
  sizes: {quantizedWeightBytes: number; floatWeightBytes: number};
  /**
   * Artifact node name → the name the node had (the model's, or the pass's for the nodes it
   * adds), for every node model.json names differently (all but the model's inputs and outputs).
   */
  nodeNames: Record<string, string>;
}

/** The ModelGraph of a GraphModel or LayersModel. */
export async function modelGraphOf(model: GraphModel | LayersModel): Promise<ModelGraph> {
  if (isLayersModel(model)) return layersModelToGraph(model);
  if (model == null || typeof (model as GraphModel).execute !== 'function' || typeof (model as GraphModel).save !== 'function') {
    throw new Error('quantizeModel: model must be a tf.GraphModel or tf.LayersModel.');
  }
  const graphModel = model as GraphModel;
  const artifacts = await artifactsOfGraphModel(graphModel);
  if (artifacts.weightData == null && (artifacts.weightSpecs?.length ?? 0) > 0) {
    // Loaded with streamed weights: the artifacts keep no weight data, the model keeps the tensors.
    return modelGraphFromArtifacts(withWeightsOf(artifacts, graphModel), 'GraphModel');
  }
  return modelGraphFromArtifacts(artifacts, 'GraphModel');
}

/** The artifacts with their weights taken from the loaded model's tensors. */
function withWeightsOf(artifacts: tf.io.ModelArtifacts, model: GraphModel): tf.io.ModelArtifacts {
  const specs = artifacts.weightSpecs ?? [];
  const chunks: Uint8Array[] = [];
  const plainSpecs = specs.map(spec => {
    const tensor = model.weights[spec.name]?.[0];
    if (tensor == null) throw new Error(`GraphModel: weight '${spec.name}' is listed in the manifest but not loaded.`);
    const values = tensor.dataSync();
    const bytes = values instanceof Float32Array || values instanceof Int32Array || values instanceof Uint8Array
      ? new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength))
      : new Uint8Array(0);
    chunks.push(bytes);
    return {name: spec.name, shape: tensor.shape.slice(), dtype: tensor.dtype} as tf.io.WeightsManifestEntry;
  });
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const data = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return {...artifacts, weightSpecs: plainSpecs, weightData: data.buffer};
}

/**
 * Significant digits of an activation scale. model.json writes each scale several times
 * (the fake-quant, the producer's output, every reader's input): 8 digits instead of a
 * double's 17 keep it short and move the scale by < 5e-8 of itself (below float32's
 * precision); the pass uses the written value everywhere, so that is what runs.
 */
export const ACTIVATION_SCALE_DIGITS = 8;

/** The activation scale as model.json writes it (ACTIVATION_SCALE_DIGITS significant digits). */
export function writtenScale(scale: number): number {
  return Number(scale.toPrecision(ACTIVATION_SCALE_DIGITS));
}

/** Activation params from calibrated ranges; passthrough tensors copy their source's. */
export function chooseActivationParams(observers: readonly ActivationObserver[], ranges: ReadonlyMap<string, {min: number; max: number}>): Map<string, ActivationParams> {
  const params = new Map<string, ActivationParams>();
  for (const observer of observers) {
    if (observer.tiedTo !== undefined) continue;
    const range = ranges.get(observer.tensor);
    if (range === undefined) throw new Error(`No calibrated range for tensor '${observer.tensor}' (op ${observer.op}).`);
    const chosen = chooseQuantizationParams(range.min, range.max, {dtype: 'int8'});
    const scale = writtenScale(chosen.scale);
    params.set(observer.tensor, {scale, zeroPoint: chosen.zeroPoint, ...representableRange(scale, chosen.zeroPoint)});
  }
  for (const observer of observers) {
    if (observer.tiedTo === undefined) continue;
    const source = params.get(observer.tiedTo);
    if (source === undefined) throw new Error(`Tensor '${observer.tensor}' is tied to '${observer.tiedTo}', which has no parameters.`);
    params.set(observer.tensor, source);
  }
  return params;
}

function checkOptions(options: QuantizeOptions): {method: CalibrationMethod; perChannel: boolean} {
  if (options == null || options.calibrationData == null) throw new Error('quantizeModel: options.calibrationData is required.');
  const method = options.method ?? DEFAULT_CALIBRATION_METHOD;
  if (!isCalibrationMethod(method)) {
    throw new Error(`quantizeModel: unknown calibration method '${String(method)}' (one of ${CALIBRATION_METHODS.join(', ')}).`);
  }
  if (tf.getBackend() === 'int8') {
    throw new Error("quantizeModel calibrates in float: switch to a float backend first (e.g. await tf.setBackend('cpu')).");
  }
  return {method, perChannel: options.perChannel ?? true};
}

/** Whether bias correction is on by default (measured: see src/graph/README.md). */
export const DEFAULT_BIAS_CORRECTION = true;

export async function quantizeModel(model: GraphModel | LayersModel, options: QuantizeOptions): Promise<QuantizedModel> {
  const {method, perChannel} = checkOptions(options);
  const source = await modelGraphOf(model);
  const folded = foldGraph(source);
  const plan = planQuantization(folded, {exclude: options.exclude});

  const inputs = modelInputSpecs(folded);
  const samples = await collectSamples(options.calibrationData, inputs);
  checkFloatModelRuns(folded, samples[0]);
  const reportSamples = Math.min(samples.length, options.reportSamples ?? 4);
  const biasCorrection = options.biasCorrection ?? DEFAULT_BIAS_CORRECTION;
  const prepareSteps = samples.length * preparePasses({...options, perChannel});
  const calibrationSteps = prepareSteps + samples.length * calibrationPasses(method);
  const total = calibrationSteps + (biasCorrection ? samples.length : 0) + reportSamples;
  let prepared = 0;
  const weights = prepareWeights(folded, plan, samples, {...options, perChannel}, () => options.onProgress?.(++prepared, total));
  const fq = insertFakeQuant(weights.graph, plan, {perChannel});
  const ranges = calibrateRanges(fq, samples, {method, onProgress: options.onProgress, progressOffset: prepareSteps, progressTotal: total});
  const params = chooseActivationParams(fq.observers, ranges);
  const simulation = applyActivationRanges(fq, params);
  let biasShifts: Map<string, Float64Array> | undefined;
  if (biasCorrection) {
    let done = calibrationSteps;
    biasShifts = measureBiasShifts(fq, plan, samples, perChannel, () => options.onProgress?.(++done, total));
  }
  const lowered = lowerToInt8(simulation, plan, fq.observers, params, {perChannel, biasShifts});

  const compact = compactArtifactGraph(lowered.graph);
  const artifacts = modelGraphToArtifacts(compact.graph, {int8Quantization: {method, perChannel, biasCorrection, equalize: weights.equalize, weightRounding: weights.weightRounding, generator: 'tfjs-backend-int8'}});
  const floatArtifacts = modelGraphToArtifacts(source);
  let sqnr = new Map<string, number>();
  if (reportSamples > 0) {
    let done = total - reportSamples;
    // Against the equalized float graph: equalization rescales the channels of inner tensors.
    sqnr = measureLayerSqnr(weights.equalized, lowered.graph, reportPairs(plan, fq.observers), samples.slice(0, reportSamples),
        () => options.onProgress?.(++done, total));
  }
  return {
    artifacts,
    save: (urlOrHandler) => saveArtifacts(artifacts, urlOrHandler),
    report: withArtifactNames(buildReport(plan, fq.observers, params, ranges, lowered.computes, sqnr), compact.nodeNames),
    method,
    fakeQuantArtifacts: modelGraphToArtifacts(simulation),
    sizes: {quantizedWeightBytes: weightDataBytes(artifacts), floatWeightBytes: weightDataBytes(floatArtifacts)},
    nodeNames: Object.fromEntries(compact.nodeNames),
  };
}

/** Each report entry with the name its node has in the artifact, where that is a short one. */
function withArtifactNames(report: QuantizationReportEntry[], nodeNames: ReadonlyMap<string, string>): QuantizationReportEntry[] {
  const shortOf = new Map([...nodeNames].map(([short, original]) => [original, short]));
  return report.map(entry => {
    const node = shortOf.get(entry.name);
    return node === undefined ? entry : {...entry, node};
  });
}

/** The tensors the report measures: quantized ones (a separate quantize node against its float input) and float ones. */
function reportPairs(plan: QuantPlan, observers: readonly ActivationObserver[]): TensorPair[] {
  const pairs = observers.map(o => ({reference: o.tensor, test: o.fakeQuantNode}));
  for (const [name, decision] of plan.decisions) {
    if (decision.role === 'float' || plan.floatOutputCompute.has(name)) pairs.push({reference: name, test: name});
  }
  return pairs;
}

function measureLayerSqnr(float: ModelGraph, quantized: ModelGraph, pairs: TensorPair[], samples: tf.NamedTensorMap[], tick: () => void): Map<string, number> {
  const reference = graphModelOf(float);
  const test = graphModelOf(quantized);
  try {
    return layerSqnr(reference, test, samples, pairs, tick);
  } finally {
    reference.dispose();
    test.dispose();
  }
}

/** Runs the float graph once, so an op TensorFlow.js cannot run is named (node and op) before any work. */
function checkFloatModelRuns(graph: ModelGraph, sample: tf.NamedTensorMap): void {
  const model = graphModelOf(graph);
  try {
    const outputs = model.execute(sample);
    const inputs = new Set(Object.values(sample));
    tf.dispose((Array.isArray(outputs) ? outputs : [outputs]).filter(t => !inputs.has(t)));
  } catch (error) {
    throw explainRunError(error, graph, 'quantizeModel: the float model does not run');
  } finally {
    model.dispose();
  }
}

async function saveArtifacts(artifacts: tf.io.ModelArtifacts, urlOrHandler: string | tf.io.IOHandler): Promise<tf.io.SaveResult> {
  let handler: tf.io.IOHandler;
  if (typeof urlOrHandler === 'string') {
    const handlers = tf.io.getSaveHandlers(urlOrHandler);
    if (handlers.length !== 1) {
      throw new Error(`Cannot save to '${urlOrHandler}': ${handlers.length === 0 ? 'no' : 'more than one'} save handler for that URL ` +
          `(in Node, pass a handler such as fileIOHandler(dir) from tfjs-backend-int8's io).`);
    }
    handler = handlers[0];
  } else {
    handler = urlOrHandler;
  }
  if (handler.save == null) throw new Error('The IOHandler given to save() has no save method.');
  return handler.save(artifacts);
}

function buildReport(plan: QuantPlan, observers: readonly ActivationObserver[], params: ReadonlyMap<string, ActivationParams>,
    ranges: ReadonlyMap<string, ObservedRange>, computes: readonly LoweredCompute[], sqnr: ReadonlyMap<string, number>): QuantizationReportEntry[] {
  const computeByName = new Map(computes.map(c => [c.name, c]));
  const report: Array<QuantizationReportEntry & {order: number}> = [];
  const position = new Map([...plan.decisions.keys()].map((name, i) => [name, i]));
  const measured = (name: string): number | null => sqnr.get(name) ?? null;
  for (const observer of observers) {
    const p = params.get(observer.tensor) as ActivationParams;
    const notes: string[] = [];
    const inPlace = observer.fakeQuantNode === observer.tensor;
    if (!inPlace) notes.push(`quantizes the output of '${observer.tensor}' (op ${observer.op}) for the int8 ops that read it`);
    if (observer.tiedTo !== undefined) notes.push(`range shared with '${observer.tiedTo}'`);
    if (ranges.get(observer.tensor)?.degenerate) notes.push('degenerate range (min == max on the calibration data): widened to include 0');
    const compute = computeByName.get(observer.tensor);
    if (compute !== undefined && compute.biasSaturated > 0) notes.push(`${compute.biasSaturated} bias values saturated int32`);
    const observed = ranges.get(observer.tensor)?.stats;
    report.push({
      order: (position.get(observer.tensor) ?? 0) + (inPlace ? 0 : 0.5),
      name: observer.fakeQuantNode, op: inPlace ? observer.op : FAKE_QUANT_OP, dtype: 'int8',
      min: p.min, max: p.max, scale: p.scale, zeroPoint: p.zeroPoint,
      sqnrDb: measured(observer.fakeQuantNode),
      ...(observed !== undefined ? {observedMin: observed.min, observedMax: observed.max} : {}),
      ...(notes.length > 0 ? {note: notes.join('; ')} : {}),
    });
  }
  for (const [name, decision] of plan.decisions) {
    if (plan.floatOutputCompute.has(name)) {
      report.push({order: position.get(name) ?? 0, name, op: decision.op, dtype: 'int8-compute', min: null, max: null, scale: null, zeroPoint: null,
        sqnrDb: measured(name), note: 'integer conv/matmul; its output feeds only float ops or model outputs, so the int32 accumulator is dequantized to float'});
    } else if (decision.role === 'float') {
      report.push({order: position.get(name) ?? 0, name, op: decision.op, dtype: 'float', min: null, max: null, scale: null, zeroPoint: null,
        sqnrDb: measured(name), note: decision.reason});
    }
  }
  // In graph order.
  return report.sort((a, b) => a.order - b.order).map(({order: _order, ...entry}) => entry);
}
