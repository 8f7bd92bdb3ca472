import {mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import {loadGraphModel} from '@tensorflow/tfjs-converter';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {quantizeModel, QuantizedModel} from '../../src/graph/index';
import {foldGraph} from '../../src/graph/fold';
import {NodeDef} from '../../src/graph/graph_def';
import {INT8_CODES_QUANTIZATION, modelGraphToArtifacts} from '../../src/graph/artifacts';
import {layersModelToGraph} from '../../src/graph/layers_export';
import {sqnrOf} from '../../src/graph/report';
import {activationRange, quantizeMultiplier, roundHalfAwayFromZero} from '../../src/quant';
import {fileIOHandler} from '../../src/io/file_io';
import {isFloat16} from '../../src/graph/float16';
import {artifactName, artifactNode, computeNodeInfo, weightValues} from './artifact_nodes';
import {buildSmallConvNet, graphModelFromArtifacts, setDeterministicWeights, syntheticImages} from './helpers';

function nodesOf(artifacts: tf.io.ModelArtifacts): NodeDef[] {
  return (artifacts.modelTopology as {node: NodeDef[]}).node;
}

/** The nearest float16 to x (x in float16's normal range, ties away from zero): float16s have 11 significant bits. */
function nearestFloat16(x: number): number {
  let e = Math.floor(Math.log2(x));
  if (2 ** e > x) e--;
  const ulp = 2 ** (e - 10);
  const s = Math.round(x / ulp) * ulp;
  expect(isFloat16(s)).toBe(true);
  return s;
}

describe('quantizeModel on a small MobileNet-like model', () => {
  let model: tfl.LayersModel;
  let calibration: tf.Tensor4D[];
  let evaluation: tf.Tensor4D[];
  let quantized: QuantizedModel;
  const progress: Array<[number, number | undefined]> = [];

  beforeAll(async () => {
    await tf.setBackend('cpu');
    model = buildSmallConvNet(1);
    calibration = syntheticImages(8, 16, 21);
    evaluation = syntheticImages(6, 16, 99);
    // Without bias correction, so the bias codes can be checked against the folded float bias.
    // This suite checks the lowering against the folded float graph: equalization and weight rounding,
    // which rewrite weights and biases before it, have their own tests (equalize.test.ts).
    quantized = await quantizeModel(model, {
      calibrationData: calibration, biasCorrection: false, equalize: false, weightRounding: false,
      onProgress: (d, t) => progress.push([d, t]),
    });
  });

  it('reports progress up to the total', () => {
    expect(progress.length).toBeGreaterThan(8);
    const [lastDone, lastTotal] = progress[progress.length - 1];
    expect(lastDone).toBe(lastTotal);
    expect(progress.every(([d], i) => i === 0 || d > progress[i - 1][0])).toBe(true);
  });

  it('lowers every conv/matmul to an int8 node and keeps softmax in float', () => {
    const ops = nodesOf(quantized.artifacts).map(n => n.op);
    expect(ops.filter(op => op === 'Int8FusedConv2D').length).toBe(3);
    expect(ops.filter(op => op === 'Int8FusedDepthwiseConv2dNative').length).toBe(2);
    expect(ops.filter(op => op === 'Int8FusedMatMul').length).toBe(1);
    expect(ops).toContain('Int8AddV2');
    expect(ops).toContain('Int8ConcatV2');
    expect(ops).toContain('Softmax');
    expect(ops).not.toContain('_FusedConv2D');
    expect(ops).not.toContain('FusedBatchNormV3');
    const softmax = quantized.report.find(e => e.op === 'Softmax');
    expect(softmax).toMatchObject({dtype: 'float', scale: null, note: 'softmax output kept in float'});
  });

  it('folds the bias into int32 with scale S_in·S_w[c] and stores (M0, shift) per channel', () => {
    const folded = foldGraph(layersModelToGraph(model));
    const floatNode = folded.nodes.find(n => n.name === 'relu1')!;
    const floatBias = folded.weights[floatNode.input![2]].values;
    const node = artifactNode(quantized, 'relu1');
    expect(node.op).toBe('Int8FusedConv2D');
    const {quant, filterScales, biasCodes} = computeNodeInfo(quantized.artifacts, node);
    const inputScale = quant.input.scale;
    const outputScale = quant.output!.scale;
    // Per-channel values live in the shared tables of the weights (inputs #2, #3), the rest in `q`;
    // bias scales, (M0, shift) and the output clamp are derived at load.
    expect(Object.keys(node.attr!)).toEqual(['q']);
    expect(filterScales.length).toBe(biasCodes.length);
    const floatFilter = folded.weights[floatNode.input![1]].values;
    filterScales.forEach((s, c) => {
      let maxAbs = 0;
      for (let i = c; i < floatFilter.length; i += filterScales.length) maxAbs = Math.max(maxAbs, Math.abs(floatFilter[i]));
      // The nearest float16 to max|w|/127 (stored in 2 bytes, exactly what runs), or raised by
      // ≤ 2× on ≤ 1 in 50 channels so that the layer's bias fits the int16 table (weight_quant.ts).
      const own = nearestFloat16(maxAbs / 127);
      if (s !== own) {
        expect(s).toBeGreaterThan(own);
        expect(s).toBeLessThanOrEqual(2 * own * (1 + 2 ** -9));
        expect(biasCodes.every(b => Math.abs(b) <= 32767)).toBe(true);
      }
      expect(biasCodes[c]).toBe(roundHalfAwayFromZero(floatBias[c] / (inputScale * s)));
      expect(quantizeMultiplier(inputScale * s / outputScale).multiplier).toBeGreaterThan(0);
    });
    // relu6 is the output code clamp the executors derive.
    expect(quant.activation).toBe('relu6');
    const zOut = quant.output!.zeroPoint;
    expect(activationRange('relu6', outputScale, zOut, 'int8')).toEqual(
        {lo: Math.max(-128, zOut), hi: Math.min(127, zOut + roundHalfAwayFromZero(6 / outputScale))});
    // Weights are int8 codes, symmetric, narrow range, stored as uint8 bytes.
    const filterSpec = quantized.artifacts.weightSpecs!.find(s => s.name === node.input![1])!;
    expect(filterSpec.quantization).toEqual(INT8_CODES_QUANTIZATION);
    const scaleSpec = quantized.artifacts.weightSpecs!.find(s => s.name === node.input![3])!;
    expect(scaleSpec.quantization).toEqual({dtype: 'float16'});
    const codes = weightValues(quantized.artifacts, node.input![1]);
    expect(Array.from(codes).every(c => Number.isInteger(c) && c >= -127 && c <= 127)).toBe(true);
    expect(Math.max(...Array.from(codes, Math.abs))).toBe(127);
  });

  it('stays close to the float model in the cpu simulation (per layer and end to end)', () => {
    const qm = graphModelFromArtifacts(quantized.artifacts);
    const reference: number[] = [];
    const simulated: number[] = [];
    let sameTop1 = 0;
    for (const image of evaluation) {
      const f = (model.predict(image) as tf.Tensor).dataSync();
      const q = (qm.execute({image}) as tf.Tensor).dataSync();
      reference.push(...f);
      simulated.push(...q);
      if (tf.argMax(tf.tensor(f)).dataSync()[0] === tf.argMax(tf.tensor(q)).dataSync()[0]) sameTop1++;
    }
    expect(sqnrOf(reference, simulated)).toBeGreaterThan(30);
    expect(sameTop1).toBe(evaluation.length);
    for (const entry of quantized.report.filter(e => e.sqnrDb !== null)) {
      expect(entry.sqnrDb).toBeGreaterThan(20);
    }
  });

  it('reports every quantized tensor with its range, scale and zero point', () => {
    const int8 = quantized.report.filter(e => e.dtype === 'int8');
    expect(int8.map(e => e.name)).toEqual(expect.arrayContaining(['image/quantized', 'relu1', 'add', 'cat', 'maxpool', 'gap']));
    for (const e of int8) {
      expect(e.scale).toBeGreaterThan(0);
      expect(Number.isInteger(e.zeroPoint)).toBe(true);
      expect(e.min).toBeCloseTo(e.scale! * (-128 - e.zeroPoint!), 10);
      expect(e.max).toBeCloseTo(e.scale! * (127 - e.zeroPoint!), 10);
      expect(e.min!).toBeLessThanOrEqual(0);
      expect(e.max!).toBeGreaterThanOrEqual(0);
    }
    expect(quantized.report.find(e => e.name === 'maxpool')?.note).toMatch(/range shared with 'cat'/);
    expect(quantized.report.find(e => e.name === 'logits')?.dtype).toBe('int8-compute');
  });

  it('saves model.json + weights that tf.loadGraphModel loads back, giving the same outputs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tfjs-int8-save-'));
    try {
      await quantized.save(fileIOHandler(join(dir, 'model.json')));
      const loaded = await loadGraphModel(fileIOHandler(join(dir, 'model.json')));
      const inMemory = graphModelFromArtifacts(quantized.artifacts);
      for (const image of evaluation.slice(0, 2)) {
        expect(Array.from((loaded.execute({image}) as tf.Tensor).dataSync())).toEqual(Array.from((inMemory.execute({image}) as tf.Tensor).dataSync()));
      }
      const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
      expect(json.format).toBe('graph-model');
      expect(json.userDefinedMetadata.int8Quantization.method).toBe(quantized.method);
      const specs = json.weightsManifest[0].weights as tf.io.WeightsManifestEntry[];
      // Bias tables: int32, or 2-byte int16 codes.
      const biasNames = new Set((json.modelTopology.node as NodeDef[]).filter(n => n.op.startsWith('Int8Fused')).map(n => n.input![2]));
      expect(biasNames.size).toBeGreaterThan(0);
      expect(biasNames.size).toBeLessThanOrEqual(2);
      expect(specs.filter(s => biasNames.has(s.name)).every(s => s.dtype === 'int32' || s.quantization?.dtype === 'uint16')).toBe(true);
      expect(statSync(join(dir, 'weights.bin')).size).toBe(quantized.sizes.quantizedWeightBytes);
    } finally {
      rmSync(dir, {recursive: true, force: true});
    }
  });

  it('keeps excluded nodes in float and says so', async () => {
    const q = await quantizeModel(model, {calibrationData: calibration.slice(0, 3), exclude: ['pw'], reportSamples: 0});
    const pw = artifactNode(q, 'pw');
    expect(pw.op).toBe('_FusedConv2D');
    expect(q.report.find(e => e.name === 'pw')).toMatchObject({dtype: 'float', note: 'excluded by options.exclude'});
    // Its output still feeds the int8 Add, through a quantize node.
    expect(q.report.find(e => e.name === 'pw/quantized')).toMatchObject({dtype: 'int8', op: 'FakeQuantWithMinMaxVars'});
    await expect(quantizeModel(model, {calibrationData: calibration, exclude: ['nope']})).rejects.toThrow("options.exclude names 'nope'");
  });

  it('quantizes weights per tensor when perChannel is false', async () => {
    const q = await quantizeModel(model, {calibrationData: calibration.slice(0, 3), perChannel: false, reportSamples: 0});
    const nodes = nodesOf(q.artifacts).filter(n => n.op.startsWith('Int8Fused'));
    for (const node of nodes) {
      const {quant, filterScales} = computeNodeInfo(q.artifacts, node);
      expect(quant.perTensor).toBe(true);
      expect(new Set(filterScales).size).toBe(1);
    }
    // One scale per node in the scale table.
    expect(weightValues(q.artifacts, nodes[0].input![3]).length).toBe(nodes.length);
  });

  it('accepts an async iterable of named tensor maps, and every calibration method', async () => {
    async function* named() {
      for (const image of calibration.slice(0, 3)) yield {'image:0': image};
    }
    for (const method of ['minmax', 'ema', 'percentile', 'entropy', 'mse'] as const) {
      const q = await quantizeModel(model, {calibrationData: method === 'minmax' ? named() : calibration.slice(0, 3), method, reportSamples: 0});
      expect(q.method).toBe(method);
      expect(q.report.filter(e => e.dtype === 'int8').every(e => e.scale! > 0)).toBe(true);
    }
  });

  it('bias correction removes the mean output shift of weight rounding (measured on the calibration data)', async () => {
    const names = ['relu1', 'pw', 'sep'];
    const meanError = (artifacts: tf.io.ModelArtifacts): number => {
      const q = graphModelFromArtifacts(artifacts);
      const f = graphModelFromArtifacts(modelGraphToArtifacts(foldGraph(layersModelToGraph(model))));
      let total = 0;
      for (const name of names) {
        const perChannel: number[] = [];
        for (const image of calibration) {
          const diff = tf.sub(q.execute({image}, artifactName(quantizedOf(artifacts), name)) as tf.Tensor, f.execute({image}, name) as tf.Tensor);
          const channels = diff.shape[diff.rank - 1] as number;
          const m = tf.mean(tf.reshape(diff, [-1, channels]), 0).dataSync();
          m.forEach((v, c) => (perChannel[c] = (perChannel[c] ?? 0) + v / calibration.length));
        }
        total += perChannel.reduce((a, v) => a + Math.abs(v), 0) / perChannel.length;
      }
      return total;
    };
    const plain = await quantizeModel(model, {calibrationData: calibration, biasCorrection: false, reportSamples: 0});
    const corrected = await quantizeModel(model, {calibrationData: calibration, biasCorrection: true, reportSamples: 0});
    const quantizedOf = (artifacts: tf.io.ModelArtifacts): QuantizedModel => (artifacts === plain.artifacts ? plain : corrected);
    expect(corrected.artifacts.userDefinedMetadata).toMatchObject({int8Quantization: {biasCorrection: true}});
    expect(meanError(corrected.artifacts)).toBeLessThan(meanError(plain.artifacts));
  });

  afterAll(() => {
    tf.dispose([...calibration, ...evaluation]);
  });
});
