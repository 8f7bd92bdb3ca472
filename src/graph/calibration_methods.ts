// Calibration methods: from the values an activation took on the calibration
// data to the real range [min, max] its int8 codes should cover. Pure
// functions on running statistics and histograms.
//
//   minmax      the extremes seen
//   ema         exponential moving average (decay 0.9) of each sample's extremes
//   percentile  the 0.01% / 99.99% quantiles (outliers clipped)
//   entropy     the range whose 255-level quantization keeps the histogram closest in KL
//               divergence (TensorRT's calibrator, generalized to asymmetric ranges)
//   mse         the range with the least expected squared error (rounding noise inside,
//               clipping error outside)
// entropy searches thresholds ±T on |x| (as TensorRT); mse searches the seen range shrunk
// toward 0.
// Every candidate range keeps 0 inside (0 must be exactly representable).

export type CalibrationMethod = 'minmax' | 'ema' | 'percentile' | 'entropy' | 'mse';

export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'ema', 'percentile', 'entropy', 'mse'];

export const EMA_DECAY = 0.9;
export const PERCENTILE = 99.99;
export const HISTOGRAM_BINS = 2048;
/** Candidate ranges: [lo·k/256, hi·k/256] for k = 32..256 (no narrower than 1/8 of the seen range). */
const CANDIDATE_STEPS = 256;
const SMALLEST_CANDIDATE = 32;
const LEVELS = 255; // 256 codes = 255 steps

export interface Range {
  min: number;
  max: number;
}

export interface RunningStats {
  min: number;
  max: number;
  emaMin: number;
  emaMax: number;
  samples: number;
}

export function emptyStats(): RunningStats {
  return {min: Infinity, max: -Infinity, emaMin: 0, emaMax: 0, samples: 0};
}

/** Min and max of one sample's values; throws (via `onBad`) on NaN or ±Infinity. */
export function extremesOf(values: ArrayLike<number>, onBad: (index: number, value: number) => never): Range {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= min && v <= max)) {
      if (v !== v || v === Infinity || v === -Infinity) onBad(i, v);
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return {min, max};
}

export function updateStats(stats: RunningStats, sample: Range, decay = EMA_DECAY): RunningStats {
  const first = stats.samples === 0;
  return {
    min: Math.min(stats.min, sample.min),
    max: Math.max(stats.max, sample.max),
    emaMin: first ? sample.min : decay * stats.emaMin + (1 - decay) * sample.min,
    emaMax: first ? sample.max : decay * stats.emaMax + (1 - decay) * sample.max,
    samples: stats.samples + 1,
  };
}

export interface Histogram {
  /** Range covered: [lo, hi], always containing 0. */
  lo: number;
  hi: number;
  counts: Float64Array;
}

/** An empty histogram over [min(lo,0), max(hi,0)]. */
export function emptyHistogram(range: Range, bins = HISTOGRAM_BINS): Histogram {
  return {lo: Math.min(range.min, 0), hi: Math.max(range.max, 0), counts: new Float64Array(bins)};
}

/** Adds values to a histogram in place (the histogram is an accumulator owned by the caller). */
export function accumulateHistogram(histogram: Histogram, values: ArrayLike<number>): void {
  const {lo, hi, counts} = histogram;
  const bins = counts.length;
  if (hi === lo) {
    counts[0] += values.length;
    return;
  }
  const perUnit = bins / (hi - lo);
  for (let i = 0; i < values.length; i++) {
    let b = Math.floor((values[i] - lo) * perUnit);
    if (b < 0) b = 0;
    else if (b >= bins) b = bins - 1;
    counts[b]++;
  }
}

export function rangeMinMax(stats: RunningStats): Range {
  return {min: stats.min, max: stats.max};
}

export function rangeEma(stats: RunningStats): Range {
  return {min: stats.emaMin, max: stats.emaMax};
}

function binWidth(h: Histogram): number {
  return (h.hi - h.lo) / h.counts.length;
}

function total(counts: Float64Array): number {
  let sum = 0;
  for (const c of counts) sum += c;
  return sum;
}

/** The `percentile`% and (100 − `percentile`)% quantiles (bin edges), 0 kept inside. */
export function rangePercentile(h: Histogram, percentile = PERCENTILE): Range {
  const n = total(h.counts);
  if (n === 0 || h.hi === h.lo) return {min: h.lo, max: h.hi};
  const tail = (n * (100 - percentile)) / 100;
  const w = binWidth(h);
  let below = 0;
  let lowBin = 0;
  for (; lowBin < h.counts.length; lowBin++) {
    if (below + h.counts[lowBin] > tail) break;
    below += h.counts[lowBin];
  }
  let above = 0;
  let highBin = h.counts.length - 1;
  for (; highBin >= 0; highBin--) {
    if (above + h.counts[highBin] > tail) break;
    above += h.counts[highBin];
  }
  return {min: Math.min(0, h.lo + lowBin * w), max: Math.max(0, h.lo + (highBin + 1) * w)};
}

/** How the candidate ranges of a search are made from the seen range [lo, hi], for t = k/256, k = 32..256. */
type CandidateFamily = 'shrink' | 'threshold';

/**
 * shrink: the seen range shrunk toward 0, [lo·t, hi·t] (both sides keep their proportion);
 * threshold: the seen range clipped at ±T, T = t·max(|lo|, |hi|) (TensorRT's threshold on |x|,
 * which may clip one side only).
 */
