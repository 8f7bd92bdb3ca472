// A tfjs-layers LayersModel (Keras) → an equivalent TensorFlow GraphDef + weights,
// written the way the converter would before grappler's fusions (Conv2D,
// BiasAdd, FusedBatchNormV3, Relu6...), so the folding step applies to it as
// to any graph model.

import type {LayersModel} from '@tensorflow/tfjs-layers';

import {attr, AttrValue, makeConstNode, NodeDef} from './graph_def';
import {ModelGraph, WeightTensor} from './model_graph';

/** The parts of a tfjs-layers Layer this module reads (duck-typed: no runtime import of tfjs-layers). */
interface LayerLike {
  name: string;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  getWeights(): Array<{shape: number[]; dtype: string; dataSync(): ArrayLike<number>}>;
  weights: Array<{name: string; originalName?: string}>;
  inboundNodes: Array<{inboundLayers: LayerLike[]; nodeIndices: number[]; tensorIndices: number[]}>;
}

interface SymbolicTensorLike {
  shape: Array<number | null>;
  dtype: string;
  sourceLayer: LayerLike;
  nodeIndex: number;
  tensorIndex: number;
}

interface LayersModelLike {
  layers: LayerLike[];
  inputs: SymbolicTensorLike[];
  outputs: SymbolicTensorLike[];
}

export function isLayersModel(model: unknown): model is LayersModel {
  const m = model as Partial<LayersModelLike> | null;
  return m != null && Array.isArray(m.layers) && Array.isArray(m.inputs) && Array.isArray(m.outputs) &&
    typeof (m as {predict?: unknown}).predict === 'function';
}

/** Collects nodes and weights while a model is exported. */
class GraphWriter {
  readonly nodes: NodeDef[] = [];
  readonly weights: Record<string, WeightTensor> = {};

  node(name: string, op: string, input: string[], attrs: Record<string, AttrValue> = {}): string {
    this.nodes.push({name, op, input, attr: attrs});
    return name;
  }

  constFloat(name: string, shape: number[], values: ArrayLike<number>): string {
    this.nodes.push(makeConstNode(name, 'float32', shape));
    this.weights[name] = {dtype: 'float32', shape, values: Float32Array.from(values)};
    return name;
  }

  constInt(name: string, shape: number[], values: ArrayLike<number>): string {
    this.nodes.push(makeConstNode(name, 'int32', shape));
    this.weights[name] = {dtype: 'int32', shape, values: Int32Array.from(values)};
    return name;
  }
}

const FLOAT_T = {T: attr.type('float32')};

function fail(layer: LayerLike, problem: string): never {
  throw new Error(`Layer '${layer.name}' (${layer.getClassName()}): ${problem}`);
}

/** A layer's weights by their short name (kernel, bias, gamma, moving_mean...). */
function weightsOf(layer: LayerLike): Map<string, {shape: number[]; values: ArrayLike<number>}> {
  const values = layer.getWeights();
  const byName = new Map<string, {shape: number[]; values: ArrayLike<number>}>();
  layer.weights.forEach((w, i) => {
    const fullName = w.originalName ?? w.name;
    const short = fullName.split('/').pop() as string;
    byName.set(short.replace(/:\d+$/, ''), {shape: values[i].shape, values: values[i].dataSync()});
  });
  return byName;
}

function requireWeight(layer: LayerLike, weights: ReturnType<typeof weightsOf>, name: string) {
  const w = weights.get(name);
  if (w === undefined) fail(layer, `has no '${name}' weight`);
  return w;
}

function pair(value: unknown, fallback: number): [number, number] {
  if (Array.isArray(value)) return [Number(value[0]), Number(value[1] ?? value[0])];
  if (typeof value === 'number') return [value, value];
  return [fallback, fallback];
}

function paddingOf(layer: LayerLike, config: Record<string, unknown>): string {
  const padding = String(config.padding ?? 'valid').toLowerCase();
  if (padding !== 'same' && padding !== 'valid') fail(layer, `padding '${padding}' is not supported`);
  return padding.toUpperCase();
}

