import {mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, existsSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import pngjs from 'pngjs';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {main} from '../../src/cli/main';
import {modelGraphToArtifacts} from '../../src/graph/artifacts';
import {fileIOHandler} from '../../src/io/file_io';
import {unfusedGraph} from './graph_builder';
import {buildSmallConvNet, seededRandom} from './helpers';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => { stdout += String(chunk); return true; }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => { stderr += String(chunk); return true; }) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return {code, stdout, stderr};
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

function writePng(path: string, width: number, height: number, seed: number): void {
  const random = seededRandom(seed);
  const png = new pngjs.PNG({width, height});
  for (let i = 0; i < width * height; i++) {
    const y = Math.floor(i / width);
    png.data[i * 4] = (y * 255) / height;
    png.data[i * 4 + 1] = random() * 255;
    png.data[i * 4 + 2] = ((i % width) * 255) / width;
    png.data[i * 4 + 3] = 255;
  }
  writeFileSync(path, pngjs.PNG.sync.write(png));
}

describe('tfjs-int8 CLI', () => {
  let dir: string;
  let images: string;
  let layersJson: string;
  let graphJson: string;

  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'tfjs-int8-cli-'));
    images = join(dir, 'images');
    mkdirSync(images);
    for (let i = 0; i < 5; i++) writePng(join(images, `img${i}.png`), 20 + i, 18, i + 1);
    layersJson = join(dir, 'layers', 'model.json');
    await buildSmallConvNet(5).save(fileIOHandler(layersJson));
    graphJson = join(dir, 'graph', 'model.json');
    await fileIOHandler(graphJson).save!(modelGraphToArtifacts(unfusedGraph()));
  });

  afterAll(() => rmSync(dir, {recursive: true, force: true}));

  it('quantizes a Keras layers model.json and evaluates it against the float model (cpu simulation and int8)', async () => {
    const out = join(dir, 'q-layers');
    const q = await cli('quantize', layersJson, '--calibration', images, '--out', out, '--float-backend', 'cpu');
    expect(q.stderr).toMatch(/calibrating \(mse\)/);
    expect(q.code).toBe(0);
    const summary = JSON.parse(q.stdout);
    expect(summary.input).toEqual({name: 'image', size: '16x16', range: '0,1', dtype: 'float32'});
    expect(summary.calibrationImages).toBe(5);
    expect(existsSync(join(out, 'model.json'))).toBe(true);
    const report = JSON.parse(readFileSync(join(out, 'quantization-report.json'), 'utf8'));
    expect(report.layers.length).toBeGreaterThan(5);
    // model.json's short node names map back to the model's; only its inputs and outputs keep theirs.
    const nodes = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).modelTopology.node as Array<{name: string; op: string; input?: string[]}>;
    const read = new Set(nodes.flatMap(n => (n.input ?? []).map(r => r.replace(/^\^/, '').split(':')[0])));
    const kept = nodes.filter(n => report.nodeNames[n.name] === undefined);
    expect(kept.every(n => n.op === 'Placeholder' || !read.has(n.name))).toBe(true);
    expect(kept.length).toBeLessThan(nodes.length / 4);

    for (const backend of ['cpu', 'int8']) {
      const e = await cli('eval', layersJson, join(out, 'model.json'), '--images', images, '--float-backend', 'cpu', '--backend', backend);
      expect(e.code, e.stderr).toBe(0);
      const result = JSON.parse(e.stdout);
      expect(result.images).toBe(5);
      expect(result.top1Agreement).toBeGreaterThanOrEqual(0.8);
      expect(result.sqnrDb).toBeGreaterThan(20);
      expect(result.cosine).toBeGreaterThan(0.99);
      expect(Object.keys(result.perOutput)).toEqual(['probs']);
    }
  });

  it('quantizes a graph-model model.json with a given input size, range and method', async () => {
    const out = join(dir, 'q-graph');
    const q = await cli('quantize', graphJson, '--calibration', images, '--out', out, '--method', 'percentile',
        '--input-size', '8x8', '--input-range', '-1,1', '--max-images', '3', '--float-backend', 'cpu');
    expect(q.code, q.stderr).toBe(0);
    expect(JSON.parse(q.stdout)).toMatchObject({method: 'percentile', calibrationImages: 3, input: {size: '8x8', range: '-1,1'}});
    const e = await cli('eval', graphJson, join(out, 'model.json'), '--images', images, '--input-range', '-1,1', '--float-backend', 'cpu');
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout).top1Agreement).toBeGreaterThanOrEqual(0.6);
  });

  it('probes each conv/matmul input of a layers model alone (sensitivity), rows from the most harmful', async () => {
    const r = await cli('sensitivity', layersJson, '--images', images, '--max-images', '2', '--float-backend', 'cpu');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/probing activations on cpu/);
    const result = JSON.parse(r.stdout);
    expect(result.images).toBe(2);
    const kinds = result.rows.map((row: {kind: string}) => row.kind);
    expect(kinds.filter((k: string) => k === 'input-noise')).toHaveLength(1);
    expect(kinds.filter((k: string) => k === 'activation').length).toBeGreaterThanOrEqual(3);
    const worst = result.rows.map((row: {perOutput: Record<string, number>}) => Math.min(...Object.values(row.perOutput)));
    expect(worst).toEqual([...worst].sort((a, b) => a - b));
    expect(worst[0]).toBeGreaterThan(15);
    expect(worst[0]).toBeLessThan(60);
  });

  it('prints one clear line (no stack trace) and exits 1 on bad input', async () => {
    const expectFailure = async (pattern: RegExp, ...args: string[]) => {
      const r = await cli(...args, '--float-backend', 'cpu');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(pattern);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    };
    const out = join(dir, 'q-bad');
    // corrupt model.json
    const corrupt = join(dir, 'corrupt', 'model.json');
    mkdirSync(join(dir, 'corrupt'));
    writeFileSync(corrupt, '{"modelTopology": {"node": [');
    await expectFailure(/tfjs-int8: invalid JSON in .*corrupt\/model\.json/, 'quantize', corrupt, '--calibration', images, '--out', out);
    // truncated weights
    const truncatedDir = join(dir, 'truncated');
    await fileIOHandler(join(truncatedDir, 'model.json')).save!(modelGraphToArtifacts(unfusedGraph()));
    truncateSync(join(truncatedDir, 'weights.bin'), 100);
    await expectFailure(/truncated weight shard: .*weights\.bin hold 100 bytes/, 'quantize', join(truncatedDir, 'model.json'), '--calibration', images, '--out', out);
    // a missing model
    await expectFailure(/model\.json not found: .*nope\.json/, 'quantize', join(dir, 'nope.json'), '--calibration', images, '--out', out);
    // an unreadable image
    const badImages = join(dir, 'bad-images');
    mkdirSync(badImages);
    writeFileSync(join(badImages, 'broken.jpg'), 'not a jpeg at all');
    await expectFailure(/unsupported image file .*broken\.jpg/, 'quantize', layersJson, '--calibration', badImages, '--out', out);
    // an empty calibration directory
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await expectFailure(/no JPEG or PNG images in .*empty/, 'quantize', layersJson, '--calibration', empty, '--out', out);
    // usage errors
    await expectFailure(/'quantize' needs --out/, 'quantize', layersJson, '--calibration', images);
    await expectFailure(/unknown option --bogus/, 'quantize', layersJson, '--calibration', images, '--out', out, '--bogus', '1');
    await expectFailure(/--method must be one of minmax, ema, percentile, entropy, mse/, 'quantize', layersJson, '--calibration', images, '--out', out, '--method', 'best');
    await expectFailure(/--input-size must be HxW/, 'quantize', layersJson, '--calibration', images, '--out', out, '--input-size', 'big');
    await expectFailure(/unknown command 'frobnicate'/, 'frobnicate');
  });

  it('prints usage with --help', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/tfjs-int8 quantize <model\.json> --calibration/);
  });
});
