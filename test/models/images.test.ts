import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {basename, join} from 'node:path';
import {fileURLToPath} from 'node:url';

import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import pngjs from 'pngjs';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {decodeImage, imageToInputTensor, listImages} from '../../src/io/images';

const IMAGES = fileURLToPath(new URL('../fixtures/images', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'tfjs-int8-images-'));

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => rmSync(scratch, {recursive: true, force: true}));

describe('listImages', () => {
  it('lists the 12 vendored photos, sorted', () => {
    const images = listImages(IMAGES);
    expect(images).toHaveLength(12);
    expect(images.map(path => basename(path))).toEqual([...images.map(path => basename(path))].sort());
    expect(images.every(path => /\.jpe?g$/.test(path))).toBe(true);
  });

  it('names a missing directory', () => {
    expect(() => listImages(join(scratch, 'nope'))).toThrow(/nope/);
  });
});

describe('decodeImage', () => {
  it.each([
    ['opencv-messi5.jpg', 320, 200],
    ['gcompris-monuments-eiffelTower.jpg', 180, 320],
    ['gcompris-others-volleyball.jpg', 320, 320],
    ['gcompris-others-chair.jpg', 240, 320],
  ])('decodes %s to %ix%i RGB', (file, width, height) => {
    const image = decodeImage(join(IMAGES, file));
    expect([image.width, image.height]).toEqual([width, height]);
    expect(image.data).toBeInstanceOf(Uint8Array);
    expect(image.data.length).toBe(width * height * 3);
  });

  it('decodes every vendored photo to at most 320 px with varied pixels', () => {
    for (const path of listImages(IMAGES)) {
      const image = decodeImage(path);
      expect(Math.max(image.width, image.height), path).toBeLessThanOrEqual(320);
      let min = 255;
      let max = 0;
      for (const value of image.data) {
        min = Math.min(min, value);
        max = Math.max(max, value);
      }
      expect(max - min, path).toBeGreaterThan(100);
    }
  });

  it('decodes PNG exactly, dropping alpha', () => {
    const png = new pngjs.PNG({width: 3, height: 2});
    for (let i = 0; i < 6; i++) png.data.set([i * 40, 255 - i * 40, i, 128], i * 4);
    const path = join(scratch, 'tiny.png');
    writeFileSync(path, pngjs.PNG.sync.write(png));
    const image = decodeImage(path);
    expect([image.width, image.height]).toEqual([3, 2]);
    expect(Array.from(image.data.subarray(0, 6))).toEqual([0, 255, 0, 40, 215, 1]);
  });

  it('names a file that is not an image', () => {
    const path = join(scratch, 'not-an-image.jpg');
    writeFileSync(path, 'hello, I am text');
    expect(() => decodeImage(path)).toThrow(/unsupported image file .*not-an-image\.jpg/);
  });

  it('names a truncated JPEG', () => {
    const path = join(scratch, 'truncated.jpg');
    writeFileSync(path, readFileSync(join(IMAGES, 'opencv-fruits.jpg')).subarray(0, 300));
    expect(() => decodeImage(path)).toThrow(/truncated\.jpg/);
  });

  it('names a missing file', () => {
    expect(() => decodeImage(join(scratch, 'missing.png'))).toThrow(/missing\.png/);
  });
});

describe('imageToInputTensor', () => {
  const image = () => decodeImage(join(IMAGES, 'opencv-fruits.jpg'));

  it.each([
    ['0,1', 0, 1],
    ['-1,1', -1, 1],
    ['0,255', 0, 255],
  ] as const)('maps pixels to [%s]', (range, low, high) => {
    const input = imageToInputTensor(image(), {height: 224, width: 224, range});
    expect(input.shape).toEqual([1, 224, 224, 3]);
    expect(input.dtype).toBe('float32');
    const min = tf.min(input).dataSync()[0];
    const max = tf.max(input).dataSync()[0];
    expect(min).toBeGreaterThanOrEqual(low);
    expect(max).toBeLessThanOrEqual(high);
    expect(max - min).toBeGreaterThan((high - low) / 2);
    tf.dispose(input);
  });

  it('maps 0 to -1 and 255 to 1 exactly', () => {
    const blackAndWhite = {width: 2, height: 1, data: new Uint8Array([0, 0, 0, 255, 255, 255])};
    const input = imageToInputTensor(blackAndWhite, {height: 1, width: 2, range: '-1,1'});
    expect(Array.from(input.dataSync())).toEqual([-1, -1, -1, 1, 1, 1]);
  });

  it('keeps a uniform image uniform through the bilinear resize', () => {
    const grey = {width: 7, height: 5, data: new Uint8Array(7 * 5 * 3).fill(100)};
    const input = imageToInputTensor(grey, {height: 16, width: 12, range: '0,255'});
    expect(new Set(input.dataSync())).toEqual(new Set([100]));
  });

  it('gives integer pixels for int32 (movenet input)', () => {
    const input = imageToInputTensor(image(), {height: 192, width: 192, range: '0,255', dtype: 'int32'});
    expect(input.dtype).toBe('int32');
    expect(input.shape).toEqual([1, 192, 192, 3]);
    const values = input.dataSync();
    expect(values.every(value => Number.isInteger(value) && value >= 0 && value <= 255)).toBe(true);
  });

  it('rejects int32 with a fractional range', () => {
    expect(() => imageToInputTensor(image(), {height: 8, width: 8, range: '0,1', dtype: 'int32'})).toThrow(/int32/);
  });
});
