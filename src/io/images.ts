// Decodes JPEG/PNG photos to RGB bytes and turns them into model input tensors. Node only.

import {readdirSync, readFileSync} from 'node:fs';
import {join} from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';

/** An image as interleaved 8-bit RGB, row-major: `data.length === width * height * 3`. */
export interface DecodedImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** The value range pixels are mapped to: 0..1, -1..1, or left as 0..255. */
export type PixelRange = '0,1' | '-1,1' | '0,255';

export interface InputTensorOptions {
  height: number;
  width: number;
  range: PixelRange;
  /** `int32` gives integer pixels 0..255 (needs range '0,255'); default float32. */
  dtype?: 'float32' | 'int32';
}

const IMAGE_FILE = /\.(jpe?g|png)$/i;

type ImageFormat = 'jpeg' | 'png';

function detectFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  const pngSignature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (pngSignature.every((byte, index) => bytes[index] === byte)) return 'png';
  return null;
}

/** Drops the alpha channel of RGBA pixels. */
function rgbaToRgb(rgba: Uint8Array, width: number, height: number): Uint8Array {
  const pixels = width * height;
  const rgb = new Uint8Array(pixels * 3);
  for (let pixel = 0; pixel < pixels; pixel++) {
    rgb[pixel * 3] = rgba[pixel * 4];
    rgb[pixel * 3 + 1] = rgba[pixel * 4 + 1];
    rgb[pixel * 3 + 2] = rgba[pixel * 4 + 2];
  }
  return rgb;
}

function decodeRgba(bytes: Buffer, format: ImageFormat): {data: Uint8Array; width: number; height: number} {
  if (format === 'jpeg') return jpeg.decode(bytes, {useTArray: true, formatAsRGBA: true});
  const png = pngjs.PNG.sync.read(bytes);
  return {data: png.data, width: png.width, height: png.height};
}

function readImageFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`cannot read image ${path}: ${(error as Error).message}`);
  }
}

/** Decodes a JPEG or PNG file (detected by its signature, not its name) to RGB bytes. */
export function decodeImage(path: string): DecodedImage {
  const bytes = readImageFile(path);
  const format = detectFormat(bytes);
  if (format === null) {
    throw new Error(`unsupported image file ${path}: not a JPEG or PNG (it starts with bytes ${bytes.subarray(0, 4).toString('hex') || 'none'})`);
  }
  let rgba: {data: Uint8Array; width: number; height: number};
  try {
    rgba = decodeRgba(bytes, format);
  } catch (error) {
    throw new Error(`cannot decode ${format.toUpperCase()} image ${path}: ${(error as Error).message}`);
  }
  if (rgba.width <= 0 || rgba.height <= 0 || rgba.data.length < rgba.width * rgba.height * 4) {
    throw new Error(`cannot decode ${format.toUpperCase()} image ${path}: decoder returned ${rgba.width}x${rgba.height} with ${rgba.data.length} bytes`);
  }
  return {data: rgbaToRgb(rgba.data, rgba.width, rgba.height), width: rgba.width, height: rgba.height};
}

/** Maps 0..255 float pixels to the requested range. */
function mapPixelRange(pixels: tf.Tensor4D, range: PixelRange): tf.Tensor4D {
  if (range === '0,255') return pixels;
  if (range === '0,1') return tf.div(pixels, 255);
  if (range === '-1,1') return tf.sub(tf.div(pixels, 127.5), 1);
  throw new Error(`unknown pixel range "${String(range)}"; expected '0,1', '-1,1' or '0,255'`);
}

function assertInputOptions(options: InputTensorOptions): void {
  const {height, width, range, dtype = 'float32'} = options;
  if (!Number.isInteger(height) || !Number.isInteger(width) || height <= 0 || width <= 0) {
    throw new Error(`input tensor size must be positive integers, got ${height}x${width}`);
  }
  if (dtype !== 'float32' && dtype !== 'int32') throw new Error(`input tensor dtype must be float32 or int32, got ${String(dtype)}`);
  if (dtype === 'int32' && range !== '0,255') {
    throw new Error(`an int32 input tensor holds integer pixels: use range '0,255', not '${range}'`);
  }
}

/**
 * A [1, height, width, 3] model input: the image resized bilinearly (tf.image.resizeBilinear,
 * skipped when the size already matches) and mapped to `range`; int32 rounds to whole pixels.
 */
export function imageToInputTensor(image: DecodedImage, options: InputTensorOptions): tf.Tensor4D {
  assertInputOptions(options);
  const {height, width, range, dtype = 'float32'} = options;
  return tf.tidy(() => {
    const pixels = tf.tensor4d(image.data, [1, image.height, image.width, 3], 'float32');
    const resized = image.height === height && image.width === width ? pixels : tf.image.resizeBilinear(pixels, [height, width]);
    if (dtype === 'int32') return tf.cast(tf.clipByValue(tf.round(resized), 0, 255), 'int32');
    return mapPixelRange(resized, range);
  });
}

/** The JPEG and PNG files of a directory (by extension), as full paths in sorted order. */
export function listImages(directory: string): string[] {
  let names: string[];
  try {
    names = readdirSync(directory);
  } catch (error) {
    throw new Error(`cannot list images in ${directory}: ${(error as Error).message}`);
  }
  return names
    .filter(name => IMAGE_FILE.test(name))
    .sort()
    .map(name => join(directory, name));
}
