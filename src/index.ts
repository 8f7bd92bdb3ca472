// tfjs-backend-int8: importing this module registers the `int8` backend.
export {BACKEND_NAME, registerInt8Backend} from './register';
export {BackendInt8} from './backend';
export type {BackendInt8Stats, QuantizedData} from './backend';
export type {CodeStore, Codes} from './code_store';
export {ArrayCodeStore} from './code_store';
export {getQuantization, int8Backend, quantizedTensor} from './quantized_tensor';
export type {QuantizationInfo} from './quantized_tensor';
export * from './quant';
export {getWasmPath, INT8_WASM_FILE_NAME, setWasmPaths} from './wasm_paths';
export type {Int8WasmFileMap} from './wasm_paths';
// The executors of the ops the graph pass writes (Int8FusedConv2D, FakeQuantWithMinMaxVars...),
// registered with tfjs-converter so that quantized models load from the bundles too.
export {registerQuantizedGraphOps} from './ops/index';
// The graph pass: quantize a GraphModel or LayersModel ahead of time.
export {DEFAULT_CALIBRATION_METHOD, quantizeModel, CALIBRATION_METHODS, layersModelToGraph} from './graph/index';
export type {CalibrationMethod, QuantizeOptions, QuantizedModel, QuantizationReportEntry} from './graph/index';
