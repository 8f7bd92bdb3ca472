// Data-aware weight rounding (src/graph/weight_rounding.ts): the patch moments computed with
// tf.matMul equal a float64 reference, the incremental search equals a from-scratch search,
// thinning the patches of a layer with many positions costs next to nothing in its error, and
// layers that read the same patches share them.

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {foldGraph} from '../../src/graph/fold';
import {NodeDef, parseInputRef} from '../../src/graph/graph_def';
import {ModelGraph, nodeMap} from '../../src/graph/model_graph';
import {layerMoments, Moments, roundWeights, searchChannel} from '../../src/graph/weight_rounding';
import {quantizeFilter} from '../../src/graph/weight_quant';
import {convAttrs, TestGraph} from './graph_builder';
import {maxRelativeDiff, seededRandom} from './helpers';

/** x [H, W, C] (row-major) → the patches a conv reads, float64, element t = channel·K + tap. */
function referencePatches(x: Float32Array, [h, w, c]: number[], kh: number, kw: number, stride: number, padding: 'SAME' | 'VALID'): Float64Array[] {
  const outH = padding === 'SAME' ? Math.ceil(h / stride) : Math.floor((h - kh) / stride) + 1;
  const outW = padding === 'SAME' ? Math.ceil(w / stride) : Math.floor((w - kw) / stride) + 1;
  const top = padding === 'SAME' ? Math.floor(Math.max((outH - 1) * stride + kh - h, 0) / 2) : 0;
  const left = padding === 'SAME' ? Math.floor(Math.max((outW - 1) * stride + kw - w, 0) / 2) : 0;
  const k = kh * kw;
  const rows: Float64Array[] = [];
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      const p = new Float64Array(c * k);
      for (let dy = 0; dy < kh; dy++) {
        for (let dx = 0; dx < kw; dx++) {
          const y = oy * stride + dy - top;
          const xx = ox * stride + dx - left;
          if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
          for (let ch = 0; ch < c; ch++) p[ch * k + dy * kw + dx] = x[(y * w + xx) * c + ch];
        }
      }
      rows.push(p);
    }
  }
  return rows;
}

/** Σ p pᵀ over the rows, in float64, on `width`-wide groups (one group unless depthwise). */
function referenceGram(rows: Float64Array[], groups: number): {gram: Float64Array[]; sum: Float64Array[]} {
  const width = rows[0].length / groups;
  const gram = Array.from({length: groups}, () => new Float64Array(width * width));
  const sum = Array.from({length: groups}, () => new Float64Array(width));
  for (const p of rows) {
    for (let g = 0; g < groups; g++) {
      for (let i = 0; i < width; i++) {
        sum[g][i] += p[g * width + i];
        for (let j = 0; j < width; j++) gram[g][i * width + j] += p[g * width + i] * p[g * width + j];
      }
    }
  }
  return {gram, sum};
}

function fusedNode(op: string, stride: number, padding: 'SAME' | 'VALID'): NodeDef {
  return {name: 'layer', op, input: ['x', 'w', 'b'], attr: convAttrs(stride, padding)};
}

function randomTensor(shape: number[], seed: number): tf.Tensor {
  const random = seededRandom(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({length: size}, () => random() * 2 - 1), shape);
}

