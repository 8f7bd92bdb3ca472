// End to end in real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
// the bundles are built, the demo page (demo/web) is served on localhost, a quantized MobileNetV2
// made by the CLI runs on the `int8` backend in the page, and its output is compared with what
// Node computes for the same photo and model: bit for bit for the same pixels, same top-1 for the
// browser's own JPEG decoding.
//
// Skips (with a message) only when /usr/bin/chromium is absent and CI is not set; in CI it runs.

import {existsSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModel} from '@tensorflow/tfjs-converter';
import type {Page} from 'playwright-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {prepareDemoModels} from '../../demo/web/prepare-models';
import {startDemoServer} from '../../demo/web/serve.mjs';
import type {DemoServer} from '../../demo/web/serve.mjs';
import {fileIOHandler} from '../../src/io/file_io';
import {decodeImage, imageToInputTensor} from '../../src/io/images';
import type {DecodedImage} from '../../src/io/images';
import {BACKEND_NAME} from '../../src/index';
import '../../src/ops/index';
import {
  argmax, Browser, buildBundles, CHROMIUM_PATH, DemoResult, launchChromium, openDemo, ROOT, waitForPrediction,
} from './harness';

const PHOTOS = ['opencv-messi5.jpg', 'gcompris-monuments-colosseum.jpg'];
const IMAGES = join(ROOT, 'test', 'fixtures', 'images');
const SIZE = 224;
/** kernels/impl/wasm_dispatch.ts: the tfjs flag switching the int8 WebAssembly kernels. */
const INT8_WASM_FLAG = 'INT8_WASM';

const chromiumPresent = existsSync(CHROMIUM_PATH);
const inCI = process.env.CI !== undefined;
const skip = !chromiumPresent && !inCI;
if (skip) {
  console.warn(`test/browser/chromium.test.ts: SKIPPED — ${CHROMIUM_PATH} is absent (apt-get install chromium). ` +
    'With CI set this test runs (and fails without Chromium).');
}

function int8WasmFlagRegistered(): boolean {
  const registry = (tf.env() as unknown as {flagRegistry: Record<string, unknown>}).flagRegistry;
  return registry[INT8_WASM_FLAG] != null;
}

/** The model input for a decoded photo, made on cpu as the page makes it. */
async function inputValues(image: DecodedImage): Promise<Float32Array> {
  await tf.setBackend('cpu');
  const input = imageToInputTensor(image, {height: SIZE, width: SIZE, range: '0,1'});
  const values = input.dataSync() as Float32Array;
  input.dispose();
  return values;
}

/** The quantized model's output on int8 in Node (WebAssembly kernels unless `reference`). */
async function nodeInt8(model: GraphModel, input: Float32Array, reference: boolean): Promise<number[]> {
  await tf.setBackend(BACKEND_NAME);
  const saved = int8WasmFlagRegistered() ? tf.env().getBool(INT8_WASM_FLAG) : undefined;
  if (saved !== undefined) tf.env().set(INT8_WASM_FLAG, !reference && saved);
  try {
    const x = tf.tensor4d(input, [1, SIZE, SIZE, 3]);
    const y = model.predict(x) as tf.Tensor;
    const values = Array.from(y.dataSync());
    tf.dispose([x, y]);
    return values;
  } finally {
    if (saved !== undefined) tf.env().set(INT8_WASM_FLAG, saved);
  }
}

/** Runs the page's model on RGB bytes (the Node decoder's) and returns its result. */
async function classifyInPage(page: Page, image: DecodedImage, name: string): Promise<DemoResult> {
  return page.evaluate(async ({rgb, width, height, name}) => {
    const demo = (window as unknown as {int8Demo: {classifyPixels(rgb: number[], w: number, h: number, n: string): Promise<DemoResult>}}).int8Demo;
    return demo.classifyPixels(rgb, width, height, name);
  }, {rgb: Array.from(image.data), width: image.width, height: image.height, name});
}

