// The graph pass: quantize a converted model ahead of time into an artifact
// that runs on `cpu` (float simulation) and on `int8` (integer only).

import '../ops/index';

export {quantizeModel, DEFAULT_CALIBRATION_METHOD, chooseActivationParams, modelGraphOf} from './quantize_model';
export type {QuantizeOptions, QuantizedModel, QuantizationReportEntry} from './quantize_model';
export {CALIBRATION_METHODS, isCalibrationMethod} from './calibration_methods';
export type {CalibrationMethod} from './calibration_methods';
export type {CalibrationData, CalibrationSample} from './calibrate';
export {layersModelToGraph, isLayersModel} from './layers_export';
export {modelGraphFromArtifacts, modelGraphToArtifacts, isLayersTopology} from './artifacts';
export {foldGraph} from './fold';
export {planQuantization} from './plan';
export {insertFakeQuant, applyActivationRanges} from './insert_fake_quant';
export {lowerToInt8} from './lower_int8';
export {sqnrOf, cosineSimilarity} from './report';
export {activationSensitivity} from './sensitivity';
export type {SensitivityOptions, SensitivityRow} from './sensitivity';
export type {ModelGraph, WeightTensor} from './model_graph';
export type {NodeDef, AttrValue} from './graph_def';
