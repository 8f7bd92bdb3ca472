// Which ops the pass quantizes, and how.

/** Convolutions and matmuls with a constant filter: integer kernels with per-channel weights. */
export const FUSED_COMPUTE_OPS = ['_FusedConv2D', 'FusedDepthwiseConv2dNative', '_FusedMatMul'] as const;
export type FusedComputeOp = (typeof FUSED_COMPUTE_OPS)[number];

/** Unfused forms the folding step turns into the fused ones above. */
export const UNFUSED_COMPUTE_OPS = ['Conv2D', 'DepthwiseConv2dNative', 'MatMul'] as const;

/**
 * Ops whose float output gets its own calibrated range: run as they are (an
 * int8 kernel if the backend has one, else float on dequantized inputs) and
 * quantized after.
 */
export const CALIBRATED_OPS = new Set([
  'Add', 'AddV2', 'Sub', 'Mul', 'BiasAdd', 'AddN',
  'ConcatV2', 'Concat',
  'Mean', 'Sum',
  'ResizeBilinear',
  'LeakyRelu', 'Elu', 'Prelu', 'Abs', 'Neg',
  'Maximum', 'Minimum', 'ClipByValue',
  'Cast', 'Square', 'SquaredDifference', 'PadV2',
  // Standalone Relu/Relu6 (the converter could not fuse them: their input has other readers)
  // get their own range, [0, max]: sharing the input's range would spend codes on negatives.
  'Relu', 'Relu6',
]);

/**
 * Ops that only move, select, clamp, pad or average values: the output takes the
 * input's quantization parameters (nothing new to calibrate; MaxPool's output
 * codes are a subset of its input codes, AvgPool a rounded mean of them), as TFLite's int8 kernels and ours keep them.
 */
export const PASSTHROUGH_OPS = new Set([
  'MaxPool', 'Max', 'Min', 'AvgPool',
  'Reshape', 'Squeeze', 'ExpandDims', 'Identity', 'Snapshot', 'StopGradient',
  'Pad', 'MirrorPad',
  'SpaceToBatchND', 'BatchToSpaceND', 'DepthToSpace', 'SpaceToDepth',
  'Transpose', 'Slice', 'StridedSlice', 'Tile', 'ResizeNearestNeighbor',
]);

/**
 * Ops known to stay in float: transcendental or normalizing functions whose
 * 8-bit output would lose the precision that matters, integer or shape ops,
 * and post-processing. Kept in float and reported.
 */
export const FLOAT_OPS: Readonly<Record<string, string>> = {
  Softmax: 'softmax output kept in float',
  LogSoftmax: 'log-softmax output kept in float',
  Sigmoid: 'sigmoid kept in float',
  Tanh: 'tanh kept in float',
  Exp: 'transcendental op kept in float',
  Log: 'transcendental op kept in float',
  Sqrt: 'transcendental op kept in float',
  Rsqrt: 'transcendental op kept in float',
  Pow: 'transcendental op kept in float',
  RealDiv: 'division kept in float',
  Div: 'division kept in float',
  DivNoNan: 'division kept in float',
  FloorDiv: 'integer op kept in float',
  FloorMod: 'integer op kept in float',
  Reciprocal: 'division kept in float',
  FusedBatchNorm: 'batch norm that could not be folded into a conv kept in float',
  FusedBatchNormV3: 'batch norm that could not be folded into a conv kept in float',
  ArgMax: 'index output',
  ArgMin: 'index output',
  TopKV2: 'post-processing kept in float',
  NonMaxSuppressionV2: 'post-processing kept in float',
  NonMaxSuppressionV3: 'post-processing kept in float',
  NonMaxSuppressionV4: 'post-processing kept in float',
  NonMaxSuppressionV5: 'post-processing kept in float',
  GatherV2: 'gather kept in float',
  GatherNd: 'gather kept in float',
  Pack: 'pack kept in float',
  Unpack: 'unpack kept in float (multiple outputs)',
  Split: 'split kept in float (multiple outputs)',
  SplitV: 'split kept in float (multiple outputs)',
  Shape: 'shape op',
  Fill: 'shape op',
  Range: 'shape op',
  Greater: 'comparison',
  GreaterEqual: 'comparison',
  Less: 'comparison',
  LessEqual: 'comparison',
  Equal: 'comparison',
  Select: 'select kept in float',
  SelectV2: 'select kept in float',
  Conv2DBackpropInput: 'transposed conv not quantized',
  Conv3D: 'conv3d not quantized',
  BatchMatMul: 'matmul of two activations kept in float',
  BatchMatMulV2: 'matmul of two activations kept in float',
  Einsum: 'einsum kept in float',
  Erf: 'transcendental op kept in float',
};

/** Ops that are graph plumbing, not computation: never reported. */
export const STRUCTURAL_OPS = new Set(['Const', 'Placeholder', 'PlaceholderWithDefault', 'NoOp']);
