// The node ops and attribute names that the graph pass (src/graph) writes and
// the executors (src/ops) read. One place, so the two cannot drift apart.

/** TensorFlow's fake-quant op for activations: inputs [x, min, max]. */
export const FAKE_QUANT_OP = 'FakeQuantWithMinMaxVars';
/** TensorFlow's per-channel fake-quant op (last axis): inputs [w, min[C], max[C]]. */
export const FAKE_QUANT_PER_CHANNEL_OP = 'FakeQuantWithMinMaxVarsPerChannel';

/**
 * Quantized conv: inputs [x, filterCodes, biasCodes, filterScales]; fused bias, activation and requantize.
 * (Artifacts written before filterScales was an input carry the attrs filter_scales, bias_scales,
 * output_multipliers and output_shifts instead; both are read.)
 */
export const INT8_CONV2D_OP = 'Int8FusedConv2D';
/** Quantized depthwise conv: inputs [x, filterCodes, biasCodes, filterScales]. */
export const INT8_DEPTHWISE_CONV2D_OP = 'Int8FusedDepthwiseConv2dNative';
/** Quantized matmul with a constant right operand: inputs [a, bCodes, biasCodes, filterScales]. */
export const INT8_MATMUL_OP = 'Int8FusedMatMul';
/** Boundary of the quantized region: a quantized tensor in, a plain float32 tensor out. */
export const INT8_DEQUANTIZE_OP = 'Int8Dequantize';
/**
 * AddV2 / ConcatV2 / Mean with their output quantization (attrs output_scale,
 * output_zero_point): same inputs and attrs as TensorFlow's op; the int8 kernel
 * requantizes to the calibrated range in one step.
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
  /** float: precomputed scale of a per-tensor fake-quant (int8 codes). */
  scale: 'quant_scale',
  /** int: precomputed zero point of a per-tensor fake-quant (int8 codes). */
  zeroPoint: 'quant_zero_point',
  /** list(float): precomputed per-channel scales of a per-channel fake-quant. */
  scales: 'quant_scales',
  /** int: the channel axis of a per-channel fake-quant (default: last; −1: one scale for all). */
  axis: 'quant_axis',

  // Int8Fused* nodes
  activation: 'fused_activation', // string: 'none' | 'relu' | 'relu6'
  inputScale: 'input_scale',
  inputScales: 'input_scales', // list(float): Int8AddV2 / Int8ConcatV2 / Int8Mean, one per activation input
  inputZeroPoints: 'input_zero_points', // list(int)
  inputZeroPoint: 'input_zero_point',
  filterScales: 'filter_scales', // list(float), one per output channel
  filterAxis: 'filter_axis', // int: the per-channel axis of the filter codes
  // int: with float32 filter scales (input #3), scale[c] = value[c] / divisor (scale_codec.ts)
  filterScaleDivisor: 'filter_scale_divisor',
  biasScales: 'bias_scales', // list(float): input_scale·filter_scales[c]
  outputQuantized: 'output_quantized', // bool: int8 output, else dequantized float output
  outputScale: 'output_scale',
  outputZeroPoint: 'output_zero_point',
  outputMultipliers: 'output_multipliers', // list(int): M0 of quantizeMultiplier, per channel
  outputShifts: 'output_shifts', // list(int): shift of quantizeMultiplier, per channel
  outputMin: 'output_activation_min', // int: lowest output code (fused relu tightens it)
  outputMax: 'output_activation_max', // int: highest output code (fused relu6 tightens it)
} as const;

/** The fused activations an integer kernel can express as a clamp. */
export type QuantizedActivation = 'none' | 'relu' | 'relu6';
