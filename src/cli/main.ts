#!/usr/bin/env node
// tfjs-int8: quantize a TensorFlow.js model ahead of time, and evaluate the result.
//   node --import tsx src/cli/main.ts quantize <model.json> --calibration <dir> --out <dir> [...]

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

import '../ops/index';
import {DEFAULT_CALIBRATION_METHOD} from '../graph/quantize_model';
import {parseArgs, UsageError} from './args';
import {runBenchCommand} from './bench';
import {compareMethodsCommand, evalCommand, quantizeCommand, switchBackend} from './commands';
import {sensitivityCommand} from './sensitivity_command';

/**
 * The backend float work runs on (calibration, the float model, the float simulation):
 * --float-backend, else wasm (XNNPACK, ~30× tfjs-cpu) when it initializes, else cpu.
 */
async function selectFloatBackend(flag: string | true | undefined): Promise<void> {
  if (flag === 'cpu' || flag === 'wasm') {
    await switchBackend(flag);
    return;
  }
  if (flag !== undefined) throw new UsageError(`--float-backend must be cpu or wasm, got '${String(flag)}'`);
  try {
    await switchBackend('wasm');
  } catch {
    await switchBackend('cpu');
  }
}

export const USAGE = `Usage:
  tfjs-int8 quantize <model.json> --calibration <dir of jpg/png> --out <dir>
            [--method minmax|ema|percentile|entropy|mse] [--per-tensor] [--exclude node1,node2]
            [--equalize activations|balanced|weights|on|off] [--weight-rounding on|off] [--bias-correction on|off]
            [--input-size HxW] [--input-range 0,1|-1,1|0,255] [--max-images N] [--float-backend wasm|cpu]
  tfjs-int8 eval <float model.json> <quantized model.json> --images <dir>
            [--backend cpu|wasm|int8] [--input-size HxW] [--input-range ...] [--max-images N]
  tfjs-int8 bench <model.json | model name> [--quantized <quantized model.json> | --quantize]
            [--backends cpu,wasm,int8-dynamic,int8-static] [--runs N] [--json]
  tfjs-int8 compare-methods <model.json> --calibration <dir> [--images <dir>] [--methods m1,m2]
            [--input-size HxW] [--input-range ...] [--max-images N]
  tfjs-int8 sensitivity <model.json> --images <dir> [--input-size HxW] [--input-range ...] [--max-images N]
            (quantizes each conv/matmul input alone to int8 per tensor; rows sorted by harm)

model.json may be a graph model or a Keras layers model. The input size defaults to the
model's input shape; the input range to 0,1 (float inputs) or integer 0..255 (int32 inputs).
Float work (calibration, the float model, the float simulation) runs on --float-backend:
wasm by default when it initializes, else cpu. eval runs the quantized model on --backend
(default: the float backend; int8 = the integer kernels).
Default calibration method: ${DEFAULT_CALIBRATION_METHOD}. Progress goes to stderr, results (JSON) to stdout.
`;

export async function main(argv: readonly string[]): Promise<number> {
  // bench has flags of its own (--json, --quantize...): it parses its arguments itself.
  if (argv[0] === 'bench') return runBenchCommand(argv.slice(1));
  let args;
  try {
    args = parseArgs(argv);
  } catch (error) {
    process.stderr.write(`tfjs-int8: ${(error as Error).message}\n\n${USAGE}`);
    return 1;
  }
  if (args.command === undefined || args.command === 'help' || (args.flags.has('help') && args.command === undefined)) {
    process.stdout.write(USAGE);
    return args.command === undefined && !args.flags.has('help') ? 1 : 0;
  }
  if (args.flags.has('help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  // Silence tfjs's "install tfjs-node" banner and kernel-registration warnings on stderr.
  tf.env().set('IS_TEST', true);
  try {
    await selectFloatBackend(args.flags.get('float-backend'));
    switch (args.command) {
      case 'quantize':
        await quantizeCommand(args);
        return 0;
      case 'eval':
        await evalCommand(args);
        return 0;
      case 'compare-methods':
        await compareMethodsCommand(args);
        return 0;
      case 'sensitivity':
        await sensitivityCommand(args);
        return 0;
      default:
        throw new UsageError(`unknown command '${args.command}'`);
    }
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    process.stderr.write(`tfjs-int8: ${text}\n${error instanceof UsageError ? `\n${USAGE}` : ''}`);
    if (process.env.TFJS_INT8_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

const invokedDirectly = process.argv[1] !== undefined && /main\.(ts|js|mjs)$/.test(process.argv[1]);
if (invokedDirectly) {
  main(process.argv.slice(2)).then(code => {
    process.exitCode = code;
  }, error => {
    process.stderr.write(`tfjs-int8: ${(error as Error).message}\n`);
    process.exitCode = 1;
  });
}
