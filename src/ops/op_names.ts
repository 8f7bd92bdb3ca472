// The node ops and attribute names that the graph pass (src/graph) writes and
// the executors (src/ops) read. One place, so the two cannot drift apart.

/** TensorFlow's fake-quant op for activations: inputs [x, min, max]. */
export const FAKE_QUANT_OP = 'FakeQuantWithMinMaxVars';
/** TensorFlow's per-channel fake-quant op (last axis): inputs [w, min[C], max[C]]. */
export const FAKE_QUANT_PER_CHANNEL_OP = 'FakeQuantWithMinMaxVarsPerChannel';

/**
 * Quantized conv: inputs [x, filterCodes, biasTable, scaleTable]; fused bias, activation and requantize.
 * The tables are shared by every node: the node's bias codes and filter scales are a slice of each,
 * at the offsets its `q` attr gives (COMPUTE_Q).
 */
export const INT8_CONV2D_OP = 'Int8FusedConv2D';
/** Quantized depthwise conv: inputs [x, filterCodes, biasTable, scaleTable]. */
export const INT8_DEPTHWISE_CONV2D_OP = 'Int8FusedDepthwiseConv2dNative';
/** Quantized matmul with a constant right operand: inputs [a, bCodes, biasTable, scaleTable]. */
export const INT8_MATMUL_OP = 'Int8FusedMatMul';
/** Boundary of the quantized region: a quantized tensor in, a plain float32 tensor out. */
export const INT8_DEQUANTIZE_OP = 'Int8Dequantize';
/**
 * AddV2 / ConcatV2 / Mean with their output quantization (attr `q`, REQUANTIZING_Q):
 * same inputs and attrs as TensorFlow's op; the int8 kernel requantizes to the
 * calibrated range in one step.
 */
export const INT8_ADD_OP = 'Int8AddV2';
export const INT8_CONCAT_OP = 'Int8ConcatV2';
export const INT8_MEAN_OP = 'Int8Mean';
/** TensorFlow op → the requantizing op the pass lowers it (and its output fake-quant) to. */
export const REQUANTIZING_OP_OF: Readonly<Record<string, string>> = {
  AddV2: INT8_ADD_OP, Add: INT8_ADD_OP, ConcatV2: INT8_CONCAT_OP, Mean: INT8_MEAN_OP,
};

/** Every op the executors in src/ops register. */
export const QUANTIZED_GRAPH_OPS = [
  FAKE_QUANT_OP,
  FAKE_QUANT_PER_CHANNEL_OP,
  INT8_CONV2D_OP,
  INT8_DEPTHWISE_CONV2D_OP,
  INT8_MATMUL_OP,
  INT8_DEQUANTIZE_OP,
  INT8_ADD_OP,
  INT8_CONCAT_OP,
  INT8_MEAN_OP,
] as const;

/**
 * Attribute names. The TensorFlow ones (num_bits, narrow_range, strides...)
 * keep TensorFlow's spelling; the ones the pass adds are listed here.
 */
export const ATTR = {
  numBits: 'num_bits',
  narrowRange: 'narrow_range',
  /** bool: a fake-quant in calibration mode passes its input through (observes). */
  calibrating: 'calibrating',
  /**
   * list(float), the quantization numbers of a node the pass writes, by position:
   * FakeQuantWithMinMaxVars [scale, zero point] (FAKE_QUANT_Q); Int8Fused* COMPUTE_Q;
   * Int8AddV2 / Int8ConcatV2 / Int8Mean REQUANTIZING_Q.
   */
  quant: 'q',
  /** list(float): precomputed per-channel scales of a per-channel fake-quant. */
  scales: 'quant_scales',
  /** int: the channel axis of a per-channel fake-quant (default: last; −1: one scale for all). */
  axis: 'quant_axis',
} as const;

/** FakeQuantWithMinMaxVars `q`: [scale, zero point] (int8 codes). */
export const FAKE_QUANT_Q = {scale: 0, zeroPoint: 1, length: 2} as const;

/**
 * Int8Fused* `q`, by position: [S_in, Z_in, flags, biasOffset, scaleOffset, scaleExponent, S_out, Z_out].
 * S_out and Z_out are there only when the output is quantized (int8); without them the node
 * outputs the dequantized float accumulator. The output code clamp follows from the
 * activation and the output params.
 *   flags: activation + 4·padding + 16·perTensor + 32·(strideH − 1) + 512·(strideW − 1) (COMPUTE_FLAGS)
 *     activation 0 none, 1 relu, 2 relu6, 3 prelu (COMPUTE_ACTIVATIONS)
 *     padding    0 VALID, 1 SAME, 2 EXPLICIT (COMPUTE_PADDINGS; the amounts in TF's `explicit_paddings`)
 *     perTensor  1 when one scale covers the filter (the scale table holds one value for it)
 *   biasOffset / scaleOffset: where the node's channels start in its bias / scale table
 *   scaleExponent: k ≥ 0, the scale table holds scale·2^k (float16 tables; 0 for float32 ones)
 * Dilations, explicit paddings and transpose_b stay TensorFlow attrs, written when not the default.
 */
export const COMPUTE_Q = {
  inputScale: 0, inputZeroPoint: 1, flags: 2, biasOffset: 3, scaleOffset: 4, scaleExponent: 5, outputScale: 6, outputZeroPoint: 7,
  floatOutputLength: 6, quantizedOutputLength: 8,
} as const;

/** The fields of COMPUTE_Q's flags: each is (flags / unit) mod size. */
export const COMPUTE_FLAGS = {
  activation: {unit: 1, size: 4}, padding: {unit: 4, size: 4}, perTensor: {unit: 16, size: 2},
  strideHMinus1: {unit: 32, size: 16}, strideWMinus1: {unit: 512, size: 16},
} as const;

export const COMPUTE_ACTIVATIONS: readonly Int8Activation[] = ['none', 'relu', 'relu6', 'prelu'];
export const COMPUTE_PADDINGS = ['valid', 'same', 'explicit'] as const;

/**
 * Int8AddV2 / Int8ConcatV2 / Int8Mean `q`: [scale, zero point] of each quantized operand
 * (AddV2: both, ConcatV2: all but the axis, Mean: the first), then of the output.
 */
export const REQUANTIZING_Q = {pairLength: 2} as const;

/** The fused activations an integer kernel can express as a clamp. */
export type QuantizedActivation = 'none' | 'relu' | 'relu6';

/**
 * The fused activations of the Int8Fused* nodes: a clamp, or 'prelu' (its per-channel alpha is
 * input #4, a float32 Const [C]; the integer kernels requantize negative accumulators with
 * S_acc·α/S_out, src/quant requantizePrelu).
 */
export type Int8Activation = QuantizedActivation | 'prelu';
