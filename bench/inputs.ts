// The input a benchmarked model gets: a real photo (test/fixtures/images) resized to the model's
// input size, in the range and dtype the model was trained with. The models this project fetches
// (models/) have their preprocessing written down here; any other model's size comes from its
// input signature, its range defaults to [0, 1] (integer 0..255 for an int32 input).

import {existsSync} from 'node:fs';
import {basename, dirname, join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';

import type {InputRange} from '../src/cli/args';
import {ImageInput, imageInputOf} from '../src/cli/image_inputs';
import type {LoadedModel} from '../src/cli/model_files';
import {modelNames, modelPath} from '../models/fetch-models';

const REPOSITORY_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The photos that ship with the repository (a user's clone has only these). */
export const FIXTURE_IMAGES_DIR = join(REPOSITORY_ROOT, 'test', 'fixtures', 'images');

/** The photo benchmarks run on by default: a person, so that pose models see what they expect. */
export const DEFAULT_BENCH_IMAGE = join(FIXTURE_IMAGES_DIR, 'opencv-messi5.jpg');

export interface KnownModelInput {
  height: number;
  width: number;
  range: InputRange;
  /** What the converted model's input holds. */
  dtype: 'float32' | 'int32';
  channels: 1 | 3;
  note: string;
}

/** Preprocessing of the models in models/manifest.json, as their own libraries do it. */
export const KNOWN_MODEL_INPUTS: Readonly<Record<string, KnownModelInput>> = {
  'posenet': {height: 385, width: 385, range: '-1,1', dtype: 'float32', channels: 3, note: 'MobileNetV1 PoseNet'},
  'movenet-lightning': {height: 192, width: 192, range: '0,255', dtype: 'int32', channels: 3, note: 'integer pixels 0..255'},
  'mobilefacenet': {height: 112, width: 112, range: '0,1', dtype: 'float32', channels: 3, note: 'face crop'},
  'emotion': {height: 64, width: 64, range: '0,1', dtype: 'float32', channels: 1, note: 'grayscale face crop'},
  'nsfwjs-mobilenet-v2': {height: 224, width: 224, range: '0,1', dtype: 'float32', channels: 3, note: 'Keras MobileNetV2'},
  'nsfwjs-inception-v3': {height: 299, width: 299, range: '0,1', dtype: 'float32', channels: 3, note: 'Keras InceptionV3'},
};

/**
 * The name of a fetched model (models/manifest.json) a model.json belongs to: its path is that
 * model's cache path, or it sits in a directory named like it. Undefined for any other model.
 */
export function knownModelName(modelJsonPath: string): string | undefined {
  const absolute = resolve(modelJsonPath);
  const names = modelNames();
  for (const name of names) {
    try {
      if (resolve(modelPath(name)) === absolute) return name;
    } catch {
      // an unusable cache root (e.g. TFJS_INT8_CACHE inside the clone) only disables this match
    }
  }
  const directory = basename(dirname(absolute));
  return names.includes(directory) ? directory : undefined;
}

/**
 * A model argument: a path to a model.json, or the name of a fetched model (its cached
 * model.json). Errors name what was given.
 */
export function resolveModelArgument(argument: string): {path: string; name: string | undefined} {
  if (existsSync(argument)) return {path: resolve(argument), name: knownModelName(argument)};
  if (modelNames().includes(argument)) {
    const path = modelPath(argument);
    return {path, name: argument};
  }
  throw new Error(`model ${argument} not found: not a model.json file, nor one of the fetched models (${modelNames().join(', ')})`);
}

/**
 * How images feed a loaded model: the known preprocessing of a fetched model, otherwise the
 * model's input signature with range [0, 1] (0..255 for int32 inputs).
 */
export function benchImageInput(model: LoadedModel, knownName: string | undefined): ImageInput {
  const known = knownName === undefined ? undefined : KNOWN_MODEL_INPUTS[knownName];
  const size = known === undefined ? undefined : {height: known.height, width: known.width};
  const input = imageInputOf(model.inputs, size, known?.range, model.path);
  if (known !== undefined && input.channels !== known.channels) {
    throw new Error(`${model.path}: model ${knownName} should take ${known.channels} channel(s), its input '${input.name}' has ${input.channels}`);
  }
  if (known !== undefined && input.dtype !== known.dtype) {
    throw new Error(`${model.path}: model ${knownName} should take ${known.dtype} input, its input '${input.name}' is ${input.dtype}`);
  }
  return input;
}

/** "[1, 224, 224, 3] float32 [0,1]"-style description of an input. */
export function describeImageInput(input: ImageInput): string {
  const range = input.dtype === 'int32' ? 'integer 0..255' : `[${input.range}]`;
  return `[1, ${input.height}, ${input.width}, ${input.channels}] ${input.dtype} ${range}`;
}
