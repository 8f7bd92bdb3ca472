// Importing this module registers, with tfjs-converter, the executors of every
// node op the graph pass writes (so `tf.loadGraphModel` can run its artifacts).

import {registerOp} from '@tensorflow/tfjs-converter';

import {executeDequantize, executeFakeQuant, executeFakeQuantPerChannel, makeComputeExecutor, makeRequantizingExecutor} from './executors';
import {
  FAKE_QUANT_OP, FAKE_QUANT_PER_CHANNEL_OP, INT8_ADD_OP, INT8_CONCAT_OP, INT8_CONV2D_OP, INT8_DEPTHWISE_CONV2D_OP,
  INT8_DEQUANTIZE_OP, INT8_MATMUL_OP, INT8_MEAN_OP,
} from './op_names';

/** Registers the executors; safe to call more than once. */
export function registerQuantizedGraphOps(): void {
  registerOp(FAKE_QUANT_OP, executeFakeQuant);
  registerOp(FAKE_QUANT_PER_CHANNEL_OP, executeFakeQuantPerChannel);
  registerOp(INT8_CONV2D_OP, makeComputeExecutor('conv2d'));
  registerOp(INT8_DEPTHWISE_CONV2D_OP, makeComputeExecutor('depthwise'));
  registerOp(INT8_MATMUL_OP, makeComputeExecutor('matmul'));
  registerOp(INT8_DEQUANTIZE_OP, executeDequantize);
  registerOp(INT8_ADD_OP, makeRequantizingExecutor('add'));
  registerOp(INT8_CONCAT_OP, makeRequantizingExecutor('concat'));
  registerOp(INT8_MEAN_OP, makeRequantizingExecutor('mean'));
}

registerQuantizedGraphOps();

export * from './op_names';
export {fakeQuantize, quantizeToCodes, requantizeAccumulators} from './fake_quant_math';
