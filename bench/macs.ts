// Counting a model's multiply-accumulates (MACs) from the kernels one inference actually runs:
// tf.profile records every kernel with its input and output shapes, and for the kernels that do
// the arithmetic (convolutions, depthwise convolutions, matmuls) those shapes are enough:
//   conv        output elements × kernel height × kernel width × input channels
//   depthwise   output elements × kernel height × kernel width
//   matmul      output elements × the contracted dimension K
// Every other kernel (adds, activations, pools, resizes) is left out, as MAC counts usually do.

import * as tf from '@tensorflow/tfjs-core';

/** Which arithmetic family a kernel belongs to. */
export type MacFamily = 'conv' | 'depthwise' | 'matmul';

/** The kernel record this counter needs (a subset of tfjs-core's KernelInfo). */
export interface KernelShapes {
  name: string;
  inputShapes: Array<number[] | null | undefined>;
  outputShapes: Array<number[] | null | undefined>;
}

export interface MacCount {
  total: number;
  byFamily: Record<MacFamily, number>;
  /** How many kernels of each family ran. */
  kernels: Record<MacFamily, number>;
}

const FAMILY_OF_KERNEL: Record<string, MacFamily> = {
  Conv2D: 'conv',
  FusedConv2D: 'conv',
  Conv2DBackpropInput: 'conv',
  DepthwiseConv2dNative: 'depthwise',
  FusedDepthwiseConv2D: 'depthwise',
  BatchMatMul: 'matmul',
  _FusedMatMul: 'matmul',
};

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function shapeAt(shapes: KernelShapes['inputShapes'], index: number, kernel: KernelShapes, what: string): number[] {
  const shape = shapes[index];
  if (shape == null) throw new Error(`MAC counter: kernel ${kernel.name} has no ${what} shape (index ${index})`);
  return shape;
}

/** The MACs of one kernel, or null when the kernel does no counted arithmetic. */
export function kernelMacs(kernel: KernelShapes): {family: MacFamily; macs: number} | null {
  const family = FAMILY_OF_KERNEL[kernel.name];
  if (family === undefined) return null;
  const output = shapeAt(kernel.outputShapes, 0, kernel, 'output');
  // Kernel inputs are recorded in the order the op passes them: x (or a, or dy) first, filter (or b) second.
  const first = shapeAt(kernel.inputShapes, 0, kernel, 'first input');
  const second = shapeAt(kernel.inputShapes, 1, kernel, 'second input');
  switch (kernel.name) {
    case 'Conv2D':
    case 'FusedConv2D': {
      // filter [kh, kw, inChannels, outChannels]; output [b, oh, ow, outChannels] (NHWC or NCHW: same count).
      const [kh, kw, inChannels] = second;
      return {family, macs: product(output) * kh * kw * inChannels};
    }
    case 'Conv2DBackpropInput': {
      // A transposed convolution: every element of dy [b, h, w, filter[3]] scatters into kh·kw·filter[2] outputs.
      const [kh, kw, outChannels] = second;
      return {family, macs: product(first) * kh * kw * outChannels};
    }
    case 'DepthwiseConv2dNative':
    case 'FusedDepthwiseConv2D': {
      // filter [kh, kw, channels, multiplier]; each output element sums kh·kw products.
      const [kh, kw] = second;
      return {family, macs: product(output) * kh * kw};
    }
    default: {
      // a [..., M, K] (or [..., K, M] when transposed); output [..., M, N]. Whichever of a's two
      // inner dimensions is not M is K; when both equal M, K = M either way.
      const m = output[output.length - 2];
      const inner = first.slice(-2);
      const k = inner[0] === m ? inner[1] : inner[0];
      return {family, macs: product(output) * k};
    }
  }
}

/** Sums the MACs of a list of kernel records (e.g. tf.profile's `kernels`). */
export function countMacs(kernels: readonly KernelShapes[]): MacCount {
  const count: MacCount = {total: 0, byFamily: {conv: 0, depthwise: 0, matmul: 0}, kernels: {conv: 0, depthwise: 0, matmul: 0}};
  for (const kernel of kernels) {
    const one = kernelMacs(kernel);
    if (one === null) continue;
    count.total += one.macs;
    count.byFamily[one.family] += one.macs;
    count.kernels[one.family]++;
  }
  return count;
}

/**
 * Runs `infer` once under tf.profile on the active backend and counts the MACs of the kernels it
 * ran. Use a float backend (cpu or wasm): their kernels do not call other kernels, so nothing is
 * counted twice. The tensors `infer` returns are disposed.
 */
export async function profileMacs(infer: () => tf.Tensor | tf.Tensor[]): Promise<MacCount> {
  const info = await tf.profile(() => infer());
  const result = info.result;
  tf.dispose(result as tf.TensorContainer);
  return countMacs(info.kernels);
}