describe.skipIf(skip)('the demo page in headless Chromium (int8 vs Node)', () => {
  let workDir: string;
  let server: DemoServer;
  let browser: Browser;
  let model: GraphModel;
  const requests: string[] = [];
  const images = new Map<string, DecodedImage>();
  const node = new Map<string, {wasm: number[]; reference: number[]}>();

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'int8-browser-test-'));
    // The bundles and a quantized model made now by the CLI from the real float model.
    const [, models] = await Promise.all([
      buildBundles(),
      prepareDemoModels({int8ModelDir: join(workDir, 'nsfwjs-mobilenet-v2-int8'), force: true, log: () => {}}),
    ]);
    tf.env().set('IS_TEST', true);
    model = await loadGraphModel(fileIOHandler(join(models.int8ModelDir, 'model.json')));
    for (const photo of PHOTOS) {
      const image = decodeImage(join(IMAGES, photo));
      images.set(photo, image);
      const input = await inputValues(image);
      node.set(photo, {wasm: await nodeInt8(model, input, false), reference: await nodeInt8(model, input, true)});
    }
    server = await startDemoServer({
      floatModelDir: models.floatModelDir,
      int8ModelDir: models.int8ModelDir,
      log: line => requests.push(line),
    });
    browser = await launchChromium();
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    model?.dispose();
    if (workDir !== undefined) await rm(workDir, {recursive: true, force: true});
  });

  it('Node: the int8 WebAssembly and reference kernels agree bit for bit (the baseline)', () => {
    for (const photo of PHOTOS) expect(node.get(photo)?.wasm, photo).toEqual(node.get(photo)?.reference);
  });

  it('a person picks a photo: cpu, wasm and int8 all run; int8 top-1 is Node\'s', async () => {
    const page = await browser.newPage();
    try {
      await openDemo(page, `${server.url}?runs=1`);
      expect(await page.evaluate(() => (window as unknown as {int8Demo: {backends: string[]}}).int8Demo.backends))
        .toEqual(['cpu', 'wasm', 'int8']);
      const photo = PHOTOS[0];
      await page.setInputFiles('#file', join(IMAGES, photo));
      const result = await waitForPrediction(page);
      expect(Object.keys(result.results).sort()).toEqual(['cpu', 'int8', 'wasm']);
      const nodeTop1 = argmax(node.get(photo)?.wasm ?? []);
      // The browser decodes the JPEG itself (libjpeg-turbo, not jpeg-js): same top-1, close values.
      const int8 = result.results.int8;
      expect(argmax(int8.values), `${photo}: browser int8 ${int8.values} vs Node ${node.get(photo)?.wasm}`).toBe(nodeTop1);
      expect(argmax(result.results.cpu.values)).toBe(nodeTop1);
      expect(argmax(result.results.wasm.values)).toBe(nodeTop1);
      for (const run of Object.values(result.results)) {
        expect(run.values.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
        expect(run.firstValues).toEqual(run.values);
        expect(run.medianMs).toBeGreaterThan(0);
      }
      const text = await page.locator('.card.int8').textContent();
      expect(text).toContain('ms (median)');
      console.log(`[browser] ${photo} latency (median of 1 after a first run): ` +
        Object.values(result.results).map(r => `${r.backend} ${r.medianMs.toFixed(1)} ms (first ${r.firstMs.toFixed(0)} ms)`).join(', '));
    } finally {
      await page.close();
    }
  });

  it('int8 in Chromium (WebAssembly kernels, inlined module) is bit-exact with Node for the same pixels', async () => {
    const page = await browser.newPage();
    try {
      await openDemo(page, `${server.url}?backends=int8&runs=1`);
      const kernels = await page.evaluate(() => (window as unknown as {int8Demo: {int8Kernels: string}}).int8Demo.int8Kernels);
      if (int8WasmFlagRegistered()) expect(kernels).toBe('WebAssembly SIMD (module inlined)');
      for (const photo of PHOTOS) {
        const result = await classifyInPage(page, images.get(photo) as DecodedImage, photo);
        expect(result.results.int8.values, photo).toEqual(node.get(photo)?.wasm);
      }
    } finally {
      await page.close();
    }
  });

  it('int8 in Chromium with the reference kernels is bit-exact with Node too', async () => {
    if (!int8WasmFlagRegistered()) return; // no WebAssembly kernels in this build: the test above covered the reference
    const page = await browser.newPage();
    try {
      await openDemo(page, `${server.url}?backends=int8&runs=1&int8kernels=reference`);
      expect(await page.evaluate(() => (window as unknown as {int8Demo: {int8Kernels: string}}).int8Demo.int8Kernels))
        .toBe('TypeScript reference');
      const photo = PHOTOS[0];
      const result = await classifyInPage(page, images.get(photo) as DecodedImage, photo);
      expect(result.results.int8.values).toEqual(node.get(photo)?.reference);
    } finally {
      await page.close();
    }
  });

  it('setWasmPaths(\'/dist/\'): the module comes from /dist/int8.wasm and gives the same bits', async () => {
    const page = await browser.newPage();
    try {
      const before = requests.length;
      await openDemo(page, `${server.url}?backends=int8&runs=1&int8wasm=path`);
      expect(await page.evaluate(() => (window as unknown as {tf: {int8: {getWasmPath(): string | undefined}}}).tf.int8.getWasmPath()))
        .toBe('/dist/int8.wasm');
      const photo = PHOTOS[0];
      const result = await classifyInPage(page, images.get(photo) as DecodedImage, photo);
      expect(result.results.int8.values).toEqual(node.get(photo)?.wasm);
      const fetched = requests.slice(before).includes('200 /dist/int8.wasm');
      expect(fetched).toBe(true);
    } finally {
      await page.close();
    }
  });

  it('the pages stayed on localhost and raised no errors', () => {
    expect(browser.blockedRequests).toEqual([]);
    expect(browser.pageErrors).toEqual([]);
  });
});
