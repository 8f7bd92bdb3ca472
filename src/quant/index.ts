// The integer arithmetic of Jacob et al. 2018 / TFLite: the only place in this
// project where rounding rules are written. Kernels import from here.

export * from './types';
export type {CodeRange, QuantDtype} from './ranges';
export {quantRange} from './ranges';
export {roundHalfAwayFromZero, roundingDivide} from './rounding';
export type {QuantizedMultiplier} from './fixed_point';
export {
  INT32_MAX,
  INT32_MIN,
  multiplyByQuantizedMultiplier,
  quantizeMultiplier,
  roundingDivideByPOT,
  saturatingRoundingDoublingHighMul,
} from './fixed_point';
export type {ChooseQuantizationParamsOptions, PerTensorParams} from './params';
export {chooseQuantizationParams, validateQuantizationParams} from './params';
export type {PerChannelWeights, PerTensorCodes, WeightQuantizationOptions} from './quantize';
export {dequantizeValues, quantizeActivation, quantizeValues, quantizeWeightsPerChannel} from './quantize';
export type {ActivationRange, FusedActivation, NegativeSlopeMultiplier, RequantizeParams} from './requantize';
export {activationRange, negativeSlopeMultiplier, prepareRequantize, requantize, requantizePrelu, requantizeValue} from './requantize';
export type {QuantizedAddParams} from './add';
export {ADD_LEFT_SHIFT, prepareQuantizedAdd, quantizedAdd} from './add';
export type {QuantizedMeanParams} from './mean';
export {prepareQuantizedMean, quantizedMean} from './mean';
export type {WeightClipMethod} from './weight_clip';
export {clipSquaredError, maxAbsOf, MSE_CLIP_CANDIDATES, mseOptimalClip, WEIGHT_CODE_MAX, weightClip} from './weight_clip';
