// Turning image files into the model's input tensor.

import * as tf from '@tensorflow/tfjs-core';

import type {ModelInputSpec} from '../graph/calibrate';
import {decodeImage, imageToInputTensor, listImages} from '../io/images';
import {InputRange, UsageError} from './args';

export interface ImageInput {
  name: string;
  height: number;
  width: number;
  channels: number;
  range: InputRange;
  dtype: 'float32' | 'int32';
}

/** How images feed the model's single input: size from the flag or the model, range from the flag or the dtype. */
export function imageInputOf(inputs: readonly ModelInputSpec[], size: {height: number; width: number} | undefined,
    range: InputRange | undefined, modelPath: string): ImageInput {
  if (inputs.length !== 1) {
    throw new Error(`${modelPath}: the model has ${inputs.length} inputs (${inputs.map(i => i.name).join(', ')}); the CLI feeds one image input`);
  }
  const input = inputs[0];
  const shape = input.shape ?? [];
  if (shape.length !== 4) throw new Error(`${modelPath}: input '${input.name}' has shape [${shape.join(', ')}], not an NHWC image`);
  const channels = shape[3] > 0 ? shape[3] : 3;
  if (channels !== 1 && channels !== 3) throw new Error(`${modelPath}: input '${input.name}' has ${channels} channels (1 or 3 supported)`);
  const height = size?.height ?? shape[1];
  const width = size?.width ?? shape[2];
  if (!(height > 0) || !(width > 0)) {
    throw new UsageError(`${modelPath}: input '${input.name}' has no fixed size (shape [${shape.join(', ')}]); pass --input-size HxW`);
  }
  const dtype = input.dtype === 'int32' ? 'int32' : 'float32';
  const chosenRange = range ?? (dtype === 'int32' ? '0,255' : '0,1');
  if (dtype === 'int32' && chosenRange !== '0,255') {
    throw new UsageError(`${modelPath}: input '${input.name}' is int32 (integer pixels); use --input-range 0,255`);
  }
  return {name: input.name, height, width, channels, range: chosenRange, dtype};
}

/** The model input for one image file (errors name the file). */
export function imageTensor(path: string, input: ImageInput): tf.Tensor4D {
  const image = decodeImage(path);
  const rgb = imageToInputTensor(image, {height: input.height, width: input.width, range: input.range, dtype: input.dtype});
  if (input.channels === 3) return rgb;
  const gray = tf.tidy(() => {
    const mean = tf.mean(rgb, 3, true);
    return (input.dtype === 'int32' ? tf.cast(tf.round(mean), 'int32') : mean) as tf.Tensor4D;
  });
  rgb.dispose();
  return gray;
}

/** The image files of a directory, at most `max`; an error if there are none. */
export function imageFiles(directory: string, max: number | undefined): string[] {
  const files = listImages(directory);
  if (files.length === 0) throw new Error(`no JPEG or PNG images in ${directory}`);
  return max === undefined ? files : files.slice(0, max);
}
