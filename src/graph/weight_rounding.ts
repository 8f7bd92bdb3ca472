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
//
// Cost, per layer of patch width D (= kh·kw·Cin) and C output channels: the moments Σ p pᵀ are
// tf.matMul products on the active backend (float32 per sample, summed in float64), M·D²
// multiply-adds per sample of M patches, at most maxGramMacs over all samples (a deterministic
// row stride beyond that), computed once for all layers that read the same patches (Inception's
// 1×1 branches); the search starts from Σe of all channels (one D²·C tf.matMul), then costs D
// per code change and ≤ maxSweeps·D O(1) tests per channel.

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
  /**
   * At most this many multiply-adds for one layer's Σ p pᵀ over all samples (default 2^37 ≈ 1.4e11,
   * ~11 s of wasm matMul): beyond, every stride-th patch of each sample is used. None of the four
   * tested models reaches it (largest: InceptionV3's 3×3 80→192 at 71×71, 8.4e10 with 32 photos);
   * it bounds larger inputs or calibration sets. A budget in patches per dimension instead (256·D)
   * thinned the cheap first layers and cost 0.5–0.7 dB (MobileNetV2, InceptionV3): their Σ is nearly
   * singular, and its small directions, where the search puts the error, need many patches.
   */
  maxGramMacs?: number;
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
  /** Layers with the same key read the same patches (and so share their moments). */
  patchKey: string;
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
      layers.push({node, input, patchKey: `${input}|matmul|${filter.shape[0]}`, filterName, biasName, shape: filter.shape,
        kind: 'matmul', outChannels: filter.shape[1]});
    } else {
      if (filter.shape.length !== 4 || getStringAttr(node, 'data_format', 'NHWC').toUpperCase() !== 'NHWC') continue;
      const depthwise = node.op === 'FusedDepthwiseConv2dNative';
      // A depthwise filter with channel multiplier > 1 has one scale for the whole filter (weight_quant.ts).
      if (depthwise && filter.shape[3] !== 1) continue;
      const kind = depthwise ? 'depthwise' : 'conv';
      const geometry = [getIntListAttr(node, 'strides', [1, 1, 1, 1]), getIntListAttr(node, 'dilations', [1, 1, 1, 1]),
        getStringAttr(node, 'padding', 'VALID').toUpperCase(), getIntListAttr(node, 'explicit_paddings', [])].join(';');
      layers.push({node, input, patchKey: `${input}|${kind}|${filter.shape.slice(0, 3).join('x')}|${geometry}`, filterName, biasName,
        shape: filter.shape, kind, outChannels: depthwise ? filter.shape[2] : filter.shape[3]});
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
export interface Moments {
  gram: Float64Array[];
  sum: Float64Array[];
  count: number;
  dim: number;
}

/** The patches a layer reads from its input x: [M, C, K] (matmul: [M, 1, Cin]). */
function layerPatches(kind: Kind, node: NodeDef, filterShape: number[], x: tf.Tensor): tf.Tensor3D {
  return kind === 'matmul' ? tf.reshape(x, [-1, 1, x.shape[x.rank - 1]])
    : patches(node, x as tf.Tensor4D, filterShape[0], filterShape[1]);
}

/**
 * Adds the moments of patches p [M, C, K] (rows offset, offset + stride, ...) to `moments`.
 * Σ p pᵀ is a tf.matMul on the active backend (float32 within one sample), summed in float64.
 */
function addMoments(kind: Kind, p: tf.Tensor3D, stride: number, offset: number, moments: Moments | undefined): Moments {
  const [gramT, sumT] = tf.tidy((): [tf.Tensor, tf.Tensor] => {
    const [rows, c, k] = p.shape;
    const picked = stride > 1 ? tf.stridedSlice(p, [offset, 0, 0], [rows, c, k], [stride, 1, 1]) as tf.Tensor3D : p;
    const m = picked.shape[0];
    // (explicit transposes: matMul with transposeA is ~15× slower on wasm)
    if (kind === 'depthwise') {
      const t = tf.transpose(picked, [1, 0, 2]); // [C, M, K]
      return [tf.matMul(tf.transpose(t, [0, 2, 1]), t), tf.sum(picked, 0)];
    }
    const flat = tf.reshape(picked, [m, c * k]);
    return [tf.matMul(tf.transpose(flat), flat), tf.sum(flat, 0)];
  });
  // (read outside tf.tidy: tidy walks every element of a returned typed array — seconds for a 4032² Gram)
  const gram = gramT.dataSync() as Float32Array;
  const sum = sumT.dataSync() as Float32Array;
  const m = stride > 1 ? Math.ceil((p.shape[0] - offset) / stride) : p.shape[0];
  tf.dispose([gramT, sumT]);
  const groups = kind === 'depthwise' ? p.shape[1] : 1;
  const dim = sum.length / groups;
  const acc = moments ?? {
    gram: Array.from({length: groups}, () => new Float64Array(dim * dim)),
    sum: Array.from({length: groups}, () => new Float64Array(dim)), count: 0, dim,
  };
  for (let g = 0; g < groups; g++) {
    const gg = acc.gram[g];
    const gs = acc.sum[g];
    const base = g * dim * dim;
    for (let i = 0; i < dim * dim; i++) gg[i] += gram[base + i];
    for (let i = 0; i < dim; i++) gs[i] += sum[g * dim + i];
  }
  acc.count += m;
  return acc;
}

/** The row stride that keeps rows·samples patches at macsPerRow each within maxMacs. */
function patchStride(rows: number, samples: number, macsPerRow: number, maxMacs: number): number {
  return Math.max(1, Math.ceil(rows * samples * macsPerRow / maxMacs));
}

export interface LayerMomentsOptions {
  /** Take every stride-th patch row (default 1). */
  stride?: number;
  /** The first row taken (default 0). */
  offset?: number;
}

/**
 * The patch moments one sample gives a fused conv/depthwise/matmul node with filter shape
 * `filterShape` reading x (what roundWeights accumulates; exposed for tests).
 */
export function layerMoments(node: NodeDef, filterShape: number[], x: tf.Tensor, options: LayerMomentsOptions = {}): Moments {
  const kind: Kind = node.op === '_FusedMatMul' ? 'matmul' : node.op === 'FusedDepthwiseConv2dNative' ? 'depthwise' : 'conv';
  const p = layerPatches(kind, node, filterShape, x);
  try {
    return addMoments(kind, p, options.stride ?? 1, options.offset ?? 0, undefined);
  } finally {
    p.dispose();
  }
}

function covarianceOf(gram: Float64Array, sum: Float64Array, count: number): {cov: Float64Array; mean: Float64Array} {
  const d = sum.length;
  const mean = sum.map(v => v / count);
  const cov = new Float64Array(d * d);
  // Symmetric exactly (the search reads rows for columns).
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      const v = (gram[i * d + j] + gram[j * d + i]) / (2 * count) - mean[i] * mean[j];
      cov[i * d + j] = v;
      cov[j * d + i] = v;
    }
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
  /** Σe for the starting codes, if known (else computed here in float64, D² multiply-adds). */
  gradient?: ArrayLike<number>;
}

