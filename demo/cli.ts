// npm run demo: the whole story on a real MobileNet in a few minutes.
//
//   1. fetch the pinned nsfwjs MobileNetV2 classifier (models/, checksummed; cached after the first time)
//   2. quantize it ahead of time with the fixture photos (quantizeModel: fold, fake-quant, calibrate,
//      lower to int8), and save the int8 artifact in the temp dir
//   3. load the float model on tfjs-cpu, tfjs-backend-wasm and int8 (dynamic), and the int8 artifact
//      on int8 (static); time them round-robin on one photo
//   4. run every fixture photo through all four and compare the class scores with the float model's
//      (tfjs-cpu is the reference): top-1 agreement, SQNR, and the top classes of a few photos
// and print one side-by-side table. Progress goes to stderr, the table to stdout.
//
//   npm run demo -- [--runs N] [--reuse] [--model nsfwjs-inception-v3] [--int8-kernels wasm|reference]

import {readFileSync, statSync} from 'node:fs';
import {basename, dirname, resolve} from 'node:path';
import {parseArgs} from 'node:util';

import * as tf from '@tensorflow/tfjs-core';

import {BenchBackend, BenchSession, BackendResult, Int8Kernels} from '../bench/harness';
import {FIXTURE_IMAGES_DIR, benchImageInput} from '../bench/inputs';
import {formatBytes, formatMacs, formatMs, formatRatio, renderTable} from '../bench/format';
import {useBackend} from '../bench/backends';
import {ensureQuantizedModel, loadGraphPass, QuantizedArtifact} from '../bench/quantized_cache';
import {describeResident} from '../bench/report';
import {loadModelFile} from '../src/cli/model_files';
import {listImages} from '../src/io/images';
import {ensureModels, modelPath} from '../models/fetch-models';

/** The five classes of the nsfwjs models, in output order (nsfwjs's NSFW_CLASSES). */
const NSFW_CLASS_NAMES = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];
const CLASSIFIERS = ['nsfwjs-mobilenet-v2', 'nsfwjs-inception-v3'];
/** Photos whose top classes the table shows (the agreement figures use every fixture photo). */
const SHOWN_PHOTOS = ['opencv-messi5.jpg', 'opencv-butterfly.jpg', 'gcompris-monuments-eiffelTower.jpg', 'opencv-fruits.jpg'];

const USAGE = `Usage: npm run demo [-- [--runs N] [--reuse] [--model ${CLASSIFIERS.join('|')}] [--int8-kernels wasm|reference]]
  --runs N      timed runs per backend (default 5)
  --reuse       reuse a quantized artifact made earlier with the same inputs instead of quantizing again
`;

const COLUMNS: ReadonlyArray<{backend: BenchBackend; title: string}> = [
  {backend: 'cpu', title: 'float, tfjs-cpu'},
  {backend: 'wasm', title: 'float, tfjs-wasm'},
  {backend: 'int8-dynamic', title: 'int8 dynamic'},
  {backend: 'int8-static', title: 'int8 static'},
];

