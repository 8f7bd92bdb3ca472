// The benchmark harness: one model, several backends, one process.
//
//   cpu            the float model on tfjs-backend-cpu
//   wasm           the float model on tfjs-backend-wasm (float32, SIMD/XNNPACK, one thread in Node)
//   int8-dynamic   the float model on `int8` (inputs quantized per call, weights cached per channel)
//   int8-static    the quantized artifact (src/graph) on `int8` (integer only between quantize/dequantize)
//
// Each backend gets its own copy of the model, loaded while that backend is active (so no tensor
// ever moves between backends), and its own copy of the input. After loading (timed) and warm-up
// runs (the first one timed on its own: the dynamic mode quantizes and packs its weights there),
// the timed runs go round-robin — one run of each backend per round — so that whatever else the
// machine does is spread evenly over the backends. A run is execute() plus reading every output.
//
// A benchmark, not a test: the numbers depend on the machine and its load.

import {basename} from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

import {BackendInt8} from '../src/backend';
import type {ImageInput} from '../src/cli/image_inputs';
import {imageTensor} from '../src/cli/image_inputs';
import {LoadedModel, loadModelFile} from '../src/cli/model_files';
import {INT8_WASM_FLAG, wasmDispatchCounters} from '../kernels/impl/wasm_dispatch';
import {sharedInt8Wasm} from '../kernels/wasm/loader';
import {benchImageInput, DEFAULT_BENCH_IMAGE, describeImageInput, knownModelName} from './inputs';
import {formatMs} from './format';
import {MacCount, profileMacs} from './macs';
import {engineBytes, floatResidentBytes, int8ResidentBytes, int8WasmAllocatedBytes, modelWeightTensors, ResidentBytes} from './memory';
import {useBackend} from './backends';

export const BENCH_BACKENDS = ['cpu', 'wasm', 'int8-dynamic', 'int8-static'] as const;
export type BenchBackend = typeof BENCH_BACKENDS[number];

export function isBenchBackend(name: string): name is BenchBackend {
  return (BENCH_BACKENDS as readonly string[]).includes(name);
}

/** The tfjs backend each benchmark backend runs on. */
const TFJS_BACKEND: Record<BenchBackend, 'cpu' | 'wasm' | 'int8'> = {
  'cpu': 'cpu',
  'wasm': 'wasm',
  'int8-dynamic': 'int8',
  'int8-static': 'int8',
};

/** Which kernels the int8 backend runs: the WebAssembly SIMD ones, or the TypeScript reference. */
export type Int8Kernels = 'wasm' | 'reference';

export interface BenchOptions {
  /** The float model.json. */
  modelPath: string;
  /** The quantized model.json (int8-static); without it int8-static is reported unavailable. */
  quantizedPath?: string;
  /** Why there is no quantized model (shown instead of int8-static's numbers). */
  quantizedUnavailableReason?: string;
  /** Default: all four. */
  backends?: readonly BenchBackend[];
  /** Timed runs per backend (default 7). */
  runs?: number;
  /** Untimed runs per backend before the rounds, the first included (default 2). */
  warmup?: number;
  /** The photo to run on (default test/fixtures/images/opencv-messi5.jpg). */
  imagePath?: string;
  /** The model's name in models/ (for its input preprocessing); default: guessed from the path. */
  modelName?: string;
  /** Force the int8 kernels: the WebAssembly SIMD ones or the TypeScript reference (default: the backend's choice). */
  int8Kernels?: Int8Kernels;
  /** Progress messages (default: stderr). */
  log?: (message: string) => void;
}

export interface BackendResult {
  backend: BenchBackend;
  medianMs: number;
  minMs: number;
  maxMs: number;
  runs: number;
  /** Model MACs / median time, in 10⁹ MAC per second. */
  gmacPerS: number;
  /** Loading the model on this backend (reading files, creating weight tensors). */
  loadMs: number;
  /** The first inference (kernels compile, the int8 backend caches weight codes and packs them). */
  firstRunMs: number;
  /** Memory the backend keeps for the model's weights (see bench/memory.ts). */
  weightBytes: ResidentBytes;
  /** Every timed run, in order. */
  timesMs: number[];
}

