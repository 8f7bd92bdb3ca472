// Quantized artifacts made on the fly for benchmarks and the demo: quantizeModel (src/graph) over
// the fixture photos, saved with fileIOHandler into a directory under the system temp dir, and
// reused while nothing that went into it changed. The cache key covers the float model (its
// model.json and weight files), the calibration photos, the input preprocessing, the method, and
// the source of the graph pass, the executors and the arithmetic (src/graph, src/ops, src/quant),
// so that an edited graph pass never benchmarks a stale artifact. Making a new artifact for a
// model removes that model's older ones.

import {createHash} from 'node:crypto';
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs';
import {mkdir, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {dirname, join, relative, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';

import * as tf from '@tensorflow/tfjs-core';

import type {ImageInput} from '../src/cli/image_inputs';
import {imageTensor} from '../src/cli/image_inputs';
import {loadModelFile} from '../src/cli/model_files';
import {fileIOHandler} from '../src/io/file_io';
import {progressBar} from '../src/cli/progress';
import {listImages} from '../src/io/images';
import {useBackend} from './backends';
import {benchImageInput, FIXTURE_IMAGES_DIR} from './inputs';

const REPOSITORY_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const GRAPH_PASS_SOURCES = ['src/graph', 'src/ops', 'src/quant'];

/** Where quantized artifacts are cached (override with TFJS_INT8_BENCH_DIR). */
export function quantizedCacheRoot(): string {
  const configured = process.env.TFJS_INT8_BENCH_DIR;
  return configured !== undefined && configured !== '' ? resolve(configured) : join(tmpdir(), 'tfjs-backend-int8-quantized');
}

/** What quantize-info.json next to a cached artifact records. */
export interface QuantizeInfo {
  floatModel: string;
  method: string;
  calibrationImages: string[];
  input: ImageInput;
  quantizeMs: number;
  weightBytes: {float32: number; quantized: number};
  /** Report lines: how many tensors are int8, and the nodes kept in float with why. */
  int8Tensors: number;
  keptInFloat: Array<{name: string; op: string; reason?: string}>;
  createdAt: string;
}

export interface QuantizedArtifact {
  modelJsonPath: string;
  info: QuantizeInfo;
  /** True when an earlier run's artifact was reused. */
  cached: boolean;
}

/** The graph pass, or the reason it cannot be used (not written yet, or fails to load). */
export type GraphPass = typeof import('../src/graph/index');

export async function loadGraphPass(): Promise<{pass: GraphPass} | {reason: string}> {
  try {
    const pass = await import('../src/graph/index');
    if (typeof pass.quantizeModel !== 'function') return {reason: 'src/graph/index.ts does not export quantizeModel yet'};
    return {pass};
  } catch (error) {
    return {reason: `the graph pass (src/graph/index.ts) does not load: ${(error as Error).message}`};
  }
}

function hashFiles(hash: ReturnType<typeof createHash>, directory: string): void {
  if (!existsSync(directory)) return;
  for (const name of readdirSync(directory).sort()) {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) {
      hashFiles(hash, path);
    } else if (/\.ts$/.test(name)) {
      hash.update(relative(REPOSITORY_ROOT, path)).update(readFileSync(path));
    }
  }
}

/** Hash of the float model files: model.json and the sizes and modification times of its weight files. */
function hashModelFiles(hash: ReturnType<typeof createHash>, modelJsonPath: string): void {
  const text = readFileSync(modelJsonPath);
  hash.update(text);
  const manifest = (JSON.parse(text.toString('utf8')) as {weightsManifest?: Array<{paths: string[]}>}).weightsManifest ?? [];
  for (const group of manifest) {
    for (const path of group.paths) {
      const shard = resolve(dirname(modelJsonPath), path);
      const stats = existsSync(shard) ? statSync(shard) : undefined;
      hash.update(`${path}:${stats?.size ?? 'missing'}:${stats?.mtimeMs ?? 0}`);
    }
  }
}

function cacheKey(modelJsonPath: string, calibrationImages: readonly string[], input: ImageInput, method: string): string {
  const hash = createHash('sha256');
  hashModelFiles(hash, modelJsonPath);
  for (const image of calibrationImages) hash.update(`${image}:${statSync(image).size}`);
  hash.update(JSON.stringify(input)).update(method);
  for (const directory of GRAPH_PASS_SOURCES) hashFiles(hash, join(REPOSITORY_ROOT, directory));
  return hash.digest('hex').slice(0, 16);
}

function cacheLabel(label: string): string {
  return label.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** Removes this label's earlier artifacts (made from older inputs or an older graph pass) and `directory` itself. */
async function removeStaleArtifacts(label: string, directory: string): Promise<void> {
  const root = quantizedCacheRoot();
  const prefix = `${cacheLabel(label)}-`;
  const names = existsSync(root) ? readdirSync(root).filter(name => name.startsWith(prefix) && /^[0-9a-f]{16}$/.test(name.slice(prefix.length))) : [];
  for (const name of names) await rm(join(root, name), {recursive: true, force: true});
  await rm(directory, {recursive: true, force: true});
}

export interface EnsureQuantizedOptions {
  /** A label for the cache directory and messages (the model's name). */
  label: string;
  calibrationImages: readonly string[];
  input: ImageInput;
  /** Calibration method; default: the graph pass's default. */
  method?: string;
  /** Quantize again even when a cached artifact matches. */
  refresh?: boolean;
  /** The float backend to calibrate on (default: wasm, else cpu). */
  floatBackend?: 'cpu' | 'wasm';
}

/**
 * The quantized artifact of a float model: from the cache when it matches, otherwise made with
 * quantizeModel over `calibrationImages` (progress on stderr) and saved. The active backend is
 * restored afterwards. Throws (naming the model) when the graph pass is missing or fails.
 */
export async function ensureQuantizedModel(modelJsonPath: string, options: EnsureQuantizedOptions): Promise<QuantizedArtifact> {
  const graph = await loadGraphPass();
  if ('reason' in graph) throw new Error(graph.reason);
  const method = options.method ?? graph.pass.DEFAULT_CALIBRATION_METHOD;
  const key = cacheKey(modelJsonPath, options.calibrationImages, options.input, method);
  const directory = join(quantizedCacheRoot(), `${cacheLabel(options.label)}-${key}`);
  const quantizedJson = join(directory, 'model.json');
  const infoPath = join(directory, 'quantize-info.json');
  if (!options.refresh && existsSync(quantizedJson) && existsSync(infoPath)) {
    const info = JSON.parse(await readFile(infoPath, 'utf8')) as QuantizeInfo;
    return {modelJsonPath: quantizedJson, info, cached: true};
  }

  const previousBackend = tf.getBackend();
  const floatBackend = options.floatBackend ?? 'wasm';
  try {
    await useBackend(floatBackend);
  } catch {
    await useBackend('cpu');
  }
  const model = await loadModelFile(modelJsonPath);
  const samples: tf.Tensor4D[] = [];
  const progress = progressBar(`${options.label}: quantizing (${method}, ${options.calibrationImages.length} photos, on ${tf.getBackend()})`);
  try {
    for (const image of options.calibrationImages) samples.push(imageTensor(image, options.input));
    const started = performance.now();
    let quantized;
    try {
      quantized = await graph.pass.quantizeModel(model.model, {
        calibrationData: samples,
        method: method as Parameters<GraphPass['quantizeModel']>[1]['method'],
        onProgress: (done, total) => progress.update(done, total),
      });
    } catch (error) {
      throw new Error(`quantizeModel failed on ${modelJsonPath}: ${(error as Error).message}`);
    }
    const quantizeMs = performance.now() - started;
    progress.finish();
    await removeStaleArtifacts(options.label, directory);
    await mkdir(directory, {recursive: true});
    await quantized.save(fileIOHandler(quantizedJson));
    const info: QuantizeInfo = {
      floatModel: modelJsonPath,
      method,
      calibrationImages: options.calibrationImages.map(path => relative(REPOSITORY_ROOT, path)),
      input: options.input,
      quantizeMs,
      weightBytes: {float32: quantized.sizes.floatWeightBytes, quantized: quantized.sizes.quantizedWeightBytes},
      int8Tensors: quantized.report.filter(entry => entry.dtype !== 'float').length,
      keptInFloat: quantized.report.filter(entry => entry.dtype === 'float').map(entry => ({name: entry.name, op: entry.op, reason: entry.note})),
      createdAt: new Date().toISOString(),
    };
    await writeFile(infoPath, `${JSON.stringify(info, null, 1)}\n`);
    return {modelJsonPath: quantizedJson, info, cached: false};
  } finally {
    progress.finish();
    tf.dispose(samples);
    model.dispose();
    if (previousBackend !== undefined && previousBackend !== tf.getBackend()) await tf.setBackend(previousBackend);
  }
}

/**
 * The int8-static artifact of a benchmarked model, made from the fixture photos (or reused), or
 * the reason there is none (graph pass missing or failing); messages go to `log`.
 */
export async function quantizedForBenchmark(modelJsonPath: string, modelName: string | undefined,
    log: (message: string) => void): Promise<{path?: string; reason?: string}> {
  const label = modelName ?? 'model';
  try {
    await useBackend('cpu');
    const probe = await loadModelFile(modelJsonPath);
    let input: ImageInput;
    try {
      input = benchImageInput(probe, modelName);
    } finally {
      probe.dispose();
    }
    const made = await ensureQuantizedModel(modelJsonPath, {label, calibrationImages: listImages(FIXTURE_IMAGES_DIR), input});
    log(made.cached ?
      `${label}: quantized artifact reused from ${made.modelJsonPath}` :
      `${label}: quantized in ${(made.info.quantizeMs / 1000).toFixed(1)} s (${made.info.int8Tensors} int8 tensors, ` +
      `${made.info.keptInFloat.length} nodes kept in float) → ${made.modelJsonPath}`);
    return {path: made.modelJsonPath};
  } catch (error) {
    const reason = (error as Error).message;
    log(`${label}: int8-static unavailable: ${reason}`);
    return {reason};
  }
}