function checkChannelsLast(layer: LayerLike, config: Record<string, unknown>): void {
  const format = config.dataFormat ?? config.data_format;
  if (format !== undefined && format !== 'channelsLast' && format !== 'channels_last') {
    fail(layer, `data format '${String(format)}' is not supported (channels-last only)`);
  }
}

function convAttrs(layer: LayerLike, config: Record<string, unknown>): Record<string, AttrValue> {
  const [sh, sw] = pair(config.strides, 1);
  const [dh, dw] = pair(config.dilationRate, 1);
  return {
    ...FLOAT_T, strides: attr.intList([1, sh, sw, 1]), padding: attr.string(paddingOf(layer, config)),
    dilations: attr.intList([1, dh, dw, 1]), data_format: attr.string('NHWC'), explicit_paddings: {list: {}},
  };
}

/** Appends the activation named in a layer config; returns the output node name (`name` when it writes one). */
function writeActivation(g: GraphWriter, layer: LayerLike, activation: unknown, input: string, name: string): string {
  const fn = String(activation ?? 'linear');
  const ops: Record<string, string> = {relu: 'Relu', relu6: 'Relu6', sigmoid: 'Sigmoid', tanh: 'Tanh', elu: 'Elu', softplus: 'Softplus'};
  if (fn === 'linear') return input === name ? name : g.node(name, 'Identity', [input], FLOAT_T);
  if (fn === 'softmax') return g.node(name, 'Softmax', [input], FLOAT_T);
  const op = ops[fn];
  if (op === undefined) fail(layer, `activation '${fn}' is not supported`);
  return g.node(name, op, [input], FLOAT_T);
}

function biasThenActivation(g: GraphWriter, layer: LayerLike, config: Record<string, unknown>, weights: ReturnType<typeof weightsOf>,
    input: string, name: string): string {
  let out = input;
  if (config.useBias !== false && weights.has('bias')) {
    const bias = requireWeight(layer, weights, 'bias');
    const biasConst = g.constFloat(`${name}/bias`, bias.shape, bias.values);
    const activationIsLinear = String(config.activation ?? 'linear') === 'linear';
    out = g.node(activationIsLinear ? name : `${name}/BiasAdd`, 'BiasAdd', [out, biasConst], {...FLOAT_T, data_format: attr.string('NHWC')});
  }
  return writeActivation(g, layer, config.activation, out, name);
}

type LayerWriter = (g: GraphWriter, layer: LayerLike, inputs: string[], inputShapes: Array<Array<number | null>>) => string;

function single(layer: LayerLike, inputs: string[]): string {
  if (inputs.length !== 1) fail(layer, `expects 1 input, has ${inputs.length}`);
  return inputs[0];
}

