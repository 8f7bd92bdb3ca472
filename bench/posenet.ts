// End-to-end benchmark: PoseNet (MobileNetV1 backbone, models/ cache) on one
// 385×385 photo in [-1, 1], in one process, on
//   cpu                       tfjs-backend-cpu, float32
//   wasm                      tfjs-backend-wasm, float32 SIMD (XNNPACK; one thread in Node)
//   int8 dynamic, reference   the int8 backend with INT8_WASM=false (TypeScript kernels)
//   int8 dynamic, wasm        the int8 backend with INT8_WASM=true (WebAssembly SIMD kernels)
// Each: model loaded on that backend, warm-up runs, then --runs rounds in which
// every configuration runs once (interleaved, the order rotating, so that a
// shared machine's load hits all alike); median and best of execute() +
// reading every output. Then a per-kernel
// profile (tf.profile, time per kernel name) of the int8 configurations, and
// for int8 wasm a breakdown of the time inside the conv/matmul kernels
// (quantize, integer kernel, epilogue, copies) by wrapping Int8Wasm methods.
// Run: node --import tsx bench/posenet.ts [--runs N] [--warmup N] [--skip-reference]
// A benchmark, not a test: numbers depend on the machine and its load.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import type {GraphModel} from '@tensorflow/tfjs-converter';

import '../src/index';
import {int8Backend} from '../src/index';
import {decodeImage, imageToInputTensor} from '../src/io/images';
import {loadGraphModelFromCache} from '../models/load';
import {Int8Wasm, sharedInt8Wasm} from '../kernels/wasm/loader';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const RUNS = option('--runs', 7);
const WARMUP = option('--warmup', 2);
const IMAGE = new URL('../test/fixtures/images/opencv-messi5.jpg', import.meta.url).pathname;

interface Config {
  label: string;
  backend: string;
  int8Wasm?: boolean;
}

const CONFIGS: Config[] = [
  {label: 'cpu (tfjs-backend-cpu, f32)', backend: 'cpu'},
  {label: 'wasm (tfjs-backend-wasm, f32 SIMD)', backend: 'wasm'},
  ...(args.includes('--skip-reference') ? [] :
    [{label: 'int8 dynamic, TS reference', backend: 'int8', int8Wasm: false}]),
  {label: 'int8 dynamic, wasm SIMD', backend: 'int8', int8Wasm: true},
];

function runOnce(model: GraphModel, input: tf.Tensor): Float32Array[] {
  const out = model.execute(input) as tf.Tensor | tf.Tensor[];
  const outs = Array.isArray(out) ? out : [out];
  const values = outs.map(t => t.dataSync() as Float32Array);
  tf.dispose(outs);
  return values;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1];
}

interface Result {
  label: string;
  median: number;
  best: number;
  /** Median CPU time (user + system, all threads of the process) of a run. */
  cpuMedian: number;
  outputs: Float32Array[];
  profile?: Map<string, {ms: number; calls: number}>;
  inside?: Map<string, number>;
}

async function profileKernels(model: GraphModel, input: tf.Tensor): Promise<Map<string, {ms: number; calls: number}>> {
  const byName = new Map<string, {ms: number; calls: number}>();
  const runs = 3;
  for (let r = 0; r < runs; r++) {
    const info = await tf.profile(() => {
      const out = model.execute(input) as tf.Tensor | tf.Tensor[];
      return out;
    });
    for (const k of info.kernels) {
      const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      const row = byName.get(k.name) ?? {ms: 0, calls: 0};
      row.ms += ms / runs;
      row.calls += 1 / runs;
      byName.set(k.name, row);
    }
    tf.dispose(info.result as tf.Tensor | tf.Tensor[]);
  }
  return byName;
}

/** Wraps the Int8Wasm methods the kernels call, summing their time per method. */
function instrument(wasm: Int8Wasm): {totals: Map<string, number>; restore: () => void} {
  const totals = new Map<string, number>();
  const proto = Int8Wasm.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const names = ['rangeInto', 'quantize', 'conv2dInt8', 'conv2dInt32', 'conv2dFloat32', 'depthwiseConv2dInt8',
                 'depthwiseConv2dInt32', 'depthwiseConv2dFloat32', 'gemmInt8', 'gemmInt32', 'gemmFloat32',
                 'dequantizeInt32Epilogue', 'heapF32', 'transposeInt8'];
  const originals = new Map<string, (...a: unknown[]) => unknown>();
  for (const name of names) {
    const original = proto[name];
    originals.set(name, original);
    (wasm as unknown as Record<string, unknown>)[name] = function(this: Int8Wasm, ...a: unknown[]): unknown {
      const t = performance.now();
      try {
        return original.apply(this, a);
      } finally {
        totals.set(name, (totals.get(name) ?? 0) + performance.now() - t);
      }
    };
  }
  return {
    totals,
    restore: () => {
      for (const name of names) delete (wasm as unknown as Record<string, unknown>)[name];
    },
  };
}

interface Loaded {
  config: Config;
  model: GraphModel;
  input: tf.Tensor;
  times: number[];
  cpuTimes: number[];
  outputs: Float32Array[];
}

