// Data-aware weight rounding (the objective of AdaRound, Nagel et al. 2020, arXiv 2004.10568,
// solved differently): per output channel of each quantized conv/matmul, the int8 codes q on
// the same grid as round-to-nearest (the per-channel scale s of weight_quant.ts, symmetric) that
// minimize the layer's output error on the calibration data,
//   E[((s·q − w) · (p − E[p]))²] = eᵀ Σ e,   e = s·q − w,
// p the input patch that output channel reads (padding included), Σ its covariance. The mean
// part of the error, e · E[p], goes into the bias (bias correction for this layer). Search:
// coordinate descent with ±1 code steps from round-to-nearest; the largest |w| keeps its code
// so the scale does not move (the scales are weight_quant.ts's own, float16-stored ones: the grid
// is the one the pass uses). The filter is then replaced by s·q — values already on that grid —
// so the pass's own rounding gives exactly q, and bias correction (bias_correction.ts) finds
// nothing left to correct for these layers.
//
// Inputs are the float model's (measured once, before calibration). Layers whose patch has more
// dimensions than a quarter of the patches calibration gives (a classifier's dense layers: one
// row per image) keep round-to-nearest: their covariance is not estimated well enough.

import * as tf from '@tensorflow/tfjs-core';

import {graphModelOf} from './calibrate';
import {getBoolAttr, getIntListAttr, getStringAttr, NodeDef, parseInputRef} from './graph_def';
import {GraphEdit} from './graph_edit';
import {isFusedCompute, perChannelValues} from './fold';
import {ModelGraph, nodeMap} from './model_graph';
import {withFilterAndBias} from './equalize';
import {FusedComputeOp} from './op_catalog';
import {quantizeFilter} from './weight_quant';

export interface WeightRoundingOptions {
  /** Which fused conv/matmul nodes to round (default all): the quantized ones. */
  include?: (name: string) => boolean;
  /** Minimum patches per patch dimension for a conv/matmul (default 4). */
  minSamplesPerDim?: number;
  /** Coordinate-descent sweeps per channel (default 20). */
  maxSweeps?: number;
  /** Called after each calibration sample. */
  onSample?: () => void;
}

/** What happened to one layer. */
export interface RoundedLayer {
  name: string;
  /** Σ eᵀΣe over the channels with round-to-nearest and with the chosen codes. */
  errorNearest: number;
  errorRounded: number;
}

export interface WeightRoundingResult {
  graph: ModelGraph;
  layers: RoundedLayer[];
  /** Layers left at round-to-nearest, with the reason. */
  skipped: Array<{name: string; reason: string}>;
}

type Kind = 'conv' | 'depthwise' | 'matmul';

interface Layer {
  node: NodeDef;
  input: string;
  filterName: string;
  biasName: string;
  shape: number[];
  kind: Kind;
  outChannels: number;
}

function roundableLayers(graph: ModelGraph, include: (name: string) => boolean): Layer[] {
  const byName = nodeMap(graph.nodes);
  const layers: Layer[] = [];
  for (const node of graph.nodes) {
    if (!isFusedCompute(node) || !include(node.name)) continue;
    const refs = (node.input ?? []).filter(r => !r.startsWith('^'));
    if (refs.length < 3 || parseInputRef(refs[0]).outputIndex !== 0) continue;
    const filterName = parseInputRef(refs[1]).node;
    const biasName = parseInputRef(refs[2]).node;
    const filter = graph.weights[filterName];
    if (byName.get(filterName)?.op !== 'Const' || filter?.dtype !== 'float32') continue;
    if (byName.get(biasName)?.op !== 'Const' || graph.weights[biasName]?.dtype !== 'float32') continue;
    const input = parseInputRef(refs[0]).node;
    if (node.op === '_FusedMatMul') {
      if (getBoolAttr(node, 'transpose_a') || getBoolAttr(node, 'transpose_b') || filter.shape.length !== 2) continue;
      layers.push({node, input, filterName, biasName, shape: filter.shape, kind: 'matmul', outChannels: filter.shape[1]});
    } else {
      if (filter.shape.length !== 4 || getStringAttr(node, 'data_format', 'NHWC').toUpperCase() !== 'NHWC') continue;
      const depthwise = node.op === 'FusedDepthwiseConv2dNative';
      // A depthwise filter with channel multiplier > 1 has one scale for the whole filter (weight_quant.ts).
      if (depthwise && filter.shape[3] !== 1) continue;
      layers.push({node, input, filterName, biasName, shape: filter.shape, kind: depthwise ? 'depthwise' : 'conv',
        outChannels: depthwise ? filter.shape[2] : filter.shape[3]});
    }
  }
  return layers;
}