let step = 0;
function stage(message: string): void {
  step++;
  process.stderr.write(`\n[${step}/4] ${message}\n`);
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Bytes of a model.json and of the weight files it lists. */
function modelFileBytes(modelJsonPath: string): {json: number; weights: number} {
  let text: string;
  try {
    text = readFileSync(modelJsonPath, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${modelJsonPath}: ${(error as Error).message}`);
  }
  const json = JSON.parse(text) as {weightsManifest?: Array<{paths: string[]}>};
  let weights = 0;
  for (const group of json.weightsManifest ?? []) {
    for (const path of group.paths) weights += statSync(resolve(dirname(modelJsonPath), path)).size;
  }
  return {json: Buffer.byteLength(text), weights};
}

function describeFile(bytes: {json: number; weights: number}): string {
  const mib = (n: number) => (n / (1024 * 1024)).toFixed(n >= 1024 * 1024 ? 1 : 2);
  return `${formatBytes(bytes.json + bytes.weights)} = json ${mib(bytes.json)} + bin ${mib(bytes.weights)}`;
}

/** Indices of the k largest values, largest first. */
function topK(values: ArrayLike<number>, k: number): number[] {
  return Array.from({length: values.length}, (_, i) => i).sort((a, b) => values[b] - values[a]).slice(0, k);
}

function className(index: number): string {
  return NSFW_CLASS_NAMES[index] ?? `class ${index}`;
}

interface Agreement {
  photos: number;
  top1Matches: number;
  signal: number;
  noise: number;
  /** Top classes of each shown photo. */
  shown: Map<string, Float32Array>;
}

function sqnrText(agreement: Agreement): string {
  if (agreement.noise === 0) return 'identical';
  return `${(10 * Math.log10(agreement.signal / agreement.noise)).toFixed(1)} dB`;
}

/** Every fixture photo through every backend, compared with tfjs-cpu's class scores. */
async function measureAgreement(session: BenchSession, photos: readonly string[]): Promise<Map<BenchBackend, Agreement>> {
  const agreements = new Map<BenchBackend, Agreement>();
  for (const backend of session.backends) agreements.set(backend, {photos: 0, top1Matches: 0, signal: 0, noise: 0, shown: new Map()});
  const reference = session.backends.includes('cpu') ? 'cpu' : session.backends[0];
  for (let i = 0; i < photos.length; i++) {
    const photo = photos[i];
    const scores = new Map<BenchBackend, Float32Array>();
    for (const backend of session.backends) scores.set(backend, (await session.outputsFor(backend, photo))[0]);
    const expected = scores.get(reference) as Float32Array;
    const expectedTop = topK(expected, 1)[0];
    for (const [backend, values] of scores) {
      const agreement = agreements.get(backend) as Agreement;
      agreement.photos++;
      if (topK(values, 1)[0] === expectedTop) agreement.top1Matches++;
      for (let k = 0; k < values.length; k++) {
        agreement.signal += expected[k] * expected[k];
        agreement.noise += (expected[k] - values[k]) ** 2;
      }
      if (SHOWN_PHOTOS.includes(basename(photo))) agreement.shown.set(basename(photo), values);
    }
    log(`  photo ${i + 1}/${photos.length} ${basename(photo)}: ` +
        session.backends.map(b => `${b} ${className(topK(scores.get(b) as Float32Array, 1)[0])}`).join(', '));
  }
  return agreements;
}

function scoresText(values: Float32Array | undefined, mismatch: boolean): string {
  if (values === undefined) return '-';
  const [first, second] = topK(values, 2);
  const percent = (v: number) => `${(v * 100).toFixed(1)}%`;
  return `${mismatch ? '*' : ''}${className(first)} ${percent(values[first])}, ${className(second)} ${percent(values[second])}`;
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({values} = parseArgs({
      args: argv, strict: true, allowPositionals: false,
      options: {
        runs: {type: 'string'}, reuse: {type: 'boolean'}, model: {type: 'string'}, 'int8-kernels': {type: 'string'},
        help: {type: 'boolean', short: 'h'},
      },
    }));
  } catch (error) {
    process.stderr.write(`demo: ${(error as Error).message}\n\n${USAGE}`);
    return 1;
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const runs = values.runs === undefined ? 5 : Number(values.runs);
  const name = values.model ?? CLASSIFIERS[0];
  const kernels = values['int8-kernels'];
  if (!Number.isInteger(runs) || runs < 1 || !CLASSIFIERS.includes(name) || (kernels !== undefined && kernels !== 'wasm' && kernels !== 'reference')) {
    process.stderr.write(`demo: --runs takes a positive integer, --model one of ${CLASSIFIERS.join(', ')}, --int8-kernels wasm or reference\n\n${USAGE}`);
    return 1;
  }
  tf.env().set('IS_TEST', true);
  const started = performance.now();

  stage(`fetching the ${name} classifier (pinned, checksummed)`);
  await ensureModels([name], {onProgress: event => log(event.message)});
  const floatPath = modelPath(name);
  const photos = listImages(FIXTURE_IMAGES_DIR);
  if (photos.length === 0) throw new Error(`no fixture photos in ${FIXTURE_IMAGES_DIR}`);

  stage(`quantizing with the ${photos.length} fixture photos (quantizeModel)`);
  await useBackend('cpu');
  const probe = await loadModelFile(floatPath);
  const input = benchImageInput(probe, name);
  probe.dispose();
  let quantized: QuantizedArtifact | undefined;
  let staticReason: string | undefined;
  const graph = await loadGraphPass();
  if ('reason' in graph) {
    staticReason = graph.reason;
  } else {
    try {
      quantized = await ensureQuantizedModel(floatPath, {label: name, calibrationImages: photos, input, refresh: values.reuse !== true});
      log(quantized.cached ?
        `reused the artifact made earlier: ${quantized.modelJsonPath}` :
        `quantized in ${(quantized.info.quantizeMs / 1000).toFixed(1)} s → ${quantized.modelJsonPath}`);
    } catch (error) {
      staticReason = (error as Error).message;
    }
  }
  if (staticReason !== undefined) log(`int8 static is not available: ${staticReason}`);

  stage(`loading on cpu, wasm and int8, then timing ${runs} round-robin runs of each`);
  const session = await BenchSession.open({
    modelPath: floatPath, modelName: name, quantizedPath: quantized?.modelJsonPath, quantizedUnavailableReason: staticReason,
    warmup: 1, int8Kernels: kernels as Int8Kernels | undefined,
  });
  let results: BackendResult[];
  let macsTotal: number;
  let agreements: Map<BenchBackend, Agreement>;
  try {
    const macs = await session.countMacs();
    macsTotal = macs.total;
    await session.timeRounds(runs);
    results = session.results(macs);
    stage(`comparing the class scores of all ${photos.length} fixture photos with tfjs-cpu's`);
    agreements = await measureAgreement(session, photos);
  } finally {
    await session.dispose();
  }
  const unavailable = new Map(session.unavailable.map(u => [u.backend, u.reason]));

  // One side-by-side table.
  const byBackend = new Map(results.map(r => [r.backend, r]));
  const cpu = byBackend.get('cpu');
  const wasm = byBackend.get('wasm');
  const cell = (backend: BenchBackend, text: (r: BackendResult) => string): string => {
    const r = byBackend.get(backend);
    return r === undefined ? (unavailable.has(backend) ? 'unavailable' : '-') : text(r);
  };
  const floatFile = describeFile(modelFileBytes(floatPath));
  const staticFile = quantized !== undefined ? describeFile(modelFileBytes(quantized.modelJsonPath)) : 'unavailable';
  const rows: string[][] = [];
  const row = (label: string, make: (backend: BenchBackend) => string) => rows.push([label, ...COLUMNS.map(c => make(c.backend))]);
  row('model file on disk', b => b === 'int8-static' ? staticFile : floatFile);
  if (quantized !== undefined) {
    const {float32, quantized: int8} = quantized.info.weightBytes;
    row('weights: float32 vs int8 codes', b => b === 'int8-static' ? formatBytes(int8) : formatBytes(float32));
  }
  row('weights resident in the backend', b => cell(b, r => describeResident(r.weightBytes)));
  row('load', b => cell(b, r => `${formatMs(r.loadMs)} ms`));
  row('first run (incl. weight packing)', b => cell(b, r => `${formatMs(r.firstRunMs)} ms`));
  row(`latency, median of ${runs}`, b => cell(b, r => `${formatMs(r.medianMs)} ms`));
  row('latency, min – max', b => cell(b, r => `${formatMs(r.minMs)} – ${formatMs(r.maxMs)} ms`));
  row('throughput', b => cell(b, r => `${r.gmacPerS.toFixed(2)} GMAC/s`));
  row('speed vs tfjs-wasm', b => cell(b, r => wasm === undefined ? '-' : formatRatio(wasm.medianMs / r.medianMs)));
  row('speed vs tfjs-cpu', b => cell(b, r => cpu === undefined ? '-' : formatRatio(cpu.medianMs / r.medianMs)));
  const agreementCell = (b: BenchBackend, text: (a: Agreement) => string): string => {
    if (b === 'cpu') return 'reference';
    const a = agreements.get(b);
    return a === undefined ? (unavailable.has(b) ? 'unavailable' : '-') : text(a);
  };
  row(`top-1 agreement (${photos.length} photos)`, b => agreementCell(b, a => `${a.top1Matches}/${a.photos}`));
  row('SQNR of the class scores', b => agreementCell(b, sqnrText));
  for (const photo of SHOWN_PHOTOS) {
    const reference = agreements.get('cpu')?.shown.get(photo);
    if (reference === undefined) continue;
    const expectedTop = topK(reference, 1)[0];
    row(photo, b => {
      const values = agreements.get(b)?.shown.get(photo);
      if (values === undefined) return unavailable.has(b) ? 'unavailable' : '-';
      return scoresText(values, topK(values, 1)[0] !== expectedTop);
    });
  }

  const header = [`${name} (${formatMacs(macsTotal)}MAC, ${input.height}×${input.width})`, ...COLUMNS.map(c => c.title)];
  const notes: string[] = [];
  if (quantized !== undefined) {
    notes.push(`int8 static: quantizeModel (${quantized.info.method} calibration, ${quantized.info.calibrationImages.length} fixture photos), ` +
      `${quantized.info.int8Tensors} int8 tensors; kept in float: ` +
      (quantized.info.keptInFloat.length === 0 ? 'none' : quantized.info.keptInFloat.map(k => `${k.name} (${k.op}${k.reason ? `: ${k.reason}` : ''})`).join(', ')) +
      `. Artifact: ${quantized.modelJsonPath}`);
  }
  for (const [backend, reason] of unavailable) notes.push(`${backend} unavailable: ${reason}`);
  notes.push('The float model file ships with uint8-compressed weights (tfjs converter); in memory they are float32.');
  notes.push(`Photo rows: the two top classes; * marks a top-1 class that differs from tfjs-cpu's. Timing photo: ${basename(session.imagePath)}.`);
  notes.push(`int8 kernels: ${session.int8Kernels === 'reference' ? 'TypeScript reference' : 'WebAssembly SIMD'}. ` +
    'Resident: f32 = float values still held, js = codes/tables in JavaScript, wasm = int8 WebAssembly heap.');
  process.stdout.write(`\n${renderTable(header, rows, ['left', 'left', 'left', 'left', 'left'])}\n${notes.map(n => `- ${n}`).join('\n')}\n`);
  log(`\ndemo finished in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return 0;
}

main(process.argv.slice(2)).then(code => {
  process.exitCode = code;
}, error => {
  process.stderr.write(`demo: ${(error as Error).message}\n`);
  if (process.env.TFJS_INT8_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
  process.exitCode = 1;
});
