// tfjs-int8 bench: the benchmark harness (bench/harness.ts) from the command line.
//
//   tfjs-int8 bench <model.json | fetched model name> [--quantized <quantized model.json> | --quantize]
//             [--backends cpu,wasm,int8-dynamic,int8-static] [--runs N] [--warmup N] [--image photo]
//             [--int8-kernels wasm|reference] [--json]
//
// A development tool: it imports the harness from bench/, which is not part of the published package.

import {existsSync} from 'node:fs';
import {parseArgs} from 'node:util';

import * as tf from '@tensorflow/tfjs-core';

import {BENCH_BACKENDS, BenchBackend, Int8Kernels, isBenchBackend, runBenchmark} from '../../bench/harness';
import {resolveModelArgument} from '../../bench/inputs';
import {quantizedForBenchmark} from '../../bench/quantized_cache';
import {benchJson, formatBenchTable} from '../../bench/report';
import {ensureModels, modelNames} from '../../models/fetch-models';

export const BENCH_USAGE = `Usage:
  tfjs-int8 bench <model.json | model name> [--quantized <quantized model.json> | --quantize]
            [--backends ${BENCH_BACKENDS.join(',')}] [--runs N] [--warmup N] [--image <photo>]
            [--int8-kernels wasm|reference] [--json]

Runs the model on each backend in one process: cpu (tfjs-backend-cpu), wasm (tfjs-backend-wasm,
float32 SIMD), int8-dynamic (the float model on the int8 backend) and int8-static (the quantized
model on the int8 backend). After loading and warm-up, the timed runs go round-robin, one run of
each backend per round. The input is a photo (default test/fixtures/images/opencv-messi5.jpg)
resized to the model's input, in the range the model expects.
  --quantized F      the quantized artifact for int8-static
  --quantize         make it now with quantizeModel over the fixture photos (cached in the temp dir)
  --runs N           timed runs per backend (default 7); --warmup N untimed runs first (default 2)
  --int8-kernels K   force the int8 backend's WebAssembly SIMD kernels or its TypeScript reference
  --json             print exactly one JSON object on stdout (the table goes to stderr)
A model name (e.g. posenet) means that model from the models/ cache, fetched if missing.
Progress goes to stderr.
`;

class BenchUsageError extends Error {}

function positiveInt(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new BenchUsageError(`--${flag} must be a positive integer, got '${value}'`);
  return n;
}

function backendList(value: string | undefined): BenchBackend[] {
  if (value === undefined) return [...BENCH_BACKENDS];
  const names = value.split(',').map(s => s.trim()).filter(s => s !== '');
  if (names.length === 0) throw new BenchUsageError('--backends needs at least one backend');
  return names.map(name => {
    if (!isBenchBackend(name)) throw new BenchUsageError(`unknown backend '${name}' in --backends (one of ${BENCH_BACKENDS.join(', ')})`);
    return name;
  });
}

function int8KernelsFlag(value: string | undefined): Int8Kernels | undefined {
  if (value === undefined) return undefined;
  if (value !== 'wasm' && value !== 'reference') throw new BenchUsageError(`--int8-kernels must be wasm or reference, got '${value}'`);
  return value;
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        'quantized': {type: 'string'},
        'quantize': {type: 'boolean'},
        'backends': {type: 'string'},
        'runs': {type: 'string'},
        'warmup': {type: 'string'},
        'image': {type: 'string'},
        'int8-kernels': {type: 'string'},
        'json': {type: 'boolean'},
        'help': {type: 'boolean', short: 'h'},
      },
    });
  } catch (error) {
    throw new BenchUsageError((error as Error).message);
  }
}

/**
 * `tfjs-int8 bench ...` with `argv` the arguments after "bench". Prints the table (stdout, or
 * stderr with --json) and, with --json, one JSON object on stdout. Returns the exit code.
 */
export async function runBenchCommand(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
    if (args.values.help === true) {
      process.stdout.write(BENCH_USAGE);
      return 0;
    }
    if (args.positionals.length !== 1) {
      throw new BenchUsageError(args.positionals.length === 0 ? 'bench needs a model.json (or a model name)' : `bench takes one model, got ${args.positionals.join(' ')}`);
    }
    if (args.values.quantized !== undefined && args.values.quantize === true) throw new BenchUsageError('give --quantized or --quantize, not both');
  } catch (error) {
    process.stderr.write(`tfjs-int8 bench: ${(error as Error).message}\n\n${BENCH_USAGE}`);
    return 1;
  }
  // Silence tfjs's "install tfjs-node" banner and kernel-registration warnings on stderr.
  tf.env().set('IS_TEST', true);
  try {
    const values = args.values;
    const backends = backendList(values.backends);
    const runs = positiveInt(values.runs, 'runs', 7);
    const warmup = positiveInt(values.warmup, 'warmup', 2);
    const int8Kernels = int8KernelsFlag(values['int8-kernels']);
    const imagePath = values.image;
    if (imagePath !== undefined && !existsSync(imagePath)) throw new Error(`image ${imagePath} not found`);

    const argument = args.positionals[0];
    if (!existsSync(argument) && modelNames().includes(argument)) {
      await ensureModels([argument], {onProgress: event => process.stderr.write(`${event.message}\n`)});
    }
    const model = resolveModelArgument(argument);
    let quantizedPath = values.quantized;
    let quantizedUnavailableReason: string | undefined;
    if (quantizedPath !== undefined && !existsSync(quantizedPath)) throw new Error(`quantized model ${quantizedPath} not found`);
    if (quantizedPath === undefined && backends.includes('int8-static')) {
      if (values.quantize === true) {
        const made = await quantizedForBenchmark(model.path, model.name, message => process.stderr.write(`${message}\n`));
        quantizedPath = made.path;
        quantizedUnavailableReason = made.reason;
      } else {
        quantizedUnavailableReason = 'no quantized model: pass --quantized <model.json>, or --quantize to make one from the fixture photos';
      }
    }

    const result = await runBenchmark({
      modelPath: model.path, modelName: model.name, quantizedPath, quantizedUnavailableReason,
      backends, runs, warmup, imagePath, int8Kernels,
    });
    const table = `${formatBenchTable(result)}\n`;
    if (values.json === true) {
      process.stderr.write(table);
      process.stdout.write(`${JSON.stringify(benchJson(result))}\n`);
    } else {
      process.stdout.write(table);
    }
    return 0;
  } catch (error) {
    process.stderr.write(`tfjs-int8 bench: ${(error as Error).message}\n${error instanceof BenchUsageError ? `\n${BENCH_USAGE}` : ''}`);
    if (process.env.TFJS_INT8_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}