/** The patches a conv reads, [M, C, K] (K = kh·kw taps of input channel c), padding and strides as the conv. */
function patches(node: NodeDef, x: tf.Tensor4D, kh: number, kw: number): tf.Tensor3D {
  return tf.tidy(() => {
    const c = x.shape[3];
    const strides = getIntListAttr(node, 'strides', [1, 1, 1, 1]);
    const dilations = getIntListAttr(node, 'dilations', [1, 1, 1, 1]);
    const padding = getStringAttr(node, 'padding', 'VALID').toUpperCase();
    const k = kh * kw;
    if (k === 1 && padding !== 'EXPLICIT') {
      const picked = strides[1] === 1 && strides[2] === 1 ? x : tf.stridedSlice(x, [0, 0, 0, 0], x.shape, [1, strides[1], strides[2], 1]);
      return tf.reshape(picked, [-1, c, 1]);
    }
    let input: tf.Tensor4D = x;
    let pad: 'same' | 'valid' = padding === 'SAME' ? 'same' : 'valid';
    if (padding === 'EXPLICIT') {
      const e = getIntListAttr(node, 'explicit_paddings');
      input = tf.pad(x, [[e[0], e[1]], [e[2], e[3]], [e[4], e[5]], [e[6], e[7]]]);
      pad = 'valid';
    }
    // A depthwise conv with one-hot filters copies tap t of channel ch to output channel ch·K + t.
    const onehot = new Float32Array(kh * kw * c * k);
    for (let tap = 0; tap < k; tap++) {
      for (let ch = 0; ch < c; ch++) onehot[(tap * c + ch) * k + tap] = 1;
    }
    const y = tf.depthwiseConv2d(input, tf.tensor4d(onehot, [kh, kw, c, k]), [strides[1], strides[2]], pad, 'NHWC',
        [dilations[1], dilations[2]]);
    return tf.reshape(y, [-1, c, k]);
  });
}

/** Running Σ p pᵀ and Σ p: one [D, D] for conv/matmul, one [K, K] per channel for depthwise. */
interface Moments {
  gram: Float64Array[];
  sum: Float64Array[];
  count: number;
  dim: number;
}

function accumulate(layer: Layer, x: tf.Tensor, moments: Moments | undefined): Moments {
  // (explicit transposes: matMul with transposeA is ~20× slower on wasm)
  const [gram, sum, m] = tf.tidy((): [Float32Array, Float32Array, number] => {
    const p = layer.kind === 'matmul' ? tf.reshape(x, [-1, 1, x.shape[x.rank - 1]]) as tf.Tensor3D
      : patches(layer.node, x as tf.Tensor4D, layer.shape[0], layer.shape[1]);
    const [rows, c, k] = p.shape;
    if (layer.kind === 'depthwise') {
      const t = tf.transpose(p, [1, 0, 2]); // [C, M, K]
      return [tf.matMul(tf.transpose(t, [0, 2, 1]), t).dataSync() as Float32Array, tf.sum(p, 0).dataSync() as Float32Array, rows];
    }
    const flat = tf.reshape(p, [rows, c * k]);
    return [tf.matMul(tf.transpose(flat), flat).dataSync() as Float32Array, tf.sum(flat, 0).dataSync() as Float32Array, rows];
  });
  const groups = layer.kind === 'depthwise' ? layer.shape[2] : 1;
  const dim = sum.length / groups;
  const acc = moments ?? {
    gram: Array.from({length: groups}, () => new Float64Array(dim * dim)),
    sum: Array.from({length: groups}, () => new Float64Array(dim)), count: 0, dim,
  };
  for (let g = 0; g < groups; g++) {
    const gg = acc.gram[g];
    const gs = acc.sum[g];
    for (let i = 0; i < dim * dim; i++) gg[i] += gram[g * dim * dim + i];
    for (let i = 0; i < dim; i++) gs[i] += sum[g * dim + i];
  }
  acc.count += m;
  return acc;
}