const writers: Record<string, LayerWriter> = {
  Conv2D(g, layer, inputs) {
    const config = layer.getConfig();
    checkChannelsLast(layer, config);
    const weights = weightsOf(layer);
    const kernel = requireWeight(layer, weights, 'kernel');
    const k = g.constFloat(`${layer.name}/kernel`, kernel.shape, kernel.values);
    const conv = g.node(`${layer.name}/Conv2D`, 'Conv2D', [single(layer, inputs), k], {...convAttrs(layer, config), use_cudnn_on_gpu: attr.bool(true)});
    return biasThenActivation(g, layer, config, weights, conv, layer.name);
  },
  DepthwiseConv2D(g, layer, inputs) {
    const config = layer.getConfig();
    checkChannelsLast(layer, config);
    const weights = weightsOf(layer);
    const kernel = requireWeight(layer, weights, 'depthwise_kernel');
    const k = g.constFloat(`${layer.name}/depthwise_kernel`, kernel.shape, kernel.values);
    const conv = g.node(`${layer.name}/depthwise`, 'DepthwiseConv2dNative', [single(layer, inputs), k], convAttrs(layer, config));
    return biasThenActivation(g, layer, config, weights, conv, layer.name);
  },
  SeparableConv2D(g, layer, inputs) {
    const config = layer.getConfig();
    checkChannelsLast(layer, config);
    const weights = weightsOf(layer);
    const depthwise = requireWeight(layer, weights, 'depthwise_kernel');
    const pointwise = requireWeight(layer, weights, 'pointwise_kernel');
    const dk = g.constFloat(`${layer.name}/depthwise_kernel`, depthwise.shape, depthwise.values);
    const pk = g.constFloat(`${layer.name}/pointwise_kernel`, pointwise.shape, pointwise.values);
    const dw = g.node(`${layer.name}/depthwise`, 'DepthwiseConv2dNative', [single(layer, inputs), dk], convAttrs(layer, config));
    const pw = g.node(`${layer.name}/pointwise`, 'Conv2D', [dw, pk], {
      ...FLOAT_T, strides: attr.intList([1, 1, 1, 1]), padding: attr.string('VALID'), dilations: attr.intList([1, 1, 1, 1]),
      data_format: attr.string('NHWC'), explicit_paddings: {list: {}}, use_cudnn_on_gpu: attr.bool(true),
    });
    return biasThenActivation(g, layer, config, weights, pw, layer.name);
  },
  Dense(g, layer, inputs, shapes) {
    const config = layer.getConfig();
    if (shapes[0] !== undefined && shapes[0].length !== 2) fail(layer, `Dense on a rank-${shapes[0].length} input is not supported (flatten first)`);
    const weights = weightsOf(layer);
    const kernel = requireWeight(layer, weights, 'kernel');
    const k = g.constFloat(`${layer.name}/kernel`, kernel.shape, kernel.values);
    const mm = g.node(`${layer.name}/MatMul`, 'MatMul', [single(layer, inputs), k], {...FLOAT_T, transpose_a: attr.bool(false), transpose_b: attr.bool(false)});
    return biasThenActivation(g, layer, config, weights, mm, layer.name);
  },
  BatchNormalization(g, layer, inputs, shapes) {
    const config = layer.getConfig();
    const rank = shapes[0]?.length ?? 4;
    const axis = Number(config.axis ?? -1);
    if (axis !== -1 && axis !== rank - 1) fail(layer, `axis ${axis} is not supported (last axis only)`);
    const weights = weightsOf(layer);
    const mean = requireWeight(layer, weights, 'moving_mean');
    const variance = requireWeight(layer, weights, 'moving_variance');
    const channels = mean.shape[0];
    const gamma = weights.get('gamma') ?? {shape: [channels], values: new Float32Array(channels).fill(1)};
    const beta = weights.get('beta') ?? {shape: [channels], values: new Float32Array(channels)};
    const n = layer.name;
    return g.node(n, 'FusedBatchNormV3', [
      single(layer, inputs), g.constFloat(`${n}/gamma`, [channels], gamma.values), g.constFloat(`${n}/beta`, [channels], beta.values),
      g.constFloat(`${n}/moving_mean`, [channels], mean.values), g.constFloat(`${n}/moving_variance`, [channels], variance.values),
    ], {...FLOAT_T, U: attr.type('float32'), epsilon: attr.float(Number(config.epsilon ?? 1e-3)), is_training: attr.bool(false),
      data_format: attr.string('NHWC')});
  },
  Activation(g, layer, inputs) {
    return writeActivation(g, layer, layer.getConfig().activation, single(layer, inputs), layer.name);
  },
  ReLU(g, layer, inputs) {
    const config = layer.getConfig();
    const maxValue = config.maxValue ?? config.max_value;
    const x = single(layer, inputs);
    if (maxValue == null) return g.node(layer.name, 'Relu', [x], FLOAT_T);
    if (Number(maxValue) === 6) return g.node(layer.name, 'Relu6', [x], FLOAT_T);
    const relu = g.node(`${layer.name}/Relu`, 'Relu', [x], FLOAT_T);
    return g.node(layer.name, 'Minimum', [relu, g.constFloat(`${layer.name}/max_value`, [], [Number(maxValue)])], FLOAT_T);
  },
  Softmax(g, layer, inputs) {
    return g.node(layer.name, 'Softmax', [single(layer, inputs)], FLOAT_T);
  },
  ZeroPadding2D(g, layer, inputs) {
    const padding = layer.getConfig().padding;
    let rows: [number, number];
    let cols: [number, number];
    if (Array.isArray(padding) && Array.isArray(padding[0])) {
      rows = pair(padding[0], 0);
      cols = pair(padding[1], 0);
    } else {
      const [ph, pw] = pair(padding, 1);
      rows = [ph, ph];
      cols = [pw, pw];
    }
    const paddings = g.constInt(`${layer.name}/paddings`, [4, 2], [0, 0, rows[0], rows[1], cols[0], cols[1], 0, 0]);
    return g.node(layer.name, 'Pad', [single(layer, inputs), paddings], {...FLOAT_T, Tpaddings: attr.type('int32')});
  },
  MaxPooling2D: (g, layer, inputs) => writePool(g, layer, inputs, 'MaxPool'),
  AveragePooling2D: (g, layer, inputs) => writePool(g, layer, inputs, 'AvgPool'),
  GlobalAveragePooling2D: (g, layer, inputs) => writeGlobalPool(g, layer, inputs, 'Mean'),
  GlobalMaxPooling2D: (g, layer, inputs) => writeGlobalPool(g, layer, inputs, 'Max'),
  Add(g, layer, inputs) {
    if (inputs.length < 2) fail(layer, 'needs at least 2 inputs');
    if (inputs.length === 2) return g.node(layer.name, 'AddV2', inputs, FLOAT_T);
    return g.node(layer.name, 'AddN', inputs, {...FLOAT_T, N: attr.int(inputs.length)});
  },
  Multiply(g, layer, inputs) {
    let out = inputs[0];
    for (let i = 1; i < inputs.length; i++) out = g.node(i === inputs.length - 1 ? layer.name : `${layer.name}/mul_${i}`, 'Mul', [out, inputs[i]], FLOAT_T);
    return out;
  },
  Concatenate(g, layer, inputs, shapes) {
    const rank = shapes[0]?.length ?? 4;
    let axis = Number(layer.getConfig().axis ?? -1);
    if (axis < 0) axis += rank;
    const axisConst = g.constInt(`${layer.name}/axis`, [], [axis]);
    return g.node(layer.name, 'ConcatV2', [...inputs, axisConst], {...FLOAT_T, N: attr.int(inputs.length), Tidx: attr.type('int32')});
  },
  Dropout: (g, layer, inputs) => g.node(layer.name, 'Identity', [single(layer, inputs)], FLOAT_T),
  Flatten(g, layer, inputs, shapes) {
    const shape = shapes[0] ?? [];
    const size = shape.slice(1).reduce<number>((a, d) => a * (d ?? NaN), 1);
    if (!Number.isFinite(size)) fail(layer, `cannot flatten an input of shape [${shape.join(', ')}] with unknown dimensions`);
    return g.node(layer.name, 'Reshape', [single(layer, inputs), g.constInt(`${layer.name}/shape`, [2], [-1, size])], {...FLOAT_T, Tshape: attr.type('int32')});
  },
  Reshape(g, layer, inputs) {
    const target = (layer.getConfig().targetShape as number[] | undefined) ?? fail(layer, 'has no target shape');
    return g.node(layer.name, 'Reshape', [single(layer, inputs), g.constInt(`${layer.name}/shape`, [target.length + 1], [-1, ...target])],
        {...FLOAT_T, Tshape: attr.type('int32')});
  },
};