async function activate(config: Config): Promise<void> {
  await tf.setBackend(config.backend);
  if (config.int8Wasm !== undefined) tf.env().set('INT8_WASM', config.int8Wasm);
}

async function load(config: Config, image: ReturnType<typeof decodeImage>,
                    shared: Map<string, {model: GraphModel; input: tf.Tensor}>): Promise<Loaded> {
  await activate(config);
  await tf.ready();
  let entry = shared.get(config.backend);
  if (entry === undefined) {
    entry = {model: await loadGraphModelFromCache('posenet'),
             input: imageToInputTensor(image, {height: 385, width: 385, range: '-1,1'})};
    shared.set(config.backend, entry);
  }
  let outputs: Float32Array[] = [];
  for (let i = 0; i < WARMUP; i++) outputs = runOnce(entry.model, entry.input);
  return {config, ...entry, times: [], cpuTimes: [], outputs};
}

async function finish(l: Loaded): Promise<Result> {
  const {config, model, input, times, outputs} = l;
  await activate(config);
  const result: Result = {label: config.label, median: median(times), best: Math.min(...times), outputs,
                          cpuMedian: median(l.cpuTimes)};
  if (config.backend === 'int8') {
    result.profile = await profileKernels(model, input);
    const wasm = sharedInt8Wasm();
    if (config.int8Wasm === true && wasm !== null) {
      const {totals, restore} = instrument(wasm);
      const runs = 3;
      for (let i = 0; i < runs; i++) runOnce(model, input);
      restore();
      result.inside = new Map([...totals].map(([k, v]) => [k, v / runs]));
    }
  }
  return result;
}

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((x, i) => {
    for (let j = 0; j < x.length; j++) worst = Math.max(worst, Math.abs(x[j] - b[i][j]));
  });
  return worst;
}

function identical(a: Float32Array[], b: Float32Array[]): boolean {
  return a.every((x, i) => x.length === b[i].length && x.every((v, j) => Object.is(v, b[i][j])));
}

async function main(): Promise<void> {
  const image = decodeImage(IMAGE);
  console.log(`posenet 385x385, node ${process.version}, tfjs ${tf.version_core}, ${RUNS} runs after ${WARMUP} warm-up`);
  const shared = new Map<string, {model: GraphModel; input: tf.Tensor}>();
  const loaded: Loaded[] = [];
  for (const config of CONFIGS) loaded.push(await load(config, image, shared));
  for (let round = 0; round < RUNS; round++) {
    for (let j = 0; j < loaded.length; j++) {
      const l = loaded[(round + j) % loaded.length];
      await activate(l.config);
      const cpu = process.cpuUsage();
      const t = performance.now();
      l.outputs = runOnce(l.model, l.input);
      l.times.push(performance.now() - t);
      const used = process.cpuUsage(cpu);
      l.cpuTimes.push((used.user + used.system) / 1000);
    }
  }
  const results: Result[] = [];
  for (const l of loaded) {
    const r = await finish(l);
    results.push(r);
    console.log(`${r.label.padEnd(40)} median ${r.median.toFixed(1).padStart(8)} ms   best ${r.best.toFixed(1).padStart(8)} ms` +
                `   cpu-time median ${r.cpuMedian.toFixed(1).padStart(8)} ms   (${l.times.map(t => t.toFixed(0)).join(' ')})`);
  }
  for (const {model, input} of shared.values()) {
    model.dispose();
    input.dispose();
  }
  const cpu = results[0];
  for (const r of results.slice(1)) {
    console.log(`${r.label}: max |output - cpu| = ${maxAbsDiff(r.outputs, cpu.outputs).toExponential(2)}`);
  }
  const ref = results.find(r => r.label.includes('reference'));
  const fast = results.find(r => r.label.includes('wasm SIMD'));
  if (ref !== undefined && fast !== undefined) {
    console.log(`int8 wasm vs int8 reference outputs bit-identical: ${identical(ref.outputs, fast.outputs)}`);
  }
  for (const r of results) {
    if (r.profile === undefined) continue;
    const rows = [...r.profile].sort((a, b) => b[1].ms - a[1].ms);
    const total = rows.reduce((s, [, v]) => s + v.ms, 0);
    console.log(`\nper-kernel profile, ${r.label} (tf.profile, mean of 3 runs; sum ${total.toFixed(1)} ms)`);
    for (const [name, {ms, calls}] of rows) {
      if (ms < 0.05) continue;
      console.log(`  ${name.padEnd(24)} ${ms.toFixed(2).padStart(8)} ms  ${calls.toFixed(0).padStart(4)} calls`);
    }
    if (r.inside !== undefined) {
      console.log(`  inside the int8 kernels (Int8Wasm methods, mean of 3 runs):`);
      for (const [name, ms] of [...r.inside].sort((a, b) => b[1] - a[1])) {
        console.log(`    ${name.padEnd(24)} ${ms.toFixed(2).padStart(8)} ms`);
      }
    }
  }
  void int8Backend;
}

await main();