function candidateRanges(h: Histogram, family: CandidateFamily): Range[] {
  const candidates: Range[] = [];
  const magnitude = Math.max(-h.lo, h.hi);
  for (let k = SMALLEST_CANDIDATE; k <= CANDIDATE_STEPS; k++) {
    const t = k / CANDIDATE_STEPS;
    if (family === 'shrink') {
      candidates.push({min: h.lo * t, max: h.hi * t});
    } else {
      const threshold = magnitude * t;
      candidates.push({min: Math.max(h.lo, -threshold), max: Math.min(h.hi, threshold)});
    }
  }
  return candidates.filter(c => c.max > c.min);
}

/** Bins [first, last] whose centers lie inside `range`. */
function binsInside(h: Histogram, range: Range): {first: number; last: number} {
  const w = binWidth(h);
  const first = Math.max(0, Math.ceil((range.min - h.lo) / w - 0.5));
  const last = Math.min(h.counts.length - 1, Math.floor((range.max - h.lo) / w - 0.5));
  return {first, last};
}

/** KL(P‖Q) of the histogram clipped to `range` against its 255-level quantization. */
export function quantizationKlDivergence(h: Histogram, range: Range): number {
  const {first, last} = binsInside(h, range);
  if (last < first) return Infinity;
  const w = binWidth(h);
  const step = (range.max - range.min) / LEVELS;
  const size = last - first + 1;
  // P: in-range counts, with the clipped outliers added to the edge bins.
  const p = h.counts.slice(first, last + 1);
  for (let b = 0; b < first; b++) p[0] += h.counts[b];
  for (let b = last + 1; b < h.counts.length; b++) p[size - 1] += h.counts[b];
  // Q: the in-range counts (without the outliers) merged per quantization level and spread
  // evenly over that level's non-empty bins.
  const levelOf = (b: number): number => Math.round((h.lo + (first + b + 0.5) * w - range.min) / step);
  const levelMass = new Map<number, {mass: number; nonEmpty: number}>();
  for (let b = 0; b < size; b++) {
    const level = levelOf(b);
    const entry = levelMass.get(level) ?? {mass: 0, nonEmpty: 0};
    entry.mass += h.counts[first + b];
    if (p[b] > 0) entry.nonEmpty++;
    levelMass.set(level, entry);
  }
  const q = new Float64Array(size);
  for (let b = 0; b < size; b++) {
    if (p[b] === 0) continue;
    const entry = levelMass.get(levelOf(b)) as {mass: number; nonEmpty: number};
    q[b] = entry.mass / entry.nonEmpty;
  }
  return klDivergence(p, q);
}

/** KL divergence of two unnormalized distributions, with TensorRT-style smoothing of Q's zeros. */
function klDivergence(p: Float64Array, q: Float64Array): number {
  const pSum = total(p);
  let qSum = total(q);
  if (pSum === 0) return 0;
  const epsilon = 1e-4 * (qSum > 0 ? qSum / q.length : 1);
  let zeros = 0;
  for (let i = 0; i < q.length; i++) if (p[i] > 0 && q[i] === 0) zeros++;
  if (zeros > 0) qSum += zeros * epsilon;
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    const pi = p[i] / pSum;
    const qi = (q[i] === 0 ? epsilon : q[i]) / qSum;
    kl += pi * Math.log(pi / qi);
  }
  return kl;
}

/** Expected squared error of quantizing the histogram to `range`: s²/12 inside, clipping distance² outside. */
export function quantizationMse(h: Histogram, range: Range): number {
  const w = binWidth(h);
  const step = (range.max - range.min) / LEVELS;
  let error = 0;
  for (let b = 0; b < h.counts.length; b++) {
    const count = h.counts[b];
    if (count === 0) continue;
    const center = h.lo + (b + 0.5) * w;
    if (center < range.min) error += count * (range.min - center) ** 2;
    else if (center > range.max) error += count * (center - range.max) ** 2;
    else error += (count * step * step) / 12;
  }
  return error;
}

function bestCandidate(h: Histogram, family: CandidateFamily, cost: (h: Histogram, r: Range) => number): Range {
  if (h.hi === h.lo || total(h.counts) === 0) return {min: h.lo, max: h.hi};
  let best = {min: h.lo, max: h.hi};
  let bestCost = Infinity;
  for (const candidate of candidateRanges(h, family)) {
    const c = cost(h, candidate);
    if (c < bestCost) {
      bestCost = c;
      best = candidate;
    }
  }
  return best;
}

/** TensorRT's search: thresholds on |x|. */
export function rangeEntropy(h: Histogram): Range {
  return bestCandidate(h, 'threshold', quantizationKlDivergence);
}

/**
 * The seen range shrunk proportionally. (Searching thresholds too finds ranges with a lower
 * per-tensor MSE that clip one side's tail, which measured worse end to end: movenet 11 dB
 * instead of 21, MobileNetV2 45 instead of 49.)
 */
export function rangeMse(h: Histogram): Range {
  return bestCandidate(h, 'shrink', quantizationMse);
}

export function needsHistogram(method: CalibrationMethod): boolean {
  return method === 'percentile' || method === 'entropy' || method === 'mse';
}

/** The range a method picks from the statistics (and, for the histogram methods, the histogram). */
export function rangeFor(method: CalibrationMethod, stats: RunningStats, histogram?: Histogram): Range {
  switch (method) {
    case 'minmax':
      return rangeMinMax(stats);
    case 'ema':
      return rangeEma(stats);
    case 'percentile':
    case 'entropy':
    case 'mse': {
      if (histogram === undefined) throw new Error(`Calibration method '${method}' needs a histogram.`);
      if (method === 'percentile') return rangePercentile(histogram);
      return method === 'entropy' ? rangeEntropy(histogram) : rangeMse(histogram);
    }
  }
}

export function isCalibrationMethod(value: string): value is CalibrationMethod {
  return (CALIBRATION_METHODS as readonly string[]).includes(value);
}
