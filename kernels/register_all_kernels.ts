import {KernelConfig} from '@tensorflow/tfjs-core';

import {addConfig} from './Add';
import {multiplyConfig, squaredDifferenceConfig, subConfig} from './FloatBinary';
import {batchMatMulConfig} from './BatchMatMul';
import {clipByValueConfig} from './ClipByValue';
import {fusedBatchNormConfig} from './FusedBatchNorm';
import {conv2DConfig} from './Conv2D';
import {depthwiseConv2dNativeConfig} from './DepthwiseConv2dNative';
import {fusedConv2DConfig} from './FusedConv2D';
import {fusedDepthwiseConv2DConfig} from './FusedDepthwiseConv2D';
import {fusedMatMulConfig} from './_FusedMatMul';
import {avgPoolConfig} from './AvgPool';
import {concatConfig} from './Concat';
import {expandDimsConfig} from './ExpandDims';
import {identityConfig} from './Identity';
import {int8DequantizeConfig} from './Int8Dequantize';
import {int8FromCodesConfig} from './Int8FromCodes';
import {int8QuantizeConfig} from './Int8Quantize';
import {maxPoolConfig} from './MaxPool';
import {meanConfig} from './Mean';
import {padV2Config} from './PadV2';
import {reluConfig} from './Relu';
import {relu6Config} from './Relu6';
import {reshapeConfig} from './Reshape';

// Integer kernels of the int8 backend, one file per tfjs kernel name (as
// tfjs-backend-cpu's register_all_kernels does). Every kernel not listed here
// is the cpu backend's, reused at run time by src/register.ts.
export const int8KernelConfigs: KernelConfig[] = [
  // Elementwise, pooling, layout and (de)quantization kernels.
  addConfig,
  multiplyConfig,
  squaredDifferenceConfig,
  subConfig,
  avgPoolConfig,
  clipByValueConfig,
  fusedBatchNormConfig,
  concatConfig,
  expandDimsConfig,
  identityConfig,
  int8DequantizeConfig,
  int8FromCodesConfig,
  int8QuantizeConfig,
  maxPoolConfig,
  meanConfig,
  padV2Config,
  reluConfig,
  relu6Config,
  reshapeConfig,
  // Conv and matmul kernels (integer accumulation, kernels/impl/).
  batchMatMulConfig,
  conv2DConfig,
  depthwiseConv2dNativeConfig,
  fusedConv2DConfig,
  fusedDepthwiseConv2DConfig,
  fusedMatMulConfig,
];
