// Makes the two models the browser demo serves:
//   float: nsfwjs's MobileNetV2 (Keras layers model, 224×224, [0,1] input, 5 classes), fetched into
//          the model cache by models/fetch-models.ts;
//   int8:  the same model quantized by the tfjs-int8 CLI (src/cli/main.ts quantize), calibrated on
//          the test photos, written to <cache>/demo/nsfwjs-mobilenet-v2-int8 (or --out); made again
//          when the graph pass's sources (src/graph, src/ops, src/quant, src/cli) have changed.
//
//   node --import tsx demo/web/prepare-models.ts [--force] [--out <dir>]

import {spawn} from 'node:child_process';
import {createHash} from 'node:crypto';
import {existsSync, readdirSync, readFileSync} from 'node:fs';
import {rename, rm, writeFile} from 'node:fs/promises';
import {dirname, join, relative, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';

import {ensureModels} from '../../models/fetch-models';
import {defaultModelDirs} from './serve.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEMO_FLOAT_MODEL = 'nsfwjs-mobilenet-v2';
export const CALIBRATION_DIR = join(ROOT, 'test', 'fixtures', 'images');

/** The sources that decide what the quantized model looks like (the pass, its executors, the arithmetic). */
const PASS_SOURCES = ['src/graph', 'src/ops', 'src/quant', 'src/cli'].map(d => join(ROOT, d));
const STAMP_FILE = 'prepared-by.json';

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, {withFileTypes: true}).flatMap(entry => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? listFiles(path) : [path];
  });
}

/** sha256 over the graph pass's sources: a quantized model made by other sources is made again. */
export function passSourceHash(): string {
  const hash = createHash('sha256');
  for (const file of PASS_SOURCES.flatMap(listFiles).sort()) {
    hash.update(relative(ROOT, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

function stampMatches(dir: string, sourceHash: string): boolean {
  try {
    return (JSON.parse(readFileSync(join(dir, STAMP_FILE), 'utf8')) as {sourceHash?: string}).sourceHash === sourceHash;
  } catch {
    return false;
  }
}

export interface DemoModels {
  floatModelDir: string;
  int8ModelDir: string;
  /** The CLI's JSON summary when it ran now; undefined when the int8 model was already there. */
  quantizeSummary?: unknown;
}

export interface PrepareOptions {
  /** Where to write the int8 model (default: <cache>/demo/nsfwjs-mobilenet-v2-int8). */
  int8ModelDir?: string;
  /** Quantize again even if an int8 model made by the current graph pass sources exists. */
  force?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/** Runs `node --import tsx src/cli/main.ts <args>`; resolves to its stdout, rejects with its stderr's tail. */
function runCli(args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), ...args],
      {cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe']});
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('error', reject);
    child.on('close', code => {
      if (code === 0) resolvePromise(stdout);
      else reject(new Error(`tfjs-int8 ${args.join(' ')} exited with ${code}:\n${stderr.split('\n').slice(-20).join('\n')}`));
    });
  });
}

/** The float model from the cache (fetched if needed) and the int8 model (quantized if missing). */
export async function prepareDemoModels(options: PrepareOptions = {}): Promise<DemoModels> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const [floatModel] = await ensureModels([DEMO_FLOAT_MODEL], {
    onProgress: event => { if (event.kind !== 'cached') log(event.message); },
  });
  const floatModelDir = dirname(floatModel.modelJsonPath);
  const int8ModelDir = resolve(options.int8ModelDir ?? defaultModelDirs().int8ModelDir);
  const sourceHash = passSourceHash();
  if (!options.force && existsSync(join(int8ModelDir, 'model.json')) && stampMatches(int8ModelDir, sourceHash)) {
    return {floatModelDir, int8ModelDir};
  }

  // Written next to the target and renamed, so an interrupted run leaves no half model behind.
  const partial = `${int8ModelDir}.partial-${process.pid}`;
  await rm(partial, {recursive: true, force: true});
  log(`quantizing ${floatModel.modelJsonPath} (calibration: ${CALIBRATION_DIR}) ...`);
  const stdout = await runCli(['quantize', floatModel.modelJsonPath, '--calibration', CALIBRATION_DIR, '--out', partial]);
  await writeFile(join(partial, STAMP_FILE), `${JSON.stringify({sourceHash, floatModel: floatModel.modelJsonPath}, null, 1)}\n`);
  await rm(int8ModelDir, {recursive: true, force: true});
  await rename(partial, int8ModelDir);
  let quantizeSummary: unknown = stdout;
  try {
    quantizeSummary = JSON.parse(stdout);
  } catch {
    // keep the raw text
  }
  log(`int8 model: ${int8ModelDir}`);
  return {floatModelDir, int8ModelDir, quantizeSummary};
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const args = process.argv.slice(2);
  const outIndex = args.indexOf('--out');
  const unknown = args.filter((a, i) => a !== '--force' && a !== '--out' && i !== outIndex + 1);
  if (unknown.length > 0 || (outIndex >= 0 && args[outIndex + 1] === undefined)) {
    process.stderr.write('Usage: node --import tsx demo/web/prepare-models.ts [--force] [--out <dir>]\n');
    process.exitCode = 1;
  } else {
    prepareDemoModels({force: args.includes('--force'), int8ModelDir: outIndex >= 0 ? args[outIndex + 1] : undefined})
      .then(models => process.stdout.write(`${JSON.stringify({floatModelDir: models.floatModelDir, int8ModelDir: models.int8ModelDir})}\n`))
      .catch(error => {
        process.stderr.write(`prepare-models: ${(error as Error).message}\n`);
        process.exitCode = 1;
      });
  }
}
