// The weight steps quantizeModel runs on the folded float graph before inserting fake-quants:
// cross-layer equalization (equalize.ts), then data-aware rounding (weight_rounding.ts).
// Both keep node names, ops and topology, so the plan made on the folded graph still applies.

import type * as tf from '@tensorflow/tfjs-core';

import {EqualizedGroup, equalizeGraph, EqualizeMethod, equalizeMethodOf} from './equalize';
import {ModelGraph} from './model_graph';
import {QuantPlan} from './plan';
import {RoundedLayer, roundWeights} from './weight_rounding';

/** quantizeModel's `equalize` default (measured: src/graph/README.md). */
export const DEFAULT_EQUALIZE: boolean | EqualizeMethod = 'activations';

/** quantizeModel's `weightRounding` default (measured: src/graph/README.md). */
export const DEFAULT_WEIGHT_ROUNDING = true;

export interface PrepareOptions {
  equalize?: boolean | EqualizeMethod;
  weightRounding?: boolean;
  perChannel: boolean;
}

export interface PreparedWeights {
  /** The graph to quantize: equalized, then its weights rounded. */
  graph: ModelGraph;
  /**
   * The equalized float graph, before rounding: the same function as the folded graph, with the
   * same per-channel scaling of its tensors as `graph` (the reference for per-layer errors).
   */
  equalized: ModelGraph;
  equalize: EqualizeMethod | false;
  groups: EqualizedGroup[];
  weightRounding: boolean;
  rounded: RoundedLayer[];
}

/** Passes over the calibration samples `prepareWeights` makes. */
export function preparePasses(options: PrepareOptions): number {
  const equalize = equalizeMethodOf(options.equalize, DEFAULT_EQUALIZE);
  return (equalize === 'activations' ? 1 : 0) + (roundingOn(options) ? 1 : 0);
}

function roundingOn(options: PrepareOptions): boolean {
  // Per-tensor weights (perChannel false) have one scale per filter: the rounding here is per channel.
  return (options.weightRounding ?? DEFAULT_WEIGHT_ROUNDING) && options.perChannel;
}

export function prepareWeights(folded: ModelGraph, plan: QuantPlan, samples: readonly tf.NamedTensorMap[], options: PrepareOptions,
    tick: () => void = () => {}): PreparedWeights {
  const method = equalizeMethodOf(options.equalize, DEFAULT_EQUALIZE);
  let graph = folded;
  let groups: EqualizedGroup[] = [];
  if (method !== undefined) {
    ({graph, groups} = equalizeGraph(graph, {method, samples, onSample: tick}));
  }
  const equalized = graph;
  let rounded: RoundedLayer[] = [];
  const weightRounding = roundingOn(options);
  if (weightRounding) {
    // Only the layers that run as int8: rounding a layer kept in float would only add error.
    ({graph, layers: rounded} = roundWeights(graph, samples, {include: name => plan.decisions.get(name)?.role === 'compute', onSample: tick}));
  }
  return {graph, equalized, equalize: method ?? false, groups, weightRounding, rounded};
}
