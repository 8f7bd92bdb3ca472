// The one list of tfjs-core shared-suite specs that do not run on the `int8`
// backend (read by test/core/run-core-suite.mjs). Every other spec must pass.
//
// Only two kinds of reason are acceptable:
//   quantized   — a value check that cannot hold once a kernel computes in
//                 integers (conv2d / depthwise / matmul families): the spec
//                 compares with float results at a tolerance tighter than the
//                 int8 quantization error (expectArraysClose's float32
//                 default is 1e-3), while the error stays within int8
//                 rounding (see "reasons" below).
//   environment — the spec needs something this Node run does not provide (a
//                 browser, WebGL, a worker, the network, a particular file
//                 system), AND tfjs-backend-cpu's own Node run excludes it too;
//                 say what cpu does in `cpu` (see tfjs-backend-cpu/src/run_tests.ts).
//
// Entries: {name: '<exact full spec name>'} (preferred) or
// {pattern: '<substring of full names>'}, plus kind, reason (and cpu). Full
// names are what the runner prints on failure: describe names joined by
// spaces, where describeWithFlags appends the env, e.g.
//   'conv2d int8 {} x=[2,2,1] f=[1,1,1,2] s=1 d=1 p=0'
// (full names are not unique; an exact name excludes every spec so named).
//
// To add entries after a kernel lands: run
//   node test/core/run-core-suite.mjs --compare-cpu
// Each FAILED line shows the int8 kernels of our own that the spec ran and
// its error against the cpu kernel, as a share of the output range and of the
// int8 rounding bound. Only failures that ran a QUANTIZED_KERNEL_FAMILIES
// kernel, fail on a value tolerance, and stay within the bound belong here:
// add their names to the quantized(REASON, [...]) group of that kernel below
// (or a new group with its measured numbers). Anything else is a bug to fix.
// `--compare-cpu --include-excluded` re-runs the excluded specs: it lists the
// entries whose specs all pass again (remove them) and fails on an entry
// whose spec ran no such kernel or erred beyond the bound. An entry that
// matches no spec at all fails every run (stale).
//
// Checked against tfjs-backend-cpu 4.22's run_tests.ts, which excludes
//   - 'computation in worker' specs: tfjs-core 4.22's dist/tests.js has none;
//   - 'fused conv2d ... basic in NCHW with ...' / '... im2row in NCHW with ...':
//     present, and they pass on int8 (the 4.22 cpu kernels support NCHW with
//     bias/prelu), so they are not excluded.
// The suite's 5 skipped specs are xit() upstream (debug_mode 'A x B',
// flags 'IS_BROWSER isBrowser: true/false', kernel_registry 'errors when
// registering the same kernel twice', 'warning when registering the same
// gradient twice'); they are not exclusions.

/**
 * The kernels whose integer versions may justify a 'quantized' entry: the
 * conv2d, depthwise and matmul families (conv1d and separableConv2d run
 * through Conv2D / DepthwiseConv2dNative). Such an entry's spec must have run
 * one of these as an int8 kernel of our own (not the cpu backend's).
 */
export const QUANTIZED_KERNEL_FAMILIES = [
  'Conv2D', 'FusedConv2D', 'DepthwiseConv2dNative', 'FusedDepthwiseConv2D',
  'BatchMatMul', '_FusedMatMul',
];

/** @typedef {'quantized' | 'environment'} ExclusionKind */
/**
 * @typedef {{name?: string, pattern?: string, kind: ExclusionKind,
 *            reason: string, cpu?: string}} Exclusion
 */

/** Exact-name entries sharing one quantization reason. */
function quantized(reason, names) {
  return names.map(name => ({name, kind: 'quantized', reason}));
}

/** Exact-name entries sharing one environment reason; `cpu`: what tfjs-backend-cpu does. */
// eslint-disable-next-line no-unused-vars
function environment(reason, cpu, names) {
  return names.map(name => ({name, kind: 'environment', reason, cpu}));
}

// ------------------------------------------------------------ reasons
// Evidence (node test/core/run-core-suite.mjs --compare-cpu --include-excluded
// runs the cpu kernel beside every int8 conv/matmul call): for each spec
// below, the int8 result's max error is at most the stated share of the
// output range and well inside the worst-case int8 rounding bound
// K·(max|x|·S_w + max|w|·S_x + S_x·S_w) (K products per output) — quantization
// error, not a wrong result. The specs check at expectArraysClose's float32
// tolerance (1e-3), which that error exceeds.

const DYNAMIC = 'dynamic mode: float input quantized per tensor (asymmetric int8), ' +
    'weights per output channel (symmetric int8), int32 accumulation, dequantized output';