export interface UnavailableBackend {
  backend: BenchBackend;
  reason: string;
}

export interface BenchResult {
  model: string;
  /** The model's name in models/, when it is one of them. */
  modelName?: string;
  quantizedModel?: string;
  input: {image: string; name: string; shape: number[]; dtype: string; range: string};
  macs: MacCount;
  /** The int8 kernels in use (when an int8 backend ran), and how often each wasm kernel family ran. */
  int8Kernels?: {active: Int8Kernels; wasmDispatches: {conv2d: number; depthwise: number; matmul: number}};
  results: BackendResult[];
  unavailable: UnavailableBackend[];
}

interface Contender {
  backend: BenchBackend;
  model: LoadedModel;
  feeds: tf.NamedTensorMap;
  input: tf.Tensor;
  loadMs: number;
  firstRunMs: number;
  weightBytes: ResidentBytes;
  timesMs: number[];
}

function defaultLog(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** One inference: execute, read every output (so the time includes finishing the work), dispose. */
function runOnce(model: LoadedModel, feeds: tf.NamedTensorMap): number {
  const started = performance.now();
  const outputs = model.run(feeds);
  for (const output of outputs) output.dataSync();
  const elapsed = performance.now() - started;
  const inputs = new Set(Object.values(feeds));
  tf.dispose(outputs.filter(output => !inputs.has(output)));
  return elapsed;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = values.slice().sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function int8Backend(): BackendInt8 {
  const backend = tf.findBackend('int8');
  if (!(backend instanceof BackendInt8)) throw new Error('the int8 backend is not registered');
  return backend;
}

/** Forces (or leaves) the int8 kernel choice; returns the choice in effect. */
function configureInt8Kernels(choice: Int8Kernels | undefined): Int8Kernels {
  if (choice !== undefined) tf.env().set(INT8_WASM_FLAG, choice === 'wasm');
  const enabled = tf.env().getBool(INT8_WASM_FLAG) && sharedInt8Wasm() !== null;
  if (choice === 'wasm' && !enabled) throw new Error('the int8 WebAssembly SIMD kernels are not available here (no WebAssembly SIMD, or the module failed to load)');
  return enabled ? 'wasm' : 'reference';
}

function inputFeeds(model: LoadedModel, tensor: tf.Tensor, path: string): tf.NamedTensorMap {
  if (model.inputs.length !== 1) {
    throw new Error(`${path}: the benchmark feeds one image input, the model has ${model.inputs.length} (${model.inputs.map(i => i.name).join(', ')})`);
  }
  return {[model.inputs[0].name]: tensor};
}

async function prepareContender(backend: BenchBackend, path: string, input: ImageInput, imagePath: string,
    warmup: number, log: (message: string) => void): Promise<Contender> {
  await useBackend(TFJS_BACKEND[backend]);
  const bytesBefore = engineBytes();
  const wasmBefore = int8WasmAllocatedBytes();
  const loadStarted = performance.now();
  let model: LoadedModel;
  try {
    model = await loadModelFile(path);
  } catch (error) {
    throw new Error(`${backend}: cannot load ${path}: ${(error as Error).message}`);
  }
  const loadMs = performance.now() - loadStarted;
  const bytesAfterLoad = engineBytes();
  const tensor = imageTensor(imagePath, input);
  const feeds = inputFeeds(model, tensor, path);
  let firstRunMs: number;
  try {
    firstRunMs = runOnce(model, feeds);
    for (let i = 1; i < warmup; i++) runOnce(model, feeds);
  } catch (error) {
    tensor.dispose();
    model.dispose();
    throw new Error(`${backend}: running ${path} failed: ${(error as Error).message}`);
  }
  const weightBytes = TFJS_BACKEND[backend] === 'int8' ?
    int8ResidentBytes(int8Backend(), modelWeightTensors(model.model), wasmBefore) :
    floatResidentBytes(bytesBefore, bytesAfterLoad);
  log(`  ${backend}: loaded in ${loadMs.toFixed(0)} ms, first run ${firstRunMs.toFixed(0)} ms`);
  return {backend, model, feeds, input: tensor, loadMs, firstRunMs, weightBytes, timesMs: []};
}

/** The MACs of one inference of the float model, counted on a float backend (cpu or wasm). */
async function countModelMacs(contenders: readonly Contender[], path: string, input: ImageInput, imagePath: string): Promise<MacCount> {
  const float = contenders.find(c => c.backend === 'wasm') ?? contenders.find(c => c.backend === 'cpu');
  if (float !== undefined) {
    await useBackend(TFJS_BACKEND[float.backend]);
    return profileMacs(() => float.model.run(float.feeds));
  }
  // No float backend in the run: load the float model on cpu for one profiled inference.
  await useBackend('cpu');
  const model = await loadModelFile(path);
  const tensor = imageTensor(imagePath, input);
  try {
    return await profileMacs(() => model.run(inputFeeds(model, tensor, path)));
  } finally {
    tensor.dispose();
    model.dispose();
  }
}

/**
 * One model loaded and warmed up on each backend, ready for timed rounds (runBenchmark) or for
 * running other photos through each backend (the demo's agreement check).
 */
export class BenchSession {
  private constructor(
      readonly options: BenchOptions,
      readonly modelName: string | undefined,
      readonly imagePath: string,
      readonly input: ImageInput,
      readonly int8Kernels: Int8Kernels | undefined,
      private readonly contenders: Contender[],
      readonly unavailable: UnavailableBackend[],
      private readonly log: (message: string) => void) {}

  /** Loads the model on every backend (each while it is active) and runs the warm-up runs. */
  static async open(options: BenchOptions): Promise<BenchSession> {
    const log = options.log ?? defaultLog;
    const backends = [...new Set(options.backends ?? BENCH_BACKENDS)];
    for (const backend of backends) if (!isBenchBackend(backend)) throw new Error(`unknown backend '${String(backend)}'`);
    const warmup = options.warmup ?? 2;
    if (!Number.isInteger(warmup) || warmup < 1) throw new Error(`warmup must be a positive integer, got ${warmup}`);
    const imagePath = options.imagePath ?? DEFAULT_BENCH_IMAGE;
    const modelName = options.modelName ?? knownModelName(options.modelPath);
    const label = modelName ?? options.modelPath;

    const unavailable: UnavailableBackend[] = [];
    const planned = backends.filter(backend => {
      if (backend !== 'int8-static' || options.quantizedPath !== undefined) return true;
      unavailable.push({backend, reason: options.quantizedUnavailableReason ?? 'no quantized model given (--quantized <model.json>)'});
      return false;
    });

    // The input spec comes from the float model; a quantized model keeps its input.
    await useBackend(planned.includes('cpu') || !planned.includes('wasm') ? 'cpu' : 'wasm');
    const probe = await loadModelFile(options.modelPath);
    let input: ImageInput;
    try {
      input = benchImageInput(probe, modelName);
    } finally {
      probe.dispose();
    }

    let int8Kernels: Int8Kernels | undefined;
    if (planned.some(b => TFJS_BACKEND[b] === 'int8')) {
      await useBackend('int8');
      int8Kernels = configureInt8Kernels(options.int8Kernels);
    }

    log(`${label}: ${describeImageInput(input)} from ${basename(imagePath)}; loading and warming up ${planned.join(', ')}` +
        (int8Kernels !== undefined ? ` (int8 kernels: ${int8Kernels === 'wasm' ? 'WebAssembly SIMD' : 'TypeScript reference'})` : ''));
    const contenders: Contender[] = [];
    const session = new BenchSession(options, modelName, imagePath, input, int8Kernels, contenders, unavailable, log);
    try {
      for (const backend of planned) {
        const path = backend === 'int8-static' ? options.quantizedPath as string : options.modelPath;
        try {
          contenders.push(await prepareContender(backend, path, input, imagePath, warmup, log));
        } catch (error) {
          if (backend !== 'int8-static') throw error;
          // A quantized model that does not run on int8 is a finding to report, not a reason to lose the others.
          unavailable.push({backend, reason: (error as Error).message});
          log(`  ${backend}: unavailable: ${(error as Error).message}`);
        }
      }
    } catch (error) {
      await session.dispose();
      throw error;
    }
    return session;
  }

  /** The backends that loaded and ran, in run order. */
  get backends(): BenchBackend[] {
    return this.contenders.map(c => c.backend);
  }

  /** The MACs of one inference of the float model, counted on a float backend (cpu or wasm). */
  async countMacs(): Promise<MacCount> {
    return countModelMacs(this.contenders, this.options.modelPath, this.input, this.imagePath);
  }

  /** `runs` rounds, one timed run of each backend per round. */
  async timeRounds(runs: number): Promise<void> {
    if (!Number.isInteger(runs) || runs < 1) throw new Error(`runs must be a positive integer, got ${runs}`);
    for (let round = 1; round <= runs; round++) {
      for (const contender of this.contenders) {
        await useBackend(TFJS_BACKEND[contender.backend]);
        contender.timesMs.push(runOnce(contender.model, contender.feeds));
      }
      const last = this.contenders.map(c => `${c.backend} ${formatMs(c.timesMs[c.timesMs.length - 1])}`).join(', ');
      this.log(`  round ${round}/${runs}: ${last} ms`);
    }
  }

  /** Runs one photo through a backend's model; its outputs' values, in output order. */
  async outputsFor(backend: BenchBackend, imagePath: string): Promise<Float32Array[]> {
    const contender = this.contenders.find(c => c.backend === backend);
    if (contender === undefined) throw new Error(`backend ${backend} is not part of this session`);
    await useBackend(TFJS_BACKEND[backend]);
    const tensor = imageTensor(imagePath, this.input);
    try {
      const outputs = contender.model.run(inputFeeds(contender.model, tensor, contender.model.path));
      try {
        return outputs.map(output => Float32Array.from(output.dataSync()));
      } finally {
        tf.dispose(outputs.filter(output => output !== tensor));
      }
    } finally {
      tensor.dispose();
    }
  }

  /** Timing, memory and load figures of each backend (after timeRounds). */
  results(macs: MacCount): BackendResult[] {
    return this.contenders.map((c): BackendResult => {
      const medianMs = median(c.timesMs);
      return {
        backend: c.backend,
        medianMs,
        minMs: Math.min(...c.timesMs),
        maxMs: Math.max(...c.timesMs),
        runs: c.timesMs.length,
        gmacPerS: macs.total / (medianMs * 1e6),
        loadMs: c.loadMs,
        firstRunMs: c.firstRunMs,
        weightBytes: c.weightBytes,
        timesMs: c.timesMs.slice(),
      };
    });
  }

  /** Disposes every model and input (each on its own backend). */
  async dispose(): Promise<void> {
    for (const contender of this.contenders.splice(0)) {
      await useBackend(TFJS_BACKEND[contender.backend]);
      contender.input.dispose();
      contender.model.dispose();
    }
  }
}

/** Runs the benchmark of one model; progress goes to `options.log` (stderr). */
export async function runBenchmark(options: BenchOptions): Promise<BenchResult> {
  const runs = options.runs ?? 7;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`runs must be a positive integer, got ${runs}`);
  const session = await BenchSession.open(options);
  try {
    const macs = await session.countMacs();
    const countersBefore = {...wasmDispatchCounters};
    await session.timeRounds(runs);
    const result: BenchResult = {
      model: options.modelPath,
      input: {
        image: session.imagePath, name: session.input.name, shape: [1, session.input.height, session.input.width, session.input.channels],
        dtype: session.input.dtype, range: session.input.dtype === 'int32' ? '0..255' : session.input.range,
      },
      macs,
      results: session.results(macs),
      unavailable: session.unavailable,
    };
    if (session.modelName !== undefined) result.modelName = session.modelName;
    if (options.quantizedPath !== undefined) result.quantizedModel = options.quantizedPath;
    if (session.int8Kernels !== undefined) {
      // Dispatches during the timed rounds only: what the timed code ran.
      result.int8Kernels = {
        active: session.int8Kernels,
        wasmDispatches: {
          conv2d: wasmDispatchCounters.conv2d - countersBefore.conv2d,
          depthwise: wasmDispatchCounters.depthwise - countersBefore.depthwise,
          matmul: wasmDispatchCounters.matmul - countersBefore.matmul,
        },
      };
    }
    return result;
  } finally {
    await session.dispose();
  }
}
