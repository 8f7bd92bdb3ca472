// Measuring how close a quantized graph stays to the float one, layer by layer.

import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';

/** Signal-to-quantization-noise ratio accumulator: 10·log10(Σ ref² / Σ (ref − test)²). */
export interface SqnrAccumulator {
  signal: number;
  noise: number;
}

export function accumulateSqnr(acc: SqnrAccumulator, reference: ArrayLike<number>, test: ArrayLike<number>): SqnrAccumulator {
  if (reference.length !== test.length) {
    throw new Error(`SQNR: ${reference.length} reference values vs ${test.length} test values.`);
  }
  let signal = acc.signal;
  let noise = acc.noise;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i];
    const d = r - test[i];
    signal += r * r;
    noise += d * d;
  }
  return {signal, noise};
}

/** SQNR in dB (Infinity when identical, −Infinity for a zero reference with noise). */
export function sqnrDb(acc: SqnrAccumulator): number {
  if (acc.noise === 0) return Infinity;
  if (acc.signal === 0) return -Infinity;
  return 10 * Math.log10(acc.signal / acc.noise);
}

export function sqnrOf(reference: ArrayLike<number>, test: ArrayLike<number>): number {
  return sqnrDb(accumulateSqnr({signal: 0, noise: 0}, reference, test));
}

/** Cosine similarity of two vectors (1 when both are zero). */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  if (na === 0 && nb === 0) return 1;
  if (na === 0 || nb === 0) return 0;
  return dot / Math.sqrt(na * nb);
}

/** A tensor to compare: its node in the reference graph and in the tested graph. */
export interface TensorPair {
  reference: string;
  test: string;
}

/** Runs both models on each sample and accumulates the SQNR of each pair of float tensors (keyed by the test name). */
export function layerSqnr(reference: GraphModel, test: GraphModel, samples: readonly tf.NamedTensorMap[], pairs: readonly TensorPair[],
    onSample?: () => void): Map<string, number> {
  const accumulators = new Map<string, SqnrAccumulator>(pairs.map(p => [p.test, {signal: 0, noise: 0}]));
  if (pairs.length === 0) return new Map();
  for (const sample of samples) {
    const ref = toList(reference.execute(sample, pairs.map(p => p.reference)));
    const out = toList(test.execute(sample, pairs.map(p => p.test)));
    try {
      pairs.forEach(({test: name}, i) => {
        if (ref[i].dtype !== 'float32' || out[i].dtype !== 'float32') return;
        const acc = accumulators.get(name) as SqnrAccumulator;
        accumulators.set(name, accumulateSqnr(acc, ref[i].dataSync(), out[i].dataSync()));
      });
    } finally {
      // An output may be the sample's own input tensor (a quantized model input): not ours to dispose.
      const inputs = new Set(Object.values(sample));
      tf.dispose([...ref, ...out].filter(t => !inputs.has(t)));
    }
    onSample?.();
  }
  return new Map([...accumulators].map(([name, acc]) => [name, sqnrDb(acc)]));
}

function toList(result: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
  return Array.isArray(result) ? result : [result];
}
