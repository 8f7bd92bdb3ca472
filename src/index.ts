// tfjs-backend-int8: importing this module registers the `int8` backend.
export {BACKEND_NAME, registerInt8Backend} from './register';
export {BackendInt8} from './backend';
export type {BackendInt8Stats, QuantizedData} from './backend';
export type {CodeStore, Codes} from './code_store';
export {ArrayCodeStore} from './code_store';
export {getQuantization, int8Backend, quantizedTensor} from './quantized_tensor';
export type {QuantizationInfo} from './quantized_tensor';
export * from './quant';