/** The reason of a group: what computes in int8, and the measured error. */
function inInt8(what, ofRange, ofBound) {
  return `${what} (${DYNAMIC}); measured error <= ${ofRange} of the output range, ` +
      `<= ${ofBound}x the int8 bound; the spec wants float32 exactness (1e-3).`;
}

const MATMUL = inInt8('BatchMatMul computes in int8', '0.9%', '0.33');
const FUSED_MATMUL =
    inInt8('_FusedMatMul computes in int8, then adds bias and activation', '1.2%', '0.12');
const USES_MATMUL = inInt8(
    'built on tf.matMul (matmul+relu gradients, gramSchmidt, qr, meshgrid\'s outer ' +
        'product), which runs int8 BatchMatMul',
    '0.7%', '0.25');
const CONV2D = inInt8('Conv2D computes in int8 (conv1d runs through it)', '0.4%', '0.16');
const FUSED_CONV2D =
    inInt8('FusedConv2D computes in int8, then adds bias and activation', '0.4%', '0.25');
const CONV2D_IN_GRADIENT = inInt8(
    'conv2dTranspose\'s gradient with respect to its input is a conv2d, which runs ' +
        'int8 Conv2D; its outputs here are small next to its inputs (cancellation), ' +
        'hence the large share of the output range',
    '27%', '0.05');
const DEPTHWISE = inInt8(
    'DepthwiseConv2dNative computes in int8 (the depthwiseConv2d gradients specs run ' +
        'it forward). \'input=1x5x5x1,f=3,s=1,d=2,p=valid,chMul=1\' names two specs, ' +
        'one of them within tolerance by chance; the exact name excludes both',
    '0.5%', '0.09');
const FUSED_DEPTHWISE = inInt8(
    'FusedDepthwiseConv2D computes in int8, then adds bias and activation', '0.7%', '0.07');
const SEPARABLE = inInt8(
    'separableConv2d is a depthwise conv then a 1x1 conv, both int8 ' +
        '(DepthwiseConv2dNative, Conv2D)',
    '0.6%', '0.25');