function covarianceOf(gram: Float64Array, sum: Float64Array, count: number): {cov: Float64Array; mean: Float64Array} {
  const d = sum.length;
  const mean = sum.map(v => v / count);
  const cov = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) cov[i * d + j] = gram[i * d + j] / count - mean[i] * mean[j];
  }
  return {cov, mean};
}

function quadratic(e: Float64Array, cov: Float64Array): number {
  const d = e.length;
  let f = 0;
  for (let i = 0; i < d; i++) {
    let acc = 0;
    for (let j = 0; j < d; j++) acc += cov[i * d + j] * e[j];
    f += e[i] * acc;
  }
  return f;
}

function roundHalfAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

export interface RoundChannelOptions {
  /** Starting codes (default round-to-nearest, half away from zero). */
  start?: ArrayLike<number>;
  /** An index whose code stays as it starts (the largest |w|: it sets the scale). */
  fixed?: number;
  /** Codes stay within ±limit (default 127). */
  limit?: number;
  /** Coordinate-descent sweeps (default 20). */
  maxSweeps?: number;
}

/**
 * The codes minimizing eᵀΣe, e = scale·q − w, by coordinate descent with ±1 steps from the
 * starting codes (each step taken when it lowers the objective).
 */
export function roundChannel(w: ArrayLike<number>, scale: number, cov: Float64Array, options: RoundChannelOptions = {}): Int32Array {
  const d = w.length;
  const limit = options.limit ?? 127;
  const fixed = options.fixed ?? -1;
  const q = new Int32Array(d);
  const e = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    q[i] = options.start !== undefined ? options.start[i] : Math.max(-limit, Math.min(limit, roundHalfAway(w[i] / scale)));
    e[i] = q[i] * scale - w[i];
  }
  const g = new Float64Array(d); // Σ e
  for (let i = 0; i < d; i++) {
    let acc = 0;
    for (let j = 0; j < d; j++) acc += cov[i * d + j] * e[j];
    g[i] = acc;
  }
  const sweeps = options.maxSweeps ?? 20;
  for (let sweep = 0; sweep < sweeps; sweep++) {
    let changed = false;
    for (let i = 0; i < d; i++) {
      const cii = cov[i * d + i];
      if (i === fixed || !(cii > 0)) continue;
      // f(e + δ·u_i) − f(e) = 2δ·g_i + δ²·Σ_ii, δ = ±scale
      const curvature = scale * scale * cii;
      const up = q[i] < limit ? 2 * scale * g[i] + curvature : Infinity;
      const down = q[i] > -limit ? -2 * scale * g[i] + curvature : Infinity;
      if (!(Math.min(up, down) < -1e-9 * curvature)) continue;
      const step = up <= down ? 1 : -1;
      q[i] += step;
      e[i] += step * scale;
      for (let j = 0; j < d; j++) g[j] += step * scale * cov[j * d + i];
      changed = true;
    }
    if (!changed) break;
  }
  return q;
}

/**
 * Replaces each included conv/depthwise/matmul filter with data-aware rounded values on its int8
 * per-channel grid and corrects its bias (see the header). Node names and topology unchanged.
 */