describe.each(['cpu', 'wasm'])('patch moments on %s', backend => {
  beforeAll(async () => {
    await tf.setBackend(backend);
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  const cases: Array<{name: string; op: string; shape: number[]; filter: number[]; stride: number; padding: 'SAME' | 'VALID'; rowStride?: number; offset?: number}> = [
    {name: '3×3 conv, stride 2, SAME', op: '_FusedConv2D', shape: [13, 11, 6], filter: [3, 3, 6, 4], stride: 2, padding: 'SAME'},
    {name: '5×5 conv on 48 channels, VALID (D = 1200)', op: '_FusedConv2D', shape: [9, 9, 48], filter: [5, 5, 48, 8], stride: 1, padding: 'VALID'},
    {name: '3×3 conv, rows thinned (stride 3, from row 2)', op: '_FusedConv2D', shape: [12, 12, 5], filter: [3, 3, 5, 2], stride: 1, padding: 'SAME', rowStride: 3, offset: 2},
    {name: '3×3 depthwise, stride 2', op: 'FusedDepthwiseConv2dNative', shape: [10, 10, 7], filter: [3, 3, 7, 1], stride: 2, padding: 'SAME'},
  ];
  it.each(cases)('$name: Σ p pᵀ, Σ p equal the float64 reference within 1e-5', c => {
    const x = randomTensor([1, ...c.shape], 5);
    const depthwise = c.op === 'FusedDepthwiseConv2dNative';
    const m: Moments = layerMoments(fusedNode(c.op, c.stride, c.padding), c.filter, x, {stride: c.rowStride, offset: c.offset});
    let rows = referencePatches(x.dataSync() as Float32Array, c.shape, c.filter[0], c.filter[1], c.stride, c.padding);
    if (c.rowStride !== undefined) rows = rows.filter((_, i) => i >= (c.offset ?? 0) && (i - (c.offset ?? 0)) % c.rowStride! === 0);
    const groups = depthwise ? c.shape[2] : 1;
    // The patch layout itself (every patch element, its channel and tap) is checked by the
    // channel-wise difference: a misplaced element changes both moments.
    const reference = referenceGram(rows, groups);
    expect(m.count).toBe(rows.length);
    expect(m.dim).toBe(depthwise ? c.filter[0] * c.filter[1] : c.filter[0] * c.filter[1] * c.filter[2]);
    for (let g = 0; g < groups; g++) {
      expect(maxRelativeDiff(reference.gram[g], m.gram[g])).toBeLessThan(1e-5);
      expect(maxRelativeDiff(reference.sum[g], m.sum[g])).toBeLessThan(1e-5);
    }
    x.dispose();
  });

  it('a dense layer: one patch per row', () => {
    const x = randomTensor([6, 20], 8);
    const m = layerMoments({name: 'fc', op: '_FusedMatMul', input: ['x', 'w', 'b'], attr: {}}, [20, 3], x);
    const values = x.dataSync();
    const rows = Array.from({length: 6}, (_, r) => Float64Array.from(values.subarray(r * 20, r * 20 + 20)));
    expect(m.count).toBe(6);
    expect(maxRelativeDiff(referenceGram(rows, 1).gram[0], m.gram[0])).toBeLessThan(1e-6);
    x.dispose();
  });
});

/** A symmetric positive semi-definite Σ with strongly correlated coordinates (rank r) + a small ridge. */
function correlatedCovariance(d: number, r: number, random: () => number): Float64Array {
  const basis = Array.from({length: r}, () => Float64Array.from({length: d}, () => random() * 2 - 1));
  const cov = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) cov[i * d + j] = basis.reduce((s, b) => s + b[i] * b[j], 0) + (i === j ? 0.02 : 0);
  }
  return cov;
}

function objective(w: ArrayLike<number>, q: ArrayLike<number>, scale: number, cov: Float64Array): number {
  const d = w.length;
  const e = Array.from(w, (v, i) => q[i] * scale - v);
  let f = 0;
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) f += e[i] * cov[i * d + j] * e[j];
  return f;
}

/** The same coordinate descent, each candidate step's objective computed from scratch (O(D²) per test). */
function plainSearch(w: ArrayLike<number>, scale: number, cov: Float64Array, limit: number, fixed: number, sweeps: number): Int32Array {
  const d = w.length;
  const q = Int32Array.from(w, v => Math.max(-limit, Math.min(limit, v < 0 ? -Math.round(-v / scale) : Math.round(v / scale))));
  for (let sweep = 0; sweep < sweeps; sweep++) {
    let changed = false;
    for (let i = 0; i < d; i++) {
      if (i === fixed) continue;
      const f0 = objective(w, q, scale, cov);
      const curvature = scale * scale * cov[i * d + i];
      const tryStep = (step: number) => {
        if (Math.abs(q[i] + step) > limit) return Infinity;
        q[i] += step;
        const f = objective(w, q, scale, cov);
        q[i] -= step;
        return f - f0;
      };
      const up = tryStep(1);
      const down = tryStep(-1);
      if (!(Math.min(up, down) < -1e-9 * curvature)) continue;
      q[i] += up <= down ? 1 : -1;
      changed = true;
    }
    if (!changed) break;
  }
  return q;
}

