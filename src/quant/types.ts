/** Integer dtypes that quantized codes are stored in. */
export type CodeDtype = 'int8' | 'int32';

/**
 * Affine quantization parameters of a tensor: r = scale·(q − zeroPoint)
 * (Jacob et al. 2018, eq. 1). Per tensor when `axis` is undefined (one scale,
 * one zero point); per channel along `axis` otherwise (one of each per index
 * of that axis).
 */
export interface QuantizationParams {
  scale: number[];
  zeroPoint: number[];
  axis?: number;
}

/** The [min, max] code range of each code dtype. */
export const CODE_RANGE: Record<CodeDtype, {min: number; max: number}> = {
  int8: {min: -128, max: 127},
  int32: {min: -2147483648, max: 2147483647},
};