function writePool(g: GraphWriter, layer: LayerLike, inputs: string[], op: 'MaxPool' | 'AvgPool'): string {
  const config = layer.getConfig();
  checkChannelsLast(layer, config);
  const [ph, pw] = pair(config.poolSize, 2);
  const [sh, sw] = pair(config.strides ?? config.poolSize, 2);
  return g.node(layer.name, op, [single(layer, inputs)], {
    ...FLOAT_T, ksize: attr.intList([1, ph, pw, 1]), strides: attr.intList([1, sh, sw, 1]),
    padding: attr.string(paddingOf(layer, config)), data_format: attr.string('NHWC'),
  });
}

function writeGlobalPool(g: GraphWriter, layer: LayerLike, inputs: string[], op: 'Mean' | 'Max'): string {
  const config = layer.getConfig();
  checkChannelsLast(layer, config);
  const axes = g.constInt(`${layer.name}/reduction_indices`, [2], [1, 2]);
  return g.node(layer.name, op, [single(layer, inputs), axes], {...FLOAT_T, Tidx: attr.type('int32'), keep_dims: attr.bool(Boolean(config.keepDims))});
}

function placeholder(layer: LayerLike, shape: Array<number | null>, dtype: string): NodeDef {
  return {
    name: layer.name, op: 'Placeholder',
    attr: {dtype: attr.type(dtype === 'int32' ? 'int32' : 'float32'), shape: {shape: {dim: shape.map(d => ({size: String(d ?? -1)}))}}},
  };
}