describe('the incremental coordinate descent', () => {
  it('returns the codes of the from-scratch search and its objective (10 random channels, D = 24..60)', () => {
    const random = seededRandom(17);
    let improved = 0;
    for (let trial = 0; trial < 10; trial++) {
      const d = 24 + 4 * trial;
      const cov = correlatedCovariance(d, 2 + (trial % 5), random);
      const w = Float64Array.from({length: d}, () => (random() * 2 - 1) * 0.3);
      let fixed = 0;
      w.forEach((v, i) => { if (Math.abs(v) > Math.abs(w[fixed])) fixed = i; });
      const scale = Math.abs(w[fixed]) / 127;
      const limit = 127;
      const result = searchChannel(w, scale, cov, {fixed, limit});
      expect(Array.from(result.codes)).toEqual(Array.from(plainSearch(w, scale, cov, limit, fixed, 20)));
      const nearest = Array.from(w, v => (v < 0 ? -Math.round(-v / scale) : Math.round(v / scale)));
      expect(result.errorStart).toBeCloseTo(objective(w, nearest, scale, cov), 12);
      expect(Math.abs(result.errorEnd - objective(w, result.codes, scale, cov))).toBeLessThan(1e-9 * result.errorStart);
      expect(result.errorEnd).toBeLessThanOrEqual(result.errorStart);
      expect(result.codes[fixed]).toBe(nearest[fixed]);
      if (result.errorEnd < 0.5 * result.errorStart) improved++;
    }
    // Correlated inputs: the search halves the error on most channels.
    expect(improved).toBeGreaterThanOrEqual(8);
  });

  it('keeps codes within ±limit', () => {
    const random = seededRandom(4);
    const d = 30;
    const cov = correlatedCovariance(d, 2, random);
    const w = Float64Array.from({length: d}, () => random() * 2 - 1);
    const scale = Math.max(...w.map(Math.abs)) / 127;
    const {codes} = searchChannel(w, scale, cov, {limit: 100});
    for (const q of codes) expect(Math.abs(q)).toBeLessThanOrEqual(100);
  });
});

/** Smooth images [1, size, size, 3] (a few low-frequency waves + a little noise): neighbouring patches alike, as in photos. */
function smoothImages(count: number, size: number, seed: number): tf.Tensor4D[] {
  const random = seededRandom(seed);
  return Array.from({length: count}, () => {
    const waves = Array.from({length: 4}, () => ({fy: random() * 0.4, fx: random() * 0.4, phase: random() * 6.28, amp: random(), tint: [random(), random(), random()]}));
    const values = new Float32Array(size * size * 3);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) {
          let v = 0.05 * (random() * 2 - 1);
          for (const wv of waves) v += wv.amp * wv.tint[c] * Math.sin(wv.fy * y + wv.fx * x + wv.phase);
          values[(y * size + x) * 3 + c] = v;
        }
      }
    }
    return tf.tensor4d(values, [1, size, size, 3]);
  });
}

/** x [1,48,48,3] → 3×3 conv (8 channels) + bias + relu 'c1' → two 1×1 convs 'a', 'b' (same patches) → add 'out'. */
function syntheticLayer(): ModelGraph {
  const g = new TestGraph(29);
  const x = g.input('x', [1, 48, 48, 3]);
  const c1 = g.op('c1/bias', 'BiasAdd', [g.conv('c1/conv', x, [3, 3, 3, 8]), g.const('c1/b', [8], undefined, 0.1)]);
  const r = g.op('c1', 'Relu', [c1]);
  const a = g.op('a', 'BiasAdd', [g.conv('a/conv', r, [1, 1, 8, 4]), g.const('a/b', [4], undefined, 0.1)]);
  const b = g.op('b', 'BiasAdd', [g.conv('b/conv', r, [1, 1, 8, 4]), g.const('b/b', [4], undefined, 0.1)]);
  g.op('out', 'AddV2', [a, b]);
  return g.build();
}

function filterOf(graph: ModelGraph, name: string) {
  const node = nodeMap(graph.nodes).get(name) as NodeDef;
  return graph.weights[parseInputRef((node.input ?? [])[1]).node];
}

