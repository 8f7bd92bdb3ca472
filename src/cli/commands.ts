// The tfjs-int8 commands: quantize, eval, compare-methods.

import {mkdir, writeFile} from 'node:fs/promises';
import {basename, join} from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';

import {CALIBRATION_METHODS, CalibrationMethod, isCalibrationMethod} from '../graph/calibration_methods';
import {EQUALIZE_METHODS, EqualizeMethod} from '../graph/equalize';
import {DEFAULT_CALIBRATION_METHOD, quantizeModel, QuantizedModel} from '../graph/quantize_model';
import {fileIOHandler} from '../io/file_io';
import {
  checkKnownFlags, inputRangeFlag, inputSizeFlag, ParsedArgs, positiveIntFlag, requiredFlag, stringFlag, UsageError,
} from './args';
import {EvalAccumulator, EvalResult} from './eval_metrics';
import {imageFiles, ImageInput, imageInputOf, imageTensor} from './image_inputs';
import {LoadedModel, loadModelFile} from './model_files';
import {progressBar} from './progress';

const INPUT_FLAGS = ['input-size', 'input-range', 'max-images', 'float-backend'];
const DEFAULT_MAX_CALIBRATION_IMAGES = 100;

/** `--name on|off`; undefined when absent (the library default). */
function onOffFlag(args: ParsedArgs, name: string): boolean | undefined {
  const value = stringFlag(args, name);
  if (value === undefined) return undefined;
  if (value !== 'on' && value !== 'off') throw new UsageError(`--${name} must be on or off, got '${value}'`);
  return value === 'on';
}

/** `--equalize activations|balanced|weights|on|off`; undefined when absent (the library default). */
function equalizeFlag(args: ParsedArgs): boolean | EqualizeMethod | undefined {
  const value = stringFlag(args, 'equalize');
  if (value === undefined) return undefined;
  if (value === 'on' || value === 'off') return value === 'on';
  if (!(EQUALIZE_METHODS as readonly string[]).includes(value)) {
    throw new UsageError(`--equalize must be on, off or one of ${EQUALIZE_METHODS.join(', ')}, got '${value}'`);
  }
  return value as EqualizeMethod;
}

function methodFlag(args: ParsedArgs): CalibrationMethod {
  const value = stringFlag(args, 'method') ?? DEFAULT_CALIBRATION_METHOD;
  if (!isCalibrationMethod(value)) throw new UsageError(`--method must be one of ${CALIBRATION_METHODS.join(', ')}, got '${value}'`);
  return value;
}

function positional(args: ParsedArgs, index: number, what: string): string {
  const value = args.positionals[index];
  if (value === undefined) throw new UsageError(`'${args.command}' needs ${what}`);
  return value;
}

/** Decodes image files into input tensors, with a progress bar. */
function loadImages(files: readonly string[], input: ImageInput, label: string): tf.Tensor4D[] {
  const bar = progressBar(label);
  const tensors: tf.Tensor4D[] = [];
  files.forEach((file, i) => {
    tensors.push(imageTensor(file, input));
    bar.update(i + 1, files.length);
  });
  bar.finish();
  return tensors;
}

async function quantizeWithProgress(model: LoadedModel, samples: tf.Tensor4D[], method: CalibrationMethod,
    options: {perChannel: boolean; exclude?: string[]; biasCorrection?: boolean; equalize?: boolean | EqualizeMethod; weightRounding?: boolean}): Promise<QuantizedModel> {
  const bar = progressBar(`calibrating (${method})`);
  try {
    return await quantizeModel(model.model, {
      calibrationData: samples, method, perChannel: options.perChannel, exclude: options.exclude, biasCorrection: options.biasCorrection,
      equalize: options.equalize, weightRounding: options.weightRounding,
      onProgress: (done, total) => bar.update(done, total),
    });
  } finally {
    bar.finish();
  }
}

