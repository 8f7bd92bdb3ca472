import {CODE_RANGE} from './types';
import type {CodeDtype} from './types';

/** Integer dtypes a real range can be quantized to: the code dtypes plus uint8. */
export type QuantDtype = CodeDtype | 'uint8';

/** The [min, max] code range of a quantized dtype. */
export interface CodeRange {
  min: number;
  max: number;
}

const UINT8_RANGE: CodeRange = {min: 0, max: 255};

/** The full code range of `dtype`; throws for an unknown dtype. */
export function quantRange(dtype: QuantDtype): CodeRange {
  if (dtype === 'uint8') {
    return UINT8_RANGE;
  }
  const range = CODE_RANGE[dtype];
  if (range === undefined) {
    throw new Error(`Unknown quantized dtype '${String(dtype)}' (expected 'int8', 'uint8' or 'int32')`);
  }
  return range;
}