describe('roundWeights: thinned and shared patches', () => {
  let folded: ModelGraph;
  let samples: Array<{x: tf.Tensor4D}>;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    folded = foldGraph(syntheticLayer());
    samples = smoothImages(4, 48, 3).map(x => ({x}));
  });

  /** c1's error eᵀΣe (all channels, the codes the pass gives its filter) under the covariance of all patches. */
  function trueError(graph: ModelGraph, full: Moments): number {
    const original = filterOf(folded, 'c1');
    const filter = filterOf(graph, 'c1');
    const q = quantizeFilter('_FusedConv2D', filter, true, false, 'c1');
    const d = full.dim;
    const mean = full.sum[0].map(v => v / full.count);
    const cov = full.gram[0].map((v, i) => v / full.count - mean[Math.floor(i / d)] * mean[i % d]);
    const out = filter.shape[3];
    let total = 0;
    for (let o = 0; o < out; o++) {
      // Filter element of patch index t (= channel·K + tap) of channel o: [tap, channel, o].
      const w = Float64Array.from({length: d}, (_, t) => original.values[((t % 9) * 3 + Math.floor(t / 9)) * out + o]);
      const codes = Float64Array.from({length: d}, (_, t) => q.codes[((t % 9) * 3 + Math.floor(t / 9)) * out + o]);
      total += objective(w, codes, q.scales[o], cov);
    }
    return total;
  }

  it('thinning c1 (2304 positions, D = 27) to 8 patches per dimension stays within 10% of the full-data error', () => {
    const node = nodeMap(folded.nodes).get('c1') as NodeDef;
    let full: Moments | undefined;
    for (const {x} of samples) {
      const m = layerMoments(node, [3, 3, 3, 8], x);
      if (full === undefined) full = m;
      else {
        m.gram[0].forEach((v, i) => { full!.gram[0][i] += v; });
        m.sum[0].forEach((v, i) => { full!.sum[0][i] += v; });
        full.count += m.count;
      }
    }
    const include = (name: string) => name === 'c1';
    const all = roundWeights(folded, samples, {include, maxGramMacs: Infinity});
    // 8·27 = 216 patches of 27² multiply-adds: 4 × 2304 patches thinned with a row stride of 43.
    const thinned = roundWeights(folded, samples, {include, maxGramMacs: 216 * 27 * 27});
    const nearest = trueError(folded, full!);
    const errorAll = trueError(all.graph, full!);
    const errorThinned = trueError(thinned.graph, full!);
    expect(thinned.graph.weights).not.toEqual(all.graph.weights);
    expect(errorAll).toBeLessThan(0.8 * nearest);
    expect(errorThinned).toBeLessThan(1.1 * errorAll);
    expect(errorThinned).toBeLessThan(0.8 * nearest);
  });

  it('within the default budget (2^37 multiply-adds) a layer keeps all its patches', () => {
    const byDefault = roundWeights(folded, samples, {include: name => name === 'c1'});
    const all = roundWeights(folded, samples, {include: name => name === 'c1', maxGramMacs: Infinity});
    expect(Array.from(filterOf(byDefault.graph, 'c1').values)).toEqual(Array.from(filterOf(all.graph, 'c1').values));
    expect(byDefault.layers[0].errorRounded).toBeLessThan(0.8 * byDefault.layers[0].errorNearest);
  });

  it('layers reading the same patches (a, b) get what they get when rounded alone', () => {
    const both = roundWeights(folded, samples, {include: name => name === 'a' || name === 'b'});
    expect(both.layers.map(l => l.name)).toEqual(['a', 'b']);
    for (const name of ['a', 'b']) {
      const alone = roundWeights(folded, samples, {include: n => n === name});
      expect(Array.from(filterOf(both.graph, name).values)).toEqual(Array.from(filterOf(alone.graph, name).values));
      expect(both.layers.find(l => l.name === name)!.errorRounded).toBeCloseTo(alone.layers[0].errorRounded, 12);
    }
  });
});

describe('the search from a float32 starting gradient (what roundWeights gives it)', () => {
  it('chooses the codes of the float64 start on 10 random channels (D = 100..280)', () => {
    const random = seededRandom(23);
    for (let trial = 0; trial < 10; trial++) {
      const d = 100 + 20 * trial;
      const cov = correlatedCovariance(d, 3 + trial, random);
      const w = Float64Array.from({length: d}, () => (random() * 2 - 1) * 0.2);
      let fixed = 0;
      w.forEach((v, i) => { if (Math.abs(v) > Math.abs(w[fixed])) fixed = i; });
      const scale = Math.abs(w[fixed]) / 127;
      const exact = searchChannel(w, scale, cov, {fixed});
      // Σe in float32 throughout, as tf.matMul computes it.
      const e = Float32Array.from(w, v => (v < 0 ? -Math.round(-v / scale) : Math.round(v / scale)) * scale - v);
      const gradient = Float32Array.from({length: d}, (_, i) => {
        let acc = Math.fround(0);
        for (let j = 0; j < d; j++) acc = Math.fround(acc + Math.fround(Math.fround(cov[i * d + j]) * e[j]));
        return acc;
      });
      const fromFloat32 = searchChannel(w, scale, cov, {fixed, gradient});
      expect(Array.from(fromFloat32.codes)).toEqual(Array.from(exact.codes));
      expect(Math.abs(fromFloat32.errorStart - exact.errorStart)).toBeLessThan(1e-4 * exact.errorStart);
      expect(Math.abs(fromFloat32.errorEnd - exact.errorEnd)).toBeLessThan(1e-4 * exact.errorStart);
    }
  });
});
