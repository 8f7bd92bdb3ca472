// Comparing a quantized model's outputs with the float model's, image by image.

import {accumulateSqnr, cosineSimilarity, sqnrDb, SqnrAccumulator} from '../graph/report';

export interface OutputMetrics {
  sqnrDb: number | null;
  cosine: number;
  /** Fraction of images with the same arg-max (class-vector outputs only). */
  top1Agreement?: number;
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

interface PerOutputState {
  sqnr: SqnrAccumulator;
  cosineSum: number;
  top1Matches: number;
  classVector: boolean;
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

  /** Adds one image's outputs (same order and shapes in both models). */
  add(names: readonly string[], reference: Array<{shape: number[]; values: ArrayLike<number>}>, test: Array<{shape: number[]; values: ArrayLike<number>}>): void {
    if (reference.length !== test.length) throw new Error(`the float model has ${reference.length} outputs, the quantized one ${test.length}`);
    const allRef: number[] = [];
    const allTest: number[] = [];
    names.forEach((name, i) => {
      const r = reference[i];
      const t = test[i];
      if (r.values.length !== t.values.length) {
        throw new Error(`output '${name}': float shape [${r.shape.join(', ')}] vs quantized [${t.shape.join(', ')}]`);
      }
      const state = this.outputs.get(name) ?? {sqnr: {signal: 0, noise: 0}, cosineSum: 0, top1Matches: 0, classVector: isClassVector(r.shape)};
      state.sqnr = accumulateSqnr(state.sqnr, r.values, t.values);
      state.cosineSum += cosineSimilarity(r.values, t.values);
      if (state.classVector && argMax(r.values) === argMax(t.values)) state.top1Matches++;
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
