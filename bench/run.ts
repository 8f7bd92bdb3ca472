// npm run bench: the benchmark suite on the real models.
//
//   npm run bench                       posenet, movenet-lightning, nsfwjs-mobilenet-v2
//   npm run bench -- --all              ... and nsfwjs-inception-v3
//   npm run bench -- --runs 5 --json    fewer runs; one JSON object {benchmarks: [...]} on stdout
//   npm run bench -- <model.json | name> [bench options]   one model: same as `tfjs-int8 bench`
//
// Each model runs on cpu, wasm, int8-dynamic and int8-static; the int8-static artifact is made
// on the fly with quantizeModel over the fixture photos (cached in the temp dir, see
// bench/quantized_cache.ts); if the graph pass cannot make it, int8-static is reported as
// unavailable with the reason. About 5 minutes on a 2-core machine (more with --all: the
// InceptionV3 runs ~5.7 GMAC per inference, seconds per run on tfjs-cpu).
// A benchmark, not a test: the numbers depend on the machine and its load.

import {parseArgs} from 'node:util';

import * as tf from '@tensorflow/tfjs-core';

import {runBenchCommand} from '../src/cli/bench';
import {ensureModels, modelPath} from '../models/fetch-models';
import {BENCH_BACKENDS, BenchResult, Int8Kernels, runBenchmark} from './harness';
import {quantizedForBenchmark} from './quantized_cache';
import {benchJson, formatBenchTable} from './report';

const DEFAULT_MODELS = ['posenet', 'movenet-lightning', 'nsfwjs-mobilenet-v2'];
const ALL_MODELS = [...DEFAULT_MODELS, 'nsfwjs-inception-v3'];
const SUITE_USAGE = `Usage: npm run bench [-- [--all] [--runs N] [--warmup N] [--int8-kernels wasm|reference] [--json]]
       npm run bench -- <model.json | model name> [tfjs-int8 bench options; --help for them]
`;

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function runSuite(argv: string[]): Promise<number> {
  let values;
  try {
    ({values} = parseArgs({
      args: argv, strict: true, allowPositionals: false,
      options: {
        all: {type: 'boolean'}, runs: {type: 'string'}, warmup: {type: 'string'}, json: {type: 'boolean'},
        'int8-kernels': {type: 'string'}, help: {type: 'boolean', short: 'h'},
      },
    }));
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${SUITE_USAGE}`);
    return 1;
  }
  if (values.help === true) {
    process.stdout.write(SUITE_USAGE);
    return 0;
  }
  const runs = values.runs === undefined ? 7 : Number(values.runs);
  const warmup = values.warmup === undefined ? 2 : Number(values.warmup);
  const kernels = values['int8-kernels'];
  if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(warmup) || warmup < 1 ||
      (kernels !== undefined && kernels !== 'wasm' && kernels !== 'reference')) {
    process.stderr.write(`bench: --runs and --warmup take positive integers, --int8-kernels wasm or reference\n\n${SUITE_USAGE}`);
    return 1;
  }
  tf.env().set('IS_TEST', true);
  const names = values.all === true ? ALL_MODELS : DEFAULT_MODELS;
  const started = performance.now();
  await ensureModels(names, {onProgress: event => log(event.message)});
  const results: BenchResult[] = [];
  const failures: Array<{model: string; error: string}> = [];
  for (const name of names) {
    try {
      const quantized = await quantizedForBenchmark(modelPath(name), name, log);
      const result = await runBenchmark({
        modelPath: modelPath(name), modelName: name, quantizedPath: quantized.path, quantizedUnavailableReason: quantized.reason,
        backends: BENCH_BACKENDS, runs, warmup, int8Kernels: kernels as Int8Kernels | undefined,
      });
      results.push(result);
      const table = `\n${formatBenchTable(result)}\n`;
      if (values.json === true) process.stderr.write(table); else process.stdout.write(table);
    } catch (error) {
      failures.push({model: name, error: (error as Error).message});
      log(`${name}: benchmark failed: ${(error as Error).message}`);
    }
  }
  log(`\nbench: ${results.length} model(s) in ${((performance.now() - started) / 1000).toFixed(0)} s` +
      (failures.length > 0 ? `; failed: ${failures.map(f => f.model).join(', ')}` : ''));
  if (values.json === true) process.stdout.write(`${JSON.stringify({benchmarks: results.map(benchJson), failures})}\n`);
  return failures.length > 0 ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
  // A first argument that is not an option names one model: the `tfjs-int8 bench` command.
  if (argv.length > 0 && !argv[0].startsWith('-')) return runBenchCommand(argv);
  return runSuite(argv);
}

main(process.argv.slice(2)).then(code => {
  process.exitCode = code;
}, error => {
  process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
