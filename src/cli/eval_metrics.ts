// Comparing a quantized model's outputs with the float model's, image by image.

import {accumulateSqnr, cosineSimilarity, sqnrDb, SqnrAccumulator} from '../graph/report';

/** An image whose top-1 class differs between the float and the quantized model. */
export interface Top1Disagreement {
  image: string;
  floatClass: number;
  quantizedClass: number;
  /** The float model's top-1 score minus its second best: how close to a tie the float answer was. */
  floatMargin: number;
}

export interface OutputMetrics {
  sqnrDb: number | null;
  cosine: number;
  /** Fraction of images with the same arg-max (class-vector outputs only). */
  top1Agreement?: number;
  /** The images behind a top-1 agreement below 1, smallest float margin first (class-vector outputs only). */
  disagreements?: Top1Disagreement[];
}

export interface EvalResult {
  images: number;
  top1Agreement: number | null;
  sqnrDb: number | null;
  cosine: number;
  perOutput: Record<string, OutputMetrics>;
}

/** A class vector: [C] or [1, C] with C ≥ 2. */
export function isClassVector(shape: readonly number[]): boolean {
  return (shape.length === 1 && shape[0] >= 2) || (shape.length === 2 && shape[0] === 1 && shape[1] >= 2);
}

export function argMax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** The largest value minus the second largest. */
function topTwoMargin(values: ArrayLike<number>): number {
  const best = argMax(values);
  let second = -Infinity;
  for (let i = 0; i < values.length; i++) if (i !== best && values[i] > second) second = values[i];
  return values[best] - second;
}

interface PerOutputState {
  sqnr: SqnrAccumulator;
  cosineSum: number;
  top1Matches: number;
  classVector: boolean;
  disagreements: Top1Disagreement[];
}

/** JSON has no Infinity: identical outputs report 999 dB (−999 for a zero reference with noise). */
function finiteDb(db: number): number | null {
  if (Number.isNaN(db)) return null;
  if (db === Infinity) return 999;
  if (db === -Infinity) return -999;
  return db;
}

export class EvalAccumulator {
  private readonly outputs = new Map<string, PerOutputState>();
  private readonly overall: {sqnr: SqnrAccumulator; cosineSum: number} = {sqnr: {signal: 0, noise: 0}, cosineSum: 0};
  private images = 0;

  /** Adds one image's outputs (same order and shapes in both models); `image` names it in the disagreements. */
  add(names: readonly string[], reference: Array<{shape: number[]; values: ArrayLike<number>}>, test: Array<{shape: number[]; values: ArrayLike<number>}>,
      image = `#${this.images}`): void {
    if (reference.length !== test.length) throw new Error(`the float model has ${reference.length} outputs, the quantized one ${test.length}`);
    const allRef: number[] = [];
    const allTest: number[] = [];
    names.forEach((name, i) => {
      const r = reference[i];
      const t = test[i];
      if (r.values.length !== t.values.length) {
        throw new Error(`output '${name}': float shape [${r.shape.join(', ')}] vs quantized [${t.shape.join(', ')}]`);
      }
      const state = this.outputs.get(name) ??
          {sqnr: {signal: 0, noise: 0}, cosineSum: 0, top1Matches: 0, classVector: isClassVector(r.shape), disagreements: []};
      state.sqnr = accumulateSqnr(state.sqnr, r.values, t.values);
      state.cosineSum += cosineSimilarity(r.values, t.values);
      if (state.classVector) {
        const floatClass = argMax(r.values);
        const quantizedClass = argMax(t.values);
        if (floatClass === quantizedClass) state.top1Matches++;
        else state.disagreements.push({image, floatClass, quantizedClass, floatMargin: topTwoMargin(r.values)});
      }
      this.outputs.set(name, state);
      for (let k = 0; k < r.values.length; k++) {
        allRef.push(r.values[k]);
        allTest.push(t.values[k]);
      }
    });
    this.overall.sqnr = accumulateSqnr(this.overall.sqnr, allRef, allTest);
    this.overall.cosineSum += cosineSimilarity(allRef, allTest);
    this.images++;
  }

  result(): EvalResult {
    const n = Math.max(1, this.images);
    const perOutput: Record<string, OutputMetrics> = {};
    const agreements: number[] = [];
    for (const [name, state] of this.outputs) {
      const metrics: OutputMetrics = {sqnrDb: finiteDb(sqnrDb(state.sqnr)), cosine: state.cosineSum / n};
      if (state.classVector) {
        metrics.top1Agreement = state.top1Matches / n;
        agreements.push(metrics.top1Agreement);
        if (state.disagreements.length > 0) metrics.disagreements = [...state.disagreements].sort((a, b) => a.floatMargin - b.floatMargin);
      }
      perOutput[name] = metrics;
    }
    return {
      images: this.images,
      top1Agreement: agreements.length > 0 ? agreements.reduce((a, b) => a + b, 0) / agreements.length : null,
      sqnrDb: finiteDb(sqnrDb(this.overall.sqnr)),
      cosine: this.overall.cosineSum / n,
      perOutput,
    };
  }
}