/** The chosen codes and eᵀΣe before (the starting codes) and after. */
export interface ChannelSearch {
  codes: Int32Array;
  errorStart: number;
  errorEnd: number;
}

/**
 * The codes minimizing eᵀΣe, e = scale·q − w, by coordinate descent with ±1 steps from the
 * starting codes (each step taken when it lowers the objective). Σ must be symmetric.
 */
export function roundChannel(w: ArrayLike<number>, scale: number, cov: Float64Array, options: RoundChannelOptions = {}): Int32Array {
  return searchChannel(w, scale, cov, options).codes;
}

/**
 * roundChannel, with its objective. Incremental: g = Σe costs D² once, then each coordinate test
 * is O(1) and each accepted step updates g in O(D) (a row of Σ).
 */
export function searchChannel(w: ArrayLike<number>, scale: number, cov: Float64Array, options: RoundChannelOptions = {}): ChannelSearch {
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
  let errorStart = 0;
  for (let i = 0; i < d; i++) {
    let acc = 0;
    if (options.gradient !== undefined) acc = options.gradient[i];
    else {
      const row = i * d;
      for (let j = 0; j < d; j++) acc += cov[row + j] * e[j];
    }
    g[i] = acc;
    errorStart += e[i] * acc;
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
      const row = i * d;
      const delta = step * scale;
      for (let j = 0; j < d; j++) g[j] += delta * cov[row + j];
      changed = true;
    }
    if (!changed) break;
  }
  let errorEnd = 0;
  for (let i = 0; i < d; i++) errorEnd += e[i] * g[i];
  return {codes: q, errorStart, errorEnd};
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
  const maxMacs = options.maxGramMacs ?? 2 ** 37;
  const inputs = [...new Set(layers.map(l => l.input))];
  // One entry per distinct patch set; its first layer stands for all.
  const groups = new Map<string, {layer: Layer; stride: number; moments?: Moments}>();
  for (const layer of layers) if (!groups.has(layer.patchKey)) groups.set(layer.patchKey, {layer, stride: 1});
  const moments = new Map<string, Moments>();
  const dropped = new Set<string>();
  const model = graphModelOf(graph);
  try {
    samples.forEach((sample, index) => {
      const out = model.execute(sample, inputs.slice());
      const list = Array.isArray(out) ? out : [out];
      try {
        const byInput = new Map(inputs.map((name, i) => [name, list[i]]));
        for (const [key, group] of groups) {
          if (dropped.has(key)) continue;
          const {layer} = group;
          const p = layerPatches(layer.kind, layer.node, layer.shape, byInput.get(layer.input) as tf.Tensor);
          try {
            const [rows, c, k] = p.shape;
            if (index === 0) {
              if (layer.kind !== 'depthwise' && rows * samples.length < minPerDim * c * k) {
                for (const l of layers) {
                  if (l.patchKey === key) skipped.push({name: l.node.name, reason: `${rows * samples.length} patches for a ${c * k}-dimensional patch`});
                }
                dropped.add(key);
                continue;
              }
              group.stride = patchStride(rows, samples.length, layer.kind === 'depthwise' ? c * k * k : (c * k) ** 2, maxMacs);
            }
            // A different phase per sample, so thinned layers do not always see the same positions.
            group.moments = addMoments(layer.kind, p, group.stride, (index * 7) % group.stride, group.moments);
          } finally {
            p.dispose();
          }
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
  for (const layer of layers) {
    const m = groups.get(layer.patchKey)?.moments;
    if (m !== undefined && !dropped.has(layer.patchKey)) moments.set(layer.node.name, m);
  }
  // A conv/matmul covariance is computed once per patch set, and dropped after its last layer.
  const left = new Map<string, number>();
  for (const layer of layers) left.set(layer.patchKey, (left.get(layer.patchKey) ?? 0) + 1);
  const covariances = new Map<string, {cov: Float64Array; mean: Float64Array}>();

  const edit = new GraphEdit(graph);
  const rounded: RoundedLayer[] = [];
  for (const layer of layers) {
    const m = moments.get(layer.node.name);
    if (m === undefined) continue;
    moments.delete(layer.node.name);
    const remaining = (left.get(layer.patchKey) ?? 1) - 1;
    left.set(layer.patchKey, remaining);
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
    let shared = covariances.get(layer.patchKey);
    if (shared === undefined && layer.kind !== 'depthwise') {
      shared = covarianceOf(m.gram[0], m.sum[0], m.count);
      if (remaining > 0) covariances.set(layer.patchKey, shared);
    }
    if (remaining === 0) covariances.delete(layer.patchKey);
    // Each channel's weights, starting codes (nearest, within ±limit) and kept index.
    const channels = Array.from({length: out}, (_, o) => {
      const d = shared?.mean.length ?? m.dim;
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
      if (maxAbs === 0 || !(scale > 0)) return undefined;
      // No other value may outgrow the largest (that would move the scale).
      const limit = Math.min(127, Math.floor(maxAbs / scale));
      const begin = start.map((v, t) => (t === top ? v : Math.max(-limit, Math.min(limit, v))));
      return {w, start, begin, top, scale, limit};
    });
    // Σe of every channel's starting codes at once: one float32 tf.matMul [D, D]·[D, C] instead of
    // C·D² float64 multiply-adds in JS (Σ itself comes from a float32 Gram).
    let gradients: Float32Array | undefined;
    if (shared !== undefined) {
      const d = shared.mean.length;
      const errors = new Float32Array(d * out);
      channels.forEach((c, o) => {
        if (c !== undefined) for (let t = 0; t < d; t++) errors[t * out + o] = c.begin[t] * c.scale - c.w[t];
      });
      const product = tf.tidy(() => tf.matMul(tf.tensor2d(Float32Array.from(shared!.cov), [d, d]), tf.tensor2d(errors, [d, out])));
      gradients = product.dataSync() as Float32Array;
      product.dispose();
    }
    let errorNearest = 0;
    let errorRounded = 0;
    for (let o = 0; o < out; o++) {
      const c = channels[o];
      if (c === undefined) continue;
      const {cov, mean} = shared ?? covarianceOf(m.gram[o], m.sum[o], m.count);
      const {w, start, begin, top, scale, limit} = c;
      const d = mean.length;
      const gradient = gradients === undefined ? undefined : Float64Array.from({length: d}, (_, t) => gradients![t * out + o]);
      const {codes: q, errorStart, errorEnd} = searchChannel(w, scale, cov, {start: begin, fixed: top, limit, maxSweeps: options.maxSweeps, gradient});
      let shift = 0;
      let clamped = false;
      for (let t = 0; t < d; t++) {
        values[indexOf(o, t)] = t === top ? w[t] : q[t] * scale;
        shift += (q[t] * scale - w[t]) * mean[t];
        clamped ||= begin[t] !== start[t];
      }
      newBias[o] -= shift;
      errorNearest += clamped ? quadratic(Float64Array.from(start, (v, t) => v * scale - w[t]), cov) : errorStart;
      errorRounded += errorEnd;
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