export function roundWeights(graph: ModelGraph, samples: readonly tf.NamedTensorMap[], options: WeightRoundingOptions = {}): WeightRoundingResult {
  const layers = roundableLayers(graph, options.include ?? (() => true));
  const skipped: Array<{name: string; reason: string}> = [];
  if (layers.length === 0 || samples.length === 0) return {graph, layers: [], skipped};
  const minPerDim = options.minSamplesPerDim ?? 4;
  const inputs = [...new Set(layers.map(l => l.input))];
  const moments = new Map<string, Moments>();
  const dropped = new Set<string>();
  const model = graphModelOf(graph);
  try {
    samples.forEach((sample, index) => {
      const out = model.execute(sample, inputs.slice());
      const list = Array.isArray(out) ? out : [out];
      try {
        const byInput = new Map(inputs.map((name, i) => [name, list[i]]));
        for (const layer of layers) {
          if (dropped.has(layer.node.name)) continue;
          const m = accumulate(layer, byInput.get(layer.input) as tf.Tensor, moments.get(layer.node.name));
          if (index === 0 && layer.kind !== 'depthwise' && m.count * samples.length < minPerDim * m.dim) {
            skipped.push({name: layer.node.name, reason: `${m.count * samples.length} patches for a ${m.dim}-dimensional patch`});
            dropped.add(layer.node.name);
            continue;
          }
          moments.set(layer.node.name, m);
        }
      } finally {
        const fed = new Set(Object.values(sample));
        tf.dispose(list.filter(t => !fed.has(t)));
      }
      options.onSample?.();
    });
  } finally {
    model.dispose();
  }

  const edit = new GraphEdit(graph);
  const rounded: RoundedLayer[] = [];
  for (const layer of layers) {
    const m = moments.get(layer.node.name);
    if (m === undefined) continue;
    const filter = graph.weights[layer.filterName];
    const bias = perChannelValues(graph.weights[layer.biasName], layer.outChannels);
    if (bias === undefined) {
      skipped.push({name: layer.node.name, reason: 'bias is not per channel'});
      continue;
    }
    const values = Float32Array.from(filter.values);
    const newBias = Float64Array.from(bias);
    const k = layer.kind === 'matmul' ? 1 : layer.shape[0] * layer.shape[1];
    const cin = layer.kind === 'matmul' ? layer.shape[0] : layer.shape[2];
    const out = layer.outChannels;
    // Filter index of patch element t (= channel·K + tap) of output channel o.
    const indexOf = layer.kind === 'matmul' ? (o: number, t: number) => t * out + o
      : layer.kind === 'depthwise' ? (o: number, t: number) => t * cin + o
        : (o: number, t: number) => ((t % k) * cin + Math.floor(t / k)) * out + o;
    // The scales and codes the pass itself gives this filter (weight_quant.ts): the same grid,
    // as long as each channel keeps its largest |w| (the scales depend on those only).
    const nearest = quantizeFilter(layer.node.op as FusedComputeOp, filter, true, false, layer.node.name);
    if (nearest.axis < 0) {
      skipped.push({name: layer.node.name, reason: 'one scale for the whole filter'});
      continue;
    }
    const shared = layer.kind === 'depthwise' ? undefined : covarianceOf(m.gram[0], m.sum[0], m.count);
    let errorNearest = 0;
    let errorRounded = 0;
    for (let o = 0; o < out; o++) {
      const {cov, mean} = shared ?? covarianceOf(m.gram[o], m.sum[o], m.count);
      const d = mean.length;
      const w = new Float64Array(d);
      const start = new Int32Array(d);
      let top = 0;
      for (let t = 0; t < d; t++) {
        w[t] = filter.values[indexOf(o, t)];
        start[t] = nearest.codes[indexOf(o, t)];
        if (Math.abs(w[t]) > Math.abs(w[top])) top = t;
      }
      const maxAbs = Math.abs(w[top]);
      const scale = nearest.scales[o];
      if (maxAbs === 0 || !(scale > 0)) continue;
      // No other value may outgrow the largest (that would move the scale).
      const limit = Math.min(127, Math.floor(maxAbs / scale));
      const begin = start.map((v, t) => (t === top ? v : Math.max(-limit, Math.min(limit, v))));
      const q = roundChannel(w, scale, cov, {start: begin, fixed: top, limit, maxSweeps: options.maxSweeps});
      const e = new Float64Array(d);
      const e0 = new Float64Array(d);
      let shift = 0;
      for (let t = 0; t < d; t++) {
        e[t] = q[t] * scale - w[t];
        e0[t] = start[t] * scale - w[t];
        values[indexOf(o, t)] = t === top ? w[t] : q[t] * scale;
        shift += e[t] * mean[t];
      }
      newBias[o] -= shift;
      errorNearest += quadratic(e0, cov);
      errorRounded += quadratic(e, cov);
    }
    const filterName = edit.freshName(`${layer.node.name}/rounded_filter`);
    const biasName = edit.freshName(`${layer.node.name}/rounded_bias`);
    edit.putConst(filterName, {dtype: 'float32', shape: filter.shape.slice(), values});
    edit.putConst(biasName, {dtype: 'float32', shape: [out], values: Float32Array.from(newBias)});
    edit.put(withFilterAndBias(edit.get(layer.node.name) as NodeDef, filterName, biasName));
    rounded.push({name: layer.node.name, errorNearest, errorRounded});
  }
  return {graph: edit.build(), layers: rounded, skipped};
}