/** @type {Exclusion[]} */
export const EXCLUDED_SPECS = [
  ...quantized(MATMUL, [
    'matmul int8 {} A x B',
    'matmul int8 {} [8,4]x[4,8]',
    'matmul int8 {} broadcast with unequal batch dims',
    'matmul int8 {} broadcast with unequal ranks',
    'matmul int8 {} matmul followed by mul',
    'matmul int8 {} upcasts when dtypes dont match',
    'matmul int8 {} A x B^t',
    'matmul int8 {} A^t x B',
    'matmul int8 {} A^t x B^t',
    'matmul int8 {} Vector times matrix',
    'matmul int8 {} Vector times matrix with implicit reshape',
    'matmul int8 {} Matrix times vector',
    'matmul int8 {} batched matmul called twice so memory of output is reused',
    'matmul int8 {} Dot product',
    'matmul int8 {} gradients: A * B',
    'matmul int8 {} gradients: a * bT',
    'matmul int8 {} gradients: aT * b',
    'matmul int8 {} gradients: aT * bT',
    'matmul int8 {} accepts a tensor-like object',
    'matmul int8 {} accepts a tensor-like object chained',
    'matmulBatch int8 {} A x B',
    'matmulBatch int8 {} A x B in 4D',
    'matmulBatch int8 {} A x B^t',
    'matmulBatch int8 {} A^t x B',
    'matmulBatch int8 {} A^t x B in 4D',
    'matmulBatch int8 {} A^t x B^t',
    'matmulBatch int8 {} A has more batch dimensions than B',
    'matmulBatch int8 {} gradients: A x B',
    'matmulBatch int8 {} 4d gradients: A x B',
    'matmulBatch int8 {} gradients: A x B^t',
    'matmulBatch int8 {} 4d gradients: A x B^t',
    'matmulBatch int8 {} gradients: A^t x B',
    'matmulBatch int8 {} gradients: A^t x B^t',
    'dot int8 {} vector-vector',
    'dot int8 {} vector-matrix',
    'dot int8 {} matrix-vector',
    'dot int8 {} matrix-matrix',
    'dot int8 {} matmul A x B asymmetric',
    'dot int8 {} broadcast batch shape',
    'dot int8 {} accepts a tensor-like object',
    'dot int8 {} ensure no memory leak',
  ]),
  ...quantized(FUSED_MATMUL, [
    'fused matmul int8 {} fused A x B',
    'fused matmul int8 {} fused A x B with relu',
    'fused matmul int8 {} fused A x B with elu',
    'fused matmul int8 {} fused A x B with relu6',
    'fused matmul int8 {} fused A x B with prelu',
    'fused matmul int8 {} fused A x B with leakyrelu',
    'fused matmul int8 {} fused A x B with leakyrelu not provided.',
    'fused matmul int8 {} fused A x B with sigmoid',
    'fused matmul int8 {} fused A x B with relu transpose',
    'fused matmul int8 {} fused A x B with 2d bias and relu',
    'fused matmul int8 {} fused A x B with relu and broadcasted bias',
    'fused matmul int8 {} fused A x B with elu and broadcasted bias',
    'fused matmul int8 {} fused A x B with elu and broadcasted shape',
    'fused matmul int8 {} fused A x B with relu and broadcasted bias different rank',
    'fused matmul int8 {} fused A x B with 2d bias only',
  ]),
  ...quantized(USES_MATMUL, [
    'valueAndGradients int8 {} matmul + relu',
    'valueAndGradients int8 {} matmul + relu + inner tidy',
    'gramSchmidt-tiny int8 {} 2x2, Array of Tensor1D',
    'gramSchmidt-tiny int8 {} 3x3, Array of Tensor1D',
    'gramSchmidt-tiny int8 {} 3x3, Matrix',
    'gramSchmidt-tiny int8 {} 2x3, Matrix',
    'qr int8 {} 2x2',
    'qr int8 {} 2x2x2',
    'qr int8 {} 2x1x2x2',
    'qr int8 {} 3x3',
    'qr int8 {} 3x3, zero on diagonal',
    'qr int8 {} 3x2, fullMatrices = default false',
    'qr int8 {} 3x2, fullMatrices = true',
    'qr int8 {} 2x3, fullMatrices = default false',
    'qr int8 {} 2x3, fullMatrices = true',
    'simple inputs int8 {} Should handle the simple 2D case',
  ]),
  ...quantized(CONV2D, [
    'conv2d int8 {} x=[1,4,4,1] f=[1,1,1,3] s=2 d=1 p=same',
    'conv2d int8 {} x=[2,2,2,2] f=[1,1,2,2] s=1 d=1 p=0',
    'conv2d int8 {} x=[2,2,1] f=[1,1,1,2] s=1 d=1 p=0',
    'conv2d int8 {} x=[3,3,2] f=[2,2,2,1] s=1 d=1 p=valid',
    'conv2d int8 {} x=[2,2,2,1] f=[1,1,1,1] s=1 d=1 p=0',
    'conv2d int8 {} x=[4,2,1] f=[4,2,1,1] s=1 d=1 p=same',
    'conv2d int8 {} x=[4,2,1] f=[4,2,1,1] s=1 d=1 p=explicit',
    'conv2d int8 {} x=[2,2,1] f=[2,2,1,1] s=1 d=1 p=same',
    'conv2d int8 {} x=[2,2,1] f=[2,2,1,1] s=1 d=1 p=0',
    'conv2d int8 {} x=[1,3,6,1] f=[2,2,1,1] s=[1,2] d=1 p=valid',
    'conv2d int8 {} x=[1,8,8,16] f=[3,3,16,1] s=[2,2] d=1 p=same',
    'conv2d int8 {} x=[1,8,8,3] f=[3,3,3,4] s=[2,2] d=1 p=same',
    'conv2d int8 {} x=[1,8,8,3] f=[3,3,3,4] s=[2,2] d=1 p=valid',
    'conv2d int8 {} x=[1,2,2,3] f=[1,1] s=2 p=1 fractional outputs default rounding',
    'conv2d int8 {} accepts a tensor-like object',
    'conv1d int8 {} conv1d input=2x2x1,d2=1,f=1,s=1,d=1,p=explicit',
    'conv1d int8 {} conv1d input=2x2x1,d2=1,f=1,s=1,d=1,p=same',
    'conv1d int8 {} conv1d input=4x1,d2=1,f=2x1x1,s=1,d=1,p=valid',
    'conv1d int8 {} TensorLike',
    'conv1d int8 {} TensorLike Chained',
    'conv1d int8 {} accepts a tensor-like object',
  ]),
  ...quantized(FUSED_CONV2D, [
    'fused conv2d int8 {} basic',
    'fused conv2d int8 {} basic with relu',
    'fused conv2d int8 {} relu with stride 2 x=[1,8,8,16] f=[3,3,16,1] s=[2,2] d=1 p=same',
    'fused conv2d int8 {} relu bias stride 2 x=[1,8,8,16] f=[3,3,16,1] s=[2,2] d=8 p=same',
    'fused conv2d int8 {} prelu bias stride 2 x=[1,8,8,16] f=[3,3,16,1] s=[2,2] d=8 p=same',
    'fused conv2d int8 {} relu6 bias stride 2 x=[1,8,8,16] f=[3,3,16,8] s=[2,2] d=8 p=same',
    'fused conv2d int8 {} leakyrelu bias stride 2 x=[1,8,8,16] f=[3,3,16,1] s=[2,2] d=8 p=same',
    'fused conv2d int8 {} basic with bias',
    'fused conv2d int8 {} basic with explicit padding',
    'fused conv2d int8 {} basic with elu',
    'fused conv2d int8 {} basic with prelu',
    'fused conv2d int8 {} basic with leakyrelu',
    'fused conv2d int8 {} basic with sigmoid',
    'fused conv2d int8 {} basic with broadcasted bias and relu',
    'fused conv2d int8 {} im2row',
    'fused conv2d int8 {} im2row with relu',
    'fused conv2d int8 {} im2row with prelu',
    'fused conv2d int8 {} im2row with leakyrelu',
    'fused conv2d int8 {} pointwise with prelu',
    'fused conv2d int8 {} pointwise with leakyrelu',
    'fused conv2d int8 {} im2row with broadcasted bias and relu',
  ]),
  ...quantized(CONV2D_IN_GRADIENT, [
    'conv2dTranspose int8 {} gradient with clones input=[1,3,3,1] f=[2,2,2,1] s=1 padding=valid',
    'conv2dTranspose int8 {} gradient input=[1,2,2,1] f=[2,2,2,1] s=[2,2] padding=valid',
    'conv2dTranspose int8 {} gradient input=[1,3,3,1] f=[2,2,2,1] s=[1,1] padding=same',
    'conv2dTranspose int8 {} gradient input=[1,3,3,1] f=[2,2,2,1] s=[1,1] p=explicit',
    'conv2dTranspose int8 {} gradient input=[1,2,2,2] f=[2,2,2,1] s=[2,2] padding=same',
  ]),
  ...quantized(DEPTHWISE, [
    'depthwiseConv2D int8 {} input=1x3x3x1,f=2,s=1,d=1,p=valid,chMul=1',
    'depthwiseConv2D int8 {} input=1x3x3x1,f=2,s=1,d=1,p=explicit,chMul=1',
    'depthwiseConv2D int8 {} input=1x5x5x1,f=3,s=1,d=1,p=valid,chMul=1',
    'depthwiseConv2D int8 {} input=1x3x3x2,f=2,s=1,d=1,p=same,chMul=1',
    'depthwiseConv2D int8 {} input=1x5x5x1,f=3,s=1,d=1,p=same,chMul=1',
    'depthwiseConv2D int8 {} input=1x5x5x1,f=3,s=1,d=2,p=valid,chMul=1',
    'depthwiseConv2D int8 {} input=1x5x5x4,f=3,s=1,d=1,p=same,chMul=1',
    'depthwiseConv2D int8 {} input=1x5x5x4,f=5,s=2,d=1,p=same,chMul=1',
    'depthwiseConv2D int8 {} input=1x5x5x1,f=3,s=1,d=2,p=explicit,chMul=1',
    'depthwiseConv2D int8 {} input=1x3x3x4,f=3,s=1,d=2,p=same,chMul=1',
    'depthwiseConv2D int8 {} input=1x3x3x2,f=2,s=1,p=same,chMul=2',
    'depthwiseConv2D int8 {} input=2x3x3x2,f=2,s=1,p=same,chMul=2',
    'depthwiseConv2D int8 {} input=2x3x3x2,f=3,s=1,d=2,p=same,chMul=2',
    'depthwiseConv2D int8 {} input=1x8x8x2,f=3,s=1,d=3,p=valid,chMul=1',
    'depthwiseConv2D int8 {} TensorLike',
    'depthwiseConv2D int8 {} TensorLike Chained',
    'depthwiseConv2D int8 {} accepts a tensor-like object',
    'depthwiseConv2d gradients int8 {} wrt input',
    'depthwiseConv2d gradients int8 {} wrt input, squared output',
    'depthwiseConv2d gradients int8 {} wrt filter',
    'depthwiseConv2d gradients int8 {} wrt filter, squared output',
  ]),
  ...quantized(FUSED_DEPTHWISE, [
    'fused depthwiseConv2D int8 {} basic',
    'fused depthwiseConv2D int8 {} basic with relu',
    'fused depthwiseConv2D int8 {} basic with channel-wise broadcasted bias and relu',
    'fused depthwiseConv2D int8 {} basic with broadcasted bias and relu',
    'fused depthwiseConv2D int8 {} basic with channel-wise broadcasted bias and relu filter 3x3',
    'fused depthwiseConv2D int8 {} prelu',
    'fused depthwiseConv2D int8 {} leakyrelu',
  ]),
  ...quantized(SEPARABLE, [
    'separableConv2d int8 {} input=1x3x3x1,f=2,s=1,d=1,p=valid,chMul=2,outDepth=2',
    'separableConv2d int8 {} input=2x4x4x1,f=2,s=2,d=1,p=valid,chMul=1,outDepth=2',
    'separableConv2d int8 {} input=1x4x4x2,f=2,s=2,d=1,p=valid,chMul=1,outDepth=2',
  ]),
];