/** The output shape of a layer's output (for the writers that need ranks). */
function outputShapeOf(layer: LayerLike): Array<number | null> | undefined {
  const shape = (layer as unknown as {outputShape?: unknown}).outputShape;
  return Array.isArray(shape) && (shape.length === 0 || !Array.isArray(shape[0])) ? (shape as Array<number | null>) : undefined;
}

/** Exports a LayersModel as a ModelGraph (node names are layer names). */
export function layersModelToGraph(model: LayersModel): ModelGraph {
  const m = model as unknown as LayersModelLike;
  const g = new GraphWriter();
  const written = new Set<string>();
  for (const input of m.inputs) {
    // Sequential models keep their InputLayer out of `layers`; the input tensors know it.
    g.nodes.push(placeholder(input.sourceLayer, input.shape, input.dtype));
    written.add(input.sourceLayer.name);
  }
  for (const layer of m.layers) {
    if (written.has(layer.name)) continue;
    const className = layer.getClassName();
    if (className === 'InputLayer') continue;
    if (Array.isArray((layer as unknown as {layers?: unknown}).layers)) fail(layer, 'nested models are not supported; flatten the model first');
    if (layer.inboundNodes.length !== 1) fail(layer, `is used ${layer.inboundNodes.length} times; shared layers are not supported`);
    const writer = writers[className];
    if (writer === undefined) fail(layer, `layer class '${className}' is not supported by the graph export`);
    const inbound = layer.inboundNodes[0];
    const inputs = inbound.inboundLayers.map((l, i) => {
      if (inbound.tensorIndices[i] !== 0) fail(layer, `reads output #${inbound.tensorIndices[i]} of '${l.name}' (multi-output layers are not supported)`);
      return l.name;
    });
    const shapes = inbound.inboundLayers.map(l => outputShapeOf(l) ?? []);
    const out = writer(g, layer, inputs, shapes);
    if (out !== layer.name) g.node(layer.name, 'Identity', [out], FLOAT_T);
    written.add(layer.name);
  }
  const signatureEntry = (t: SymbolicTensorLike) => ({
    name: `${t.sourceLayer.name}:0`, dtype: t.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT',
    tensorShape: {dim: t.shape.map(d => ({size: String(d ?? -1)}))},
  });
  return {
    nodes: g.nodes,
    weights: g.weights,
    extras: {
      versions: {producer: 1, minConsumer: 0},
      signature: {
        inputs: Object.fromEntries(m.inputs.map(t => [`${t.sourceLayer.name}:0`, signatureEntry(t)])),
        outputs: Object.fromEntries(m.outputs.map(t => [`${t.sourceLayer.name}:0`, signatureEntry(t)])),
      },
      format: 'graph-model',
      generatedBy: 'tfjs-layers',
      convertedBy: 'tfjs-backend-int8 layers_export',
    },
  };
}
