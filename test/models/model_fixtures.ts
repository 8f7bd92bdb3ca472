// Facts about the cached models shared by the model tests.

import type {ProgressEvent} from '../../models/fetch-models';

/** PoseNet (MobileNetV1, output stride 16) takes a 385x385 image in [-1, 1]. */
export const POSENET_INPUT_SIZE = 385;

/** PoseNet's four output nodes and their shapes for one 385x385 image. */
export const POSENET_OUTPUTS: {[name: string]: number[]} = {
  'MobilenetV1/heatmap_2/BiasAdd': [1, 25, 25, 17],
  'MobilenetV1/offset_2/BiasAdd': [1, 25, 25, 34],
  'MobilenetV1/displacement_fwd_2/BiasAdd': [1, 25, 25, 32],
  'MobilenetV1/displacement_bwd_2/BiasAdd': [1, 25, 25, 32],
};

/** Progress printer for tests: silent when the cache is warm, loud when it has to fetch. */
export function quietUnlessFetching(event: ProgressEvent): void {
  if (event.kind !== 'cached') console.log(event.message);
}