export async function quantizeCommand(args: ParsedArgs): Promise<void> {
  checkKnownFlags(args, ['calibration', 'out', 'method', 'per-tensor', 'exclude', 'bias-correction', 'equalize', 'weight-rounding', ...INPUT_FLAGS]);
  const modelPath = positional(args, 0, 'a model.json');
  const calibrationDir = requiredFlag(args, 'calibration');
  const outDir = requiredFlag(args, 'out');
  const method = methodFlag(args);
  const model = await loadModelFile(modelPath);
  const input = imageInputOf(model.inputs, inputSizeFlag(args), inputRangeFlag(args), modelPath);
  const files = imageFiles(calibrationDir, positiveIntFlag(args, 'max-images') ?? DEFAULT_MAX_CALIBRATION_IMAGES);
  const samples = loadImages(files, input, 'loading calibration images');
  const exclude = stringFlag(args, 'exclude')?.split(',').filter(s => s !== '');
  const quantized = await quantizeWithProgress(model, samples, method,
      {perChannel: !args.flags.has('per-tensor'), exclude, biasCorrection: onOffFlag(args, 'bias-correction'),
        equalize: equalizeFlag(args), weightRounding: onOffFlag(args, 'weight-rounding')});
  await mkdir(outDir, {recursive: true});
  const modelJson = join(outDir, 'model.json');
  const handler = fileIOHandler(modelJson);
  if (handler.save === undefined) throw new Error(`cannot save to ${modelJson}`);
  await handler.save(quantized.artifacts);
  const reportPath = join(outDir, 'quantization-report.json');
  // layers: per node, by the model's names (`node`: its short name in model.json); nodeNames: model.json name → model's name.
  await writeFile(reportPath, JSON.stringify({layers: quantized.report, nodeNames: quantized.nodeNames}, null, 1));
  tf.dispose(samples);
  const {quantizedWeightBytes, floatWeightBytes} = quantized.sizes;
  const kept = quantized.report.filter(e => e.dtype === 'float');
  process.stdout.write(`${JSON.stringify({
    model: modelPath, out: modelJson, report: reportPath, method, calibrationImages: files.length,
    input: {name: input.name, size: `${input.height}x${input.width}`, range: input.range, dtype: input.dtype},
    weightBytes: {float32: floatWeightBytes, quantized: quantizedWeightBytes, ratio: quantizedWeightBytes / floatWeightBytes},
    quantizedTensors: quantized.report.filter(e => e.dtype !== 'float').length,
    keptInFloat: kept.map(e => ({name: e.name, op: e.op, reason: e.note})),
  }, null, 1)}\n`);
  model.dispose();
}

function tensorsToPlain(tensors: tf.Tensor[]): Array<{shape: number[]; values: Float32Array}> {
  return tensors.map(t => ({shape: t.shape.slice(), values: Float32Array.from(t.dataSync())}));
}

type Plain = Array<{shape: number[]; values: Float32Array}>;

/** An image already turned into input values (so every backend is fed exactly the same numbers). */
interface PreparedInput {
  values: Float32Array | Int32Array;
  shape: number[];
  dtype: 'float32' | 'int32';
}

/** Decodes and preprocesses each image once, on the current backend. */
function prepareInputs(files: readonly string[], input: ImageInput, label: string): PreparedInput[] {
  const bar = progressBar(label);
  const prepared = files.map((file, i) => {
    const x = imageTensor(file, input);
    const values = x.dtype === 'int32' ? Int32Array.from(x.dataSync()) : Float32Array.from(x.dataSync());
    const result = {values, shape: x.shape.slice(), dtype: x.dtype as 'float32' | 'int32'};
    x.dispose();
    bar.update(i + 1, files.length);
    return result;
  });
  bar.finish();
  return prepared;
}

/** Runs a model on each prepared input (one at a time); its outputs as plain arrays. */
function outputsOn(run: (feeds: tf.NamedTensorMap) => tf.Tensor[], inputs: readonly PreparedInput[], inputName: string, label: string): Plain[] {
  const bar = progressBar(label);
  const all: Plain[] = [];
  inputs.forEach((prepared, i) => {
    const x = tf.tensor(prepared.values, prepared.shape, prepared.dtype);
    const out = run({[inputName]: x});
    try {
      all.push(tensorsToPlain(out));
    } finally {
      tf.dispose([x, ...out]);
    }
    bar.update(i + 1, inputs.length);
  });
  bar.finish();
  return all;
}

function compareOutputs(names: readonly string[], reference: Plain[], test: Plain[], images: readonly string[]): EvalResult {
  const accumulator = new EvalAccumulator();
  reference.forEach((ref, i) => accumulator.add(names, ref, test[i], basename(images[i])));
  return accumulator.result();
}

