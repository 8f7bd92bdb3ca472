// Entry point of the int8 WebAssembly SIMD kernel library. Every export takes
// pointers into this module's memory; kernels/wasm/loader.ts wraps them.
export {alloc, free, allocatedBytes, heapEnd, freeBlockCount} from './alloc';
export {requantTableCreate, requantScalar} from './requant';
export {gemmPack, gemmI8, gemmI32, gemmF32, conv2d, gemmBiasPtr} from './gemm';
export {floatEpilogueSet, floatEpilogueRange} from './epilogue';
export {dwPack, depthwiseConv2d, dwBiasPtr} from './depthwise';
export {
  quantizeF32ToI8, dequantizeI8ToF32, dequantizeI32ToF32PerChannel, rangeF32, dequantizeI32Epilogue, transposeI8,
  repeatChannelsI8,
} from './elementwise';
export {addI8, padRowsI8} from './add';
export {preluI32ToI8} from './prelu';