export async function evalCommand(args: ParsedArgs): Promise<void> {
  checkKnownFlags(args, ['images', 'backend', ...INPUT_FLAGS]);
  const floatPath = positional(args, 0, 'the float model.json');
  const quantizedPath = positional(args, 1, 'the quantized model.json');
  const imagesDir = requiredFlag(args, 'images');
  const floatBackend = tf.getBackend();
  const backend = stringFlag(args, 'backend') ?? floatBackend;
  if (backend !== 'cpu' && backend !== 'wasm' && backend !== 'int8') throw new UsageError(`--backend must be cpu, wasm or int8, got '${backend}'`);
  const reference = await loadModelFile(floatPath);
  const quantized = await loadModelFile(quantizedPath);
  if (quantized.outputNames.length !== reference.outputNames.length) {
    throw new Error(`${quantizedPath} has ${quantized.outputNames.length} outputs but ${floatPath} has ${reference.outputNames.length}`);
  }
  const input = imageInputOf(reference.inputs, inputSizeFlag(args), inputRangeFlag(args), floatPath);
  const files = imageFiles(imagesDir, positiveIntFlag(args, 'max-images'));
  const inputs = prepareInputs(files, input, 'loading images');
  // The float model runs on the float backend, then the quantized one on the chosen backend, fed the same values.
  const floatOutputs = outputsOn(reference.run, inputs, input.name, `running the float model on ${floatBackend}`);
  await switchBackend(backend);
  const quantizedOutputs = outputsOn(quantized.run, inputs, input.name, `running the quantized model on ${backend}`);
  await tf.setBackend(floatBackend);
  const result = compareOutputs(quantized.outputNames, floatOutputs, quantizedOutputs, files);
  process.stdout.write(`${JSON.stringify(result, null, 1)}\n`);
  reference.dispose();
  quantized.dispose();
}

/** Makes `name` the active backend (importing the int8 / wasm backend on first use). */
export async function switchBackend(name: string): Promise<void> {
  if (name === 'int8') await import('../index');
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  let ok = false;
  try {
    ok = await tf.setBackend(name);
  } catch (error) {
    throw new Error(`backend '${name}' could not be initialized: ${(error as Error).message}`);
  }
  if (!ok) throw new Error(`backend '${name}' could not be initialized`);
}

export async function compareMethodsCommand(args: ParsedArgs): Promise<void> {
  checkKnownFlags(args, ['calibration', 'images', 'methods', 'per-tensor', 'bias-correction', ...INPUT_FLAGS]);
  const modelPath = positional(args, 0, 'a model.json');
  const calibrationDir = requiredFlag(args, 'calibration');
  const imagesDir = stringFlag(args, 'images') ?? calibrationDir;
  const methods = (stringFlag(args, 'methods')?.split(',') ?? [...CALIBRATION_METHODS]).map(m => {
    if (!isCalibrationMethod(m)) throw new UsageError(`unknown method '${m}' in --methods`);
    return m;
  });
  const model = await loadModelFile(modelPath);
  const input = imageInputOf(model.inputs, inputSizeFlag(args), inputRangeFlag(args), modelPath);
  const maxImages = positiveIntFlag(args, 'max-images');
  const samples = loadImages(imageFiles(calibrationDir, maxImages ?? DEFAULT_MAX_CALIBRATION_IMAGES), input, 'loading calibration images');
  const evalFiles = imageFiles(imagesDir, maxImages);
  const evalInputs = prepareInputs(evalFiles, input, 'loading evaluation images');
  const floatOutputs = outputsOn(model.run, evalInputs, input.name, 'running the float model');
  const results: Array<{method: CalibrationMethod} & EvalResult> = [];
  for (const method of methods) {
    const quantized = await quantizeWithProgress(model, samples, method,
        {perChannel: !args.flags.has('per-tensor'), biasCorrection: onOffFlag(args, 'bias-correction')});
    const qModel = loadGraphModelSync(quantized.artifacts) as unknown as GraphModel;
    const run = (feeds: tf.NamedTensorMap) => {
      const out = qModel.execute(feeds, model.kind === 'graph-model' ? model.outputNames.slice() : undefined);
      return Array.isArray(out) ? out : [out];
    };
    const outputNames = model.kind === 'graph-model' ? model.outputNames : qModel.outputNodes;
    const quantizedOutputs = outputsOn(run, evalInputs, input.name, `evaluating ${method}`);
    results.push({method, ...compareOutputs(outputNames, floatOutputs, quantizedOutputs, evalFiles)});
    qModel.dispose();
  }
  tf.dispose(samples);
  process.stdout.write(`${JSON.stringify({model: modelPath, calibrationImages: samples.length, evalImages: evalInputs.length, results}, null, 1)}\n`);
  model.dispose();
}
